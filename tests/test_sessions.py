"""One session per task run: each task assumes its connection's role once and asks STS nothing more.

The amazon provider's ``AwsBaseHook.get_session`` assumes the role again on every call; a task
that built each client from a new session made several AssumeRole calls (and a GetCallerIdentity
for the principal's account) before copying anything. Counted on the wire: the moto server behind
``demo/counting_server.py`` counts STS actions as ``sts:<Action>``.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_s3xacct.operators import CrossAccountPermissionsOperator, CrossAccountS3CopyOperator
from airflow_provider_s3xacct.sensors import KmsAccessSensor
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World, aws_connection


class _TI:
    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:  # Airflow 2 also passes execution_date
        pass


def _role_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, role_arn: str, endpoint: str) -> None:
    """The standard amazon-provider connection that assumes ``role_arn`` (as in production).

    The provider's AssumeRole client takes its endpoint from the environment, as in ``make demo``.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    aws_connection(monkeypatch, conn_id, endpoint, role_arn=role_arn)


def _sts_calls(world: World) -> dict[str, int]:
    counts = requests.get(f"{world.endpoint_url}/__bench__/reset", timeout=10).json()
    return {op: n for op, n in counts.items() if op.startswith("sts:")}


def test_copy_task_assumes_its_role_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.endpoint_url
    for key in ("data/a", "data/b", "data/c"):
        world.put(key, b"12345", kms=world.source_key_arn)
    _role_connection(monkeypatch, "sync", f"arn:aws:iam::{DEST_ACCOUNT}:role/sync-role", world.endpoint_url)
    _sts_calls(world)  # the world's own set-up calls
    summary = CrossAccountS3CopyOperator(
        task_id="copy",
        aws_conn_id="sync",
        source_uri=f"s3://{world.source_bucket}/data/",
        dest_uri=f"s3://{world.dest_bucket}/copy/",
        dest_kms_key_id=world.dest_key_arn,
        mode="sync",
    ).execute({"ti": _TI()})  # type: ignore[arg-type]
    assert summary["copied"] == 3 and summary["failed"] == 0
    assert _sts_calls(world) == {"sts:AssumeRole": 1}


def test_kms_sensor_poke_assumes_its_role_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.endpoint_url
    world.put("data/a", b"1", kms=world.source_key_arn)
    # moto cannot share KMS keys across accounts, so the probing principal lives in the key's account.
    _role_connection(monkeypatch, "probe", f"arn:aws:iam::{SOURCE_ACCOUNT}:role/admin", world.endpoint_url)
    _sts_calls(world)
    sensor = KmsAccessSensor(
        task_id="kms",
        aws_conn_id="probe",
        key_arns=[world.source_key_arn],
        operations=["generate_data_key"],
        discover_keys_from=f"s3://{world.source_bucket}/data/",
        bucket_region="us-east-1",
        poke_interval=0,
        timeout=5,
    )
    result = sensor.poke({})  # type: ignore[arg-type]
    assert result.is_done  # S3 (discovery, ranged GET) and KMS clients, all from one session
    assert _sts_calls(world) == {"sts:AssumeRole": 1}


def test_permissions_task_assumes_each_admin_role_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.endpoint_url
    world.dest.client("iam", endpoint_url=world.endpoint_url).create_role(
        RoleName="sync-role", AssumeRolePolicyDocument="{}"
    )
    _role_connection(
        monkeypatch, "src_admin", f"arn:aws:iam::{SOURCE_ACCOUNT}:role/admin", world.endpoint_url
    )
    _role_connection(monkeypatch, "dst_admin", f"arn:aws:iam::{DEST_ACCOUNT}:role/admin", world.endpoint_url)
    spec = {
        "source": {
            "account_id": SOURCE_ACCOUNT,
            "bucket": world.source_bucket,
            "prefix": "data/",
            "region": "us-east-1",
            "kms_key_arns": [world.source_key_arn],
        },
        "destination": {
            "account_id": DEST_ACCOUNT,
            "bucket": world.dest_bucket,
            "region": "us-east-1",
            "kms_key_arn": world.dest_key_arn,
        },
        "principal_arn": f"arn:aws:iam::{DEST_ACCOUNT}:role/sync-role",
    }
    _sts_calls(world)
    result = CrossAccountPermissionsOperator(
        task_id="perms",
        mode="apply",
        transfer=spec,
        aws_conn_id=None,
        source_admin_conn_id="src_admin",
        dest_admin_conn_id="dst_admin",
    ).execute({"ti": _TI()})  # type: ignore[arg-type]
    assert result["ok"] and result["apply"]["written"]  # IAM, S3 and KMS in both accounts
    assert _sts_calls(world) == {"sts:AssumeRole": 2}  # one per admin connection


def test_a_relay_copy_and_its_sensor_assume_each_connection_s_role_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two connections: one hook each, each session built once, whatever the clients and regions."""
    assert world.endpoint_url
    big = bytes(range(256)) * (24 * 1024)  # 6 MiB: two 5 MiB relay parts
    world.put("data/big", big, kms=world.source_key_arn)
    for key in ("data/a", "data/b"):
        world.put(key, b"12345", kms=world.source_key_arn)
    # moto cannot share KMS keys across accounts: each principal lives in its key's account.
    _role_connection(monkeypatch, "reader", f"arn:aws:iam::{SOURCE_ACCOUNT}:role/vendor-reader", world.endpoint_url)
    _role_connection(monkeypatch, "writer", f"arn:aws:iam::{DEST_ACCOUNT}:role/ingest-writer", world.endpoint_url)
    sides = {"source_aws_conn_id": "reader", "dest_aws_conn_id": "writer", "aws_conn_id": None}
    _sts_calls(world)
    sensor = KmsAccessSensor(
        task_id="kms",
        key_arns=[world.dest_key_arn],
        operations=["generate_data_key"],
        discover_keys_from=f"s3://{world.source_bucket}/data/",
        bucket_region="us-east-1",
        poke_interval=0,
        timeout=5,
        **sides,
    )
    assert sensor.poke({}).is_done  # type: ignore[arg-type]
    assert _sts_calls(world) == {"sts:AssumeRole": 2}
    summary = CrossAccountS3CopyOperator(
        task_id="copy",
        source_uri=f"s3://{world.source_bucket}/data/",
        dest_uri=f"s3://{world.dest_bucket}/copy/",
        dest_kms_key_id=world.dest_key_arn,
        relay_part_size=5 * 1024 * 1024,
        **sides,
    ).execute({"ti": _TI()})  # type: ignore[arg-type]
    assert summary["copied"] == 3 and summary["failed"] == 0
    assert _sts_calls(world) == {"sts:AssumeRole": 2}


def test_one_connection_on_both_relay_sides_is_one_session(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.endpoint_url
    world.put("data/a", b"12345")
    _role_connection(monkeypatch, "both", f"arn:aws:iam::{DEST_ACCOUNT}:role/ingest-writer", world.endpoint_url)
    _sts_calls(world)
    summary = CrossAccountS3CopyOperator(
        task_id="copy",
        source_uri=f"s3://{world.source_bucket}/data/",
        dest_uri=f"s3://{world.dest_bucket}/copy/",
        transport="relay",
        source_aws_conn_id="both",
        dest_aws_conn_id="both",
        aws_conn_id=None,
    ).execute({"ti": _TI()})  # type: ignore[arg-type]
    assert summary["copied"] == 1
    assert _sts_calls(world) == {"sts:AssumeRole": 1}
