"""docker compose's airflow-init step: seed the moto service, apply permissions, set the Variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from demo import stack
from demo.airflow_env import apply_permissions, transfer


def main() -> int:
    endpoint = os.environ["S3XACCT_DEMO_ENDPOINT"]
    accounts = stack.seed(endpoint)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": stack.REGION,
        "AWS_ENDPOINT_URL": endpoint,
    }
    apply_permissions(accounts, env, Path(tempfile.mkdtemp(prefix="s3xacct-demo-")))
    subprocess.run(
        ["airflow", "variables", "set", "s3xacct_transfer", json.dumps(transfer(accounts))], check=True
    )
    print("demo accounts seeded, permissions applied, Variable s3xacct_transfer set")
    return 0


if __name__ == "__main__":
    sys.exit(main())
