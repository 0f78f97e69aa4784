"""Per-task overhead: one task run of CrossAccountS3CopyOperator against S3CopyPrefixOperator.

What a worker pays per task beyond the copy itself: credentials (AssumeRole), clients, and any
lookups before the first request. Each run is a fresh operator, so a fresh hook and session, as in
a worker process; the connection assumes a role (``role_arn``), as cross-account connections do.
Each run copies one 1 KiB object to a new destination prefix on the counting moto server
(``demo/counting_server.py``, 20 ms per request, like the other benchmarks). Measured in-process
after imports: CPU seconds (``time.process_time``) and wall seconds per run, and the run's requests
by kind from the server's own count. The two operators alternate; medians over the runs.

``python -m benchmarks.task_overhead [--runs N]``; results go to stdout as a Markdown table and
to ``benchmarks/results/latest.task-overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from demo import stack

RESULTS = Path(__file__).resolve().parent / "results"
CONN_ID = "bench_role"
SRC, DST = "overhead-src", "overhead-dst"
DELAY = 0.02


class _TI:
    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:  # Airflow 2 also passes execution_date
        pass


def _s3xacct(run: int) -> None:
    from airflow_provider_s3xacct.operators import CrossAccountS3CopyOperator

    CrossAccountS3CopyOperator(
        task_id="copy",
        aws_conn_id=CONN_ID,
        source_uri=f"s3://{SRC}/data/",
        dest_uri=f"s3://{DST}/run-{run}/",
        mode="copy",
    ).execute({"ti": _TI()})  # type: ignore[arg-type]


def _copy_prefix(run: int) -> None:
    from airflow.providers.amazon.aws.operators.s3 import S3CopyPrefixOperator

    S3CopyPrefixOperator(
        task_id="copy",
        aws_conn_id=CONN_ID,
        source_bucket_name=SRC,
        source_bucket_prefix="data/",
        dest_bucket_name=DST,
        dest_bucket_prefix=f"run-{run}/",
    ).execute({"ti": _TI()})


TOOLS: dict[str, Callable[[int], None]] = {"s3xacct": _s3xacct, "S3CopyPrefixOperator": _copy_prefix}


def measure(endpoint: str, runs: int) -> dict[str, list[dict[str, Any]]]:
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in TOOLS}
    for name, tool in TOOLS.items():  # warm-up: imports and first-use caches, not measured
        tool(-1 - len(samples[name]))
    for run in range(runs):
        for name, tool in TOOLS.items():
            requests.get(f"{endpoint}/__bench__/reset", timeout=5)
            cpu, wall = time.process_time(), time.perf_counter()
            tool(run * len(TOOLS) + list(TOOLS).index(name))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            counts = requests.get(f"{endpoint}/__bench__/stats", timeout=5).json()
            samples[name].append({"cpu_s": cpu, "wall_s": wall, "requests": counts})
    return samples


def table(samples: dict[str, list[dict[str, Any]]]) -> str:
    rows = [
        "| operator | median CPU s / task | median wall s / task | AssumeRole / task | GetCallerIdentity / task | S3 requests / task |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in samples.items():
        counts = runs[-1]["requests"]
        s3 = sum(n for op, n in counts.items() if not op.startswith("sts:"))
        rows.append(
            f"| {name} | {statistics.median(r['cpu_s'] for r in runs):.3f} | "
            f"{statistics.median(r['wall_s'] for r in runs):.3f} | {counts.get('sts:AssumeRole', 0)} | "
            f"{counts.get('sts:GetCallerIdentity', 0)} | {s3} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with stack.moto_server(counting=True) as endpoint:
        role = f"arn:aws:iam::{stack.DEST_ACCOUNT}:role/{stack.ADMIN_ROLE}"
        admin = stack.session(endpoint, stack.DEST_ACCOUNT).client("s3", endpoint_url=endpoint)
        for bucket in (SRC, DST):
            admin.create_bucket(Bucket=bucket)
        admin.put_object(Bucket=SRC, Key="data/one", Body=b"x" * 1024)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": stack.REGION,
                "AWS_ENDPOINT_URL": endpoint,
                f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(
                    {"conn_type": "aws", "extra": {"role_arn": role, "region_name": stack.REGION}}
                ),
            }
        )
        requests.get(f"{endpoint}/__bench__/delay", params={"seconds": DELAY}, timeout=5)
        samples = measure(endpoint, args.runs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.task-overhead.json").write_text(json.dumps(samples, indent=1))
    print(table(samples))


if __name__ == "__main__":
    main()
