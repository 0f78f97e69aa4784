"""SIGTERM and SIGINT while multipart copies are in flight, and kill -9 with a rerun.

Each run: the CLI copies multipart objects (5 MiB threshold, every request delayed so copies
are in flight), a signal arrives once UploadPartCopy requests are on the wire, and the run must
exit 130/143 within the drain bound, print its summary (and the JSON line), leave no incomplete
upload and lose nothing the rerun cannot finish. ``S3XACCT_SIGNAL_RUNS`` sets the runs per signal
(2 in the standing suite; docs/reliability.md records 50 in a row).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.aws_world import World
from tests.faults.helpers import MIB, bench, cli, contents, finish, last_json, open_uploads, seed, wait_for

RUNS = int(os.environ.get("S3XACCT_SIGNAL_RUNS", "2"))
MULTIPART = ("--multipart-threshold", str(5 * MIB), "--part-size", str(5 * MIB))


def _copy_args(world: World, report: Path, *extra: str) -> list[str]:
    return [
        "copy",
        f"s3://{world.source_bucket}/data/",
        f"s3://{world.dest_bucket}/copy/",
        "--mode",
        "sync",
        "--concurrency",
        "4",
        "--json",
        "--report",
        str(report),
        *MULTIPART,
        *extra,
    ]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_with_multipart_copies_in_flight_aborts_uploads_and_prints_the_summary(
    world: World, tmp_path: Path, sig: signal.Signals
) -> None:
    seed(world, small=10, large=6)
    source = contents(world.src_s3, world.source_bucket, "data/")
    drains: list[float] = []
    aborted = 0
    for attempt in range(RUNS):
        bench(world, "delay", seconds=0.25)
        bench(world, "reset")  # counts only; the delay stays
        report = tmp_path / f"report-{attempt}.jsonl"
        proc = cli(world, *_copy_args(world, report))
        wait_for(world, "UploadPartCopy")
        signalled = time.monotonic()
        proc.send_signal(sig)
        code, out, err = finish(proc, timeout=60)
        took = time.monotonic() - signalled

        assert code == 128 + sig, err
        assert took < 30, f"the drain took {took:.1f}s"
        summary = last_json(out)
        assert summary["interrupted"] == sig.name and "Traceback" not in err
        assert f"INTERRUPTED by {sig.name}" in err
        assert summary["abort_failures"] == []
        bench(world, "delay", seconds=0)
        assert open_uploads(world) == []
        # The report is complete: one line per object the run handled, none truncated.
        lines = [json.loads(line) for line in report.read_text().splitlines()]
        statuses = [line["status"] for line in lines]
        assert statuses.count("copied") == summary["copied"]
        assert statuses.count("interrupted") == summary["interrupted_copies"]
        # What was copied is whole: every destination object equals its source.
        copied = contents(world.dst_s3, world.dest_bucket, "copy/")
        assert all(copied[key] == source[key] for key in copied)
        drains.append(took)
        aborted += summary["uploads_aborted"]
        # Start over, so every attempt interrupts multipart copies again.
        for key in copied:
            world.dst_s3.delete_object(Bucket=world.dest_bucket, Key=f"copy/{key}")

    code, out, err = finish(cli(world, *_copy_args(world, tmp_path / "final.jsonl")))
    assert code == 0, err
    assert contents(world.dst_s3, world.dest_bucket, "copy/") == source
    print(
        f"\nFAULT FIGURES {sig.name}: runs={RUNS} exit={128 + sig} every time, uploads aborted={aborted}, "
        f"signal-to-exit seconds max={max(drains):.2f} median={sorted(drains)[len(drains) // 2]:.2f}"
    )


def test_kill_9_mid_run_then_rerun_and_cleanup_leave_everything_whole(world: World, tmp_path: Path) -> None:
    """kill -9 cannot be handled: uploads stay behind. The rerun finishes; cleanup-uploads removes them."""
    seed(world, small=10, large=6)
    source = contents(world.src_s3, world.source_bucket, "data/")
    bench(world, "delay", seconds=0.25)
    proc = cli(world, *_copy_args(world, tmp_path / "killed.jsonl"))
    wait_for(world, "UploadPartCopy")
    proc.kill()
    proc.wait(timeout=30)
    bench(world, "delay", seconds=0)
    left = open_uploads(world)
    assert left, "kill -9 during multipart copies should leave uploads behind"

    code, out, err = finish(cli(world, *_copy_args(world, tmp_path / "rerun.jsonl")))
    assert code == 0, err
    assert contents(world.dst_s3, world.dest_bucket, "copy/") == source

    # Recent uploads are kept (they may belong to a running copy); older-than 0s removes them.
    code, out, err = finish(
        cli(world, "cleanup-uploads", f"s3://{world.dest_bucket}/copy/", "--older-than", "1h", "--json")
    )
    assert code == 0 and last_json(out)["kept_recent"] == len(left) and len(open_uploads(world)) == len(left)
    code, out, err = finish(
        cli(world, "cleanup-uploads", f"s3://{world.dest_bucket}/copy/", "--older-than", "0s", "--json")
    )
    assert code == 0, err
    assert last_json(out)["aborted"] == len(left)
    assert open_uploads(world) == []
    assert contents(world.dst_s3, world.dest_bucket, "copy/") == source
