"""A transfer with ``options.multipart: false``: the copy sends no multipart request, as verify checked.

The plan grants no multipart action for such a transfer (permissions/actions.py), so the copy must
never need one: an object goes in one request (CopyObject up to 5 GiB whatever
``multipart_threshold`` says; the relay's PutObject up to its memory budget), and an object only
parts could copy fails alone, naming ``options.multipart``. Observed on the wire (the counting
server's request log) and in the destination bucket. moto enforces no IAM policy, so what shows the
plan and the copy agree is the plan's documents set beside the requests actually sent.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from airflow_provider_s3xacct.permissions.plan import plan_policies
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.transfer.clients import TransferClients
from airflow_provider_s3xacct.transfer.copier import ObjectCopier
from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.listing import ListedObject
from airflow_provider_s3xacct.transfer.outcomes import CopyFailedError, CopyOutcome
from airflow_provider_s3xacct.transfer.relay import RelayCopier
from airflow_provider_s3xacct.transfer.retry import RetryPolicy
from airflow_provider_s3xacct.transfer.spec import GIB, MIB, CopySpec
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World
from tests.wire import forget, seen

READER = f"arn:aws:iam::{SOURCE_ACCOUNT}:role/vendor-reader"
WRITER = f"arn:aws:iam::{DEST_ACCOUNT}:role/ingest-writer"
# Every request of a multipart upload, server-side or relayed, and the listing of open uploads.
MULTIPART_REQUESTS = {
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListMultipartUploads",
}
# The IAM actions only multipart requests need (CreateMultipartUpload/UploadPart* are s3:PutObject).
MULTIPART_ONLY_ACTIONS = {
    "s3:AbortMultipartUpload",
    "s3:ListBucketMultipartUploads",
    "s3:ListMultipartUploadParts",
}


def relay_transfer(world: World, multipart: bool) -> TransferSpec:
    return TransferSpec.create(
        {
            "source": {
                "account_id": SOURCE_ACCOUNT,
                "bucket": world.source_bucket,
                "prefix": "data/",
                "region": "us-east-1",
            },
            "destination": {
                "account_id": DEST_ACCOUNT,
                "bucket": world.dest_bucket,
                "prefix": "landing/",
                "region": "us-east-1",
                "kms_key_arn": world.dest_key_arn,
            },
            "source_principal_arn": READER,
            "dest_principal_arn": WRITER,
            "options": {"mode": "copy", "multipart": multipart},
        }
    )


def _relay_run(world: World, transfer: TransferSpec, **overrides: Any) -> Any:
    # relay_buffers x relay_part_size: a 10 MiB budget; an 8 MiB object fits, a 12 MiB one does not.
    spec = CopySpec.from_transfer(
        transfer, transport="relay", relay_part_size=5 * MIB, relay_buffers=2, **overrides
    )
    forget(world)
    return TransferEngine(spec, TransferClients(world.src_s3, world.dst_s3)).run()


def _fill(world: World) -> dict[str, bytes]:
    objects = {
        "mid.bin": bytes(range(256)) * (8 * MIB // 256),  # above the part size, within the budget
        "huge.bin": bytes(range(255, -1, -1)) * (12 * MIB // 256),  # above the budget
        "small.csv": b"a,b\n" * 100,
    }
    for key, body in objects.items():
        world.put(f"data/{key}", body)
    return objects


def _requests_for(world: World, key: str) -> list[dict[str, Any]]:
    return [r for r in seen(world) if r["path"].endswith(f"/{key}")]


def test_relay_without_multipart_puts_what_fits_and_fails_what_does_not_naming_the_option(
    world: World,
) -> None:
    objects = _fill(world)

    report = _relay_run(world, relay_transfer(world, multipart=False))

    assert (report.copied, report.failed, report.multipart_copies) == (2, 1, 0)
    wire = seen(world)
    assert not {r["op"] for r in wire} & MULTIPART_REQUESTS
    mid_writes = [r["op"] for r in _requests_for(world, "mid.bin") if r["op"] != "GetObject"]
    assert mid_writes == ["HeadObject", "GetObjectTagging", "PutObject"]  # one request writes it whole
    assert _requests_for(world, "huge.bin") == []  # refused from the listing: nothing read, nothing sent
    dst = world.dst_s3
    for key in ("mid.bin", "small.csv"):
        assert dst.get_object(Bucket=world.dest_bucket, Key=f"landing/{key}")["Body"].read() == objects[key]
    assert world.dest_keys("landing/") == ["landing/mid.bin", "landing/small.csv"]
    assert dst.list_multipart_uploads(Bucket=world.dest_bucket).get("Uploads", []) == []

    (failure,) = report.failures
    assert failure.key == "huge.bin"
    assert "PutObject: MultipartOff: huge.bin is 12582912 bytes" in failure.error
    assert "relay_buffers x relay_part_size = 2 x 5242880" in failure.error
    assert "options.multipart is false" in failure.error
    assert "options.multipart: true" in failure.diagnosis.fix and "relay_buffers" in failure.diagnosis.fix
    assert failure.diagnosis.permanent and report.retryable_failures == 0  # not worth a retry

    # A dry run reports the same failure and sends nothing but the listing.
    dry = _relay_run(world, relay_transfer(world, multipart=False), dry_run=True)
    assert (dry.copied, dry.failed) == (2, 1) and dry.failures[0].key == "huge.bin"
    assert {r["op"] for r in seen(world)} == {"ListObjects"}  # the counting server's name for V2


def test_relay_without_multipart_fails_an_object_grown_past_the_budget_since_it_was_listed(
    world: World,
) -> None:
    """Listed small, found 12 MiB when read: routed again by the size read, refused, nothing written."""
    world.put("data/grown.bin", bytes(12 * MIB))
    spec = CopySpec.from_transfer(
        relay_transfer(world, multipart=False), transport="relay", relay_part_size=5 * MIB, relay_buffers=2
    )
    copier = RelayCopier(spec, TransferClients(world.src_s3, world.dst_s3))
    forget(world)
    try:
        failure = _failure_of(copier.submit(ListedObject("grown.bin", MIB, datetime.now(UTC), '"old"')))
    finally:
        copier.shutdown(wait=True)

    assert (failure.operation, failure.code) == ("PutObject", "MultipartOff")
    assert "grown.bin is 12582912 bytes" in str(failure)
    assert [r["op"] for r in seen(world)] == ["GetObject", "HeadObject"]  # read, never written
    assert world.dest_keys("landing/") == []


def test_relay_with_multipart_sends_parts_for_the_same_objects(world: World) -> None:
    """The contrast: the same run with ``multipart: true`` cuts both large objects into parts."""
    _fill(world)

    report = _relay_run(world, relay_transfer(world, multipart=True))

    assert (report.copied, report.failed, report.multipart_copies) == (3, 0, 2)
    assert len(seen(world, "CreateMultipartUpload")) == 2


def test_plan_and_copy_agree_without_multipart(world: World) -> None:
    """With ``multipart: false`` neither the plan's documents nor the wire hold a multipart request."""
    off, on = relay_transfer(world, multipart=False), relay_transfer(world, multipart=True)

    def planned(transfer: TransferSpec) -> set[str]:
        plan = plan_policies(transfer)
        statements = [
            *plan.identity,
            *plan.dest_identity,
            *plan.source_bucket,
            *plan.dest_bucket,
            *plan.dest_key,
            *(st for sts in plan.source_keys.values() for st in sts),
        ]
        return {
            a
            for st in statements
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        }

    assert MULTIPART_ONLY_ACTIONS & planned(on)  # the plan does grant them when the transfer says so
    assert not MULTIPART_ONLY_ACTIONS & planned(off)
    _fill(world)
    _relay_run(world, off)
    sent = {r["op"] for r in seen(world)}
    assert "PutObject" in sent and not sent & MULTIPART_REQUESTS


