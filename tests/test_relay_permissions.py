"""``plan``, ``verify`` and ``apply`` for a relay copy: two principals, one per side.

The source principal (a role of the source account) makes every request on the source bucket and
keys, the destination principal every request on the destination bucket and key. moto does not
enforce IAM, bucket policies or KMS key policies, so whether a request is allowed is decided by our
evaluator, following IAM User Guide, "Policy evaluation logic" ("Determining whether a request is
allowed or denied within an account": a same-account request is allowed when the identity policy
or the resource policy allows it and nothing denies it) and KMS Developer Guide, "Default key
policy" (the account root's statement lets IAM policies grant the key). What moto shows is what
``apply`` writes in each account's documents; that AWS then authorises the copy it cannot show.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_s3xacct.aws.arns import account_of
from airflow_provider_s3xacct.cli import main, permissions_command
from airflow_provider_s3xacct.permissions.apply import apply_changes, plan_changes
from airflow_provider_s3xacct.permissions.documents import AccountAdmins, load_policy_dir
from airflow_provider_s3xacct.permissions.plan import plan_policies
from airflow_provider_s3xacct.permissions.requests import required_requests
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.permissions.verify import verify_deployed, verify_policies
from tests.test_permissions import DST, DST_KEY, SRC, SRC_KEY

READER = f"arn:aws:iam::{SRC}:role/vendor-reader"  # the vendor's role, in the source account
WRITER = f"arn:aws:iam::{DST}:role/sync-writer"  # our role, in the destination account


def relay_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": {
            "account_id": SRC,
            "bucket": "src-bucket",
            "prefix": "data/",
            "region": "us-east-1",
            "kms_key_arns": [SRC_KEY],
        },
        "destination": {
            "account_id": DST,
            "bucket": "dst-bucket",
            "prefix": "in/",
            "region": "us-east-1",
            "kms_key_arn": DST_KEY,
        },
        "source_principal_arn": READER,
        "dest_principal_arn": WRITER,
        "options": {"mode": "sync", "delete": True},
    }
    return {**data, **overrides}


def write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    config = tmp_path / "transfer.yaml"
    config.write_text(yaml.safe_dump(data))
    return config


def planned_dir(tmp_path: Path, data: dict[str, Any]) -> Path:
    out = tmp_path / "policies"
    assert main(["plan", "--config", str(write_config(tmp_path, data)), "--out", str(out)]) == 0
    return out


def edit_statement(path: Path, sid: str, drop_action: str) -> None:
    """Remove one action from our statement ``sid`` of the document at ``path``."""
    doc = json.loads(path.read_text())
    stmt = next(st for st in doc["Statement"] if st["Sid"] == sid)
    actions = [stmt["Action"]] if isinstance(stmt["Action"], str) else stmt["Action"]
    assert drop_action in actions
    stmt["Action"] = [a for a in actions if a != drop_action]
    path.write_text(json.dumps(doc))


def verify_json(
    tmp_path: Path, policies: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], str]:
    config = write_config(tmp_path, relay_data())
    code = main(["verify", "--config", str(config), "--policies-dir", str(policies), "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out.splitlines()[-1]), err


# -- plan ---------------------------------------------------------------------------------------


def test_plan_out_writes_one_identity_policy_per_principal_and_they_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = planned_dir(tmp_path, relay_data())
    names = {p.name for p in out.iterdir()}
    assert names == {
        "source-identity.json",
        "dest-identity.json",
        "source-bucket-policy.json",
        "source-key-policies.json",
        "dest-bucket-policy.json",
        "dest-key-policy.json",
    }
    source = {
        a
        for st in json.loads((out / "source-identity.json").read_text())["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    dest = {
        a
        for st in json.loads((out / "dest-identity.json").read_text())["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    # The reader only reads, the writer only writes (least privilege per principal).
    assert source == {"s3:ListBucket", "s3:GetObject", "s3:GetObjectTagging", "kms:Decrypt"}
    assert dest == {
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
    capsys.readouterr()

    code, report, _ = verify_json(tmp_path, out, capsys)

    assert code == 0 and report["verdict"] == "allowed"
    by_principal = {(c["principal"], c["action"]) for c in report["checks"]}
    assert (READER, "s3:GetObject") in by_principal and (WRITER, "s3:GetObject") not in by_principal
    assert (WRITER, "kms:GenerateDataKey") in by_principal and (READER, "s3:PutObject") not in by_principal
    assert (READER, "kms:Decrypt") in by_principal and (WRITER, "kms:Decrypt") in by_principal


def test_relay_plan_names_no_principal_of_another_account_in_any_bucket_or_key_policy() -> None:
    """Both principals live in their own side's account: no document grants across accounts."""
    for mode, tags, delete, multipart, enforce, tls in itertools.product(
        ("copy", "sync"), *[(True, False)] * 5
    ):
        if delete and mode != "sync":
            continue
        options = {
            "mode": mode,
            "copy_tags": tags,
            "delete": delete,
            "multipart": multipart,
            "enforce_destination_kms": enforce,
            "require_tls": tls,
        }
        spec = TransferSpec.create(relay_data(options=options))
        files = plan_policies(spec).files(spec)
        owned = [
            (SRC, files["source-bucket-policy.json"]),
            (DST, files["dest-bucket-policy.json"]),
            (DST, files["dest-key-policy.json"]),
            *[(SRC, p) for p in files["source-key-policies.json"].values()],
        ]
        for owner, doc in owned:
            for st in doc["Statement"]:
                principal = st.get("Principal", "*")
                arns = [] if principal == "*" else principal["AWS"]
                for arn in [arns] if isinstance(arns, str) else arns:
                    assert account_of(arn) == owner, (options, st)


