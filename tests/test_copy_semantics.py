"""Issue 14's copy semantics, observed in the destination bucket and on the wire.

Each ``defect`` test failed on the code before the fix (the issue's numbered defects 1-8).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.transfer.clients import TransferClients, engine_config
from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.spec import MIB, CopySpec
from tests.aws_world import World
from tests.inject import RequestLog
from tests.test_cli_copy import last_json, s3xacct
from tests.test_engine import principal_clients, run
from tests.wire import agents, forget, seen


def same_account(world: World, *buckets: str) -> Any:
    """A destination-account client with its own buckets (moto keeps tags and checksums per account)."""
    s3 = world.dest.client("s3", config=engine_config(4), endpoint_url=world.endpoint_url)
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    return s3


def multipart_run(s3: Any, **spec: Any) -> CopyReport:
    spec.setdefault("source", "s3://mp-src/big")
    spec.setdefault("destination", "s3://mp-dst/big")
    spec.update(multipart_threshold=5 * MIB, part_size=5 * MIB, concurrency=4)
    return TransferEngine(CopySpec.create(**spec), TransferClients(s3, s3)).run()


def test_defect1_source_rewritten_larger_after_listing_is_copied_whole(world: World) -> None:
    """The parts are cut from what the HEAD saw: never the first old-size bytes of a new version."""
    s3 = same_account(world, "mp-src", "mp-dst")
    old, new = b"o" * (11 * MIB), bytes(range(256)) * (17 * MIB // 256)
    s3.put_object(Bucket="mp-src", Key="big/blob.bin", Body=old)
    writer = same_account(world)

    def rewrite_before_the_head(**_: Any) -> None:  # the vendor rewrites it between listing and copy
        s3.meta.events.unregister("before-send.s3.HeadObject", rewrite_before_the_head)
        writer.put_object(Bucket="mp-src", Key="big/blob.bin", Body=new)

    s3.meta.events.register("before-send.s3.HeadObject", rewrite_before_the_head)
    log = RequestLog(s3)
    report = multipart_run(s3)

    body = s3.get_object(Bucket="mp-dst", Key="big/blob.bin")["Body"].read()
    assert report.ok and body == new and report.bytes_copied == len(new)
    new_etag = s3.head_object(Bucket="mp-src", Key="big/blob.bin")["ETag"]
    parts = log.params("UploadPartCopy")
    assert len(parts) == 4 and all(p["CopySourceIfMatch"] == new_etag for p in parts)


def test_defect2_a_single_object_as_source_copies_that_object(world: World) -> None:
    world.put("data/report.csv", b"a,b\n")
    world.put("data/report.csv.bak", b"old")
    report = run(
        world,
        source=f"s3://{world.source_bucket}/data/report.csv",
        destination=f"s3://{world.dest_bucket}/out/",
    )
    assert report.ok and report.copied == 1 and world.dest_keys() == ["out/report.csv"]
    renamed = run(
        world,
        source=f"s3://{world.source_bucket}/data/report.csv",
        destination=f"s3://{world.dest_bucket}/renamed.csv",
        mode="sync",
    )
    assert renamed.copied == 1 and "renamed.csv" in world.dest_keys()
    again = run(
        world,
        source=f"s3://{world.source_bucket}/data/report.csv",
        destination=f"s3://{world.dest_bucket}/renamed.csv",
        mode="sync",
    )
    assert (again.copied, again.skipped) == (0, 1)
    # Without the object, the path is a prefix as before: data/report.csv/ holds nothing.
    assert run(world, source=f"s3://{world.source_bucket}/data/report").listed == 0


def test_defect2_a_prefix_matching_nothing_warns_or_fails(world: World) -> None:
    world.put("data/a", b"1")
    src, dst = f"s3://{world.source_bucket}/dta/", f"s3://{world.dest_bucket}/x/"
    warned = s3xacct(world, "copy", src, dst, "--json")
    assert warned.returncode == 0 and "warning: no object under" in warned.stderr
    failed = s3xacct(world, "copy", src, dst, "--error-on-no-transfer", "--json")
    assert failed.returncode == 1 and "no object under" in last_json(failed.stdout)["no_transfer"]
    one = s3xacct(world, "copy", f"s3://{world.source_bucket}/data/a", dst, "--json")
    assert one.returncode == 0 and last_json(one.stdout)["copied"] == 1 and world.dest_keys("x/") == ["x/a"]


def test_defect3_the_aws_idiom_exclude_all_include_some(world: World) -> None:
    for key in ("a.csv", "b.json", "sub/c.csv", "sub/d.txt"):
        world.put(f"data/{key}", b"1")
    result = s3xacct(
        world, "copy", f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/f/",
        "--exclude", "*", "--include", "*.csv", "--exclude", "sub/*", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert world.dest_keys("f/") == ["f/a.csv"]


def test_defect5_regions_come_from_the_buckets(world: World) -> None:
    """A key in the bucket's region is accepted whatever AWS_DEFAULT_REGION says; a wrong one is not."""
    world.dst_s3.create_bucket(Bucket="eu-dst", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    world.put("data/a", b"1")
    eu_key = "arn:aws:kms:eu-west-1:222222222222:key/11111111-2222-3333-4444-555555555555"
    us_key = world.dest_key_arn  # us-east-1
    refused = s3xacct(
        world,
        "copy",
        f"s3://{world.source_bucket}/data/",
        "s3://eu-dst/x/",
        "--sse-kms-key-id",
        us_key,
        "--json",
    )
    assert refused.returncode == 2 and "dest_kms_key_id" in refused.stderr and "eu-west-1" in refused.stderr
    # moto does not check that the key exists in eu-west-1, so the accepted run is shown by the absence
    # of the refusal and by the copy it makes.
    accepted = s3xacct(
        world,
        "copy",
        f"s3://{world.source_bucket}/data/",
        "s3://eu-dst/x/",
        "--sse-kms-key-id",
        eu_key,
        "--dry-run",
        "--json",
    )
    assert accepted.returncode == 0, accepted.stderr


def test_defect6_multipart_copy_keeps_the_source_checksum(world: World) -> None:
    s3 = same_account(world, "mp-src", "mp-dst")
    s3.put_object(Bucket="mp-src", Key="big/blob.bin", Body=b"c" * (11 * MIB), ChecksumAlgorithm="SHA256")
    log = RequestLog(s3)
    assert multipart_run(s3).ok
    (create,) = log.params("CreateMultipartUpload")
    assert (create["ChecksumAlgorithm"], create["ChecksumType"]) == ("SHA256", "COMPOSITE")
    head = s3.head_object(Bucket="mp-dst", Key="big/blob.bin", ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256"), head


def test_defect6_compare_etag_does_not_recopy_multipart_copies(world: World) -> None:
    s3 = same_account(world, "mp-src", "mp-dst")
    s3.put_object(Bucket="mp-src", Key="big/blob.bin", Body=b"e" * (11 * MIB))
    time.sleep(1.05)  # a copy in the source's own second is, by design, made again once (defect 7)
    assert multipart_run(s3, mode="sync", compare="etag").copied == 1
    assert "-" in s3.head_object(Bucket="mp-dst", Key="big/blob.bin")["ETag"]  # a multipart ETag
    again = multipart_run(s3, mode="sync", compare="etag")
    assert (again.copied, again.skipped) == (0, 1)


def test_defect7_an_overwrite_in_the_second_of_the_last_sync_is_synced(world: World) -> None:
    """S3 (and moto) list whole seconds: equal times with different ETags count as changed."""
    for _ in range(10):
        world.put("data/a", b"v1")
        run(world, mode="sync")
        world.put("data/a", b"v2")
        src = world.src_s3.list_objects_v2(Bucket=world.source_bucket, Prefix="data/")["Contents"][0]
        dst = world.dst_s3.list_objects_v2(Bucket=world.dest_bucket, Prefix="copy/")["Contents"][0]
        if src["LastModified"] == dst["LastModified"]:
            break
        time.sleep(0.3)
    else:
        pytest.skip("could not write twice within one second")
    report = run(world, mode="sync")
    assert report.copied == 1
    assert world.dst_s3.get_object(Bucket=world.dest_bucket, Key="copy/a")["Body"].read() == b"v2"


def test_defect8_archived_objects_can_be_skipped(world: World) -> None:
    world.put("data/hot", b"1")
    world.put("data/cold", b"2", StorageClass="GLACIER")
    world.put("data/ir", b"3", StorageClass="GLACIER_IR")
    failing = run(world, mode="sync")
    assert failing.failed == 1 and failing.failures[0].key == "cold"
    report = run(world, mode="sync", storage_class_skip=["GLACIER", "DEEP_ARCHIVE"])
    assert report.ok and (report.copied, report.skipped, report.failed) == (0, 3, 0)
    assert sorted(world.dest_keys()) == ["copy/hot", "copy/ir"]


def test_defect8_legacy_bucket_names_are_accepted(world: World) -> None:
    spec = CopySpec.create(source="s3://Legacy_Bucket/data/", destination=f"s3://{world.dest_bucket}/l/")
    assert spec.source.bucket == "Legacy_Bucket"
    world.src_s3.create_bucket(Bucket="Legacy_Bucket")  # moto, like us-east-1 once, allows it
    world.src_s3.put_object(Bucket="Legacy_Bucket", Key="data/a", Body=b"1")
    report = TransferEngine(spec, principal_clients(world)).run()
    assert report.ok and world.dest_keys("l/") == ["l/a"]
    for bad in ("ab", "-abc", "a" * 256, "has space"):
        with pytest.raises(InvalidInputError, match="source"):
            CopySpec.create(source=f"s3://{bad}/x", destination="s3://dst-bucket/y")


@pytest.mark.parametrize("transport", ["crt", "botocore"])
def test_destination_flags_reach_the_wire_whichever_client_sends(world: World, transport: str) -> None:
    """Storage class, Requester Pays and checksum on every CopyObject, the CRT's included.

    moto ignores x-amz-request-payer (it has no Requester Pays), so that header is checked on the
    wire (demo.counting_server records each request's client and headers); the storage class and
    checksum are also checked in the destination.
    """
    world.put("data/a", b"1")
    world.put("data/b", b"22", StorageClass="STANDARD_IA")
    clients = TransferClients.from_session(world.principal, concurrency=4, endpoint_url=world.endpoint_url)
    spec = CopySpec.create(
        source=f"s3://{world.source_bucket}/data/",
        destination=f"s3://{world.dest_bucket}/copy/",
        transport=transport,
        storage_class="keep",
        request_payer="requester",
        checksum_algorithm="SHA256",
    )
    assert TransferEngine(spec, clients).run().copied == 2
    copies = seen(world, "CopyObject")
    assert len(copies) == 2
    assert agents(copies) == {transport}
    assert all(r["headers"]["x-amz-request-payer"] == "requester" for r in copies)
    assert all(r["headers"]["x-amz-checksum-algorithm"] == "SHA256" for r in copies)
    listings = seen(world, "ListObjects")
    assert listings and all(r["headers"].get("x-amz-request-payer") == "requester" for r in listings)
    head_a = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="copy/a", ChecksumMode="ENABLED")
    head_b = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="copy/b")
    assert head_a.get("StorageClass", "STANDARD") == "STANDARD" and head_b["StorageClass"] == "STANDARD_IA"
    assert head_a.get("ChecksumSHA256")


