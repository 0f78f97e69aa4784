"""No multipart upload is orphaned: lost CreateMultipartUpload responses, failed aborts."""

from __future__ import annotations

import time
from typing import Any

from airflow_provider_s3xacct.transfer.clients import TransferClients, engine_config
from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.aws_world import DEST_ACCOUNT, World
from tests.faults.helpers import MIB, bench, fault, open_uploads
from tests.inject import RequestLog


def _big(world: World, key: str = "data/big") -> bytes:
    body = b"b" * (6 * MIB)
    world.put(key, body)
    return body


def _copy(world: World, client: Any | None = None, **spec: Any) -> CopyReport:
    client = client or world.principal.client("s3", config=engine_config(4), endpoint_url=world.endpoint_url)
    return TransferEngine(
        CopySpec.create(
            source=f"s3://{world.source_bucket}/data/",
            destination=f"s3://{world.dest_bucket}/copy/",
            multipart_threshold=5 * MIB,
            part_size=5 * MIB,
            concurrency=2,
            **spec,
        ),
        TransferClients(source=client, dest=client),
    ).run()


def test_an_upload_whose_create_response_was_lost_is_found_and_aborted(world: World) -> None:
    body = _big(world)
    # moto creates the upload, the answer never arrives, botocore sends the create again.
    fault(world, "CreateMultipartUpload", f"/{world.dest_bucket}/copy/big", kind="reset-after")
    report = _copy(world)
    assert bench(world, "stats")["CreateMultipartUpload"] == 2
    assert report.ok and report.uploads_aborted == 1
    assert open_uploads(world) == []
    assert world.dst_s3.get_object(Bucket=world.dest_bucket, Key="copy/big")["Body"].read() == body


def test_a_failed_abort_is_reported_with_its_upload_id_and_the_denial_stays_permanent(world: World) -> None:
    _big(world)
    client = world.principal.client(
        "s3", config=engine_config(2, max_attempts=2), endpoint_url=world.endpoint_url
    )
    fault(world, "UploadPartCopy", "*", status=403, code="AccessDenied", message="Access Denied", times=4)
    # The abort fails with a network error every time botocore tries.
    fault(world, "AbortMultipartUpload", "*", kind="reset-before", times=4)
    report = _copy(world, client)

    assert report.failed == 1 and not report.ok
    (left,) = open_uploads(world)
    assert [f.upload_id for f in report.abort_failures] == [left["UploadId"]]
    assert "AbortMultipartUpload" in report.abort_failures[0].error
    assert left["UploadId"] in report.failure_summary()
    # The copy's own diagnosis is the denial, not "network error, retry".
    failure = report.failures[0]
    assert "AccessDenied" in failure.error and failure.diagnosis.permanent
    assert not report.only_retryable_failures


def test_abort_carries_the_expected_bucket_owner(world: World) -> None:
    _big(world)
    client = world.principal.client(
        "s3", config=engine_config(2, max_attempts=1), endpoint_url=world.endpoint_url
    )
    log = RequestLog(client)
    fault(world, "UploadPartCopy", "*", status=403, code="AccessDenied", message="Access Denied", times=2)
    _copy(world, client, dest_account_id=DEST_ACCOUNT)
    aborts = log.params("AbortMultipartUpload")
    assert aborts and all(p["ExpectedBucketOwner"] == DEST_ACCOUNT for p in aborts)
    assert open_uploads(world) == []


def test_an_upload_of_the_same_key_started_before_the_copy_is_not_taken_for_a_lost_one(world: World) -> None:
    """Only uploads initiated while our CreateMultipartUpload was in flight (S3's Date header bounds
    the window) can be the lost one: an older upload of the same key, e.g. another run's, stays."""
    body = _big(world)
    other = world.dst_s3.create_multipart_upload(Bucket=world.dest_bucket, Key="copy/big")["UploadId"]
    time.sleep(3)  # moto's Initiated has a resolution of a second; the window is about two wide
    fault(world, "CreateMultipartUpload", f"/{world.dest_bucket}/copy/big", kind="reset-after")

    report = _copy(world)

    assert report.ok and report.uploads_aborted == 1
    assert [u["UploadId"] for u in open_uploads(world)] == [other]
    assert world.dst_s3.get_object(Bucket=world.dest_bucket, Key="copy/big")["Body"].read() == body
