"""Wall time of planning shards against one sequential listing, at S3-like latency per page.

The canned ListObjectsV2 server of ``benchmarks.listing_cpu`` (flat keys ``data/000000000`` ..,
StartAfter honoured) answers each page after ``--delay`` seconds. Measured: one sequential
listing (what planning cost per pass before), and ``plan_shards`` over a parallel listing
(``list_objects(..., concurrency=N)``, one pass), as the sharded DAG's plan task runs it.
Run as ``python -m benchmarks.shard_planning [--keys 100000] [--shards 8] [--delay 0.02]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import boto3

from airflow_provider_s3xacct.aws.locations import S3Location
from airflow_provider_s3xacct.transfer.clients import engine_config
from airflow_provider_s3xacct.transfer.listing import list_objects
from airflow_provider_s3xacct.transfer.shards import plan_shards
from airflow_provider_s3xacct.transfer.spec import LIST_CONCURRENCY
from benchmarks.listing_cpu import _SERVER
from demo.stack import free_port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--list-concurrency", type=int, default=LIST_CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port), str(args.keys), str(args.delay)])
    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1")
    client = session.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", config=engine_config(args.list_concurrency)
    )
    location = S3Location("b", "data/")
    times: dict[str, list[float]] = {"one sequential listing": [], "plan_shards, parallel listing": []}
    try:
        time.sleep(1)
        for _ in range(args.rounds):
            start = time.perf_counter()
            assert sum(1 for _ in list_objects(client, location)) == args.keys
            times["one sequential listing"].append(time.perf_counter() - start)
            start = time.perf_counter()
            plan = plan_shards(
                lambda: list_objects(client, location, concurrency=args.list_concurrency), args.shards
            )
            times["plan_shards, parallel listing"].append(time.perf_counter() - start)
            assert sum(s.objects for s in plan) == args.keys and len(plan) == args.shards
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"{args.keys} keys, {args.shards} shards, {args.delay * 1000:.0f} ms per page, medians of {args.rounds}"
    )
    print("| what | wall s |\n|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