def test_metadata_overrides_replace_what_they_name_and_keep_the_rest(world: World) -> None:
    world.put(
        "data/a", b"1", ContentType="text/plain", CacheControl="max-age=9", Metadata={"owner": "vendor"}
    )
    world.put("data/big", b"b" * (6 * MIB), ContentType="text/plain", Metadata={"owner": "vendor"})
    report = run(world, content_type="text/csv", multipart_threshold=5 * MIB, part_size=5 * MIB)
    assert report.ok and report.multipart_copies == 1
    for key in ("copy/a", "copy/big"):
        head = world.dst_s3.head_object(Bucket=world.dest_bucket, Key=key)
        assert head["ContentType"] == "text/csv" and head["Metadata"] == {"owner": "vendor"}
    assert world.dst_s3.head_object(Bucket=world.dest_bucket, Key="copy/a")["CacheControl"] == "max-age=9"
    run(world, metadata={"team": "data"}, destination=f"s3://{world.dest_bucket}/m/")
    head = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="m/a")
    assert head["Metadata"] == {"team": "data"} and head["ContentType"] == "text/plain"


def test_size_age_and_key_list_filters_skip_without_deleting(world: World, tmp_path: Any) -> None:
    from datetime import UTC, datetime

    world.put("data/old.csv", b"1" * 10)
    world.put("data/small", b"1")
    time.sleep(6.1)
    world.put("data/young.csv", b"2" * 10)
    listed = world.src_s3.list_objects_v2(Bucket=world.source_bucket, Prefix="data/young")["Contents"][0]

    def between() -> float:
        """An age between young.csv's and the others' (6 s apart; S3 lists whole seconds), with 3 s
        of margin each way for a loaded machine between this call and the run's listing."""
        return (datetime.now(UTC) - listed["LastModified"]).total_seconds() + 3.0

    run(world, mode="sync", destination=f"s3://{world.dest_bucket}/all/")
    assert run(world, min_age=between(), destination=f"s3://{world.dest_bucket}/aged/").copied == 2
    assert sorted(world.dest_keys("aged/")) == ["aged/old.csv", "aged/small"]
    fresh = run(world, max_age=between(), min_size="2", destination=f"s3://{world.dest_bucket}/fresh/")
    assert fresh.copied == 1
    assert world.dest_keys("fresh/") == ["fresh/young.csv"]
    assert run(world, max_size=1, destination=f"s3://{world.dest_bucket}/tiny/").copied == 1
    # The vendor rewrites old.csv now: too young to copy, and its destination copy stays.
    world.put("data/old.csv", b"3" * 10)
    synced = run(world, mode="sync", delete=True, min_age="1h", destination=f"s3://{world.dest_bucket}/all/")
    assert (synced.copied, synced.deleted) == (0, 0) and len(world.dest_keys("all/")) == 3
    # --files-from: a local list, then the same list as an S3 object.
    listing = tmp_path / "keys.txt"
    listing.write_text("# wanted\nsmall\n\nyoung.csv\n")
    assert run(world, files_from=str(listing), destination=f"s3://{world.dest_bucket}/l/").copied == 2
    world.src_s3.put_object(Bucket=world.source_bucket, Key="lists/keys.txt", Body=b"small\n")
    # Read as the sync principal from the source bucket (moto does not enforce its bucket policy).
    report = run(
        world,
        files_from=f"s3://{world.source_bucket}/lists/keys.txt",
        destination=f"s3://{world.dest_bucket}/s/",
    )
    assert report.copied == 1 and world.dest_keys("s/") == ["s/small"]
    parsed = CopySpec.create(
        source="s3://a-b/x", destination="s3://c-d/y", min_age="30m", max_age="2w", max_size="1.5G"
    )
    assert (parsed.min_age, parsed.max_age, parsed.max_size) == (1800, 14 * 86400, 3 * 1024**3 // 2)
    with pytest.raises(InvalidInputError, match="min_age"):
        CopySpec.create(source="s3://a-b/x", destination="s3://c-d/y", min_age="3 fortnights")
    with pytest.raises(InvalidInputError, match="max_size"):
        CopySpec.create(source="s3://a-b/x", destination="s3://c-d/y", min_size="2M", max_size="1M")


def test_size_only_and_quiet_from_the_command_line(world: World) -> None:
    world.put("data/a", b"v1")
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/q/"
    first = s3xacct(world, "copy", src, dst, "--quiet")
    assert first.returncode == 0 and first.stderr == "" and world.dest_keys("q/") == ["q/a"]
    time.sleep(1.1)
    world.put("data/a", b"v2")  # same size, newer
    same_size = s3xacct(world, "copy", src, dst, "--mode", "sync", "--size-only", "--json")
    assert last_json(same_size.stdout)["copied"] == 0
    newer = s3xacct(world, "copy", src, dst, "--mode", "sync", "--json")
    assert last_json(newer.stdout)["copied"] == 1


@pytest.mark.parametrize("transport", ["crt", "botocore"])
def test_max_requests_per_second_paces_every_client(world: World, transport: str) -> None:
    for i in range(12):
        world.put(f"data/{i:02}", b"1")
    clients = TransferClients.from_session(world.principal, concurrency=8, endpoint_url=world.endpoint_url)
    spec = CopySpec.create(
        source=f"s3://{world.source_bucket}/data/",
        destination=f"s3://{world.dest_bucket}/copy/",
        transport=transport,
        max_requests_per_second=10,
    )
    started = time.monotonic()
    report = TransferEngine(spec, clients).run()
    # 13 requests (a listing, 12 copies) at 10 per second, the first at once: at least 1.2 s.
    assert report.copied == 12 and time.monotonic() - started >= 1.15
    copies = seen(world, "CopyObject")
    assert agents(copies) == {transport}


SSE_C_KEY = "0123456789abcdef0123456789abcdef"  # 32 bytes: AES256


@pytest.mark.parametrize("transport", ["crt", "botocore"])
def test_sse_c_source_key_is_sent_by_either_client_and_never_shown(world: World, transport: str) -> None:
    """moto does not encrypt with SSE-C, so the request shape is checked on the wire."""
    import base64
    import hashlib
    import os

    world.put("data/a", b"1")
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/c/"
    os.environ["S3XACCT_SSE_C_COPY_SOURCE_KEY"] = SSE_C_KEY
    try:
        result = s3xacct(world, "copy", src, dst, "--sse-c-copy-source", "--transport", transport, "--json")
    finally:
        del os.environ["S3XACCT_SSE_C_COPY_SOURCE_KEY"]
    assert result.returncode == 0, result.stderr
    encoded = base64.b64encode(SSE_C_KEY.encode()).decode()
    assert SSE_C_KEY not in result.stdout + result.stderr and encoded not in result.stdout + result.stderr
    (copy,) = seen(world, "CopyObject")
    assert agents([copy]) == {transport}
    headers = copy["headers"]
    assert headers["x-amz-copy-source-server-side-encryption-customer-algorithm"] == "AES256"
    assert headers["x-amz-copy-source-server-side-encryption-customer-key"] == encoded
    md5 = base64.b64encode(hashlib.md5(SSE_C_KEY.encode()).digest()).decode()
    assert headers["x-amz-copy-source-server-side-encryption-customer-key-md5"] == md5
    missing = s3xacct(world, "copy", src, dst, "--sse-c-copy-source")
    assert missing.returncode == 2 and "S3XACCT_SSE_C_COPY_SOURCE_KEY" in missing.stderr


def test_sse_c_source_key_on_the_multipart_path_and_bad_keys(world: World) -> None:
    s3 = same_account(world, "mp-src", "mp-dst")
    s3.put_object(Bucket="mp-src", Key="big/blob.bin", Body=b"s" * (11 * MIB))
    log = RequestLog(s3)
    assert multipart_run(s3, sse_c_copy_source_key=SSE_C_KEY).ok
    (head,) = log.params("HeadObject")
    assert head["SSECustomerAlgorithm"] == "AES256" and "SSECustomerKeyMD5" in head
    assert all(p["CopySourceSSECustomerAlgorithm"] == "AES256" for p in log.params("UploadPartCopy"))
    with pytest.raises(InvalidInputError, match="256-bit") as raised:
        CopySpec.create(
            source="s3://a-b/x", destination="s3://c-d/y", sse_c_copy_source_key="too-short-secret"
        )
    assert "too-short-secret" not in str(raised.value)
    spec = CopySpec.create(source="s3://a-b/x", destination="s3://c-d/y", sse_c_copy_source_key=SSE_C_KEY)
    assert SSE_C_KEY not in repr(spec)


@pytest.mark.parametrize("transport", ["crt", "botocore"])
def test_version_at_copies_the_source_as_it_was(world: World, transport: str) -> None:
    from datetime import UTC, datetime

    s3 = world.src_s3
    s3.put_bucket_versioning(Bucket=world.source_bucket, VersioningConfiguration={"Status": "Enabled"})
    world.put("data/changed", b"then")
    world.put("data/deleted", b"was here")
    time.sleep(1.1)
    at = datetime.now(UTC)
    time.sleep(1.1)
    world.put("data/changed", b"now, longer")
    s3.delete_object(Bucket=world.source_bucket, Key="data/deleted")
    world.put("data/new", b"after")
    clients = TransferClients.from_session(world.principal, concurrency=4, endpoint_url=world.endpoint_url)
    report = run(world, clients, mode="sync", version_at=at.isoformat(), transport=transport)
    assert report.ok and report.copied == 2
    assert sorted(world.dest_keys()) == ["copy/changed", "copy/deleted"]
    body = world.dst_s3.get_object(Bucket=world.dest_bucket, Key="copy/changed")["Body"].read()
    assert body == b"then"
    again = run(world, clients, mode="sync", version_at=at, transport=transport)
    copies = seen(world, "CopyObject")
    assert len(copies) == 2 and all("versionId=" in r["headers"]["x-amz-copy-source"] for r in copies)
    assert agents(copies) == {transport}
    assert (again.copied, again.skipped) == (0, 2)
    with pytest.raises(InvalidInputError, match="version_at"):
        CopySpec.create(source="s3://a-b/x", destination="s3://c-d/y", version_at="yesterday")


def synced_then_changed(world: World) -> None:
    """A synced prefix whose source then changes one object ("changed") and deletes one ("gone")."""
    world.put("data/changed", b"v1")
    world.put("data/gone", b"old")
    run(world, mode="sync")
    time.sleep(1.1)
    world.put("data/changed", b"v2 longer")
    world.src_s3.delete_object(Bucket=world.source_bucket, Key="data/gone")


def test_backup_prefix_keeps_what_sync_overwrites_or_deletes(world: World) -> None:
    world.put("data/kept", b"same")
    synced_then_changed(world)
    clients = TransferClients.from_session(world.principal, concurrency=4, endpoint_url=world.endpoint_url)
    backup = f"s3://{world.dest_bucket}/backup/run1/"
    report = run(
        world, clients, mode="sync", delete=True, backup_prefix=backup, dest_kms_key_id=world.dest_key_arn
    )
    assert report.ok and (report.copied, report.deleted) == (1, 1)
    assert sorted(world.dest_keys("backup/")) == ["backup/run1/changed", "backup/run1/gone"]
    read = world.dst_s3.get_object
    assert read(Bucket=world.dest_bucket, Key="backup/run1/changed")["Body"].read() == b"v1"
    assert read(Bucket=world.dest_bucket, Key="backup/run1/gone")["Body"].read() == b"old"
    assert read(Bucket=world.dest_bucket, Key="copy/changed")["Body"].read() == b"v2 longer"
    saved = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="backup/run1/gone")
    assert saved["SSEKMSKeyId"] == world.dest_key_arn
    for bad in (f"s3://{world.dest_bucket}/copy/b/", "s3://other-bucket/b/"):
        with pytest.raises(InvalidInputError, match="backup_prefix"):
            CopySpec.create(
                source="s3://a-b/x",
                destination=f"s3://{world.dest_bucket}/copy/",
                mode="sync",
                backup_prefix=bad,
            )


