"""``cleanup_uploads`` in process: stale uploads under the prefix are aborted, recent ones are kept.

The fault suite (tests/faults/test_interruption.py) runs ``s3xacct cleanup-uploads`` in a
subprocess, which mutation testing (docs/mutation.md) cannot see; these tests observe the same
promise in the test process, on the moto server: which uploads are still open afterwards, and
which AbortMultipartUpload requests reached it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow_provider_s3xacct.transfer.uploads import cleanup_uploads
from tests.aws_world import DEST_ACCOUNT, World
from tests.faults.helpers import open_uploads
from tests.wire import forget, seen


def _start(world: World, key: str) -> dict[str, Any]:
    """Start an upload of ``key`` and return it as ListMultipartUploads shows it."""
    upload_id = world.dst_s3.create_multipart_upload(Bucket=world.dest_bucket, Key=key)["UploadId"]
    (entry,) = [u for u in open_uploads(world) if u["UploadId"] == upload_id]
    return entry


def _open_keys(world: World) -> list[str]:
    return sorted(u["Key"] for u in open_uploads(world))


def _clean_two(world: World, **options: Any) -> tuple[list[str], Any]:
    """Two uploads under ``copy/``, cleaned up with a zero age a second after both started; the
    upload ids, and the result."""
    first = _start(world, "copy/a")
    second = _start(world, "copy/b")
    forget(world)
    result = cleanup_uploads(
        world.principal.client("s3", endpoint_url=world.endpoint_url),
        world.dest_bucket,
        "copy/",
        timedelta(0),
        now=max(first["Initiated"], second["Initiated"]) + timedelta(seconds=1),
        **options,
    )
    return [first["UploadId"], second["UploadId"]], result


def test_only_uploads_under_the_prefix_started_before_the_cutoff_are_aborted(world: World) -> None:
    stale = _start(world, "copy/stale")
    outside = _start(world, "other/stale")
    time.sleep(1.1)  # moto's Initiated has a resolution of a second
    live = _start(world, "copy/live")
    assert live["Initiated"] > stale["Initiated"]
    # The cutoff is exactly the stale upload's initiation: "older than" includes it, not the live one.
    now = stale["Initiated"] + timedelta(hours=1)
    forget(world)

    result = cleanup_uploads(
        world.principal.client("s3", endpoint_url=world.endpoint_url),
        world.dest_bucket,
        "copy/",
        timedelta(hours=1),
        now=now,
    )

    assert _open_keys(world) == ["copy/live", "other/stale"]
    aborts = seen(world, "AbortMultipartUpload")
    assert [a["path"] for a in aborts] == [f"/{world.dest_bucket}/copy/stale"]
    assert (result.found, result.aborted, result.kept_recent) == (1, 1, 1)
    assert [u["upload_id"] for u in result.uploads] == [stale["UploadId"]]
    assert outside["UploadId"] not in str(result.to_dict())


def test_a_dry_run_aborts_nothing_and_lists_every_stale_upload(world: World) -> None:
    ids, result = _clean_two(world, dry_run=True)

    assert _open_keys(world) == ["copy/a", "copy/b"]
    assert seen(world, "AbortMultipartUpload") == []
    assert result.found == 2 and result.aborted == 0 and result.dry_run
    assert sorted(u["upload_id"] for u in result.uploads) == sorted(ids)


def test_each_abort_carries_the_expected_bucket_owner_and_is_counted(world: World) -> None:
    _, result = _clean_two(world, expected_owner=DEST_ACCOUNT)

    requests = seen(world)
    assert _open_keys(world) == []
    assert len([r for r in requests if r["op"] == "AbortMultipartUpload"]) == 2
    assert (result.found, result.aborted, result.failures) == (2, 2, [])
    assert {r["op"] for r in requests} == {"ListMultipartUploads", "AbortMultipartUpload"}
    for request in requests:
        assert request["headers"].get("x-amz-expected-bucket-owner") == DEST_ACCOUNT, request["op"]
