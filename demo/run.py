"""``make demo``: the main job against a local stack.

Starts a moto server on loopback, creates the two demo accounts, runs ``s3xacct copy`` in sync
mode from the vendor account to the analytics account under the analytics KMS key, prints the
summary, runs the sync again (it copies nothing), and stops the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from demo import stack


def _s3xacct(env: dict[str, str], *args: str) -> dict[str, object]:
    exe = str(Path(sys.executable).with_name("s3xacct"))
    result = subprocess.run([exe, *args, "--json"], env=env, capture_output=True, text=True, check=False)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"s3xacct exited {result.returncode}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> int:
    with stack.moto_server() as endpoint:
        print(f"moto server on {endpoint}")
        accounts = stack.seed(endpoint)
        print(
            f"source account {stack.SOURCE_ACCOUNT}: s3://{stack.SOURCE_BUCKET}/exports/ "
            f"({accounts.objects} objects: SSE-KMS under two keys and SSE-S3)"
        )
        print(f"destination account {stack.DEST_ACCOUNT}: s3://{stack.DEST_BUCKET}/vendor/")
        env = stack.principal_env(endpoint)
        args = (
            "copy",
            f"s3://{stack.SOURCE_BUCKET}/exports/",
            f"s3://{stack.DEST_BUCKET}/vendor/",
            "--mode",
            "sync",
            "--sse-kms-key-id",
            accounts.dest_key_arn,
            "--source-account-id",
            stack.SOURCE_ACCOUNT,
            "--dest-account-id",
            stack.DEST_ACCOUNT,
        )
        first = _s3xacct(env, *args)
        second = _s3xacct(env, *args)
    print("\nSummary")
    print(f"  first sync : copied {first['copied']} of {first['listed']} ({first['bytes_copied']} bytes)")
    print(f"  second sync: copied {second['copied']}, skipped {second['skipped']} (nothing changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
