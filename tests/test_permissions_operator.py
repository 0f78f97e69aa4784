"""CrossAccountPermissionsOperator with one Airflow connection per account (moto server)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_s3xacct.operators import CrossAccountPermissionsOperator
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World


class _TI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, session: Any, endpoint: str) -> None:
    creds = session.get_credentials()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "aws",
                "login": creds.access_key,
                "password": creds.secret_key,
                "extra": {
                    "aws_session_token": creds.token,
                    "endpoint_url": endpoint,
                    "region_name": "us-east-1",
                },
            }
        ),
    )


@pytest.fixture
def transfer(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    assert world.endpoint_url
    world.dest.client("iam", endpoint_url=world.endpoint_url).create_role(
        RoleName="sync-role", AssumeRolePolicyDocument="{}"
    )
    _connection(monkeypatch, "src_admin", world.source, world.endpoint_url)
    _connection(monkeypatch, "dst_admin", world.dest, world.endpoint_url)
    return {
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


def op(mode: str, spec: dict[str, Any]) -> CrossAccountPermissionsOperator:
    return CrossAccountPermissionsOperator(
        task_id=f"perms_{mode}",
        mode=mode,
        spec=spec,
        aws_conn_id=None,
        source_admin_conn_id="src_admin",
        dest_admin_conn_id="dst_admin",
    )


def test_verify_fails_naming_the_missing_documents_then_apply_fixes_them(transfer: dict[str, Any]) -> None:
    ti = _TI()
    with pytest.raises(AirflowFailException, match="DENIED s3:ListBucket on arn:aws:s3:::src-bucket"):
        op("verify", transfer).execute({"ti": ti})  # type: ignore[arg-type]
    assert ti.pushed["report"]["ok"] is False

    result = op("apply", transfer).execute({"ti": _TI()})  # type: ignore[arg-type]
    assert result["ok"] and result["apply"]["written"]
    assert op("verify", transfer).execute({"ti": _TI()})["ok"]  # type: ignore[arg-type]
    assert op("apply", transfer).execute({"ti": _TI()})["apply"]["written"] == []  # type: ignore[arg-type]


def test_plan_needs_no_connection_and_bad_spec_fails_fast(transfer: dict[str, Any]) -> None:
    files = op("plan", transfer).execute({})  # type: ignore[arg-type]
    assert "identity.json" in files and "source-key-policies.json" in files
    bad = dict(transfer, principal_arn="nobody")
    with pytest.raises(AirflowFailException, match="principal_arn"):
        op("verify", bad).execute({})  # type: ignore[arg-type]