def test_a_principal_outside_its_sides_account_gets_the_grant_it_needs() -> None:
    """The converse, so the test above can fail: a writer in a third account must be named."""
    third = "arn:aws:iam::333333333333:role/sync-writer"
    spec = TransferSpec.create(relay_data(dest_principal_arn=third))
    plan = plan_policies(spec)
    assert any(st.get("Principal") == {"AWS": third} for st in plan.dest_bucket)
    assert plan.source_bucket == []  # the reader is still the source account's own


def test_no_cross_account_grants_recommends_relay_for_a_cross_account_server_side_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = relay_data(principal_arn=WRITER)
    del data["source_principal_arn"], data["dest_principal_arn"]
    config = write_config(tmp_path, data)
    out = tmp_path / "policies"

    code = main(["plan", "--config", str(config), "--out", str(out), "--no-cross-account-grants", "--json"])

    stdout, err = capsys.readouterr()
    line = json.loads(stdout.splitlines()[-1])
    assert code == 1 and not out.exists()  # no documents that could not be deployed
    assert line["recommendation"]["transport"] == "relay"
    assert any("source_principal_arn" in s for s in line["recommendation"]["set"])
    assert any(
        f"source bucket policy of src-bucket: S3xacctReadSource allows {WRITER}" in g
        for g in line["cross_account_grants"]
    )
    assert "recommended: a relay copy" in err

    # The relay spec with each principal at home needs no grant: the same flag plans it.
    assert (
        main(
            [
                "plan",
                "--config",
                str(write_config(tmp_path, relay_data())),
                "--out",
                str(out),
                "--no-cross-account-grants",
            ]
        )
        == 0
    )
    assert (out / "dest-identity.json").exists()


# -- verify: each request against its own principal's policies ------------------------------------


