"""The relay copy (``--transport relay``) as a user runs it: two principals, seen on the wire.

moto does not enforce IAM, bucket policies or key policies, so "the sync principal is denied the
source" cannot be staged as a real denial. What the tests show instead is what makes the relay work
without any cross-account grant, observed on the moto server (demo.counting_server records every
request with the access key that signed it): no server-side copy request (CopyObject,
UploadPartCopy) is ever sent, every request on the source bucket is signed by the source role's
credentials and every request on the destination bucket by the destination role's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.config import Config

from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World, credential_env
from tests.test_cli_copy import last_json, s3xacct
from tests.wire import forget, identity_of, seen

MIB = 1024 * 1024
SOURCE_ROLE = f"arn:aws:iam::{SOURCE_ACCOUNT}:role/vendor-reader"
DEST_ROLE = f"arn:aws:iam::{DEST_ACCOUNT}:role/ingest-writer"
TWO_PRINCIPALS = ("--source-role-arn", SOURCE_ROLE, "--dest-role-arn", DEST_ROLE)
PART = str(5 * MIB)


def relay(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/landing/"
    return s3xacct(world, "copy", src, dst, *TWO_PRINCIPALS, "--relay-part-size", PART, "--json", *args)


def fault(world: World, **query: Any) -> None:
    requests.get(f"{world.endpoint_url}/__bench__/fault", params=query, timeout=10).raise_for_status()


def test_two_roles_sync_through_the_relay_with_kms_metadata_and_tags_and_check_agrees(world: World) -> None:
    big = bytes(range(256)) * (48 * 1024)  # 12 MiB: three 5 MiB parts (the last one shorter)
    world.put(
        "data/big.bin",
        big,
        kms=world.source_key_arn,
        ContentType="application/x-big",
        Tagging="tier=gold",
        Metadata={"origin": "vendor"},
        CacheControl="max-age=60",
        ContentDisposition="attachment",
    )
    for i in range(6):
        world.put(
            f"data/small/{i}.csv",
            f"row {i}\n".encode() * 50,
            kms=world.source_key_arn if i % 2 else None,
            ContentType="text/csv",
            ContentLanguage="en",
            ContentEncoding="identity",
            Metadata={"n": str(i)},
            Tagging=f"i={i}&team=data",
        )
    forget(world)

    result = relay(world, "--mode", "sync", "--sse-kms-key-id", world.dest_key_arn)

    assert result.returncode == 0, result.stderr
    summary = last_json(result.stdout)
    assert (summary["copied"], summary["failed"], summary["multipart_copies"]) == (7, 0, 1)
    wire = seen(world)
    ops = {r["op"] for r in wire}
    assert not ops & {"CopyObject", "UploadPartCopy"}  # the sync principal's request shape never sent
    assert {"GetObject", "PutObject", "UploadPart", "CompleteMultipartUpload"} <= ops
    # The whole object's checksum, computed while streaming, goes with the completion so S3 checks
    # the assembled object against the source's (boto3 gave big.bin a full-object CRC32).
    source_crc = world.src_s3.head_object(
        Bucket=world.source_bucket, Key="data/big.bin", ChecksumMode="ENABLED"
    )
    (complete,) = [r["headers"] for r in wire if r["op"] == "CompleteMultipartUpload"]
    assert (complete.get("x-amz-checksum-crc32"), complete.get("x-amz-checksum-type")) == (
        source_crc["ChecksumCRC32"],
        "FULL_OBJECT",
    )
    signer = {key: identity_of(world, key) for key in {r["access_key"] for r in wire}}
    for request in wire:
        bucket = request["path"].strip("/").split("/")[0]
        role = {world.source_bucket: "vendor-reader", world.dest_bucket: "ingest-writer"}[bucket]
        assert f":assumed-role/{role}/" in signer[request["access_key"]], request

    dst = world.dst_s3
    for key, size in [("landing/big.bin", len(big)), ("landing/small/3.csv", 300)]:
        head = dst.head_object(Bucket=world.dest_bucket, Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", world.dest_key_arn)
        assert head["ContentLength"] == size
    head = dst.head_object(Bucket=world.dest_bucket, Key="landing/big.bin")
    assert (head["ContentType"], head["CacheControl"], head["ContentDisposition"]) == (
        "application/x-big",
        "max-age=60",
        "attachment",
    )
    assert head["Metadata"] == {"origin": "vendor"}
    assert dst.get_object(Bucket=world.dest_bucket, Key="landing/big.bin")["Body"].read() == big
    tags = dst.get_object_tagging(Bucket=world.dest_bucket, Key="landing/small/3.csv")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"i": "3", "team": "data"}
    small = dst.head_object(Bucket=world.dest_bucket, Key="landing/small/3.csv")
    assert (small["ContentLanguage"], small["ContentEncoding"], small["Metadata"]) == (
        "en",
        "identity",
        {"n": "3"},
    )

    # The same sync planning as the server-side path: a second run has nothing to do.
    again = last_json(relay(world, "--mode", "sync", "--sse-kms-key-id", world.dest_key_arn).stdout)
    assert (again["copied"], again["skipped"]) == (0, 7)

    # check runs as one principal, and moto answers a cross-account GetObjectTagging with no tags
    # (AWS answers with the tags): so --tags is left out and the tags are compared here, each
    # side read by its own account.
    check = s3xacct(
        world,
        "check",
        f"s3://{world.source_bucket}/data/",
        f"s3://{world.dest_bucket}/landing/",
        "--metadata",
        "--json",
    )
    verdict = last_json(check.stdout)
    assert check.returncode == 0 and verdict["identical"] is True, check.stdout
    assert verdict["counts"]["identical"] == 7
    for name in ["big.bin", *(f"small/{i}.csv" for i in range(6))]:
        got = dst.get_object_tagging(Bucket=world.dest_bucket, Key=f"landing/{name}")["TagSet"]
        want = world.src_s3.get_object_tagging(Bucket=world.source_bucket, Key=f"data/{name}")["TagSet"]
        assert got == want and want, name


def test_a_corrupted_byte_fails_the_object_and_leaves_nothing_behind(world: World) -> None:
    big = bytes(range(256)) * (48 * 1024)
    world.put("data/big.bin", big)  # boto3 adds a CRC32, as current SDKs do
    world.put("data/small.txt", b"0123456789" * 100)
    # An object written by a tool that sends no checksum: its plain ETag (the MD5) is compared.
    old_tool = world.source.client(
        "s3", endpoint_url=world.endpoint_url, config=Config(request_checksum_calculation="when_required")
    )
    old_tool.put_object(Bucket=world.source_bucket, Key="data/old.txt", Body=b"legacy bytes " * 100)
    world.put("data/fine.txt", b"fine")
    forget(world)  # (also clears queued faults: queue them after)
    for key in ("big.bin", "small.txt", "old.txt"):
        # One byte flipped in the first GetObject answer for the key (for big.bin: one 5 MiB part).
        fault(world, op="GetObject", path=f"/{world.source_bucket}/data/{key}", kind="corrupt", times=1)

    result = relay(world)

    assert result.returncode == 1, result.stderr
    summary = last_json(result.stdout)
    failures = {f["key"]: f["error"] for f in summary["failures"]}
    assert set(failures) == {"big.bin", "small.txt", "old.txt"}
    assert "BadDigest" in failures["big.bin"] and "CRC32" in failures["big.bin"]
    assert "MD5" in failures["old.txt"]
    assert world.dest_keys("landing/") == ["landing/fine.txt"]  # nothing half-written
    uploads = world.dst_s3.list_multipart_uploads(Bucket=world.dest_bucket).get("Uploads", [])
    assert uploads == []  # the big object's upload was aborted: no orphan for cleanup-uploads
    puts = [r["path"] for r in seen(world, "PutObject")]
    assert puts == [f"/{world.dest_bucket}/landing/fine.txt"]
    assert seen(world, "CompleteMultipartUpload") == [] and len(seen(world, "AbortMultipartUpload")) == 1


def test_a_denial_names_which_of_the_two_principals_lacks_what(world: World) -> None:
    world.put("data/secret", b"s", kms=world.source_key_arn)
    world.put("data/plain", b"p")
    forget(world)
    fault(
        world,
        op="GetObject",
        path=f"/{world.source_bucket}/data/secret",
        status=403,
        code="AccessDenied",
        message="Access Denied",
    )
    fault(
        world,
        op="PutObject",
        path=f"/{world.dest_bucket}/landing/plain",
        status=403,
        code="AccessDenied",
        message="Access Denied",
    )

    result = relay(world, "--sse-kms-key-id", world.dest_key_arn)

    assert result.returncode == 1
    diagnosis = {f["key"]: f["diagnosis"] for f in last_json(result.stdout)["failures"]}
    read, write = diagnosis["secret"], diagnosis["plain"]
    assert "the source principal" in read and "vendor-reader" in read and "kms:Decrypt" in read
    assert world.source_key_arn in read
    assert "the destination principal" in write and "ingest-writer" in write
    assert world.dest_key_arn in write


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("--source-role-arn", SOURCE_ROLE, "--transport", "crt"), "--source-profile/--source-role-arn"),
        (("--dest-profile", "x", "--transport", "botocore"), "--dest-profile/--dest-role-arn"),
        (("--source-role-arn", SOURCE_ROLE), "--source-profile/--source-role-arn"),  # auto, one side only
        ((*TWO_PRINCIPALS, "--profile", "default"), "--profile"),
        ((*TWO_PRINCIPALS, "--role-arn", SOURCE_ROLE), "--role-arn"),
        (("--dest-external-id", "abc123", "--transport", "relay"), "--dest-external-id"),
    ],
)
def test_bad_principal_combinations_exit_2_naming_the_flag_before_any_request(
    world: World, args: tuple[str, ...], flag: str
) -> None:
    forget(world)
    result = s3xacct(
        world, "copy", f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/x/", *args, "--json"
    )
    assert result.returncode == 2, result.stderr
    assert last_json(result.stdout)["error"].startswith(flag)
    stats = requests.get(f"{world.endpoint_url}/__bench__/stats", timeout=10).json()
    assert seen(world) == [] and not any(k.startswith("sts:") for k in stats)


def _peak_rss_of_copy(world: World, *args: str, malloc: dict[str, str] | None = None) -> int:
    """Peak RSS (bytes) of one ``s3xacct copy`` process, measured by a parent that runs only it."""
    script = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(r.stderr)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = {**os.environ, **credential_env(world.principal, world.endpoint_url), **(malloc or {})}
    command = [str(Path(sys.executable).with_name("s3xacct")), "copy", *args, *TWO_PRINCIPALS, "--quiet"]
    done = subprocess.run(
        [sys.executable, "-c", script, *command], env=env, capture_output=True, text=True, timeout=1800
    )
    code, peak_kib = done.stdout.split()
    assert code == "0", done.stderr
    return int(peak_kib) * 1024


@pytest.mark.slow
def test_a_1_gib_relay_copy_stays_within_the_buffer_bound(world: World) -> None:
    """Peak memory is the process's baseline plus relay_buffers x part size, whatever the object size.

    The baseline is the same command copying a 1 KiB object; the bound allows the 8 x 16 MiB
    buffers (the defaults) plus 64 MiB for the allocator and botocore's per-request copies.
    """
    src = world.src_s3
    upload = src.create_multipart_upload(Bucket=world.source_bucket, Key="big/1gib.bin")["UploadId"]
    block = os.urandom(64 * MIB)
    parts = []
    for number in range(1, 17):  # 16 x 64 MiB = 1 GiB
        etag = src.upload_part(
            Bucket=world.source_bucket, Key="big/1gib.bin", UploadId=upload, PartNumber=number, Body=block
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    src.complete_multipart_upload(
        Bucket=world.source_bucket, Key="big/1gib.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    del block
    world.put("tiny/1kib.bin", b"x" * 1024)

    # glibc raises its mmap threshold to the size of a freed mmap'd block, so after the first freed
    # 16 MiB buffer the next ones come from per-thread arenas, which keep freed memory: RSS then
    # grows past the live buffers. A fixed threshold (glibc's documented tunable) measures the
    # buffers themselves; the default allocator's figure is printed beside it (docs/benchmarks.md).
    fixed = {"MALLOC_MMAP_THRESHOLD_": str(1024 * 1024)}
    tiny, big = (
        (f"s3://{world.source_bucket}/tiny/", f"s3://{world.dest_bucket}/tiny/"),
        (
            f"s3://{world.source_bucket}/big/",
            f"s3://{world.dest_bucket}/big/",
        ),
    )
    baseline = _peak_rss_of_copy(world, *tiny, malloc=fixed)
    peak = _peak_rss_of_copy(world, *big, malloc=fixed)
    default_peak = _peak_rss_of_copy(world, *big, "--mode", "copy")
    print(f"default glibc: peak RSS {default_peak / MIB:.0f} MiB")

    head = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="big/1gib.bin")
    assert head["ContentLength"] == 1024 * MIB
    bound = 8 * 16 * MIB + 64 * MIB
    print(f"relay 1 GiB: peak RSS {peak / MIB:.0f} MiB, baseline {baseline / MIB:.0f} MiB")
    assert peak - baseline <= bound, (peak / MIB, baseline / MIB)
    # With glibc's default the freed buffers linger in per-thread arenas: measured 360-391 MiB
    # peak (baseline 104-105) on the 2-core test machine; guarded loosely (a leak of the object,
    # 1 GiB, still fails it).
    assert default_peak - baseline <= 3 * bound, default_peak / MIB
