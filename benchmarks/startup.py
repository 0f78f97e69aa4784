"""Start-up: ``s3xacct copy`` of one object against ``aws s3 cp``, each a fresh process.

A one-object copy is nearly all start-up: interpreter, imports, credentials, clients, the first
requests. Each tool copies the same 1 KiB object to a new destination key on the counting moto
server (``demo/counting_server.py``, no added delay: the server answers as fast as it can, so the
difference is the client's). The tools alternate run by run; medians of wall seconds and of the
child's CPU seconds (``RUSAGE_CHILDREN``), and the requests of one run by kind, from the server.

``--baseline DIR`` adds ``s3xacct`` from another checkout (run with ``PYTHONPATH=DIR``), e.g. the
main branch, to measure a change in the same run. The aws CLI comes from ``.venv-peers`` (``make
bench``; ``S3XACCT_BENCH_PEERS_BIN`` elsewhere). ``python -m benchmarks.startup [--runs 7]``;
results to stdout as a Markdown table and to ``benchmarks/results/latest.startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import requests

from benchmarks.peers import BIN, PEERS_BIN
from demo import stack

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
SRC, DST = "startup-src", "startup-dst"
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


def _tools(baseline: str | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each tool: its command for run ``{n}`` and its extra environment."""
    s3xacct = [str(BIN / "s3xacct"), "copy", f"s3://{SRC}/data/", f"s3://{DST}/s3xacct-{{n}}/", "--json"]
    tools = {"s3xacct copy": (s3xacct, {"PYTHONPATH": str(REPO)})}
    if baseline:
        tools[f"s3xacct copy ({baseline})"] = (
            [*s3xacct[:3], f"s3://{DST}/baseline-{{n}}/", "--json"],
            {"PYTHONPATH": baseline},
        )
    aws = PEERS_BIN / "aws"
    if aws.exists():
        tools["aws s3 cp"] = (
            [str(aws), "s3", "cp", f"s3://{SRC}/data/one", f"s3://{DST}/aws-{{n}}/one", "--only-show-errors"],
            {},
        )
    return tools


def _run(command: list[str], env: dict[str, str], n: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``command`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([part.format(n=n) for part in command], env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(endpoint: str, runs: int, baseline: str | None) -> dict[str, list[dict[str, Any]]]:
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    base_env.update(
        {
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": stack.REGION,
            "AWS_ENDPOINT_URL": endpoint,
        }
    )
    tools = _tools(baseline)
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in tools}
    for command, env in tools.values():  # warm-up: the page cache, .pyc files
        _run(command, {**base_env, **env}, -1)
    for n in range(runs):
        for name, (command, env) in tools.items():
            requests.get(f"{endpoint}/__bench__/reset", timeout=5)
            wall, cpu = _run(command, {**base_env, **env}, n)
            counts = requests.get(f"{endpoint}/__bench__/stats", timeout=5).json()
            samples[name].append({"wall_s": wall, "cpu_s": cpu, "requests": counts})
    return samples


def table(samples: dict[str, list[dict[str, Any]]]) -> str:
    rows = ["| tool | median wall s | median CPU s | requests of one run |", "|---|---|---|---|"]
    for name, runs in samples.items():
        counts = runs[-1]["requests"]
        kinds = ", ".join(f"{op} {n}" for op, n in sorted(counts.items()))
        rows.append(
            f"| {name} | {statistics.median(r['wall_s'] for r in runs):.3f} | "
            f"{statistics.median(r['cpu_s'] for r in runs):.3f} | {kinds} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", metavar="DIR", help="also run s3xacct from this checkout")
    args = parser.parse_args()
    with stack.moto_server(counting=True) as endpoint:
        admin = boto3.client(  # the same credentials as the tools: one account, both buckets
            "s3", endpoint_url=endpoint, region_name=stack.REGION, **CREDENTIALS
        )
        for bucket in (SRC, DST):
            admin.create_bucket(Bucket=bucket)
        admin.put_object(Bucket=SRC, Key="data/one", Body=b"x" * 1024)
        samples = measure(endpoint, args.runs, args.baseline)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.startup.json").write_text(json.dumps(samples, indent=1))
    print(f"Python {sys.version.split()[0]}, {args.runs} runs, tools alternating")
    print(table(samples))


if __name__ == "__main__":
    main()
