"""CrossAccountPermissionsOperator with one Airflow connection per account (moto server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_s3xacct.compat import AirflowFailException
from airflow_provider_s3xacct.operators import CrossAccountPermissionsOperator
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World, aws_connection


class _TI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:  # Airflow 2 also passes execution_date
        self.pushed[key] = value


@pytest.fixture
def transfer(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    assert world.endpoint_url
    world.dest.client("iam", endpoint_url=world.endpoint_url).create_role(
        RoleName="sync-role", AssumeRolePolicyDocument="{}"
    )
    aws_connection(monkeypatch, "src_admin", world.endpoint_url, session=world.source)
    aws_connection(monkeypatch, "dst_admin", world.endpoint_url, session=world.dest)
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
        transfer=spec,
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


def _add_to_dest_bucket_policy(world: World, statement: dict[str, Any]) -> None:
    """Append ``statement`` to the destination bucket's deployed policy (moto stores it)."""
    s3 = world.dest.client("s3", endpoint_url=world.endpoint_url)
    policy = json.loads(s3.get_bucket_policy(Bucket=world.dest_bucket)["Policy"])
    policy["Statement"].append(statement)
    s3.put_bucket_policy(Bucket=world.dest_bucket, Policy=json.dumps(policy))


def test_undetermined_fails_by_default_and_warns_when_asked(transfer: dict[str, Any], world: World) -> None:
    """A bucket-policy Deny on the VPC endpoint (S3 User Guide, "Controlling access from VPC
    endpoints with bucket policies"): without the endpoint in the spec verify cannot decide it.
    moto does not enforce the policy; the verdict is our evaluator's."""
    op("apply", transfer).execute({"ti": _TI()})  # type: ignore[arg-type]
    _add_to_dest_bucket_policy(
        world,
        {
            "Sid": "OnlyThroughOurEndpoint",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{world.dest_bucket}", f"arn:aws:s3:::{world.dest_bucket}/*"],
            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
        },
    )

    ti = _TI()
    with pytest.raises(AirflowFailException, match="undetermined") as raised:
        op("verify", transfer).execute({"ti": ti})  # type: ignore[arg-type]
    assert "OnlyThroughOurEndpoint" in str(raised.value) and "request_context.vpc_endpoint_id" in str(
        raised.value
    )
    assert ti.pushed["report"]["verdict"] == "undetermined"

    warn = op("verify", transfer)
    warn.on_undetermined = "warn"
    result = warn.execute({"ti": _TI()})  # type: ignore[arg-type]
    assert result["verdict"] == "undetermined" and not result["ok"]
    assert result["undetermined"][0]["sid"] == "OnlyThroughOurEndpoint"

    # Told the endpoint, verify decides: allowed.
    known = dict(transfer, request_context={"vpc_endpoint_id": "vpce-1a2b3c4d"})
    assert op("verify", known).execute({"ti": _TI()})["verdict"] == "allowed"  # type: ignore[arg-type]

    # A denied check fails whatever on_undetermined says.
    other = dict(transfer, request_context={"vpc_endpoint_id": "vpce-99999999"})
    denied = op("verify", other)
    denied.on_undetermined = "warn"
    with pytest.raises(AirflowFailException, match="incomplete"):
        denied.execute({"ti": _TI()})  # type: ignore[arg-type]


def test_the_task_group_passes_on_undetermined_to_verify() -> None:
    from airflow_provider_s3xacct.compat import DAG
    from airflow_provider_s3xacct.task_groups import cross_account_sync

    transfer = {
        "source": {"account_id": SOURCE_ACCOUNT, "bucket": "src-bucket", "region": "us-east-1"},
        "destination": {"account_id": DEST_ACCOUNT, "bucket": "dst-bucket", "region": "us-east-1"},
        "principal_arn": f"arn:aws:iam::{DEST_ACCOUNT}:role/sync-role",
    }
    with DAG("on_undetermined", schedule=None):
        default = cross_account_sync(
            group_id="default",
            transfer=transfer,
            sync_conn_id="s",
            source_admin_conn_id="a",
            dest_admin_conn_id="b",
        )
        warn = cross_account_sync(
            group_id="warn",
            transfer=transfer,
            sync_conn_id="s",
            source_admin_conn_id="a",
            dest_admin_conn_id="b",
            on_undetermined="warn",
        )
    assert default.children["default.verify_permissions"].on_undetermined == "fail"
    assert warn.children["warn.verify_permissions"].on_undetermined == "warn"


def test_verify_reads_the_principals_tags_and_organization(transfer: dict[str, Any], world: World) -> None:
    """Issue 13, "What to build" 2: online, what an admin may read (IAM tags of the role,
    Organizations DescribeOrganization) decides aws:PrincipalTag/* and aws:PrincipalOrgID.
    moto stores the tags and the organization; it does not enforce the policy (our evaluator does)."""
    op("apply", transfer).execute({"ti": _TI()})  # type: ignore[arg-type]
    iam = world.dest.client("iam", endpoint_url=world.endpoint_url)
    _add_to_dest_bucket_policy(
        world,
        {  # IAM User Guide, "Controlling access for IAM principals" (aws:PrincipalTag)
            "Sid": "DataTeamOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{world.dest_bucket}/*",
            "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "data"}},
        },
    )
    warn = op("verify", transfer)
    warn.on_undetermined = "warn"
    # An untagged role: a session could still carry a session tag "team", so it is undetermined.
    assert warn.execute({"ti": _TI()})["verdict"] == "undetermined"  # type: ignore[arg-type]
    iam.tag_role(RoleName="sync-role", Tags=[{"Key": "team", "Value": "data"}])
    assert op("verify", transfer).execute({"ti": _TI()})["verdict"] == "allowed"  # type: ignore[arg-type]
    iam.tag_role(RoleName="sync-role", Tags=[{"Key": "team", "Value": "finance"}])
    with pytest.raises(AirflowFailException, match="DataTeamOnly"):
        op("verify", transfer).execute({"ti": _TI()})  # type: ignore[arg-type]
    iam.tag_role(RoleName="sync-role", Tags=[{"Key": "team", "Value": "data"}])

    # S3 User Guide, bucket policy examples: only principals of our organization.
    org_id = world.dest.client("organizations", endpoint_url=world.endpoint_url).create_organization(
        FeatureSet="ALL"
    )["Organization"]["Id"]
    _add_to_dest_bucket_policy(
        world,
        {
            "Sid": "OurOrganizationOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{world.dest_bucket}/*",
            "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": org_id}},
        },
    )
    assert op("verify", transfer).execute({"ti": _TI()})["verdict"] == "allowed"  # type: ignore[arg-type]


def test_verify_reads_the_role_id_for_aws_userid(transfer: dict[str, Any], world: World) -> None:
    """IAM User Guide, global condition keys, aws:userid: a role session's id is "<role id>:<session>".
    The role id is read online (iam:GetRole); the session name comes from a session principal_arn."""
    op("apply", transfer).execute({"ti": _TI()})  # type: ignore[arg-type]
    iam = world.dest.client("iam", endpoint_url=world.endpoint_url)
    role_id = iam.get_role(RoleName="sync-role")["Role"]["RoleId"]
    _add_to_dest_bucket_policy(
        world,
        {
            "Sid": "OnlySyncRoleSessions",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{world.dest_bucket}/*",
            "Condition": {"StringNotLike": {"aws:userid": [f"{role_id}:*", DEST_ACCOUNT]}},
        },
    )
    session = dict(transfer, principal_arn=f"arn:aws:sts::{DEST_ACCOUNT}:assumed-role/sync-role/nightly")
    assert op("verify", session).execute({"ti": _TI()})["verdict"] == "allowed"  # type: ignore[arg-type]


def test_relay_spec_applies_both_principals_policies_then_verifies(
    transfer: dict[str, Any], world: World
) -> None:
    """A relay copy's spec: the source account's own role reads, the destination's own role writes.

    Whether AWS then allows the copy is decided by our evaluator (moto enforces no IAM); what the
    moto server shows is that apply wrote both accounts' inline policies (test_relay_permissions.py
    covers the verdicts).
    """
    world.source.client("iam", endpoint_url=world.endpoint_url).create_role(
        RoleName="vendor-reader", AssumeRolePolicyDocument="{}"
    )
    relay = {k: v for k, v in transfer.items() if k != "principal_arn"}
    relay["source_principal_arn"] = f"arn:aws:iam::{SOURCE_ACCOUNT}:role/vendor-reader"
    relay["dest_principal_arn"] = transfer["principal_arn"]

    result = op("apply", relay).execute({"ti": _TI()})  # type: ignore[arg-type]

    assert result["ok"], result["checks"]
    assert {c["principal"] for c in result["checks"]} == {
        relay["source_principal_arn"],
        relay["dest_principal_arn"],
    }
    iam = world.source.client("iam", endpoint_url=world.endpoint_url)
    assert iam.get_role_policy(RoleName="vendor-reader", PolicyName="s3xacct-sync")["PolicyDocument"]
    assert op("apply", relay).execute({"ti": _TI()})["apply"]["written"] == []  # type: ignore[arg-type]