def test_a_failed_backup_stops_the_overwrite_and_the_delete(world: World) -> None:
    synced_then_changed(world)
    for key in ("changed", "gone"):
        requests.get(
            f"{world.endpoint_url}/__bench__/fault",
            params={"op": "CopyObject", "path": f"/{world.dest_bucket}/backup/{key}", "status": 403,
                    "code": "AccessDenied", "message": "Access Denied", "times": 1},
            timeout=10,
        ).raise_for_status()  # fmt: skip
    report = run(world, mode="sync", delete=True, backup_prefix=f"s3://{world.dest_bucket}/backup/")
    assert report.failed == 2 and report.deleted == 0 and report.copied == 0
    read = world.dst_s3.get_object
    assert read(Bucket=world.dest_bucket, Key="copy/changed")["Body"].read() == b"v1"
    assert read(Bucket=world.dest_bucket, Key="copy/gone")["Body"].read() == b"old"


def test_part_checksums_s3_returns_are_listed_in_the_completion(world: World) -> None:
    """Real S3 answers each UploadPartCopy of a checksummed upload with the part's checksum, and
    CompleteMultipartUpload must list them; moto sends none, so they are added to its answers."""
    s3 = same_account(world, "mp-src", "mp-dst")
    s3.put_object(Bucket="mp-src", Key="big/blob.bin", Body=b"p" * (11 * MIB))

    def part_checksum(parsed: dict[str, Any], **_: Any) -> None:
        parsed["CopyPartResult"]["ChecksumCRC64NVME"] = "checksum-of-part=="

    s3.meta.events.register("after-call.s3.UploadPartCopy", part_checksum)
    log = RequestLog(s3)
    assert multipart_run(s3, checksum_algorithm="CRC64NVME").ok
    (create,) = log.params("CreateMultipartUpload")
    assert (create["ChecksumAlgorithm"], create["ChecksumType"]) == ("CRC64NVME", "FULL_OBJECT")
    (complete,) = log.params("CompleteMultipartUpload")
    parts = complete["MultipartUpload"]["Parts"]
    assert len(parts) == 3 and all(p["ChecksumCRC64NVME"] == "checksum-of-part==" for p in parts)


