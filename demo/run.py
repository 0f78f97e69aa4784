"""``make demo``: the main job on a local stack, start to finish, then everything is stopped.

1. a moto server on loopback with two accounts: the vendor (source, 111111111111) with a few
   hundred objects of mixed encryption and sizes under two KMS keys, and analytics (destination,
   222222222222) with its KMS key and the sync role;
2. ``s3xacct apply``: the least-privilege statements into both accounts' documents;
3. the nightly DAG with ``airflow dags test`` on a SQLite database under .demo/: verify the
   permissions, wait for KMS access, sync;
4. the same DAG again: nothing has changed, so nothing is copied.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from demo import stack
from demo.airflow_env import DEMO_HOME, airflow_env, apply_permissions, latest_xcom, prepare_database, run

DAG_ID = "s3xacct_nightly_sync"


def nightly_run(env: dict[str, str], home: Path) -> dict[str, Any]:
    run(["airflow", "dags", "test", DAG_ID], env)  # exits non-zero when the run fails
    return dict(latest_xcom(home, DAG_ID, "sync.copy"))


def main() -> int:
    home = DEMO_HOME / "airflow"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    with stack.moto_server() as endpoint:
        print(f"moto server on {endpoint}")
        accounts = stack.seed(endpoint)
        print(
            f"source      {stack.SOURCE_ACCOUNT}: s3://{stack.SOURCE_BUCKET}/exports/ "
            f"({accounts.total_objects} objects: SSE-KMS under two keys, and SSE-S3, up to 3 MiB)"
        )
        print(
            f"destination {stack.DEST_ACCOUNT}: s3://{stack.DEST_BUCKET}/vendor/ under {accounts.dest_key_arn}"
        )
        env = airflow_env(accounts, home)
        applied = apply_permissions(accounts, env, DEMO_HOME)
        print(
            f"permissions: wrote {len(applied['written'])} documents; verify ok={applied['verify']['ok']} "
            f"({len(applied['verify']['checks'])} required requests checked)"
        )
        prepare_database(env)
        first = nightly_run(env, home)
        second = nightly_run(env, home)
    print("\nNightly sync summary")
    for name, s in (("first run", first), ("second run", second)):
        print(
            f"  {name:10}: listed {s['listed']}, copied {s['copied']} ({s['bytes_copied']} bytes), "
            f"skipped {s['skipped']}, failed {s['failed']}"
        )
    ok = first["copied"] == accounts.total_objects and second["copied"] == 0 and not first["failed"]
    print("demo OK" if ok else "demo FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
