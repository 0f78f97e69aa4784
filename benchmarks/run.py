"""Benchmark s3xacct against the tools people use, on one moto server, in one run.

``python -m benchmarks.run [--objects 5000] [--rounds 3] [--delay 0.02]`` (or ``make bench``).
Workloads: full copy of N small objects; no-op sync of an unchanged destination; sync after 1%
of the destination went stale; one large object through multipart copy. Tools alternate within
each round, every run gets a fresh destination bucket, and each run reports wall time, client
CPU seconds (user+sys of the tool's process tree), peak RSS, S3 requests per object (from the
server's count), and whether the destination is complete. Medians and ratios to s3xacct go to
benchmarks/results/latest.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
import requests
from botocore.config import Config

from benchmarks.peers import Peer, env_for, peers
from demo.stack import free_port

RESULTS = Path(__file__).parent / "results"
SRC, LARGE = "bench-src", "bench-large"
WORKLOADS = ("full", "noop", "changed", "large")
SYNC_WORKLOADS = ("noop", "changed")


@dataclass
class Run:
    tool: str
    workload: str
    round: int
    wall: float
    cpu: float
    rss_mib: float
    requests: int
    objects: int
    correct: bool
    exit_code: int
    # CPU the moto server spent during the run: near 1 core-second per second means moto (one
    # Python process, one GIL) is what paces every tool, not the tool itself.
    server_cpu: float = 0.0


def start_server(delay: float) -> tuple[subprocess.Popen[bytes], str]:
    """The counting server, listing from a sorted index (moto's own listing costs O(bucket) per
    request: about 3 s a page at 100,000 keys, whichever tool asks)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "demo.counting_server",
            "--port",
            str(port),
            "--delay",
            str(delay),
            "--indexed-listing",
        ]
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(f"{url}/__bench__/stats", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("benchmark server did not start")


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=64),
    )


def seed(
    s3: Any, endpoint: str, objects: int, size: int, large_mib: int, copies: tuple[str, ...] = ()
) -> None:
    """The source buckets, and ``copies``: buckets holding the same objects written after them
    (same bytes, so same ETags, and newer: what a finished sync leaves behind).

    Put into moto's backend in batches (the server's ``put-many``): the same objects PutObject
    makes, without 200,000 HTTP requests (18 minutes at 100,000 keys on a loaded machine)."""
    body = os.urandom(size)
    for bucket in (SRC, LARGE, *copies):
        s3.create_bucket(Bucket=bucket)
    keys = [f"data/{i % 50:02}/obj-{i:07}.bin" for i in range(objects)]
    for bucket in (SRC, *copies):
        for batch in range(0, objects, 10_000):
            requests.post(
                f"{endpoint}/__bench__/put-many",
                json={"bucket": bucket, "keys": keys[batch : batch + 10_000], "body_hex": body.hex()},
                timeout=600,
            ).raise_for_status()
    s3.put_object(Bucket=LARGE, Key="big.bin", Body=os.urandom(large_mib * 2**20))


def shared_destination(workload: str) -> str:
    return f"bench-{workload}-shared"


def make_stale(s3: Any, bucket: str, source: dict[str, int]) -> None:
    """1% of the destination's objects overwritten with other bytes ("changed")."""
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b"stale"), list(source)[::100]))


