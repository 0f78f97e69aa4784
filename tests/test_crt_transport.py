"""Small copies through the AWS CRT (transfer/crt.py): same destination, same failures, same answers.

Errors come from the server (demo.counting_server queues real S3 error documents), so the CRT's
own retry and the translation of its responses into botocore's ClientError are what is tested.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_s3xacct.transfer.clients import TransferClients
from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World


def clients_of(world: World) -> TransferClients:
    return TransferClients.from_session(world.principal, concurrency=8, endpoint_url=world.endpoint_url)


def run(world: World, **spec: Any) -> CopyReport:
    spec.setdefault("source", f"s3://{world.source_bucket}/data/")
    spec.setdefault("destination", f"s3://{world.dest_bucket}/copy/")
    spec.setdefault("concurrency", 8)
    return TransferEngine(CopySpec.create(**spec), clients_of(world)).run()


def fault(world: World, key: str, status: int, code: str, message: str, times: int = 1) -> None:
    params = {
        "op": "CopyObject",
        "path": f"/{world.dest_bucket}/{key}",
        "status": status,
        "code": code,
        "message": message,
        "times": times,
    }
    requests.get(f"{world.endpoint_url}/__bench__/fault", params=params, timeout=10).raise_for_status()


def stats(world: World) -> dict[str, int]:
    return dict(requests.get(f"{world.endpoint_url}/__bench__/stats", timeout=10).json())


def test_the_crt_is_the_default_for_small_copies(world: World) -> None:
    assert CopySpec.create(source="s3://src-b/x", destination="s3://dst-b/y").transport == "crt"
    assert clients_of(world).crt_copier(world.dest_bucket) is not None


@pytest.mark.parametrize("transport", ["crt", "botocore"])
def test_both_transports_write_the_same_objects(world: World, transport: str) -> None:
    world.put("data/plain.txt", b"plain", ContentType="text/plain", Metadata={"owner": "vendor"})
    world.put("data/kms/a b+c.csv", b"kms", kms=world.source_key_arn)
    world.put("data/sse-s3.bin", b"aes", sse_s3=True)
    report = run(
        world,
        transport=transport,
        dest_kms_key_id=world.dest_key_arn,
        bucket_key_enabled=True,
        source_account_id=SOURCE_ACCOUNT,
        dest_account_id=DEST_ACCOUNT,
    )
    assert report.ok and report.copied == 3
    assert sorted(world.dest_keys()) == ["copy/kms/a b+c.csv", "copy/plain.txt", "copy/sse-s3.bin"]
    for key in world.dest_keys():
        head = world.dst_s3.head_object(Bucket=world.dest_bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == world.dest_key_arn
        assert head["BucketKeyEnabled"] is True
    plain = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="copy/plain.txt")
    assert plain["ContentType"] == "text/plain" and plain["Metadata"] == {"owner": "vendor"}
    body = world.dst_s3.get_object(Bucket=world.dest_bucket, Key="copy/kms/a b+c.csv")["Body"].read()
    assert body == b"kms"
    assert stats(world)["CopyObject"] == 3  # one request per object


def test_crt_copies_keep_tags_or_drop_them(world: World) -> None:
    # moto keeps tags per requesting account (docs/design.md), so tags are shown same-account.
    s3 = world.dst_s3
    s3.create_bucket(Bucket="tags-src")
    s3.create_bucket(Bucket="tags-dst")
    s3.put_object(Bucket="tags-src", Key="k/a", Body=b"1", Tagging="team=data&tier=gold")
    clients = TransferClients.from_session(world.dest, concurrency=4, endpoint_url=world.endpoint_url)
    TransferEngine(CopySpec.create(source="s3://tags-src/k", destination="s3://tags-dst/with"), clients).run()
    tags = s3.get_object_tagging(Bucket="tags-dst", Key="with/a")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("team", "data"), ("tier", "gold")]
    spec = CopySpec.create(source="s3://tags-src/k", destination="s3://tags-dst/without", copy_tags=False)
    TransferEngine(spec, clients).run()
    assert s3.get_object_tagging(Bucket="tags-dst", Key="without/a")["TagSet"] == []
    assert stats(world)["CopyObject"] == 2


def test_crt_retries_throttling_and_200_with_error(world: World) -> None:
    world.put("data/a", b"1")
    world.put("data/b", b"2")
    fault(world, "copy/a", 503, "SlowDown", "Please reduce your request rate.", times=2)
    fault(world, "copy/b", 200, "InternalError", "We encountered an internal error. Please try again.")
    report = run(world)
    assert report.ok and report.copied == 2
    assert sorted(world.dest_keys()) == ["copy/a", "copy/b"]
    assert stats(world)["CopyObject"] == 2 + 2 + 1  # the CRT retried each error, nothing more


def test_crt_throttling_that_never_stops_is_a_retryable_failure(world: World) -> None:
    world.put("data/a", b"1")
    fault(world, "copy/a", 503, "SlowDown", "Please reduce your request rate.", times=100)
    report = run(world)
    assert report.failed == 1 and report.only_retryable_failures
    assert "SlowDown" in report.failures[0].error


def test_crt_kms_masked_denial_gets_the_same_diagnosis(world: World) -> None:
    for i in range(10):
        world.put(f"data/k{i}", b"secret", kms=world.source_key_arn)
        fault(world, f"copy/k{i}", 403, "AccessDenied", "Access Denied")
    world.put("data/plain", b"ok")
    report = run(world)
    assert (report.copied, report.failed) == (1, 10)
    [(cause, count)] = report.failure_causes.most_common()
    assert count == 10 and f"lacks kms:Decrypt on {world.source_key_arn}" in cause
    assert report.failures[0].error.startswith("CopyObject: AccessDenied: Access Denied")
    assert stats(world).get("HeadObject", 0) <= 4  # the diagnosis probes once per error, not per object


def test_crt_enriched_denial_names_action_and_resource(world: World) -> None:
    world.put("data/a", b"1")
    message = (
        f"User: arn:aws:sts::{DEST_ACCOUNT}:assumed-role/sync-role/s is not authorized to perform: "
        f"kms:GenerateDataKey on resource: {world.dest_key_arn} because no identity-based policy "
        "allows the kms:GenerateDataKey action"
    )
    fault(world, "copy/a", 403, "AccessDenied", message)
    diagnosis = run(world, dest_kms_key_id=world.dest_key_arn).failures[0].diagnosis
    assert diagnosis.action == "kms:GenerateDataKey" and diagnosis.resource == world.dest_key_arn


@pytest.mark.parametrize("transport", ["crt", "botocore"])
def test_the_chosen_client_sends_the_small_copies_and_botocore_the_parts(world: World, transport: str) -> None:
    """Seen on the wire (the server records each request's User-Agent), not in our own objects."""
    from tests.wire import agents, forget, seen

    for i in range(3):
        world.put(f"data/small-{i}", b"s" * 10)
    world.put("data/large", b"L" * (6 * 1024 * 1024))
    forget(world)
    report = run(world, transport=transport, multipart_threshold=5 * 1024 * 1024)
    assert report.ok and report.copied == 4
    copies = seen(world, "CopyObject")
    assert sorted(r["path"] for r in copies) == [f"/{world.dest_bucket}/copy/small-{i}" for i in range(3)]
    assert agents(copies) == {transport}
    parts = seen(world, "UploadPartCopy")
    assert parts and agents(parts) == {"botocore"}


def test_when_the_crt_retries_run_out_botocore_takes_over(world: World) -> None:
    """Seen on the wire: the CRT's attempts, then botocore's (its User-Agent), which succeed."""
    from tests.wire import agents, forget, seen

    world.put("data/a", b"1")
    forget(world)
    # The CRT (awscrt 0.38) makes 6 attempts: the 7th SlowDown is botocore's first, its retry succeeds.
    fault(world, "copy/a", 503, "SlowDown", "Please reduce your request rate.", times=7)
    report = run(world)
    assert report.ok and report.copied == 1 and world.dest_keys() == ["copy/a"]
    copies = seen(world, "CopyObject")
    sent_by = [sorted(agents([copy]))[0] for copy in copies]
    assert sent_by[0] == "crt" and sent_by[-1] == "botocore" and len(sent_by) == 8
    assert sent_by == sorted(sent_by, reverse=True)  # the CRT's attempts, then botocore's only
