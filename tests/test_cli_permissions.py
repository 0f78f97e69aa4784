"""``s3xacct plan|verify|apply`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World, credential_env


def s3xacct(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("s3xacct")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        # PYTHONPATH passes through so a worktree's tests run the worktree's code, not the installed one.
        env={
            "PATH": "/usr/bin:/bin",
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
            **(env or {}),
        },
    )


def write_config(path: Path, world: World | None = None, **overrides: Any) -> Path:
    config = {
        "source": {
            "account_id": SOURCE_ACCOUNT,
            "bucket": world.source_bucket if world else "src-bucket",
            "prefix": "data/",
            "region": "us-east-1",
            "kms_key_arns": [
                world.source_key_arn if world else f"arn:aws:kms:us-east-1:{SOURCE_ACCOUNT}:key/1111aaaa-1111"
            ],
        },
        "destination": {
            "account_id": DEST_ACCOUNT,
            "bucket": world.dest_bucket if world else "dst-bucket",
            "prefix": "",
            "region": "us-east-1",
            "kms_key_arn": world.dest_key_arn
            if world
            else f"arn:aws:kms:us-east-1:{DEST_ACCOUNT}:key/2222bbbb-2222",
        },
        "principal_arn": f"arn:aws:iam::{DEST_ACCOUNT}:user/sync_user",
        **overrides,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_plan_out_then_offline_verify_passes(tmp_path: Path) -> None:
    config = write_config(tmp_path / "transfer.yaml")
    planned = s3xacct("plan", "--config", str(config), "--out", str(tmp_path / "policies"), "--json")
    assert planned.returncode == 0, planned.stderr
    assert "AbortIncompleteMultipartUpload" in planned.stderr  # the lifecycle rule is recommended
    files = json.loads(planned.stdout.splitlines()[-1])
    # Every document the checks need, the same-account destination key's default policy included.
    assert set(files) == {
        "identity.json",
        "source-bucket-policy.json",
        "source-key-policies.json",
        "dest-bucket-policy.json",
        "dest-key-policy.json",
    }
    assert sorted(p.name for p in (tmp_path / "policies").iterdir()) == sorted(files)

    verified = s3xacct(
        "verify", "--config", str(config), "--policies-dir", str(tmp_path / "policies"), "--json"
    )
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout.splitlines()[-1])
    assert report["ok"] and report["verdict"] == "allowed"
    assert all(c["verdict"] == "allowed" for c in report["checks"])
    assert set(report["checks"][0]) >= {
        "principal",
        "action",
        "resource",
        "verdict",
        "allowed",
        "reason",
        "fix",
    }
    assert report["undetermined"] == []
    assert {n["what"] for n in report["not_checked"]} >= {
        "SCPs",
        "RCPs",
        "permissions boundary",
        "KMS grants",
    }
    assert "not checked: SCPs" in verified.stderr


def test_offline_verify_of_a_broken_folder_exits_1_and_bad_config_2(tmp_path: Path) -> None:
    config = write_config(tmp_path / "transfer.yaml")
    s3xacct("plan", "--config", str(config), "--out", str(tmp_path / "p"))
    # A source bucket policy without our statements: the cross-account reads are denied.
    (tmp_path / "p" / "source-bucket-policy.json").write_text('{"Version": "2012-10-17", "Statement": []}')
    result = s3xacct("verify", "--config", str(config), "--policies-dir", str(tmp_path / "p"), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout.splitlines()[-1])
    denied = [c for c in report["checks"] if c["verdict"] == "denied"]
    assert report["verdict"] == "denied" and not report["ok"]
    assert {c["action"] for c in denied} == {"s3:ListBucket", "s3:GetObject", "s3:GetObjectTagging"}
    assert all("source-bucket-policy.json" in c["fix"] for c in denied)

    bad = write_config(tmp_path / "bad.yaml", principal_arn="sync_user")
    result = s3xacct("verify", "--config", str(bad), "--policies-dir", str(tmp_path / "p"), "--json")
    assert result.returncode == 2 and "principal_arn" in result.stderr


def test_offline_verify_without_a_document_is_undetermined_exit_3(tmp_path: Path) -> None:
    """Class 8: a document not given is not checked, never assumed to be AWS's default."""
    config = write_config(tmp_path / "transfer.yaml")
    s3xacct("plan", "--config", str(config), "--out", str(tmp_path / "p"))
    (tmp_path / "p" / "dest-key-policy.json").unlink()
    result = s3xacct("verify", "--config", str(config), "--policies-dir", str(tmp_path / "p"), "--json")
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["verdict"] == "undetermined" and not report["ok"]
    undetermined = {(c["action"], c["resource"]) for c in report["checks"] if c["verdict"] == "undetermined"}
    dest_key = f"arn:aws:kms:us-east-1:{DEST_ACCOUNT}:key/2222bbbb-2222"
    assert undetermined == {("kms:GenerateDataKey", dest_key), ("kms:Decrypt", dest_key)}
    assert any(n["what"] == "dest-key-policy.json" for n in report["not_checked"])
    assert any("document not given" in u["unknown"] for u in report["undetermined"])
    assert "UNDETERMINED kms:GenerateDataKey" in result.stderr and "give the key policy of" in result.stderr


def test_apply_against_both_accounts_then_verify(world: World, tmp_path: Path) -> None:
    world.dest.client("iam", endpoint_url=world.endpoint_url).create_user(UserName="sync_user")
    config = write_config(tmp_path / "transfer.yaml", world)
    src_env = credential_env(world.source, world.endpoint_url)
    dst_env = credential_env(world.dest, world.endpoint_url)
    profiles = tmp_path / "credentials"
    profiles.write_text(
        "".join(
            f"[{name}]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\naws_secret_access_key = "
            f"{env['AWS_SECRET_ACCESS_KEY']}\naws_session_token = {env['AWS_SESSION_TOKEN']}\n"
            for name, env in (("src-admin", src_env), ("dst-admin", dst_env))
        )
    )
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(profiles),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_ENDPOINT_URL": world.endpoint_url or "",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    admin = ["--source-admin-profile", "src-admin", "--dest-admin-profile", "dst-admin"]

    before = s3xacct("verify", "--config", str(config), *admin, "--json", env=env)
    assert before.returncode == 1, before.stderr
    dry = s3xacct("apply", "--config", str(config), *admin, "--dry-run", "--json", env=env)
    assert dry.returncode == 0 and json.loads(dry.stdout.splitlines()[-1])["written"] == []
    applied = s3xacct(
        "apply", "--config", str(config), *admin, "--backup-dir", str(tmp_path / "bk"), "--json", env=env
    )
    assert applied.returncode == 0, applied.stderr
    payload = json.loads(applied.stdout.splitlines()[-1])
    assert payload["verify"]["ok"] and len(payload["written"]) >= 3
    assert (tmp_path / "bk" / "previous-policies.json").exists()
    again = s3xacct("apply", "--config", str(config), *admin, "--json", env=env)
    assert json.loads(again.stdout.splitlines()[-1])["written"] == []
    after = s3xacct("verify", "--config", str(config), *admin, "--json", env=env)
    assert after.returncode == 0