@pytest.mark.parametrize(
    ("file", "sid", "action", "principal", "resource"),
    [
        # The source role lacks s3:GetObject.
        (
            "source-identity.json",
            "S3xacctReadSource",
            "s3:GetObject",
            READER,
            "arn:aws:s3:::src-bucket/data/*",
        ),
        # The destination principal lacks kms:GenerateDataKey on the destination key.
        ("dest-identity.json", "S3xacctEncryptDestination", "kms:GenerateDataKey", WRITER, DST_KEY),
    ],
)
def test_a_principal_missing_one_action_is_denied_by_name(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    sid: str,
    action: str,
    principal: str,
    resource: str,
) -> None:
    out = planned_dir(tmp_path, relay_data())
    edit_statement(out / file, sid, action)
    capsys.readouterr()

    code, report, err = verify_json(tmp_path, out, capsys)

    denied = [c for c in report["checks"] if c["verdict"] == "denied"]
    assert code == 1 and {(c["principal"], c["action"]) for c in denied} == {(principal, action)}
    assert file in denied[0]["fix"] and principal in denied[0]["fix"]
    assert f"DENIED {action} on {resource} by {principal}" in err


def test_the_source_roles_policy_does_not_serve_the_dest_principal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Swapped identity files: each principal now holds the other's statements, so both are denied."""
    out = planned_dir(tmp_path, relay_data())
    source, dest = (out / "source-identity.json").read_text(), (out / "dest-identity.json").read_text()
    (out / "source-identity.json").write_text(dest)
    (out / "dest-identity.json").write_text(source)
    capsys.readouterr()

    code, report, _ = verify_json(tmp_path, out, capsys)

    denied = {(c["principal"], c["action"]) for c in report["checks"] if c["verdict"] == "denied"}
    assert code == 1 and (READER, "s3:GetObject") in denied and (WRITER, "s3:PutObject") in denied


# -- bad spec -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "field"),
    [("dest_principal_arn", "dest_principal_arn"), ("source_principal_arn", "source_principal_arn")],
)
def test_relay_with_one_principal_missing_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], drop: str, field: str
) -> None:
    data = relay_data()
    del data[drop]
    config = write_config(tmp_path, data)
    for command in (["plan"], ["verify", "--policies-dir", str(tmp_path)], ["apply"]):
        code = main([*command, "--config", str(config), "--json"])
        out, err = capsys.readouterr()
        line = json.loads(out.splitlines()[-1])
        assert code == 2, command
        assert line["error"].startswith(f"{field}: a relay copy needs both principals")
        assert f"s3xacct: error: {field}:" in err


def test_principal_arn_beside_the_relay_principals_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, relay_data(principal_arn=WRITER))
    assert main(["plan", "--config", str(config), "--json"]) == 2
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["error"].startswith(
        "principal_arn: names the one"
    )


# -- apply on moto: both sides, idempotent ---------------------------------------------------------

