"""The destination key in every form S3's SSEKMSKeyId accepts, resolved to one key ARN before copying.

S3 accepts a key ARN, an alias ARN, a key id or an alias name (S3 API Reference, CopyObject,
``x-amz-server-side-encryption-aws-kms-key-id``: "Key ID, Key ARN, or Key Alias"); the bare forms
resolve in the requester's account. The engine resolves a non-ARN form with DescribeKey (which
resolves alias names and ARNs: KMS API Reference, DescribeKey, ``KeyId``) and sends the key ARN,
so every object names the key. moto stores whatever SSEKMSKeyId it is sent (real S3 stores the
resolved key ARN), so the objects' key here shows what the engine sent; that S3 resolves an
unresolved alias itself is AWS's behaviour, not shown on moto.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.compat import AirflowFailException
from airflow_provider_s3xacct.sensors import KmsAccessSensor
from airflow_provider_s3xacct.transfer.clients import resolve_key_arn
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.aws_world import DEST_ACCOUNT, World, credential_env
from tests.faults.helpers import cli, fault, finish, last_json
from tests.wire import forget, seen

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def _spec(key: Any, **kw: Any) -> CopySpec:
    return CopySpec.create(
        source="s3://src-bucket/a/", destination="s3://dst-bucket/b/", dest_kms_key_id=key, **kw
    )


@pytest.mark.parametrize(
    "key",
    [
        f"arn:aws:kms:us-east-1:{DEST_ACCOUNT}:key/{KEY_ID}",
        f"arn:aws:kms:us-east-1:{DEST_ACCOUNT}:alias/dst",
        KEY_ID,
        "mrk-1234abcd12ab34cd56ef1234567890ab",
        "alias/dst",
        "alias/team/dst_2",
    ],
)
def test_every_form_s3_accepts_is_accepted(key: str) -> None:
    assert _spec(key, dest_region="us-east-1").dest_kms_key_id == key


@pytest.mark.parametrize(
    "key",
    [
        "my-key",  # neither an id nor an alias name
        "dst",  # an alias name needs alias/
        "alias/",
        "alias/has space",
        "1234ABCD-12AB-34CD-56EF-1234567890AB",  # key ids are lowercase hex
        "arn:aws:kms:us-east-1:123:key/x",  # account not 12 digits
        "arn:aws:kms:us-east-7:222222222222:key/x",  # no such region
        42,
    ],
)
def test_anything_else_is_refused_naming_the_field_and_the_forms(key: Any) -> None:
    with pytest.raises(InvalidInputError, match="dest_kms_key_id") as refused:
        _spec(key)
    assert refused.value.field == "dest_kms_key_id"
    if key not in ("arn:aws:kms:us-east-7:222222222222:key/x",):
        assert "alias name (alias/<name>)" in str(refused.value)


def test_an_arn_in_another_region_than_the_bucket_is_still_refused() -> None:
    with pytest.raises(InvalidInputError, match="the key is in eu-west-1"):
        _spec(f"arn:aws:kms:eu-west-1:{DEST_ACCOUNT}:alias/dst", dest_region="us-east-1")


def test_a_malformed_key_exits_2_before_any_request(world: World) -> None:
    forget(world)
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/copy/"
    code, out, err = finish(cli(world, "copy", src, dst, "--sse-kms-key-id", "my-key", "--json"))
    assert code == 2 and "dest_kms_key_id" in err and "alias/<name>" in err
    assert "dest_kms_key_id" in last_json(out)["error"]
    assert seen(world) == []


def _dest_alias(world: World, name: str = "alias/dst-copy") -> str:
    kms = world.dest.client("kms", endpoint_url=world.endpoint_url)
    kms.create_alias(AliasName=name, TargetKeyId=world.dest_key_arn.split("/")[-1])
    return name


@pytest.mark.parametrize("form", ["key-arn", "alias-arn", "key-id", "alias-name"])
def test_each_form_copies_under_the_one_key_it_names(world: World, form: str) -> None:
    alias = _dest_alias(world)
    key = {
        "key-arn": world.dest_key_arn,
        "alias-arn": world.dest_key_arn.split(":key/")[0] + f":{alias}",
        "key-id": world.dest_key_arn.split("/")[-1],
        "alias-name": alias,
    }[form]
    world.put("data/a", b"12345")
    forget(world)
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/copy/"
    code, _, err = finish(cli(world, "copy", src, dst, "--sse-kms-key-id", key, "--json"))
    assert code == 0, err
    head = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="copy/a")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == world.dest_key_arn
    (copy,) = seen(world, "CopyObject")
    assert copy["headers"]["x-amz-server-side-encryption-aws-kms-key-id"] == world.dest_key_arn


def test_an_alias_naming_no_key_exits_2_before_any_copy(world: World) -> None:
    world.put("data/a", b"1")
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/copy/"
    code, _, err = finish(cli(world, "copy", src, dst, "--sse-kms-key-id", "alias/nope", "--json"))
    assert code == 2 and "dest_kms_key_id" in err and "names no KMS key in us-east-1" in err
    assert world.dest_keys() == []


def test_a_failed_write_is_diagnosed_against_the_resolved_key_arn(world: World) -> None:
    alias = _dest_alias(world)
    world.put("data/a", b"1")
    fault(
        world,
        "CopyObject",
        f"/{world.dest_bucket}/copy/a",
        status=403,
        code="AccessDenied",
        message="Access Denied",
    )
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/copy/"
    code, out, _ = finish(cli(world, "copy", src, dst, "--sse-kms-key-id", alias, "--json"))
    assert code == 1
    (failure,) = last_json(out)["failures"]
    assert (
        f"kms:GenerateDataKey (and kms:Decrypt for multipart copies) on {world.dest_key_arn}"
        in failure["diagnosis"]
    )


def test_when_kms_does_not_say_the_value_is_left_to_s3() -> None:
    """DescribeKey not permitted (the planner grants no kms:DescribeKey): no resolution, no failure."""
    kms = boto3.client("kms", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(kms) as stub:
        stub.add_client_error("describe_key", "AccessDeniedException", "not authorized", 400)
        assert resolve_key_arn(kms, "alias/dst", "dest_kms_key_id") is None


def test_the_probe_resolves_an_alias_arn_and_checks_the_sample_against_its_key(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto cannot share KMS keys across accounts, so the probing principal lives in the key's account.
    for name, value in credential_env(world.source, world.endpoint_url).items():
        monkeypatch.setenv(name, value)
    kms = world.source.client("kms", endpoint_url=world.endpoint_url)
    kms.create_alias(AliasName="alias/src", TargetKeyId=world.source_key_arn.split("/")[-1])
    alias_arn = world.source_key_arn.split(":key/")[0] + ":alias/src"
    world.put("data/a", b"1", kms=world.source_key_arn)
    sensor = KmsAccessSensor(
        task_id="kms",
        aws_conn_id=None,
        region_name="us-east-1",
        key_arns=[alias_arn],
        operations=["decrypt", "generate_data_key"],
        sample_objects={alias_arn: f"s3://{world.source_bucket}/data/a"},
        poke_interval=0,
        timeout=5,
    )
    result = sensor.poke({})  # type: ignore[arg-type]
    assert result.is_done, result
    (access,) = result.xcom_value
    assert access["ok"] and access["resolved_key_arn"] == world.source_key_arn
    # An object under another key is still told apart once the alias is resolved.
    other = kms.create_key(Description="other")["KeyMetadata"]["Arn"]
    world.put("data/b", b"2", kms=other)
    sensor.sample_objects = {alias_arn: f"s3://{world.source_bucket}/data/b"}
    sensor._plans = None
    with pytest.raises(AirflowFailException, match="not encrypted under this key"):
        sensor.poke({})  # type: ignore[arg-type]


def test_the_operator_refuses_a_malformed_key_before_any_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_s3xacct.operators import CrossAccountS3CopyOperator

    op = CrossAccountS3CopyOperator(
        task_id="copy",
        source_uri="s3://src-bucket/a/",
        dest_uri="s3://dst-bucket/b/",
        dest_kms_key_id="my-key",
        aws_conn_id=None,
    )
    monkeypatch.setattr(type(op), "hook", property(lambda self: pytest.fail("no AWS client may be made")))
    with pytest.raises(AirflowFailException, match="dest_kms_key_id: 'my-key' is not a KMS key"):
        op.execute({})  # type: ignore[arg-type]
