"""``s3xacct check`` as a user runs it after a copy: every kind of difference named, nothing assumed.

Objects are changed behind the copy's back with the destination account's own session, as a
person or another job would; the verdicts come from what S3 returns (sizes, ETags, checksums,
bytes), read through the moto server.
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from tests.aws_world import World
from tests.test_cli_copy import last_json, s3xacct


def copy_then(world: World, *extra: str) -> tuple[str, str]:
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/copy/"
    result = s3xacct(world, "copy", src, dst, *extra, "--json")
    assert result.returncode == 0, result.stderr
    return src, dst


def check(world: World, *args: str) -> tuple[int, dict[str, Any]]:
    result = s3xacct(world, "check", *args, "--json")
    return result.returncode, last_json(result.stdout)


def by_key(summary: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {d["key"]: (d["verdict"], d["reason"]) for d in summary["differences"]}


def test_a_fresh_copy_checks_identical(world: World) -> None:
    for i in range(5):
        world.put(f"data/{i}.csv", f"row {i}".encode(), ContentType="text/csv", Metadata={"n": str(i)})
    src, dst = copy_then(world)
    code, summary = check(world, src, dst, "--metadata")
    assert code == 0 and summary["identical"] is True
    assert summary["counts"] == {"identical": 5, "missing": 0, "extra": 0, "differs": 0, "unverified": 0}


def test_deleted_extra_truncated_and_changed_objects_are_each_named(world: World) -> None:
    for name in ["deleted", "truncated", "rewritten", "relabelled", "kept"]:
        world.put(f"data/{name}", b"0123456789", ContentType="text/plain")
    src, dst = copy_then(world)
    s3, bucket = world.dst_s3, world.dest_bucket
    s3.delete_object(Bucket=bucket, Key="copy/deleted")
    s3.put_object(Bucket=bucket, Key="copy/extra", Body=b"not in the source")
    s3.put_object(Bucket=bucket, Key="copy/truncated", Body=b"01234", ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="copy/rewritten", Body=b"0123456780", ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="copy/relabelled", Body=b"0123456789", ContentType="application/json")

    code, summary = check(world, src, dst, "--metadata")
    found = by_key(summary)
    assert code == 1 and not summary["identical"]
    assert found["deleted"][0] == "missing" and found["extra"][0] == "extra"
    assert found["truncated"] == ("differs", "size 10 in the source, 5 in the destination")
    assert found["rewritten"] == ("differs", "CRC32 checksum differs")  # boto3 adds CRC32 by default, as S3 SDKs do
    assert found["relabelled"][0] == "differs" and "ContentType 'text/plain'" in found["relabelled"][1]
    assert "kept" not in found and summary["identical"] is False
    assert summary["counts"] == {"identical": 1, "missing": 1, "extra": 1, "differs": 3, "unverified": 0}

    # Without --metadata a relabelled object holds the same bytes: identical by its ETag.
    _, plain = check(world, src, dst)
    assert "relabelled" not in by_key(plain) and plain["counts"]["differs"] == 2


def test_kms_copies_with_checksums_are_proven_by_them(world: World) -> None:
    for i in range(3):  # boto3 adds a CRC32 to every upload, as current AWS SDKs do
        world.put(f"data/{i}", f"secret {i}".encode(), kms=world.source_key_arn)
    src, dst = copy_then(world, "--sse-kms-key-id", world.dest_key_arn)
    code, summary = check(world, src, dst)
    assert code == 0 and summary["counts"]["identical"] == 3 and summary["sampled"] == 0


def test_copies_without_checksums_are_unverified_until_their_bytes_are_read(world: World) -> None:
    """A multipart copy's ETag is no MD5 of the bytes: with no checksum to compare, only reading proves it.

    (On S3 an SSE-KMS object's ETag is no MD5 either; moto gives KMS objects MD5 ETags, so the
    multipart path stands for both here.)
    """
    old_tool = Config(request_checksum_calculation="when_required")  # older SDKs and tools: no checksum
    src_s3 = world.source.client("s3", endpoint_url=world.endpoint_url, config=old_tool)
    big = bytes(range(256)) * (6 * 4096)  # 6 MiB: above the 5 MiB threshold below
    src_s3.put_object(Bucket=world.source_bucket, Key="data/big", Body=big)
    src_s3.put_object(Bucket=world.source_bucket, Key="data/small", Body=b"small")
    src, dst = copy_then(world, "--multipart-threshold", str(5 * 1024 * 1024))
    code, summary = check(world, src, dst)
    assert code == 3 and summary["identical"] is False  # never assumed
    assert summary["counts"]["unverified"] == 1 and by_key(summary)["big"][0] == "unverified"

    code, summary = check(world, src, dst, "--sample", "10")
    assert code == 0 and summary["sampled"] == 2 and summary["identical"] is True

    # One byte changed, same size, written as one part under KMS: only reading finds it.
    world.dest.client("s3", endpoint_url=world.endpoint_url, config=old_tool).put_object(
        Bucket=world.dest_bucket, Key="copy/big", Body=big[:-1] + b"X",
        ServerSideEncryption="aws:kms", SSEKMSKeyId=world.dest_key_arn,
    )
    assert check(world, src, dst)[0] == 3
    code, summary = check(world, src, dst, "--sample", "10")
    assert code == 1 and by_key(summary)["big"] == ("differs", "bytes read and compared: they differ")


def test_bad_input_exits_2_with_a_json_line(world: World) -> None:
    code, summary = check(world, "s3://src-bucket/data/", "not-a-uri")
    assert code == 2 and "DST_URI" in summary["error"]


def test_the_check_holds_a_fixed_window_of_pending_comparisons() -> None:
    """Flat memory: results come back in order while at most ``window`` items were taken ahead."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_s3xacct.transfer.check import _bounded_map

    taken = 0

    def items():  # type: ignore[no-untyped-def]
        nonlocal taken
        for i in range(1000):
            taken += 1
            yield i

    with ThreadPoolExecutor(4) as pool:
        results = _bounded_map(pool, lambda i: i * 2, items(), window=8)
        first = next(results)
        assert first == 0 and taken <= 8
        assert list(results) == [i * 2 for i in range(1, 1000)]
