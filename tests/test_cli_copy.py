"""``s3xacct copy`` as a user runs it: a subprocess against a moto server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.aws_world import World
from tests.wire import forget, identity_of, seen


def s3xacct(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    creds = world.principal.get_credentials()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": creds.token,
        "AWS_ENDPOINT_URL": world.endpoint_url or "",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # The console script pip installed, as a user would type it.
    return subprocess.run(
        [str(Path(sys.executable).with_name("s3xacct")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def last_json(stdout: str) -> dict[str, Any]:
    return dict(json.loads(stdout.strip().splitlines()[-1]))


def test_copy_then_sync_with_json_summary(world: World, tmp_path: Any) -> None:
    for i in range(12):
        world.put(f"data/{i:02}.csv", b"row\n" * i, kms=world.source_key_arn if i % 2 else None)
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/landing/"
    result = s3xacct(
        world,
        "copy",
        src,
        dst,
        "--sse-kms-key-id",
        world.dest_key_arn,
        "--json",
        "--report",
        str(tmp_path / "r.jsonl"),
    )
    assert result.returncode == 0, result.stderr
    summary = last_json(result.stdout)
    assert {k: summary[k] for k in ("listed", "copied", "skipped", "failed", "deleted", "dry_run")} == {
        "listed": 12,
        "copied": 12,
        "skipped": 0,
        "failed": 0,
        "deleted": 0,
        "dry_run": False,
    }
    assert summary["bytes_copied"] == sum(4 * i for i in range(12)) and summary["failures"] == []
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 12
    assert len(world.dest_keys("landing/")) == 12

    again = last_json(s3xacct(world, "copy", src, dst, "--mode", "sync", "--json").stdout)
    assert (again["copied"], again["skipped"]) == (0, 12)


def test_failures_exit_1_with_diagnosis_and_bad_input_exits_2(world: World) -> None:
    world.put("data/a", b"1")
    result = s3xacct(
        world, "copy", f"s3://{world.source_bucket}/data/", "s3://no-such-dest-bucket/", "--json"
    )
    assert result.returncode == 1
    summary = last_json(result.stdout)
    assert summary["failed"] == 1 and summary["failures"][0]["key"] == "a"
    assert "NoSuchBucket" in summary["failures"][0]["error"] and summary["failures"][0]["diagnosis"]

    bad = s3xacct(
        world, "copy", "s3://src-bucket/data", "s3://dst-bucket/x", "--sse-kms-key-id", "foo", "--json"
    )
    assert bad.returncode == 2 and "dest_kms_key_id" in bad.stderr
    assert "error" in last_json(bad.stdout)
    usage = s3xacct(world, "copy", "s3://src-bucket/data")
    assert usage.returncode == 2


def test_dry_run_and_delete_guard_from_the_command_line(world: World) -> None:
    for i in range(10):
        world.put(f"data/{i}", b"1")
    src, dst = f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/d/"
    s3xacct(world, "copy", src, dst)
    for i in range(6):
        world.src_s3.delete_object(Bucket=world.source_bucket, Key=f"data/{i}")
    dry = s3xacct(
        world, "copy", src, dst, "--mode", "sync", "--delete", "--max-delete", "6", "--dry-run", "--json"
    )
    assert dry.returncode == 0 and last_json(dry.stdout)["deleted"] == 6 and last_json(dry.stdout)["dry_run"]
    assert len(world.dest_keys("d/")) == 10
    refused = s3xacct(world, "copy", src, dst, "--mode", "sync", "--delete", "--json")
    assert refused.returncode == 1 and "safety limit" in last_json(refused.stdout)["delete_refused"]
    assert len(world.dest_keys("d/")) == 10
    fraction = s3xacct(
        world, "copy", src, dst, "--mode", "sync", "--delete", "--max-delete-fraction", "0.6", "--json"
    )
    assert fraction.returncode == 0 and last_json(fraction.stdout)["deleted"] == 6
    assert len(world.dest_keys("d/")) == 4


def test_progress_bar_shows_objects_and_bytes(world: World) -> None:
    for i in range(5):
        world.put(f"data/{i}", b"x" * 100)
    result = s3xacct(
        world, "copy", f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/p/", "--progress"
    )
    assert result.returncode == 0
    assert "copying" in result.stderr and "5/5 objects, 500 bytes, 0 failed" in result.stderr


def test_role_arn_is_assumed_for_the_copy(world: World) -> None:
    world.put("data/a", b"1")
    forget(world)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "base",
        "AWS_SECRET_ACCESS_KEY": "base",
        "AWS_ENDPOINT_URL": world.endpoint_url or "",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("AWS_SESSION_TOKEN", None)
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("s3xacct")),
            "copy",
            f"s3://{world.source_bucket}/data/",
            f"s3://{world.dest_bucket}/r/",
            "--role-arn",
            "arn:aws:iam::222222222222:role/sync-role",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    copy_requests = seen(world)  # before the test's own look at the destination
    assert last_json(result.stdout)["copied"] == 1 and world.dest_keys("r/") == ["r/a"]
    # On the wire: every request of the copy was signed with the role session's credentials.
    assert copy_requests and {r["op"] for r in copy_requests} >= {"ListObjects", "CopyObject"}
    signers = {identity_of(world, key) for key in {r["access_key"] for r in copy_requests}}
    assert len(signers) == 1 and signers.pop().startswith("arn:aws:sts::222222222222:assumed-role/sync-role/")
