"""KMS probes: moto for the happy paths and key states, AWS's real error shapes via Stubber."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from airflow_provider_s3xacct.aws.clients import ClientCache
from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import S3Location
from airflow_provider_s3xacct.kms.discovery import discover_keys
from airflow_provider_s3xacct.kms.probes import (
    KeyAccess,
    KeyProbePlan,
    probe_all,
    run_probe,
    validate_plans,
)
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World

KEY = f"arn:aws:kms:us-east-1:{SOURCE_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PRINCIPAL = f"arn:aws:sts::{DEST_ACCOUNT}:assumed-role/sync-role/s"


def world_clients(world: World, session: boto3.Session | None = None) -> ClientCache:
    session = session or world.principal
    return ClientCache(
        lambda service, region: session.client(service, region_name=region, endpoint_url=world.endpoint_url)
    )


def probe(
    world: World,
    key_arn: str,
    ops: tuple[str, ...],
    sample: str | None = None,
    session: boto3.Session | None = None,
    **kw: Any,
) -> KeyAccess:
    # moto's KMS keeps keys per account and cannot share them (docs/design.md): probes of a key are run
    # as a principal of the key's own account; cross-account answers are covered with Stubber below.
    clients = world_clients(world, session or world.source)
    region = kw.pop("bucket_region", None)
    (result,) = probe_all([KeyProbePlan(key_arn, ops, sample, region)], clients, **kw)
    return result


def test_usable_keys_pass_every_probe(world: World) -> None:
    world.put("data/secret.csv", b"hello", kms=world.source_key_arn)
    sample = f"s3://{world.source_bucket}/data/secret.csv"
    source = probe(world, world.source_key_arn, ("decrypt", "generate_data_key"), sample)
    assert source.ok and source.state == "Enabled"
    assert source.operations == {"decrypt": True, "generate_data_key": True}


def test_sample_under_another_key_is_an_input_error(world: World) -> None:
    world.put("data/secret.csv", b"hello", kms=world.source_key_arn)
    kms = world.source.client("kms", endpoint_url=world.endpoint_url)
    other = kms.create_key()["KeyMetadata"]["Arn"]
    result = probe(world, other, ("decrypt",), f"s3://{world.source_bucket}/data/secret.csv")
    # A readable sample under another key proves nothing about ``other``.
    assert result.terminal and result.operations["decrypt"] is None
    assert "not encrypted under this key" in (result.problem or "")


def test_disabled_and_pending_deletion_keys_fail_at_once(world: World) -> None:
    kms = world.source.client("kms", endpoint_url=world.endpoint_url)
    key_id = world.source_key_arn.split("/")[-1]
    kms.disable_key(KeyId=key_id)  # moto answers 500 when given the ARN (docs/design.md)
    disabled = probe(world, world.source_key_arn, ("generate_data_key",))
    assert disabled.terminal and disabled.state == "Disabled" and "enable it" in (disabled.problem or "")
    other = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=other["KeyId"], PendingWindowInDays=7)
    pending = probe(world, other["Arn"], ("generate_data_key",))
    assert pending.terminal and "pending deletion" in (pending.problem or "")


def test_asymmetric_key_is_refused(world: World) -> None:
    kms = world.dest.client("kms", endpoint_url=world.endpoint_url)
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    result = probe(world, rsa, ("generate_data_key",), session=world.dest)
    assert result.terminal and "symmetric" in (result.problem or "")


def test_key_in_another_region_than_the_bucket_fails_without_a_call() -> None:
    def no_client(service: str, region: str | None) -> Any:
        raise AssertionError("no AWS call expected")

    (result,) = probe_all(
        [KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/a", bucket_region="eu-west-1")], no_client
    )
    assert result.terminal and "us-east-1" in (result.problem or "") and "eu-west-1" in (result.problem or "")


def _stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def _run(plan: KeyProbePlan, kms: Any, s3: Any | None = None, **kw: Any) -> KeyAccess:
    clients = {"kms": kms, "s3": s3}
    return run_probe(
        plan.start(kw.get("principal_account", DEST_ACCOUNT)),
        lambda service, region: clients[service],
    )


def test_dry_run_exception_means_allowed_and_describe_denial_is_not_fatal() -> None:
    kms, stub = _stubbed("kms")
    stub.add_client_error(
        "describe_key",
        "AccessDeniedException",
        f"User: {PRINCIPAL} is not authorized to perform: kms:DescribeKey on resource: {KEY} "
        "because no identity-based policy allows the kms:DescribeKey action",
        400,
    )
    stub.add_client_error(
        "generate_data_key",
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
        400,
    )
    with stub:
        result = _run(KeyProbePlan(KEY, ("generate_data_key",)), kms)
    assert result.ok and result.state is None and "DescribeKey not permitted" in result.notes[0]


def test_generate_data_key_denied_by_the_key_policy_keeps_waiting() -> None:
    kms, stub = _stubbed("kms")
    stub.add_response(
        "describe_key",
        {
            "KeyMetadata": {
                "KeyId": "k",
                "Arn": KEY,
                "KeyState": "Enabled",
                "KeyManager": "CUSTOMER",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "KeyUsage": "ENCRYPT_DECRYPT",
            }
        },
    )
    stub.add_client_error(
        "generate_data_key",
        "AccessDeniedException",
        f"User: {PRINCIPAL} is not authorized to perform: kms:GenerateDataKey on this resource "
        "because the resource does not exist in this Region, no resource-based policies allow "
        "access, or a resource-based policy explicitly denies access",
        400,
    )
    with stub:
        result = _run(KeyProbePlan(KEY, ("generate_data_key",)), kms)
    assert result.operations == {"generate_data_key": False} and not result.terminal
    assert f"the key policy of {KEY} (account {SOURCE_ACCOUNT})" in (result.problem or "")


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("NotFoundException", f"Key '{KEY}' does not exist", "does not exist"),
        ("DisabledException", f"{KEY} is disabled.", "disabled"),
        ("KMSInvalidStateException", f"{KEY} is pending deletion.", "pending deletion"),
    ],
)
def test_kms_state_errors_are_terminal(code: str, message: str, expected: str) -> None:
    kms, stub = _stubbed("kms")
    stub.add_client_error("describe_key", "AccessDeniedException", "denied", 400)
    stub.add_client_error("generate_data_key", code, message, 400)
    with stub:
        result = _run(KeyProbePlan(KEY, ("generate_data_key",)), kms)
    assert result.terminal and expected in (result.problem or "")


def test_aws_managed_key_of_another_account_is_terminal() -> None:
    kms, stub = _stubbed("kms")
    stub.add_response(
        "describe_key",
        {
            "KeyMetadata": {
                "KeyId": "k",
                "Arn": KEY,
                "KeyState": "Enabled",
                "KeyManager": "AWS",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "KeyUsage": "ENCRYPT_DECRYPT",
            }
        },
    )
    with stub:
        result = _run(KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/a"), kms)
    assert (
        result.terminal
        and "aws/s3" in (result.problem or "")
        and "customer managed key" in (result.problem or "")
    )


def test_masked_access_denied_on_the_ranged_get_means_kms_decrypt() -> None:
    kms, kstub = _stubbed("kms")
    s3, sstub = _stubbed("s3")
    kstub.add_client_error("describe_key", "AccessDeniedException", "denied", 400)
    sstub.add_client_error(
        "get_object",
        "AccessDenied",
        "Access Denied",
        403,
        expected_params={"Bucket": "src-bucket", "Key": "data/a.csv", "Range": "bytes=0-0"},
    )
    sstub.add_response(
        "head_object", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY, "ContentLength": 5}
    )
    with kstub, sstub:
        result = _run(KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/data/a.csv"), kms, s3)
    assert result.operations == {"decrypt": False} and not result.terminal
    assert "kms:Decrypt denied" in (result.problem or "") and "identity policy" in (result.problem or "")


def test_denied_head_is_reported_as_an_s3_permission() -> None:
    kms, kstub = _stubbed("kms")
    s3, sstub = _stubbed("s3")
    kstub.add_client_error("describe_key", "AccessDeniedException", "denied", 400)
    sstub.add_client_error("get_object", "AccessDenied", "Access Denied", 403)
    sstub.add_client_error("head_object", "403", "Forbidden", 403)
    with kstub, sstub:
        result = _run(KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/data/a.csv"), kms, s3)
    assert result.operations == {"decrypt": None} and "s3:GetObject" in (result.problem or "")


def test_disabled_key_seen_through_s3_is_terminal() -> None:
    kms, kstub = _stubbed("kms")
    s3, sstub = _stubbed("s3")
    kstub.add_client_error("describe_key", "AccessDeniedException", "denied", 400)
    sstub.add_client_error("get_object", "KMS.DisabledException", f"{KEY} is disabled.", 400)
    with kstub, sstub:
        result = _run(KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/data/a.csv"), kms, s3)
    assert result.terminal and "disabled" in (result.problem or "")


def test_bad_input_is_refused_before_any_call() -> None:
    with pytest.raises(InvalidInputError, match="key_arns"):
        validate_plans([KeyProbePlan("alias/aws/s3", ("decrypt",), "s3://b/k")])
    with pytest.raises(InvalidInputError, match="sample_object"):
        validate_plans([KeyProbePlan(KEY, ("decrypt",))])
    with pytest.raises(InvalidInputError, match="operations"):
        validate_plans([KeyProbePlan(KEY, ("encrypt",))])
    with pytest.raises(InvalidInputError, match="one object"):
        validate_plans([KeyProbePlan(KEY, ("decrypt",), "s3://bucket/prefix/")])


def test_discovery_finds_the_keys_in_use_and_the_mix(world: World) -> None:
    kms = world.source.client("kms", endpoint_url=world.endpoint_url)
    second = kms.create_key()["KeyMetadata"]["Arn"]
    for i in range(9):
        kms_key = [world.source_key_arn, second, None][i % 3]
        world.put(f"data/{i}", b"abc", kms=kms_key, sse_s3=kms_key is None)
    s3 = world.principal.client("s3", endpoint_url=world.endpoint_url)
    found = discover_keys(s3, S3Location.parse(f"s3://{world.source_bucket}/data/", "x"), sample_size=6)
    assert found.sampled == 6
    assert set(found.keys) == {world.source_key_arn, second}
    assert found.encryption_mix == {"SSE-KMS": 4, "SSE-S3": 2}
    assert found.keys[world.source_key_arn].uri == f"s3://{world.source_bucket}/data/0"