_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@pytest.fixture
def relay_accounts(moto: None) -> dict[str, Any]:
    """Two moto accounts, each with its bucket, key and role; the source bucket has a foreign grant."""
    from tests.aws_world import assume

    src, dst = assume(SRC), assume(DST)
    src.client("s3").create_bucket(Bucket="src-bucket")
    dst.client("s3").create_bucket(Bucket="dst-bucket")
    src_key = src.client("kms").create_key()["KeyMetadata"]["Arn"]
    dst_key = dst.client("kms").create_key()["KeyMetadata"]["Arn"]
    src.client("iam").create_role(RoleName="vendor-reader", AssumeRolePolicyDocument=_TRUST)
    dst.client("iam").create_role(RoleName="sync-writer", AssumeRolePolicyDocument=_TRUST)
    foreign = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AuditorsRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::src-bucket/audit/*",
                }
            ],
        }
    )
    src.client("s3").put_bucket_policy(Bucket="src-bucket", Policy=foreign)
    data = relay_data()
    data["source"]["kms_key_arns"], data["destination"]["kms_key_arn"] = [src_key], dst_key
    spec = TransferSpec.create(data)
    return {
        "spec": spec,
        "admins": AccountAdmins.from_sessions(spec, src, dst),
        "src": src,
        "dst": dst,
        "foreign": foreign,
        "data": data,
    }


def _role_policy(session: Any, role: str) -> dict[str, Any]:
    return dict(
        session.client("iam").get_role_policy(RoleName=role, PolicyName="s3xacct-sync")["PolicyDocument"]
    )


def test_apply_writes_both_principals_policies_keeps_foreign_text_and_is_idempotent(
    relay_accounts: dict[str, Any],
) -> None:
    spec, admins, src, dst = (relay_accounts[k] for k in ("spec", "admins", "src", "dst"))
    assert not verify_policies(spec, admins.read_all()).ok

    first = apply_changes(plan_changes(spec, admins))

    assert set(first.written) == {
        f"inline policy 's3xacct-sync' of {READER}",
        f"inline policy 's3xacct-sync' of {WRITER}",
        "bucket policy of dst-bucket",  # the guard rails (Principal "*"), no grant
    }
    reader = {st["Sid"] for st in _role_policy(src, "vendor-reader")["Statement"]}
    writer = {st["Sid"] for st in _role_policy(dst, "sync-writer")["Statement"]}
    assert reader == {"S3xacctListSource", "S3xacctReadSource", "S3xacctDecryptSource"}
    assert "S3xacctWriteDestination" in writer and "S3xacctEncryptDestination" in writer
    assert not writer & reader
    # The source bucket policy is the person's, untouched: no grant was needed there.
    assert src.client("s3").get_bucket_policy(Bucket="src-bucket")["Policy"] == relay_accounts["foreign"]
    report = verify_deployed(spec, admins)
    assert report.verdict != "denied", report.summary()
    assert {c.principal for c in report.checks} == {READER, WRITER}

    assert apply_changes(plan_changes(spec, admins)).written == []  # idempotent


def test_cli_apply_relay_then_loaded_documents_verify(
    relay_accounts: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(permissions_command, "_admins", lambda args, spec: relay_accounts["admins"])
    config = write_config(tmp_path, relay_accounts["data"])

    code = main(["apply", "--config", str(config), "--json"])

    payload = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code in (0, 3), payload  # 3: guardrails moto cannot show stay undetermined
    assert f"inline policy 's3xacct-sync' of {WRITER}" in payload["written"]
    assert not [c for c in payload["verify"]["checks"] if c["verdict"] == "denied"]


def test_a_bucket_that_refuses_server_side_copies_still_takes_the_relays_uploads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The relay writes with PutObject/UploadPart, which carry no x-amz-copy-source header.

    A destination bucket policy that denies every request carrying one (S3 User Guide, "Actions,
    resources, and condition keys for Amazon S3", s3:x-amz-copy-source; IAM User Guide, "Condition
    operator to check existence of condition keys", Null) refuses CopyObject and UploadPartCopy
    but not the relay's uploads.
    """
    out = planned_dir(tmp_path, relay_data())
    policy = json.loads((out / "dest-bucket-policy.json").read_text())
    policy["Statement"].append(
        {
            "Sid": "NoServerSideCopies",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::dst-bucket/*",
            "Condition": {"Null": {"s3:x-amz-copy-source": "false"}},
        }
    )
    (out / "dest-bucket-policy.json").write_text(json.dumps(policy))
    capsys.readouterr()

    code, report, _ = verify_json(tmp_path, out, capsys)

    assert code == 0, [c for c in report["checks"] if c["verdict"] != "allowed"]
    # verify checked the relay's own writes (and no server-side copy request).
    writes = {c["purpose"] for c in report["checks"] if c["action"] == "s3:PutObject"}
    assert writes == {
        "write destination objects (PutObject)",
        "start multipart copies (CreateMultipartUpload)",
        "write parts of multipart uploads (UploadPart, no SSE headers)",
        "finish multipart copies (CompleteMultipartUpload, no SSE headers)",
    }
    # The same policy refuses a server-side copy (the converse, so this test can fail).
    data = relay_data(principal_arn=WRITER)
    del data["source_principal_arn"], data["dest_principal_arn"]
    server_side = TransferSpec.create(data)
    deployed = load_policy_dir(out, relay=True)
    deployed.identity = deployed.dest_identity + deployed.identity
    refused = [c for c in verify_policies(server_side, deployed).checks if "NoServerSideCopies" in c.reason]
    assert {c.purpose for c in refused} == {
        "write destination objects (CopyObject)",
        "write parts of multipart copies (UploadPartCopy, no SSE headers)",
    }


def test_one_role_on_both_sides_gets_one_inline_policy_with_both_sides_statements(
    relay_accounts: dict[str, Any],
) -> None:
    """Both relay principals the same role: one inline policy, not two writes racing for it."""
    data = dict(relay_accounts["data"], source_principal_arn=WRITER)
    spec = TransferSpec.create(data)
    admins = AccountAdmins.from_sessions(spec, relay_accounts["src"], relay_accounts["dst"])

    written = apply_changes(plan_changes(spec, admins)).written

    assert [w for w in written if w.startswith("inline policy")] == [
        f"inline policy 's3xacct-sync' of {WRITER}"
    ]
    sids = {st["Sid"] for st in _role_policy(relay_accounts["dst"], "sync-writer")["Statement"]}
    assert {"S3xacctReadSource", "S3xacctWriteDestination"} <= sids
    # The writer now reads the source from another account: the source bucket must name it.
    assert WRITER in relay_accounts["src"].client("s3").get_bucket_policy(Bucket="src-bucket")["Policy"]
    assert apply_changes(plan_changes(spec, admins)).written == []


def test_cli_verify_reads_both_principals_deployed_policies(
    relay_accounts: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(permissions_command, "_admins", lambda args, spec: relay_accounts["admins"])
    config = str(write_config(tmp_path, relay_accounts["data"]))
    dst_iam = relay_accounts["dst"].client("iam")

    assert main(["verify", "--config", config, "--json"]) == 1  # nothing deployed yet
    denied = {c["principal"] for c in json.loads(capsys.readouterr().out.splitlines()[-1])["checks"]}
    assert denied == {READER, WRITER}

    apply_changes(plan_changes(relay_accounts["spec"], relay_accounts["admins"]))
    # Deployed, then the writer's inline policy loses kms:GenerateDataKey: only that check fails.
    policy = _role_policy(relay_accounts["dst"], "sync-writer")
    stmt = next(st for st in policy["Statement"] if st["Sid"] == "S3xacctEncryptDestination")
    stmt["Action"] = ["kms:Decrypt"]
    dst_iam.put_role_policy(
        RoleName="sync-writer", PolicyName="s3xacct-sync", PolicyDocument=json.dumps(policy)
    )

    code = main(["verify", "--config", config, "--json"])

    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    denied_checks = {(c["principal"], c["action"]) for c in report["checks"] if c["verdict"] == "denied"}
    assert code == 1 and denied_checks == {(WRITER, "kms:GenerateDataKey")}
    assert "IAM Access Analyzer ValidatePolicy" in {n["what"] for n in report["not_checked"]}

    assert main(["verify", "--config", config, "--probe", "--json"]) == 2
    assert "--probe" in json.loads(capsys.readouterr().out.splitlines()[-1])["error"]


def test_each_principal_is_granted_exactly_the_actions_of_its_own_requests() -> None:
    """Plan and requests read one options table (permissions/actions.py), relay rows included:
    for every option combination, each principal's identity policy grants exactly the
    (action, resource) pairs of the requests that principal makes."""
    for mode, tags, delete, multipart in itertools.product(("copy", "sync"), *[(True, False)] * 3):
        if delete and mode != "sync":
            continue
        options = {"mode": mode, "copy_tags": tags, "delete": delete, "multipart": multipart}
        spec = TransferSpec.create(relay_data(options=options))
        plan = plan_policies(spec)
        for statements, principal in ((plan.identity, READER), (plan.dest_identity, WRITER)):
            granted = {
                (a, r)
                for st in statements
                for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
                for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
            }
            requested = {
                (r.action, r.shown_resource)
                for r in required_requests(spec)
                if spec.acting(r.side).principal_arn == principal
            }
            assert granted == requested, (options, principal)