# -- server side: the 5 GiB rule, without 5 GiB of data -------------------------------------------------------


def _stubbed_copier(**spec: Any) -> tuple[ObjectCopier, Stubber, list[str]]:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    sent: list[str] = []
    # Before the stubber: a request it has no answer for is recorded too.
    client.meta.events.register("provide-client-params.s3", lambda model, **_: sent.append(model.name))
    stubber = Stubber(client)
    stubber.activate()
    copy = CopySpec.create(
        source="s3://src-bucket/data/", destination="s3://dst-bucket/landing/", transport="botocore", **spec
    )
    copier = ObjectCopier(copy, TransferClients(client, client), retry=RetryPolicy(max_attempts=1))
    return copier, stubber, sent


def _listed(size: int) -> ListedObject:
    return ListedObject("big.bin", size, datetime(2026, 1, 1, tzinfo=UTC), '"etag"')


def _failure_of(future: Future[CopyOutcome]) -> CopyFailedError:
    failure = future.exception(timeout=30)
    assert isinstance(failure, CopyFailedError), failure
    return failure


@pytest.mark.parametrize("dry_run", [False, True])
def test_server_side_without_multipart_refuses_an_object_above_5_gib_sending_nothing(dry_run: bool) -> None:
    copier, stubber, sent = _stubbed_copier(multipart=False, dry_run=dry_run)
    try:
        failure = _failure_of(copier.submit(_listed(6 * GIB)))
    finally:
        copier.shutdown(wait=True)

    assert (failure.operation, failure.code) == ("CopyObject", "MultipartOff")
    assert "options.multipart is false" in str(failure)
    assert sent == []  # no CreateMultipartUpload, no CopyObject: nothing at all
    stubber.assert_no_pending_responses()


def test_server_side_without_multipart_copies_up_to_5_gib_in_one_copy_object_whatever_the_threshold() -> None:
    copier, stubber, sent = _stubbed_copier(multipart=False, multipart_threshold=5 * MIB)
    stubber.add_response("copy_object", {"CopyObjectResult": {"ETag": '"e"'}})
    try:
        outcome = copier.submit(_listed(5 * GIB)).result(timeout=30)
    finally:
        copier.shutdown(wait=True)

    assert outcome.multipart is False
    assert sent == ["CopyObject"]
    stubber.assert_no_pending_responses()


def test_server_side_with_multipart_the_same_object_starts_an_upload() -> None:
    """The contrast: the default spec routes a 6 GiB object to CreateMultipartUpload first."""
    copier, stubber, sent = _stubbed_copier(copy_tags=False)
    stubber.add_response("head_object", {"ContentLength": 6 * GIB, "ETag": '"etag"'})
    stubber.add_response("create_multipart_upload", {"UploadId": "u1"})
    try:
        copier.submit(_listed(6 * GIB)).exception(timeout=30)  # no part is stubbed: it fails after
    finally:
        copier.shutdown(wait=True)

    assert sent[:2] == ["HeadObject", "CreateMultipartUpload"] and "CopyObject" not in sent
