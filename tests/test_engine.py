"""The copy engine against moto's two accounts: what a user sees in the destination."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_provider_s3xacct.transfer.clients import TransferClients, engine_config
from airflow_provider_s3xacct.transfer.engine import ListingFailedError, TransferEngine, _InFlight
from airflow_provider_s3xacct.transfer.listing import ListedObject
from airflow_provider_s3xacct.transfer.outcomes import CopyOutcome
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.spec import MIB, CopySpec
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World
from tests.inject import RequestLog, s3_error


def principal_clients(world: World, concurrency: int = 8) -> TransferClients:
    client = world.principal.client("s3", config=engine_config(concurrency), endpoint_url=world.endpoint_url)
    return TransferClients(source=client, dest=client)


def run(world: World, clients: TransferClients | None = None, **spec: Any) -> CopyReport:
    spec.setdefault("source", f"s3://{world.source_bucket}/data/")
    spec.setdefault("destination", f"s3://{world.dest_bucket}/copy/")
    spec.setdefault("concurrency", 8)
    return TransferEngine(CopySpec.create(**spec), clients or principal_clients(world)).run()


def test_heterogeneous_encryption_is_copied_under_the_destination_key(world: World) -> None:
    world.put("data/plain.txt", b"plain", ContentType="text/plain", Metadata={"owner": "vendor"})
    world.put("data/sse-s3.bin", b"aes", sse_s3=True)
    world.put("data/kms/a.csv", b"kms", kms=world.source_key_arn, ContentType="text/csv")
    world.put("other/ignored.txt", b"outside the prefix")

    report = run(
        world,
        dest_kms_key_id=world.dest_key_arn,
        source_account_id=SOURCE_ACCOUNT,
        dest_account_id=DEST_ACCOUNT,
    )

    assert report.ok and (report.listed, report.copied, report.failed) == (3, 3, 0)
    assert sorted(world.dest_keys()) == ["copy/kms/a.csv", "copy/plain.txt", "copy/sse-s3.bin"]
    for key in world.dest_keys():
        head = world.dst_s3.head_object(Bucket=world.dest_bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == world.dest_key_arn
    plain = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="copy/plain.txt")
    assert plain["ContentType"] == "text/plain" and plain["Metadata"] == {"owner": "vendor"}
    body = world.dst_s3.get_object(Bucket=world.dest_bucket, Key="copy/kms/a.csv")["Body"].read()
    assert body == b"kms"
    assert report.bytes_copied == len(b"plain") + len(b"aes") + len(b"kms")


def test_without_a_key_no_sse_header_is_sent_and_expected_owners_are(world: World) -> None:
    world.put("data/a", b"a")
    clients = principal_clients(world)
    log = RequestLog(clients.dest)
    run(world, clients, source_account_id=SOURCE_ACCOUNT, dest_account_id=DEST_ACCOUNT)
    (params,) = log.params("CopyObject")
    assert "ServerSideEncryption" not in params and "SSEKMSKeyId" not in params
    assert params["ExpectedBucketOwner"] == DEST_ACCOUNT
    assert params["ExpectedSourceBucketOwner"] == SOURCE_ACCOUNT
    assert "ACL" not in params
    assert all(p["ExpectedBucketOwner"] == SOURCE_ACCOUNT for p in log.params("ListObjectsV2"))


def test_small_objects_cost_one_copy_each_and_no_head(world: World) -> None:
    for i in range(25):
        world.put(f"data/{i:03}", b"x" * i)
    clients = principal_clients(world)
    log = RequestLog(clients.dest)
    report = run(world, clients)
    assert report.copied == 25
    assert log.count("CopyObject") == 25
    assert log.count("HeadObject") == 0 and log.count("GetObject") == 0


def test_tags_are_kept_and_can_be_dropped(world: World) -> None:
    # moto keeps tags per requesting account (docs/design.md), so tag preservation is shown same-account.
    s3 = world.dst_s3
    s3.create_bucket(Bucket="tags-src")
    s3.create_bucket(Bucket="tags-dst")
    s3.put_object(Bucket="tags-src", Key="k/a", Body=b"1", Tagging="team=data&tier=gold")
    clients = TransferClients(source=s3, dest=s3)
    spec = CopySpec.create(source="s3://tags-src/k", destination="s3://tags-dst/with")
    TransferEngine(spec, clients).run()
    tags = s3.get_object_tagging(Bucket="tags-dst", Key="with/a")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("team", "data"), ("tier", "gold")]

    spec = CopySpec.create(source="s3://tags-src/k", destination="s3://tags-dst/without", copy_tags=False)
    TransferEngine(spec, clients).run()
    assert s3.get_object_tagging(Bucket="tags-dst", Key="without/a")["TagSet"] == []


def test_multipart_copy_keeps_bytes_metadata_tags_and_encryption(world: World) -> None:
    s3 = world.dest.client("s3", config=engine_config(4), endpoint_url=world.endpoint_url)
    s3.create_bucket(Bucket="mp-src")
    s3.create_bucket(Bucket="mp-dst")
    key_arn = world.dest_key_arn
    body = bytes(range(256)) * (12 * MIB // 256 + 7)  # ~12 MiB, not a multiple of the part size
    s3.put_object(
        Bucket="mp-src",
        Key="big/blob.bin",
        Body=body,
        ContentType="application/x-blob",
        CacheControl="max-age=60",
        Metadata={"origin": "vendor"},
        Tagging="class=big",
    )
    log = RequestLog(s3)
    spec = CopySpec.create(
        source="s3://mp-src/big",
        destination="s3://mp-dst/big",
        dest_kms_key_id=key_arn,
        multipart_threshold=5 * MIB,
        part_size=5 * MIB,
        concurrency=4,
    )
    report = TransferEngine(spec, TransferClients(s3, s3)).run()

    assert report.ok and report.multipart_copies == 1 and report.bytes_copied == len(body)
    assert log.count("UploadPartCopy") == 3 and log.count("CopyObject") == 0
    head = s3.head_object(Bucket="mp-dst", Key="big/blob.bin")
    assert head["ContentType"] == "application/x-blob" and head["CacheControl"] == "max-age=60"
    assert head["Metadata"] == {"origin": "vendor"}
    assert head["SSEKMSKeyId"] == key_arn
    assert s3.get_object_tagging(Bucket="mp-dst", Key="big/blob.bin")["TagSet"] == [
        {"Key": "class", "Value": "big"}
    ]
    assert s3.get_object(Bucket="mp-dst", Key="big/blob.bin")["Body"].read() == body


def test_failed_multipart_copy_is_aborted_and_reported(world: World) -> None:
    s3 = world.dest.client("s3", config=engine_config(2, max_attempts=1), endpoint_url=world.endpoint_url)
    s3.create_bucket(Bucket="mp-src")
    s3.create_bucket(Bucket="mp-dst")
    s3.put_object(Bucket="mp-src", Key="big/blob.bin", Body=b"z" * (11 * MIB))
    s3.put_object(Bucket="mp-dst", Key="big/blob.bin", Body=b"previous version")
    s3_error(s3, "UploadPartCopy", "AccessDenied", "Access Denied", 403)
    spec = CopySpec.create(
        source="s3://mp-src/big",
        destination="s3://mp-dst/big",
        multipart_threshold=5 * MIB,
        part_size=5 * MIB,
        concurrency=2,
    )
    report = TransferEngine(spec, TransferClients(s3, s3)).run()

    assert report.failed == 1 and not report.ok
    assert s3.list_multipart_uploads(Bucket="mp-dst").get("Uploads", []) == []
    # The destination keeps its previous object: a failure never leaves a half-written one.
    assert s3.get_object(Bucket="mp-dst", Key="big/blob.bin")["Body"].read() == b"previous version"


def test_sync_copies_only_new_or_changed_keys_and_resumes(world: World) -> None:
    for i in range(10):
        world.put(f"data/{i}", b"v1")
    clients = principal_clients(world)
    # First run is interrupted for three keys (they fail), as a crash part way would leave it.
    for i in (2, 5, 7):
        s3_error(clients.dest, "CopyObject", "AccessDenied", "Access Denied", 403, key=f"copy/{i}", times=1)
    first = run(world, clients, mode="sync")
    assert (first.copied, first.failed) == (7, 3)

    second = run(world, mode="sync")
    assert (second.copied, second.skipped, second.failed) == (3, 7, 0)

    world.put("data/4", b"v2 is longer")
    world.put("data/new", b"n")
    third = run(world, mode="sync")
    assert (third.copied, third.skipped) == (2, 9)
    assert world.dst_s3.get_object(Bucket=world.dest_bucket, Key="copy/4")["Body"].read() == b"v2 is longer"

    clients = principal_clients(world)
    log = RequestLog(clients.dest)
    fourth = run(world, clients, mode="sync")
    assert (fourth.copied, fourth.skipped) == (0, 11)
    assert log.count("CopyObject") == 0 and log.count("HeadObject") == 0


def test_sync_delete_within_the_limit(world: World) -> None:
    for i in range(20):
        world.put(f"data/{i:02}", b"1")
    run(world, mode="sync")
    world.src_s3.delete_object(Bucket=world.source_bucket, Key="data/03")
    report = run(world, mode="sync", delete=True)
    assert report.deleted == 1 and report.ok
    assert "copy/03" not in world.dest_keys() and len(world.dest_keys()) == 19


def test_sync_delete_above_the_limit_deletes_nothing(world: World) -> None:
    for i in range(20):
        world.put(f"data/{i:02}", b"1")
    run(world, mode="sync")
    for i in range(6):
        world.src_s3.delete_object(Bucket=world.source_bucket, Key=f"data/{i:02}")
    report = run(world, mode="sync", delete=True)
    assert report.deleted == 0 and not report.ok
    assert report.delete_refused is not None and "--max-delete 6" in report.delete_refused
    assert len(world.dest_keys()) == 20
    allowed = run(world, mode="sync", delete=True, max_delete=6)
    assert allowed.deleted == 6 and len(world.dest_keys()) == 14


def test_delete_guard_has_a_floor_and_a_fraction(world: World) -> None:
    """Issue 14 (4): 10% of a small prefix was 0, so a nightly sync failed for one deleted file."""
    for i in range(8):
        world.put(f"data/{i}", b"1")
    run(world, mode="sync")
    world.src_s3.delete_object(Bucket=world.source_bucket, Key="data/0")
    report = run(world, mode="sync", delete=True)
    assert report.ok and report.deleted == 1 and len(world.dest_keys()) == 7
    for i in range(1, 7):  # 6 of 7: above the floor of 5 and above 10%
        world.src_s3.delete_object(Bucket=world.source_bucket, Key=f"data/{i}")
    refused = run(world, mode="sync", delete=True)
    assert refused.deleted == 0 and "at least 5" in (refused.delete_refused or "")
    fraction = run(world, mode="sync", delete=True, max_delete_fraction=0.9)
    assert fraction.ok and fraction.deleted == 6 and world.dest_keys() == ["copy/7"]


def test_empty_or_mistyped_source_never_wipes_the_destination(world: World) -> None:
    for i in range(5):
        world.put(f"data/{i}", b"1")
    run(world, mode="sync")
    report = run(world, source=f"s3://{world.source_bucket}/dta/", mode="sync", delete=True)
    assert report.deleted == 0 and "source listing is empty" in (report.delete_refused or "")
    assert "--max-delete 5" in (report.delete_refused or "")
    assert len(world.dest_keys()) == 5
    short = run(world, source=f"s3://{world.source_bucket}/dta/", mode="sync", delete=True, max_delete=4)
    assert short.deleted == 0 and len(world.dest_keys()) == 5


def test_an_emptied_source_is_mirrored_with_an_explicit_max_delete(world: World) -> None:
    """Issue 14 (4): a source emptied on purpose could never be mirrored."""
    for i in range(5):
        world.put(f"data/{i}", b"1")
    run(world, mode="sync")
    for i in range(5):
        world.src_s3.delete_object(Bucket=world.source_bucket, Key=f"data/{i}")
    report = run(world, mode="sync", delete=True, max_delete=5)
    assert report.ok and report.deleted == 5 and world.dest_keys() == []


def test_dry_run_changes_nothing_and_says_what_would(world: World, tmp_path: Any) -> None:
    for i in range(4):
        world.put(f"data/{i}", b"abc")
    world.dst_s3.put_object(Bucket=world.dest_bucket, Key="copy/stale", Body=b"old")
    report_path = tmp_path / "report.jsonl"
    engine = TransferEngine(
        CopySpec.create(
            source=f"s3://{world.source_bucket}/data/",
            destination=f"s3://{world.dest_bucket}/copy/",
            mode="sync",
            delete=True,
            max_delete=1,
            dry_run=True,
        ),
        principal_clients(world),
        report_target=str(report_path),
    )
    report = engine.run()
    assert report.dry_run and (report.copied, report.deleted, report.bytes_copied) == (4, 1, 12)
    assert world.dest_keys() == ["copy/stale"]
    lines = [json.loads(line) for line in report_path.read_text().splitlines()]
    assert {(r["key"], r["action"], r["status"]) for r in lines} == {
        ("0", "copy", "dry-run"),
        ("1", "copy", "dry-run"),
        ("2", "copy", "dry-run"),
        ("3", "copy", "dry-run"),
        ("stale", "delete", "dry-run"),
    }


def test_include_exclude_filters(world: World) -> None:
    for key in ("a.csv", "b.csv", "tmp/c.csv", "d.json"):
        world.put(f"data/{key}", b"1")
    report = run(world, include=["*.csv"], exclude=["tmp/*"])
    assert report.copied == 2 and sorted(world.dest_keys()) == ["copy/a.csv", "copy/b.csv"]


def test_throttling_and_200_with_error_are_retried(world: World) -> None:
    world.put("data/a", b"1")
    world.put("data/b", b"2")
    clients = principal_clients(world)
    slow = s3_error(
        clients.dest, "CopyObject", "SlowDown", "Please reduce your request rate.", 503, key="copy/a", times=2
    )
    internal = s3_error(
        clients.dest,
        "CopyObject",
        "InternalError",
        "We encountered an internal error. Please try again.",
        200,
        key="copy/b",
        times=1,
    )
    report = run(world, clients)
    assert report.ok and report.copied == 2
    assert slow.hits == 2 and internal.hits == 1
    assert sorted(world.dest_keys()) == ["copy/a", "copy/b"]


def test_throttling_that_never_stops_is_a_retryable_failure(world: World) -> None:
    world.put("data/a", b"1")
    client = world.principal.client(
        "s3", config=engine_config(2, max_attempts=2), endpoint_url=world.endpoint_url
    )
    s3_error(client, "CopyObject", "SlowDown", "Please reduce your request rate.", 503)
    report = run(world, TransferClients(client, client))
    assert report.failed == 1 and report.only_retryable_failures
    assert "SlowDown" in report.failures[0].error


def test_kms_masked_access_denied_is_diagnosed_with_at_most_four_heads_per_distinct_error(
    world: World,
) -> None:
    for i in range(30):
        world.put(f"data/k{i:02}", b"secret", kms=world.source_key_arn)
    world.put("data/plain", b"ok")
    clients = principal_clients(world)
    log = RequestLog(clients.dest)
    for i in range(30):
        s3_error(clients.dest, "CopyObject", "AccessDenied", "Access Denied", 403, key=f"copy/k{i:02}")
    report = run(world, clients)
    assert (report.copied, report.failed) == (1, 30)
    [(cause, count)] = report.failure_causes.most_common()
    assert count == 30
    assert f"lacks kms:Decrypt on {world.source_key_arn}" in cause
    assert "key policy" in cause and "identity policy" in cause
    assert 1 <= log.count("HeadObject") <= 4  # probed, and bounded by the diagnoser: not one per object
    assert report.failures[0].to_dict()["diagnosis"] == cause


def test_enriched_denial_needs_no_probe(world: World) -> None:
    world.put("data/a", b"1")
    clients = principal_clients(world)
    log = RequestLog(clients.dest)
    message = (
        f"User: arn:aws:sts::{DEST_ACCOUNT}:assumed-role/sync-role/s is not authorized to perform: "
        f"kms:GenerateDataKey on resource: {world.dest_key_arn} because no identity-based policy "
        "allows the kms:GenerateDataKey action"
    )
    s3_error(clients.dest, "CopyObject", "AccessDenied", message, 403)
    report = run(world, clients, dest_kms_key_id=world.dest_key_arn)
    diagnosis = report.failures[0].diagnosis
    assert diagnosis.action == "kms:GenerateDataKey" and diagnosis.resource == world.dest_key_arn
    assert "identity-based policy" in diagnosis.fix
    assert log.count("HeadObject") == 0


def test_denied_head_means_an_s3_permission(world: World) -> None:
    world.put("data/a", b"1")
    clients = principal_clients(world)
    s3_error(clients.dest, "CopyObject", "AccessDenied", "Access Denied", 403)
    s3_error(clients.dest, "HeadObject", "AccessDenied", "", 403)
    report = run(world, clients)
    diagnosis = report.failures[0].diagnosis
    assert diagnosis.action == "s3:GetObject" and "not KMS" in diagnosis.fix


def test_object_deleted_after_listing_is_skipped_as_vanished_not_failed(world: World, tmp_path: Any) -> None:
    world.put("data/a", b"1")
    world.put("data/b", b"2")
    clients = principal_clients(world)
    s3_error(clients.dest, "CopyObject", "NoSuchKey", "The specified key does not exist.", 404, key="copy/a")
    engine = TransferEngine(
        CopySpec.create(
            source=f"s3://{world.source_bucket}/data/", destination=f"s3://{world.dest_bucket}/copy/"
        ),
        clients,
        report_target=str(tmp_path / "r.jsonl"),
    )
    report = engine.run()
    assert report.ok and (report.copied, report.skipped, report.vanished, report.failed) == (1, 1, 1, 0)
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert {
        "key": "a",
        "size": 1,
        "action": "skip",
        "status": "vanished",
        "error": "CopyObject: NoSuchKey",
    } in lines


def test_missing_source_bucket_fails_the_listing_with_a_diagnosis(world: World) -> None:
    with pytest.raises(ListingFailedError, match="NoSuchBucket"):
        run(world, source="s3://no-such-bucket/data/")


def test_report_can_be_written_to_s3(world: World) -> None:
    world.put("data/a", b"1")
    report_uri = f"s3://{world.dest_bucket}/reports/run.jsonl"
    engine = TransferEngine(
        CopySpec.create(
            source=f"s3://{world.source_bucket}/data/", destination=f"s3://{world.dest_bucket}/copy/"
        ),
        principal_clients(world),
        report_target=report_uri,
    )
    report = engine.run()
    assert report.report_uri == report_uri
    body = world.dst_s3.get_object(Bucket=world.dest_bucket, Key="reports/run.jsonl")["Body"].read()
    assert json.loads(body) == {"key": "a", "size": 1, "action": "copy", "status": "copied", "error": None}


def test_failures_under_two_keys_are_not_pinned_on_one(world: World) -> None:
    kms = world.source.client("kms", endpoint_url=world.endpoint_url)
    second = kms.create_key()["KeyMetadata"]["Arn"]
    for i in range(12):
        world.put(f"data/k{i:02}", b"s", kms=world.source_key_arn if i % 2 else second)
    clients = principal_clients(world, concurrency=1)
    s3_error(clients.dest, "CopyObject", "AccessDenied", "Access Denied", 403)
    report = run(world, clients, concurrency=1)
    assert report.failed == 12
    causes = " ".join(report.failure_causes)
    assert world.source_key_arn in causes and second in causes


def test_an_unresolved_alias_arn_goes_to_s3_as_given_and_bucket_keys_are_passed(world: World) -> None:
    """No KMS client to resolve it here (as when DescribeKey is not permitted): S3 resolves the alias."""
    world.put("data/a", b"1")
    clients = principal_clients(world)
    log = RequestLog(clients.dest)
    world.dest.client("kms", endpoint_url=world.endpoint_url).create_alias(
        AliasName="alias/landing", TargetKeyId=world.dest_key_arn.split("/")[-1]
    )
    alias = "arn:aws:kms:us-east-1:222222222222:alias/landing"
    report = run(
        world,
        clients,
        destination=f"s3://{world.dest_bucket}/k/",
        dest_kms_key_id=alias,
        bucket_key_enabled=True,
    )
    assert report.ok and world.dest_keys("k/") == ["k/a"]
    (params,) = log.params("CopyObject")  # the alias goes to S3 as given: S3 resolves it
    assert params["BucketKeyEnabled"] is True and params["SSEKMSKeyId"] == alias


def test_finished_copies_are_handed_back_once_in_the_order_they_finished() -> None:
    """The engine's completion queue: already-finished, late and failed copies, none lost or repeated."""

    def listed(key: str) -> ListedObject:
        return ListedObject(key, 1, datetime.now(UTC), '"e"')

    in_flight = _InFlight()
    assert in_flight.finished(block=True) == []  # nothing in flight: returns, never hangs
    early: Future[CopyOutcome] = Future()
    early.set_result(CopyOutcome("a", 1, multipart=False))  # done before the engine registers it
    late: Future[CopyOutcome] = Future()
    failed: Future[CopyOutcome] = Future()
    in_flight.add(early, listed("a"))
    in_flight.add(late, listed("b"))
    in_flight.add(failed, listed("c"))
    assert [obj.key for _, obj in in_flight.finished(block=False)] == ["a"]
    assert in_flight.finished(block=False) == []
    failed.set_exception(RuntimeError("denied"))
    handed = in_flight.finished(block=True)  # the failure is already there: no wait for "b"
    assert [obj.key for _, obj in handed] == ["c"] and len(in_flight) == 1
    # "b" finishes on another thread only once released; whether it lands before or while the
    # main thread blocks, finished(block=True) must hand it back (never [] with one in flight).
    release = threading.Event()
    finisher = threading.Thread(
        target=lambda: (release.wait(), late.set_result(CopyOutcome("b", 1, multipart=False)))
    )
    finisher.start()
    release.set()
    assert [obj.key for _, obj in in_flight.finished(block=True)] == ["b"]
    finisher.join()
    assert len(in_flight) == 0