def test_request_payer_reaches_every_request_of_a_sync_with_deletes(world: World) -> None:
    """moto has no Requester Pays: the header is checked on the wire, on every S3 request."""
    world.put("data/a", b"1")
    world.dst_s3.put_object(Bucket=world.dest_bucket, Key="copy/stale", Body=b"0")
    clients = TransferClients.from_session(world.principal, concurrency=4, endpoint_url=world.endpoint_url)
    report = run(world, clients, mode="sync", delete=True, request_payer="requester")
    assert report.ok and (report.copied, report.deleted) == (1, 1)
    s3_requests = [r for r in seen(world) if r["op"] in ("ListObjects", "CopyObject", "DeleteObjects")]
    assert {r["op"] for r in s3_requests} == {"ListObjects", "CopyObject", "DeleteObjects"}
    assert all(r["headers"].get("x-amz-request-payer") == "requester" for r in s3_requests), s3_requests


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--min-age", "soon"], "min_age"),
        (["--max-size", "lots"], "max_size"),
        (["--storage-class", "COLD"], "storage_class"),
        (["--storage-class-skip", "ICE"], "storage_class_skip"),
        (["--version-at", "yesterday"], "version_at"),
        (["--metadata", "no-equals"], "metadata"),
        (["--max-delete-fraction", "2"], "max_delete_fraction"),
        (["--mode", "sync", "--backup-prefix", "s3://dst-bucket/x/b/"], "backup_prefix"),
    ],
)
def test_bad_flags_exit_2_naming_the_field_before_any_request(
    world: World, flags: list[str], field: str
) -> None:
    forget(world)
    result = s3xacct(
        world, "copy", f"s3://{world.source_bucket}/d/", f"s3://{world.dest_bucket}/x/", *flags, "--json"
    )
    assert result.returncode == 2 and field in result.stderr and field in last_json(result.stdout)["error"]
    assert seen(world) == []


def test_the_cli_asks_each_bucket_its_region_once(world: World) -> None:
    world.put("data/a", b"1")
    forget(world)
    result = s3xacct(world, "copy", f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/r/")
    assert result.returncode == 0
    heads = seen(world, "HeadBucket")
    assert sorted(r["path"] for r in heads) == [f"/{world.dest_bucket}", f"/{world.source_bucket}"]
    assert seen(world, "HeadObject") == []