def listing(s3: Any, bucket: str) -> dict[str, int]:
    return {
        o["Key"]: o["Size"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }


def prepare_destination(
    s3: Any, workload: str, bucket: str, source: dict[str, int], env: dict[str, str]
) -> None:
    s3.create_bucket(Bucket=bucket)
    if workload not in SYNC_WORKLOADS:
        return
    # An up-to-date destination (copied by s3xacct, unmeasured); "changed" then makes 1% stale.
    subprocess.run(
        [
            str(Path(sys.executable).with_name("s3xacct")),
            "copy",
            f"s3://{SRC}/",
            f"s3://{bucket}/",
            "--no-progress",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    if workload == "changed":
        for key in list(source)[::100]:
            s3.put_object(Bucket=bucket, Key=key, Body=b"stale")


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of the command's process tree, and its exit code.

    CPU comes from wait4 (the tool and its waited-for children). Peak RSS is sampled every 20 ms
    over the whole tree: ru_maxrss would also count the Python parent's pages copied at fork.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode and proc.stderr:
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-2000:])
    return wall, usage.ru_utime + usage.ru_stime, peak / 2**20, proc.returncode


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def run_one(
    peer: Peer,
    workload: str,
    rnd: int,
    endpoint: str,
    s3: Any,
    threshold: int,
    server: psutil.Process,
    shared: bool = False,
) -> Run | None:
    """One measured run. ``shared``: syncs run against one destination per workload seeded
    up to date (``seed``), made 1% stale again before each "changed" run, instead of a fresh
    destination copied before each run (at 100,000 keys that copy would dominate the benchmark)."""
    if workload in SYNC_WORKLOADS and peer.name == "S3CopyPrefixOperator":
        return None  # it has no sync mode
    env = {**env_for(endpoint)}
    src = LARGE if workload == "large" else SRC
    source = listing(s3, src)
    if shared and workload in SYNC_WORKLOADS:
        dst = shared_destination(workload)
        if workload == "changed":
            make_stale(s3, dst, source)
    else:
        dst = f"bench-{workload}-{peer.name.lower().replace(' ', '-')}-{rnd}"[:63]
        prepare_destination(s3, workload, dst, source, env)
    requests.get(f"{endpoint}/__bench__/reset", timeout=5)
    server_before = _cpu_seconds(server)
    wall, cpu, rss, code = measure(peer.command(workload, src, dst, endpoint, threshold), env)
    server_cpu = _cpu_seconds(server) - server_before
    counts = requests.get(f"{endpoint}/__bench__/stats", timeout=5).json()
    return Run(
        peer.name,
        workload,
        rnd,
        wall,
        cpu,
        rss,
        sum(n for op, n in counts.items() if not op.startswith("sts:")),  # S3 requests only
        len(source),
        listing(s3, dst) == source,
        code,
        server_cpu,
    )


def summarise(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for workload in WORKLOADS:
        base = [r.wall for r in runs if r.workload == workload and r.tool == "s3xacct"]
        base_median = statistics.median(base) if base else None
        for tool in dict.fromkeys(r.tool for r in runs):
            mine = [r for r in runs if r.workload == workload and r.tool == tool]
            if not mine:
                continue
            wall = statistics.median(r.wall for r in mine)
            rows.append(
                {
                    "workload": workload,
                    "tool": tool,
                    "runs": len(mine),
                    "wall_s": round(wall, 2),
                    "vs_s3xacct": round(wall / base_median, 2) if base_median else None,
                    "cpu_s": round(statistics.median(r.cpu for r in mine), 2),
                    "cpu_s_per_1000_objects": round(
                        1000 * statistics.median(r.cpu for r in mine) / mine[0].objects, 2
                    ),
                    "peak_rss_mib": round(max(r.rss_mib for r in mine), 1),
                    "server_cores": round(statistics.median(r.server_cpu / r.wall for r in mine), 2),
                    "requests_per_object": round(
                        statistics.median(r.requests for r in mine) / mine[0].objects, 2
                    ),
                    "correct": all(r.correct and r.exit_code == 0 for r in mine),
                }
            )
    return rows


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Machine: {meta['machine']}; Python {meta['python']}; {meta['objects']} objects of "
        f"{meta['size']} B, one {meta['large_mib']} MiB object; {meta['rounds']} rounds; "
        f"server delay {meta['delay'] * 1000:.0f} ms per request. Command: `{meta['command']}`.",
        "",
        "| workload | tool | median wall s | x s3xacct | CPU s | CPU s / 1000 obj | peak RSS MiB | "
        "requests / object | moto server cores | correct |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['tool']} | {r['wall_s']} | {r['vs_s3xacct']} | {r['cpu_s']} | "
            f"{r['cpu_s_per_1000_objects']} | {r['peak_rss_mib']} | {r['requests_per_object']} | "
            f"{r['server_cores']} | {'yes' if r['correct'] else 'NO'} |"
        )
    for name, why in meta["skipped"].items():
        lines.append(f"\nSkipped: {name} (not installed: {why}).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--large-mib", type=int, default=64)
    parser.add_argument("--threshold-mib", type=int, default=8)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--tools", default="", help="comma-separated subset of tool names")
    parser.add_argument(
        "--shared-destination",
        action="store_true",
        help="syncs: one destination per workload seeded once (made 1%% stale before each changed run)",
    )
    args = parser.parse_args(argv)
    named = args.tools.split(",") if args.tools else []
    available = [p for p in peers() if p.available and (p.name in named if named else not p.variant)]
    skipped = {p.name: p.why_missing for p in peers() if not p.available}
    server, endpoint = start_server(args.delay)
    runs: list[Run] = []
    try:
        s3 = client(endpoint)
        workloads = args.workloads.split(",")
        copies = tuple(
            shared_destination(w) for w in workloads if w in SYNC_WORKLOADS and args.shared_destination
        )
        # Seeding is not measured: no latency while the buckets fill.
        requests.get(f"{endpoint}/__bench__/delay?seconds=0", timeout=5)
        seed(s3, endpoint, args.objects, args.size, args.large_mib, copies)
        requests.get(f"{endpoint}/__bench__/delay?seconds={args.delay}", timeout=5)
        print(f"seeded {args.objects} objects in {1 + len(copies)} buckets", flush=True)
        for workload in workloads:
            for rnd in range(args.rounds):
                order = available[rnd % len(available) :] + available[: rnd % len(available)]
                for peer in order:
                    result = run_one(
                        peer,
                        workload,
                        rnd,
                        endpoint,
                        s3,
                        args.threshold_mib * 2**20,
                        psutil.Process(server.pid),
                        args.shared_destination,
                    )
                    if result:
                        runs.append(result)
                        print(
                            f"{workload:8} {peer.name:22} round {rnd}: {result.wall:6.2f}s "
                            f"cpu {result.cpu:5.2f}s requests {result.requests} correct {result.correct}",
                            flush=True,
                        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "objects": args.objects,
        "size": args.size,
        "large_mib": args.large_mib,
        "rounds": args.rounds,
        "delay": args.delay,
        "skipped": skipped,
        "command": "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    rows = summarise(runs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps({"meta": meta, "rows": rows, "runs": [asdict(r) for r in runs]}, indent=2)
    )
    table = markdown(rows, meta)
    (RESULTS / "latest.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
