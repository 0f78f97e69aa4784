"""Airflow settings for the local stack: a SQLite home under .demo/, connections and the Variable."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from demo import stack

REPO = Path(__file__).resolve().parent.parent
DEMO_HOME = REPO / ".demo"


def transfer(accounts: stack.DemoAccounts) -> dict[str, Any]:
    """The demo transfer in the ``s3xacct`` config format (also the Variable ``s3xacct_transfer``)."""
    return {
        "source": {
            "account_id": stack.SOURCE_ACCOUNT,
            "bucket": stack.SOURCE_BUCKET,
            "prefix": "exports/",
            "region": stack.REGION,
            "kms_key_arns": [accounts.source_key_arn, accounts.source_key2_arn],
        },
        "destination": {
            "account_id": stack.DEST_ACCOUNT,
            "bucket": stack.DEST_BUCKET,
            "prefix": "vendor/",
            "region": stack.REGION,
            "kms_key_arn": accounts.dest_key_arn,
        },
        "principal_arn": accounts.principal_arn,
        # The two guard-rail Denies stay off on the local stack: moto 5.2.5 evaluates bucket-policy
        # statements on object requests without any request context, so every statement with a
        # Condition that names s3:PutObject denies every put (and the endpoint is plain HTTP anyway).
        # On AWS keep both on (the defaults); `s3xacct verify` evaluates them properly.
        "options": {
            "mode": "sync",
            "copy_tags": True,
            "delete": False,
            "require_tls": False,
            "enforce_destination_kms": False,
        },
    }


def _aws_connection(endpoint: str, role_arn: str) -> str:
    # The standard amazon-provider connection: assume role_arn, talk to the local endpoint.
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "demo",
            "password": "demo",
            "extra": {"role_arn": role_arn, "endpoint_url": endpoint, "region_name": stack.REGION},
        }
    )


def airflow_env(accounts: stack.DemoAccounts, home: Path) -> dict[str, str]:
    endpoint = accounts.endpoint_url
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AWS_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_S3XACCT_SYNC": _aws_connection(endpoint, accounts.principal_arn),
            "AIRFLOW_CONN_S3XACCT_SOURCE_ADMIN": _aws_connection(
                endpoint, f"arn:aws:iam::{stack.SOURCE_ACCOUNT}:role/{stack.ADMIN_ROLE}"
            ),
            "AIRFLOW_CONN_S3XACCT_DEST_ADMIN": _aws_connection(
                endpoint, f"arn:aws:iam::{stack.DEST_ACCOUNT}:role/{stack.ADMIN_ROLE}"
            ),
            "AIRFLOW_VAR_S3XACCT_TRANSFER": json.dumps(transfer(accounts)),
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": stack.REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "NO_PROXY": "*",
            # airflow standalone starts its components as `airflow ...`: this virtualenv comes first.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            # Everything stays on loopback.
            "AIRFLOW__API__HOST": "127.0.0.1",
        }
    )
    return env


def run(args: list[str], env: dict[str, str], *, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command of this virtualenv (airflow, s3xacct) and fail loudly with its output."""
    exe = str(Path(sys.executable).with_name(args[0]))
    result = subprocess.run([exe, *args[1:]], env=env, capture_output=quiet, text=True, check=False)
    if result.returncode != 0:
        if quiet:
            sys.stderr.write(result.stdout[-6000:] + result.stderr[-6000:])
        raise SystemExit(f"{' '.join(args)} exited {result.returncode}")
    return result


def prepare_database(env: dict[str, str]) -> None:
    """Create the metadata database and register the DAGs, as a deployment does before any run.

    ``airflow dags reserialize`` is the DAG processor's pass: the DAG rows, their serialized form
    and their assets, marked active. Airflow 3.0.x's ``airflow dags test`` (``dag.test()``) skips
    that pass, so every task with an outlet asset (the copy task's destination) fails before it
    starts with ``AirflowInactiveAssetInInletOrOutletException`` (apache/airflow#51644; 3.1 and
    later register the DAG themselves). On every other version the pass is harmless.
    """
    run(["airflow", "db", "migrate"], env)
    run(["airflow", "dags", "reserialize"], env)


def apply_permissions(accounts: stack.DemoAccounts, env: dict[str, str], home: Path) -> dict[str, Any]:
    """``s3xacct apply`` with each account's admin role: our statements into both accounts."""
    config = home / "transfer.json"
    config.write_text(json.dumps(transfer(accounts), indent=2))
    result = run(
        [
            "s3xacct",
            "apply",
            "--config",
            str(config),
            "--json",
            "--source-admin-role-arn",
            f"arn:aws:iam::{stack.SOURCE_ACCOUNT}:role/{stack.ADMIN_ROLE}",
            "--dest-admin-role-arn",
            f"arn:aws:iam::{stack.DEST_ACCOUNT}:role/{stack.ADMIN_ROLE}",
        ],
        env,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def admin_login(home: Path) -> tuple[str, str]:
    """The admin user and the password Airflow's simple auth manager generated for it in ``home``."""
    passwords = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
    user, password = next(iter(passwords.items()))
    return str(user), str(password)


def api_session(url: str, home: Path) -> requests.Session:
    """A REST API session of the Airflow at ``url``, with a token for the admin user."""
    user, password = admin_login(home)
    response = requests.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=10)
    response.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return session


def airflow_not_ready(url: str, home: Path, components: tuple[str, ...], dag_id: str) -> str | None:
    """What an Airflow at ``url`` still lacks (an unhealthy component, ``dag_id`` unparsed), or None."""
    health = requests.get(f"{url}/api/v2/monitor/health", timeout=2).json()
    unhealthy = [c for c in components if health.get(c, {}).get("status") != "healthy"]
    if unhealthy:
        return f"not healthy yet: {', '.join(unhealthy)}"
    if not api_session(url, home).get(f"{url}/api/v2/dags/{dag_id}", timeout=5).ok:
        return f"{dag_id} is not parsed yet"
    return None


def latest_xcom(home: Path, dag_id: str, task_id: str, key: str = "return_value") -> Any:
    """The newest XCom of a task, read from the SQLite metadata database of ``home``."""
    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = ? ORDER BY timestamp DESC LIMIT 1",
            (dag_id, task_id, key),
        ).fetchone()
    if row is None:
        raise SystemExit(f"no XCom {key!r} recorded for {dag_id}.{task_id}")
    value = row[0]  # a JSON column: SQLite hands back text for documents, numbers as numbers
    return json.loads(value) if isinstance(value, str | bytes) else value
