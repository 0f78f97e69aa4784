"""KMS probes: moto for the happy paths and key states, AWS's real error shapes via Stubber."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from airflow_provider_s3xacct.aws.clients import ClientCache
from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import S3Location
from airflow_provider_s3xacct.cli.common import EXIT_FAILED, fail_with
from airflow_provider_s3xacct.kms.discovery import KeyDiscoveryError, discover_keys
from airflow_provider_s3xacct.kms.probes import (
    KeyAccess,
    KeyProbePlan,
    normalise_operations,
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


class FakeClients:
    """``client_for`` answering each call from a table; records which service and region was asked.

    Stubber cannot raise a network error (a ``BotoCoreError``), nor tell which region's client a
    probe took: this fake does both.
    """

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str | None, str]] = []

    def __call__(self, service: str, region: str | None) -> Any:
        fake = self

        class Client:
            def __getattr__(self, method: str) -> Any:
                def call(**_: Any) -> Any:
                    fake.asked.append((service, region, method))
                    answer = fake.answers[method]
                    if isinstance(answer, Exception):
                        raise answer
                    return answer

                return call

        return Client()


def _denied(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


DESCRIBE_DENIED = _denied("AccessDeniedException", "denied", "DescribeKey")
UNDER_KEY = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY, "ContentLength": 5}


@pytest.mark.parametrize("code", ["NoSuchKey", "NoSuchBucket", "InvalidObjectState", "InvalidRange"])
def test_a_sample_that_cannot_be_read_is_terminal(code: str) -> None:
    """Waiting cannot make a missing or archived sample readable: the sensor stops at once."""
    clients = FakeClients({"describe_key": DESCRIBE_DENIED, "get_object": _denied(code, "no", "GetObject")})
    (result,) = probe_all([KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/data/a.csv")], clients)
    assert result.terminal and not result.ok
    assert f"sample object s3://src-bucket/data/a.csv cannot be read ({code}" in (result.problem or "")


def test_a_sample_read_failing_otherwise_keeps_waiting() -> None:
    clients = FakeClients(
        {"describe_key": DESCRIBE_DENIED, "get_object": _denied("InternalError", "try again", "GetObject")}
    )
    (result,) = probe_all([KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/data/a.csv")], clients)
    assert not result.terminal and result.operations == {"decrypt": None}
    assert "GetObject of s3://src-bucket/data/a.csv failed: InternalError" in (result.problem or "")


def test_a_head_without_answer_is_asked_again_not_blamed_on_s3_permissions() -> None:
    clients = FakeClients(
        {
            "describe_key": DESCRIBE_DENIED,
            "get_object": _denied("AccessDenied", "Access Denied", "GetObject"),
            "head_object": EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
        }
    )
    (result,) = probe_all([KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/data/a.csv")], clients)
    assert not result.terminal and result.operations == {"decrypt": None}
    assert (result.problem or "").startswith("no answer from S3 (Could not connect")
    assert "s3:GetObject" not in (result.problem or "")


def test_the_sample_is_read_in_the_buckets_region() -> None:
    """A GET sent to another region's endpoint gets a redirect, never a verdict on the key."""
    key = KEY.replace("us-east-1", "eu-west-1")
    clients = FakeClients(
        {
            "describe_key": DESCRIBE_DENIED,
            "get_object": _denied("AccessDenied", "Access Denied", "GetObject"),
            "head_object": {**UNDER_KEY, "SSEKMSKeyId": key},
        }
    )
    plan = KeyProbePlan(key, ("decrypt",), "s3://src-bucket/data/a.csv", bucket_region="eu-west-1")
    (result,) = probe_all([plan], clients)
    assert result.operations == {"decrypt": False}
    assert clients.asked == [
        ("kms", "eu-west-1", "describe_key"),
        ("s3", "eu-west-1", "get_object"),
        ("s3", "eu-west-1", "head_object"),
    ]


ALIAS = f"arn:aws:kms:us-east-1:{SOURCE_ACCOUNT}:alias/vendor-data"


def test_an_unresolved_alias_is_given_the_benefit_of_a_kms_sample_but_not_of_a_plain_one() -> None:
    """DescribeKey denied: which key the alias names is unknown, so any SSE-KMS sample counts."""
    clients = FakeClients({"describe_key": DESCRIBE_DENIED, "get_object": UNDER_KEY})
    (kms_sample,) = probe_all([KeyProbePlan(ALIAS, ("decrypt",), "s3://src-bucket/data/a.csv")], clients)
    assert kms_sample.ok and kms_sample.operations == {"decrypt": True}
    assert any("not confirmed to be the key" in note for note in kms_sample.notes)

    clients = FakeClients({"describe_key": DESCRIBE_DENIED, "get_object": {"ServerSideEncryption": "AES256"}})
    (plain,) = probe_all([KeyProbePlan(ALIAS, ("decrypt",), "s3://src-bucket/data/a.csv")], clients)
    assert plain.terminal and plain.operations == {"decrypt": None}
    assert "is not encrypted under this key (it uses AES256)" in (plain.problem or "")


@pytest.mark.parametrize(
    ("because", "says"),
    [
        (f"on resource: {KEY} with an explicit deny in a resource-based policy", "an explicit Deny in"),
        (f"on resource: {KEY} because no resource-based policy allows the kms:GenerateDataKey action", "no Allow in"),
    ],
    ids=["explicit-deny", "no-allow"],
)
def test_a_denial_says_whether_a_deny_or_a_missing_allow_is_to_fix(because: str, says: str) -> None:
    clients = FakeClients(
        {
            "describe_key": DESCRIBE_DENIED,
            "generate_data_key": _denied(
                "AccessDeniedException",
                f"User: {PRINCIPAL} is not authorized to perform: kms:GenerateDataKey {because}",
                "GenerateDataKey",
            ),
        }
    )
    (result,) = probe_all([KeyProbePlan(KEY, ("generate_data_key",))], clients)
    assert result.operations == {"generate_data_key": False}
    assert (result.problem or "").startswith(f"kms:GenerateDataKey denied ({says} the principal's resource-based")