def test_no_more_copies_in_flight_than_the_concurrency(world: World) -> None:
    """The engine's bound, observed by the server: the CRT alone would send every copy at once."""
    from tests.wire import max_in_flight, server_delay

    for i in range(24):
        world.put(f"data/{i:02d}", b"x")
    with server_delay(world, 0.15):
        report = run(
            world,
            TransferClients.from_session(world.principal, concurrency=3, endpoint_url=world.endpoint_url),
            concurrency=3,
        )
    assert report.copied == 24
    assert 2 <= max_in_flight(world)["CopyObject"] <= 3


def test_a_listing_failure_carries_its_diagnosis(world: World) -> None:
    with pytest.raises(ListingFailedError) as failed:
        run(world, source="s3://no-such-bucket/data/")
    message = str(failed.value)
    assert "NoSuchBucket" in message and "no-such-bucket" in message
    assert str(failed.value.diagnosis) in message and failed.value.diagnosis.cause in message


def test_a_shard_copies_and_deletes_only_its_key_range(world: World) -> None:
    """(start_after, end_key] on both sides: neighbours' keys are neither copied nor deleted."""
    for key in ["a", "b", "c", "d", "e"]:
        world.put(f"data/{key}", key.encode())
    for key in ["b", "cc", "e", "f"]:  # "cc" is this shard's stale key; "f" is another shard's
        world.dst_s3.put_object(Bucket=world.dest_bucket, Key=f"copy/{key}", Body=b"old")
    report = run(world, mode="sync", delete=True, max_delete=5, start_after="b", end_key="d")
    assert (report.listed, report.copied, report.deleted) == (2, 2, 1)
    assert sorted(world.dest_keys()) == ["copy/b", "copy/c", "copy/d", "copy/e", "copy/f"]
    body = world.dst_s3.get_object(Bucket=world.dest_bucket, Key="copy/e")["Body"].read()
    assert body == b"old"  # outside the shard: left as it was


def test_a_lost_hand_over_never_hangs_the_wait() -> None:
    """A KeyboardInterrupt or task timeout landing right after the queue gave a finished copy up
    loses that hand-over; the wait must still return the copy instead of waiting forever."""
    in_flight = _InFlight()
    future: Future[CopyOutcome] = Future()
    in_flight.add(future, ListedObject("a", 1, datetime.now(UTC), '"e"'))
    future.set_result(CopyOutcome("a", 1, multipart=False))
    in_flight._done.get_nowait()  # the hand-over, taken and lost
    handed: list[Any] = []
    waiter = threading.Thread(
        target=lambda: handed.extend(in_flight.finished(block=True, timeout=0.1)), daemon=True
    )
    waiter.start()
    waiter.join(timeout=5)
    assert not waiter.is_alive(), "the wait hung on a lost completion"
    assert [obj.key for _, obj in handed] == ["a"] and len(in_flight) == 0

    # wake() (a cancel, from a signal handler) ends a wait at once, with nothing handed over.
    pending: Future[CopyOutcome] = Future()
    in_flight.add(pending, ListedObject("b", 1, datetime.now(UTC), '"e"'))
    in_flight.wake()
    assert in_flight.finished(block=True, timeout=30) == [] and len(in_flight) == 1
