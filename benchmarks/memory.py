"""Peak memory of sync planning over synthetic listings: it must not grow with the key count.

``python -m benchmarks.memory`` plans a sync of 100,000 and of 1,000,000 keys (1% changed, 1%
new), each in a fresh process, through the real listing code (``--list-concurrency`` ranges per side) fed by a fake ListObjectsV2 (no server),
and reports each process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from bisect import bisect_right
from datetime import UTC, datetime
from typing import Any

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClient:
    """ListObjectsV2 over ``data/000000000`` .. without holding the keys (StartAfter, tokens)."""

    def __init__(self, keys: int, changed_every: int | None = None) -> None:
        self.keys = keys
        self.changed_every = changed_every

    def list_objects_v2(
        self, *, MaxKeys: int = 1000, StartAfter: str = "", ContinuationToken: str | None = None, **_: Any
    ) -> dict[str, Any]:
        after = ContinuationToken if ContinuationToken is not None else StartAfter
        start = bisect_right(range(self.keys), after, key=lambda i: f"data/{i:09}")
        end = min(start + MaxKeys, self.keys)
        contents = []
        for i in range(start, end):
            if self.changed_every and i % self.changed_every == 1:
                continue  # missing from the destination: "new"
            size = 2 if self.changed_every and i % self.changed_every == 0 else 1
            contents.append({"Key": f"data/{i:09}", "Size": size, "LastModified": WHEN, "ETag": '"e"'})
        page: dict[str, Any] = {
            "Contents": contents,
            "KeyCount": len(contents),
            "IsTruncated": end < self.keys,
        }
        if end < self.keys:
            page["NextContinuationToken"] = f"data/{end - 1:09}"
        return page


def child(keys: int, concurrency: int) -> dict[str, Any]:
    from airflow_provider_s3xacct.aws.locations import S3Location
    from airflow_provider_s3xacct.transfer.listing import list_objects
    from airflow_provider_s3xacct.transfer.planner import Action, SyncPlanner

    location = S3Location("bucket", "data/")
    source = list_objects(FakeClient(keys), location, concurrency=concurrency)
    dest = list_objects(FakeClient(keys, changed_every=100), location, concurrency=concurrency)
    counts = {a.value: 0 for a in Action}
    for step in SyncPlanner("sync").plan(source, dest):
        counts[step.action.value] += 1
    return {
        "keys": keys,
        "list_concurrency": concurrency,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **counts,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", type=int)
    # ListObjectsV2 requests in flight per side, as CopySpec.list_concurrency (its default if not given).
    parser.add_argument("--list-concurrency", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.list_concurrency)))
        return 0
    if args.list_concurrency is None:
        # Read here, not in the measured child: the spec's imports are not the listing's.
        from airflow_provider_s3xacct.transfer.spec import LIST_CONCURRENCY

        args.list_concurrency = LIST_CONCURRENCY
    results = []
    for keys in (100_000, 1_000_000):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.memory",
                "--child",
                str(keys),
                "--list-concurrency",
                str(args.list_concurrency),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(results[-1])
    growth = results[1]["peak_rss_mib"] / results[0]["peak_rss_mib"] - 1
    print(f"peak RSS at 1M keys is {growth:+.1%} of the 100k figure")
    return 0 if results[1]["peak_rss_mib"] < 150 and growth < 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