def test_every_denial_of_one_key_is_reported() -> None:
    clients = FakeClients(
        {
            "describe_key": DESCRIBE_DENIED,
            "generate_data_key": _denied("AccessDeniedException", "denied", "GenerateDataKey"),
            "get_object": _denied("AccessDenied", "Access Denied", "GetObject"),
            "head_object": UNDER_KEY,
        }
    )
    (result,) = probe_all([KeyProbePlan(KEY, ("generate_data_key", "decrypt"), "s3://src-bucket/a")], clients)
    assert result.operations == {"generate_data_key": False, "decrypt": False}
    problem = result.problem or ""
    assert problem.startswith("kms:GenerateDataKey denied (") and "; kms:Decrypt denied (" in problem


def test_probe_all_judges_the_key_from_the_principals_account() -> None:
    """An AWS managed key of another account: terminal only when probe_all knows whose principal asks."""
    described = {
        "KeyMetadata": {
            "KeyId": "k",
            "Arn": KEY,
            "KeyState": "Enabled",
            "KeyManager": "AWS",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT",
        }
    }
    clients = FakeClients({"describe_key": described, "generate_data_key": {}})
    (result,) = probe_all([KeyProbePlan(KEY, ("generate_data_key",))], clients, principal_account=DEST_ACCOUNT)
    assert result.terminal and "AWS managed aws/s3 key" in (result.problem or "")


def test_operations_may_be_one_comma_separated_string() -> None:
    assert normalise_operations("decrypt, generate-data-key") == ("decrypt", "generate_data_key")


KMS_MASKED_KEY_POLICY = (
    f"User: {PRINCIPAL} is not authorized to perform: kms:Decrypt on the resource associated with this "
    "ciphertext because the resource does not exist in this Region, no resource-based policies allow "
    "access, or a resource-based policy explicitly denies access"
)


def test_a_denied_read_is_judged_by_the_key_the_head_shows() -> None:
    """S3 masks the key behind AccessDenied: the HEAD says whose key it is, the message whose policy."""
    answers = {
        "describe_key": DESCRIBE_DENIED,
        "get_object": _denied("AccessDenied", KMS_MASKED_KEY_POLICY, "GetObject"),
        "head_object": UNDER_KEY,
    }
    (under_key,) = probe_all([KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/data/a.csv")], FakeClients(answers))
    assert under_key.operations == {"decrypt": False} and not under_key.terminal
    assert f"no Allow in the key policy of {KEY} (account {SOURCE_ACCOUNT}))" in (under_key.problem or "")
    assert "identity policy" not in (under_key.problem or "")

    other = {**UNDER_KEY, "SSEKMSKeyId": KEY.replace("1234abcd", "99999999")}
    clients = FakeClients({**answers, "head_object": other})
    (elsewhere,) = probe_all([KeyProbePlan(KEY, ("decrypt",), "s3://src-bucket/data/a.csv")], clients)
    assert elsewhere.terminal and elsewhere.operations == {"decrypt": None}
    assert (elsewhere.problem or "").startswith("s3://src-bucket/data/a.csv is not encrypted under this key")


def test_a_discovery_that_cannot_list_ends_the_cli_with_its_diagnosis(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's last JSON line for a missing bucket: not retryable, and the diagnosis says why.

    ``fail_with`` is the CLI's answer to any core exception (the subprocess tests of the CLI run the
    installed package, so mutation testing cannot see them).
    """
    s3 = world.principal.client("s3", endpoint_url=world.endpoint_url)
    with pytest.raises(KeyDiscoveryError) as raised:
        discover_keys(s3, S3Location.parse("s3://no-such-bucket/data/", "x"))
    assert fail_with(raised.value, as_json=True) == EXIT_FAILED
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["kind"] == "KeyDiscoveryError" and line["retryable"] is False
    assert "NoSuchBucket" in line["error"]
    assert line["diagnosis"].startswith("a bucket does not exist. Fix: check the bucket names")


@pytest.mark.parametrize(
    ("plans", "field", "words"),
    [
        ([], "key_arns", "no KMS key to probe: pass key_arns or discover_keys_from"),
        ([KeyProbePlan("alias/aws/s3", ("decrypt",), "s3://b/k")], "key_arns", "arn:aws:kms:<region>"),
        ([KeyProbePlan(KEY, ("decrypt",))], "sample_object", "needs an object encrypted under it: pass sample_object"),
        ([KeyProbePlan(KEY, ("encrypt",))], "operations", "'encrypt' is not one of decrypt, generate_data_key"),
        ([KeyProbePlan(KEY, ())], "operations", "name at least one of decrypt, generate_data_key"),
        ([KeyProbePlan(KEY, ("decrypt",), "s3://bucket/prefix/")], "sample_object", "must name one object"),
        ([KeyProbePlan(KEY, ("decrypt",), "bucket/a.csv")], "sample_object", "s3://"),
    ],
    ids=["no-key", "not-an-arn", "no-sample", "unknown-operation", "no-operation", "prefix-sample", "not-a-uri"],
)
def test_bad_input_names_the_field_and_the_fix(plans: list[KeyProbePlan], field: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_plans(plans)
    assert raised.value.field == field and words in str(raised.value)
