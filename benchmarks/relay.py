"""The relay copy against rclone with two remotes: bytes through the client, two principals.

``python -m benchmarks.relay [--objects 1000] [--size 65536] [--large-mib 256] [--rounds 3]``

Both tools read the source with one set of credentials and write the destination with another:
s3xacct with ``--transport relay`` and two roles (moto's STS), rclone with two remotes (``src:``
and ``dst:``, different access keys; without ``--server-side-across-configs`` rclone streams
between remotes rather than copy server side). Workloads: a full copy of N small objects, and one
large object. Each run gets a fresh destination bucket; wall time, client CPU (user+sys of the
tool's process tree), peak RSS of the tree and the server's request count are recorded, medians
of the rounds go to benchmarks/results/<date>-relay.{json,md}. The server verifies no
server-side copy request was sent (CopyObject/UploadPartCopy count) and the destination
listing equals the source's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import requests

from benchmarks.peers import env_for
from benchmarks.run import RESULTS, client, listing, measure, start_server

SRC = "relay-src"
SOURCE_ROLE = "arn:aws:iam::111111111111:role/vendor-reader"
DEST_ROLE = "arn:aws:iam::222222222222:role/ingest-writer"


def commands(workload: str, dst: str) -> dict[str, list[str]]:
    prefix = "small/" if workload == "small" else "large/"
    s3xacct = [
        str(Path(sys.executable).with_name("s3xacct")),
        "copy",
        f"s3://{SRC}/{prefix}",
        f"s3://{dst}/{prefix}",
        "--transport",
        "relay",
        "--source-role-arn",
        SOURCE_ROLE,
        "--dest-role-arn",
        DEST_ROLE,
        "--no-progress",
        "--quiet",
    ]
    rclone = ["rclone", "copy", f"src:{SRC}/{prefix}", f"dst:{dst}/{prefix}", "--transfers", "32"]
    return {"s3xacct relay": s3xacct, "rclone (two remotes)": rclone}


def environment(endpoint: str) -> dict[str, str]:
    # The console script imports this checkout's package (env_for keeps no PYTHONPATH).
    env = {**env_for(endpoint), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for remote, key in (("SRC", "source-key"), ("DST", "dest-key")):
        env.update(
            {
                f"RCLONE_CONFIG_{remote}_TYPE": "s3",
                f"RCLONE_CONFIG_{remote}_PROVIDER": "Other",
                f"RCLONE_CONFIG_{remote}_ENDPOINT": endpoint,
                f"RCLONE_CONFIG_{remote}_ACCESS_KEY_ID": key,
                f"RCLONE_CONFIG_{remote}_SECRET_ACCESS_KEY": key,
                f"RCLONE_CONFIG_{remote}_REGION": "us-east-1",
                f"RCLONE_CONFIG_{remote}_FORCE_PATH_STYLE": "true",
            }
        )
    return env


def seed(s3: Any, objects: int, size: int, large_mib: int) -> None:
    s3.create_bucket(Bucket=SRC)
    body = os.urandom(size)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(lambda i: s3.put_object(Bucket=SRC, Key=f"small/{i:06}.bin", Body=body), range(objects))
        )
    upload = s3.create_multipart_upload(Bucket=SRC, Key="large/big.bin")["UploadId"]
    block, parts = os.urandom(64 * 2**20), []
    for number, _ in enumerate(range(0, large_mib, 64), start=1):
        etag = s3.upload_part(Bucket=SRC, Key="large/big.bin", UploadId=upload, PartNumber=number, Body=block)
        parts.append({"PartNumber": number, "ETag": etag["ETag"]})
    s3.complete_multipart_upload(
        Bucket=SRC, Key="large/big.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--large-mib", type=int, default=256, help="a multiple of 64")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.02)
    args = parser.parse_args(argv)
    server, endpoint = start_server(args.delay)
    env = environment(endpoint)
    runs: list[dict[str, Any]] = []
    try:
        s3 = client(endpoint)
        seed(s3, args.objects, args.size, args.large_mib)
        for workload in ("small", "large"):
            source = {k: v for k, v in listing(s3, SRC).items() if k.startswith(workload + "/")}
            for rnd in range(args.rounds):
                tools = list(commands(workload, "x").items())
                for tool, _ in tools[rnd % 2 :] + tools[: rnd % 2]:  # alternate who goes first
                    dst = f"relay-{workload}-{tool.split()[0]}-{rnd}"
                    s3.create_bucket(Bucket=dst)
                    requests.get(f"{endpoint}/__bench__/reset", timeout=5)
                    server_cpu = psutil.Process(server.pid).cpu_times()
                    wall, cpu, rss, code = measure(commands(workload, dst)[tool], env)
                    after = psutil.Process(server.pid).cpu_times()
                    counts = requests.get(f"{endpoint}/__bench__/stats", timeout=5).json()
                    run = {
                        "tool": tool,
                        "workload": workload,
                        "round": rnd,
                        "wall": wall,
                        "cpu": cpu,
                        "rss_mib": rss,
                        "server_cpu": (after.user + after.system) - (server_cpu.user + server_cpu.system),
                        "requests": sum(n for op, n in counts.items() if not op.startswith("sts:")),
                        "server_side_copies": counts.get("CopyObject", 0) + counts.get("UploadPartCopy", 0),
                        "correct": code == 0 and listing(s3, dst) == source,
                    }
                    runs.append(run)
                    print(
                        f"{workload:6} {tool:22} round {rnd}: {wall:7.2f}s cpu {cpu:6.2f}s "
                        f"rss {rss:6.0f} MiB correct {run['correct']}",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait(timeout=10)
    rows = []
    for workload in ("small", "large"):
        for tool in dict.fromkeys(r["tool"] for r in runs):
            mine = [r for r in runs if r["workload"] == workload and r["tool"] == tool]
            rows.append(
                {
                    "workload": workload,
                    "tool": tool,
                    "wall_s": round(statistics.median(r["wall"] for r in mine), 2),
                    "cpu_s": round(statistics.median(r["cpu"] for r in mine), 2),
                    "peak_rss_mib": round(statistics.median(r["rss_mib"] for r in mine), 1),
                    "server_cores": round(statistics.median(r["server_cpu"] / r["wall"] for r in mine), 2),
                    "requests": statistics.median(r["requests"] for r in mine),
                    "server_side_copies": max(r["server_side_copies"] for r in mine),
                    "correct": all(r["correct"] for r in mine),
                }
            )
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "objects": args.objects,
        "size": args.size,
        "large_mib": args.large_mib,
        "rounds": args.rounds,
        "delay": args.delay,
        "command": "python -m benchmarks.relay " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    lines = [
        f"Machine: {meta['machine']}; {args.objects} objects of {args.size} B, one {args.large_mib} MiB "
        f"object; medians of {args.rounds} rounds; server delay {args.delay * 1000:.0f} ms. "
        f"Command: `{meta['command']}`.",
        "",
        "| workload | tool | wall s | client CPU s | peak RSS MiB | S3 requests | server-side copies | "
        "moto server cores | correct |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['tool']} | {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_mib']} | "
            f"{r['requests']:.0f} | {r['server_side_copies']} | {r['server_cores']} | "
            f"{'yes' if r['correct'] else 'NO'} |"
        )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stamp}-relay.json").write_text(
        json.dumps({"meta": meta, "rows": rows, "runs": runs}, indent=1)
    )
    (RESULTS / f"{stamp}-relay.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
