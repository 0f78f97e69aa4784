"""Random faults of every kind, concurrent runs and a source that changes while it is copied.

Each scenario runs the CLI as a user would, then one clean run, and asserts: nothing lost (the
destination equals the source, byte for byte), nothing corrupted (every object a faulty run
reported copied has the source's bytes), nothing wrongly deleted, no incomplete upload, and a
summary that adds up. ``S3XACCT_SOAK=1`` (``make faults``) runs them larger and longer; the
figures printed (``-s``) are the ones in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.aws_world import World
from tests.faults.helpers import ALL_KINDS, MIB, bench, cli, contents, finish, last_json, open_uploads, seed

SOAK = os.environ.get("S3XACCT_SOAK") == "1"
SMALL, LARGE, RUNS = (400, 8, 6) if SOAK else (60, 2, 3)
RATES = (0.2, 0.5) if SOAK else (0.2,)
MULTIPART = ("--multipart-threshold", str(5 * MIB), "--part-size", str(5 * MIB))


def _sync(world: World, report: Path, *extra: str, delete: bool = False) -> Any:
    args = [
        "copy",
        f"s3://{world.source_bucket}/data/",
        f"s3://{world.dest_bucket}/copy/",
        "--mode",
        "sync",
        "--concurrency",
        "8",
        "--json",
        "--report",
        str(report),
        *MULTIPART,
        *extra,
    ]
    if delete:
        args += ["--delete", "--max-delete", "100000"]
    return cli(world, *args)


def _check_run(
    world: World, code: int, out: str, err: str, report: Path, source: dict[str, str]
) -> dict[str, Any]:
    """One faulty run: it ended, said so in JSON, and what it reports copied is whole."""
    assert code in (0, 1), err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    summary = last_json(out)
    assert summary["interrupted"] is None
    assert summary["abort_failures"] == [] or code == 1
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    statuses = Counter(line["status"] for line in lines if line["action"] == "copy")
    assert (
        statuses["copied"] == summary["copied"]
        and statuses["failed"]
        + sum(1 for line in lines if line["action"] == "delete" and line["status"] == "failed")
        == summary["failed"]
    )
    assert summary["copied"] + summary["skipped"] + statuses["failed"] == summary["listed"]
    dest = _quietly(world, lambda: contents(world.dst_s3, world.dest_bucket, "copy/"))
    for line in lines:
        if line["action"] == "copy" and line["status"] == "copied" and line["key"] in source:
            assert dest[line["key"]] == source[line["key"]], line["key"]
    return summary


def _quietly(world: World, read: Any) -> Any:
    """Read without faults (the checks' own reads are not part of the run), then resume them."""
    chaos = bench(world, "chaos-state")
    bench(world, "chaos", rate=0)
    try:
        return read()
    finally:
        bench(world, "chaos", **chaos)


def _figures(name: str, runs: list[dict[str, Any]], faults: dict[str, int]) -> None:
    print(
        f"\nFAULT FIGURES {name}: objects={SMALL + LARGE} runs={len(runs)} "
        f"faults={sum(faults.values())} {dict(sorted(faults.items()))} "
        f"outcomes={[(r['copied'], r['skipped'], r['failed'], r['retries']) for r in runs]}"
    )


@pytest.mark.parametrize("rate", RATES)
def test_random_faults_of_every_kind_lose_corrupt_and_orphan_nothing(
    world: World, tmp_path: Path, rate: float
) -> None:
    seed(world, small=SMALL, large=LARGE)
    source = contents(world.src_s3, world.source_bucket, "data/")
    world.dst_s3.put_object(Bucket=world.dest_bucket, Key="copy/stale", Body=b"gone from the source")
    bench(world, "chaos", rate=rate, seed=7, kinds=ALL_KINDS, seconds=0.5)
    runs = []
    for attempt in range(RUNS):
        report = tmp_path / f"chaos-{attempt}.jsonl"
        code, out, err = finish(_sync(world, report, delete=True), timeout=600)
        runs.append(_check_run(world, code, out, err, report, source))
    faults = bench(world, "faults")
    bench(world, "chaos", rate=0)
    assert sum(faults.values()) > 0
    code, out, err = finish(_sync(world, tmp_path / "clean.jsonl", delete=True))
    assert code == 0, err
    assert contents(world.dst_s3, world.dest_bucket, "copy/") == source
    assert open_uploads(world) == []
    _figures(f"random {rate:.0%}", runs, faults)


def test_concurrent_runs_under_faults_end_whole(world: World, tmp_path: Path) -> None:
    seed(world, small=SMALL, large=LARGE)
    source = contents(world.src_s3, world.source_bucket, "data/")
    bench(world, "chaos", rate=0.1, seed=11, kinds="slowdown,internal,error200,reset-before,reset-after,slow")
    procs = [_sync(world, tmp_path / f"concurrent-{i}.jsonl") for i in range(2)]
    runs = []
    for i, proc in enumerate(procs):
        code, out, err = finish(proc, timeout=600)
        runs.append(_check_run(world, code, out, err, tmp_path / f"concurrent-{i}.jsonl", source))
    faults = bench(world, "faults")
    bench(world, "chaos", rate=0)
    code, out, err = finish(_sync(world, tmp_path / "clean.jsonl"))
    assert code == 0, err
    assert contents(world.dst_s3, world.dest_bucket, "copy/") == source
    assert open_uploads(world) == []
    _figures("2 concurrent runs, 10%", runs, faults)


def test_a_source_changing_during_a_sync_with_delete_loses_nothing(world: World, tmp_path: Path) -> None:
    seed(world, small=SMALL, large=LARGE)
    code, out, err = finish(_sync(world, tmp_path / "first.jsonl"))
    assert code == 0, err
    stable = {k for k in contents(world.src_s3, world.source_bucket, "data/") if not k.startswith("s00")}
    bench(world, "delay", seconds=0.02)
    proc = _sync(world, tmp_path / "changing.jsonl", delete=True)
    stop = threading.Event()

    def change() -> None:
        i = 0
        while not stop.is_set() and i < 40:
            world.put(f"data/new{i:03}", b"added during the run")  # appears on the source side
            world.dst_s3.put_object(Bucket=world.dest_bucket, Key=f"copy/both{i:03}", Body=b"x")
            world.put(f"data/both{i:03}", b"x")  # appears on both sides between the listings
            world.put(f"data/s{i % 10:04}", f"rewritten {i}".encode())  # overwritten
            if i % 3 == 0:
                world.src_s3.delete_object(Bucket=world.source_bucket, Key=f"data/s{50 + i % 10:04}")
            i += 1
            time.sleep(0.02)

    changer = threading.Thread(target=change)
    changer.start()
    code, out, err = finish(proc, timeout=600)
    stop.set()
    changer.join()
    bench(world, "delay", seconds=0)
    changing = last_json(out)
    assert code in (0, 1) and "Traceback" not in err, err
    after = set(contents(world.dst_s3, world.dest_bucket, "copy/"))
    now_in_source = set(contents(world.src_s3, world.source_bucket, "data/"))
    # Nothing wrongly deleted: whatever the source still has, the destination kept.
    lost = {k for k in after ^ now_in_source if k in now_in_source and (k in stable or k.startswith("both"))}
    assert not lost, sorted(lost)
    code, out, err = finish(_sync(world, tmp_path / "clean.jsonl", delete=True))
    assert code == 0, err
    assert contents(world.dst_s3, world.dest_bucket, "copy/") == contents(
        world.src_s3, world.source_bucket, "data/"
    )
    assert open_uploads(world) == []
    print(
        f"\nFAULT FIGURES changing source: objects={SMALL + LARGE} listed={changing['listed']} "
        f"copied={changing['copied']} deleted={changing['deleted']} kept={changing['delete_skipped']} "
        f"failed={changing['failed']} vanished={changing['vanished']}"
    )
