"""plan / verify / apply: the blog's policies, round trips, offline files and moto in both accounts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.permissions.apply import ConcurrentChangeError, apply_changes, plan_changes
from airflow_provider_s3xacct.permissions.documents import (
    AccountAdmins,
    PolicySet,
    load_policy_dir,
    write_policy_dir,
)
from airflow_provider_s3xacct.permissions.evaluator import Document
from airflow_provider_s3xacct.permissions.plan import default_key_policy, plan_policies
from airflow_provider_s3xacct.permissions.requests import required_requests
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.permissions.verify import verify_policies

SRC, DST = "111111111111", "222222222222"
SRC_KEY = f"arn:aws:kms:us-east-1:{SRC}:key/1111aaaa-1111-aaaa-1111-aaaa1111aaaa"
DST_KEY = f"arn:aws:kms:us-east-1:{DST}:key/2222bbbb-2222-bbbb-2222-bbbb2222bbbb"
USER = f"arn:aws:iam::{DST}:user/sync_user"


def spec(**options: Any) -> TransferSpec:
    return TransferSpec.create(
        {
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
                "prefix": "",
                "region": "us-east-1",
                "kms_key_arn": DST_KEY,
            },
            "principal_arn": USER,
            "options": options,
        }
    )


def planned(s: TransferSpec, tmp_path: Path) -> PolicySet:
    write_policy_dir(plan_policies(s).files(s), tmp_path)
    return load_policy_dir(tmp_path)


# -- the blog's policies (docs/reference-workflow.md), verbatim in substance ---

BLOG_IDENTITY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowReadSource",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetObject"],
            "Resource": ["arn:aws:s3:::src-bucket/*", "arn:aws:s3:::src-bucket"],
        },
        {
            "Sid": "AllowWriteDestination",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3: PutObject"],
            "Resource": ["arn:aws:s3:::dst-bucket/*", "arn:aws:s3:::dst-bucket"],
        },
        {
            "Sid": "AllowUseOfTheKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": [SRC_KEY],
        },
    ],
}
BLOG_SOURCE_BUCKET = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowReadOnlyOnFileForUser",
            "Effect": "Allow",
            "Principal": {"AWS": USER},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::src-bucket/*",
        },
        {
            "Sid": "AllowReadOnlyOnDirectoryForUser",
            "Effect": "Allow",
            "Principal": {"AWS": USER},
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::src-bucket/*",
        },
    ],
}
BLOG_KEY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{SRC}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{DST}:root"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ],
            "Resource": "*",
        },
    ],
}
BLOG_DEST_BUCKET = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Ensure config is encrypted on upload",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::dst-bucket/*",
            "Condition": {"StringNotLike": {"s3:x-amz-server-side-encryption-aws-kms-key-id": SRC_KEY}},
        },
    ],
}


def blog_spec() -> TransferSpec:
    return TransferSpec.create(
        {
            "source": {
                "account_id": SRC,
                "bucket": "src-bucket",
                "region": "us-east-1",
                "kms_key_arns": [SRC_KEY],
            },
            "destination": {
                "account_id": DST,
                "bucket": "dst-bucket",
                "region": "us-east-1",
                "kms_key_arn": SRC_KEY,
            },
            "principal_arn": USER,
            "options": {"mode": "copy", "copy_tags": False, "require_tls": False},
        }
    )


def test_the_blogs_policies_fail_verify_with_both_defects_named() -> None:
    policies = PolicySet(
        identity=[Document("identity.json", BLOG_IDENTITY)],
        source_bucket=Document("source-bucket-policy.json", BLOG_SOURCE_BUCKET),
        source_keys={SRC_KEY: Document("source-key-policies.json", BLOG_KEY)},
        dest_bucket=Document("dest-bucket-policy.json", BLOG_DEST_BUCKET),
        dest_key=Document("dest-key-policy.json", BLOG_KEY),
    )
    report = verify_policies(blog_spec(), policies)
    assert not report.ok
    denied = {(c.action, c.resource, c.purpose): c for c in report.checks if not c.allowed}

    # Defect 1: "s3: PutObject" (a space) grants nothing, so writes to the destination are denied...
    put = denied[
        (
            "s3:PutObject",
            "arn:aws:s3:::dst-bucket/*",
            "write destination objects (CopyObject)",
        )
    ]
    assert "no identity policy" in put.reason and '"s3:PutObject"' in (put.fix or "")
    # ...and the linter names the statement.
    assert any(
        f.sid == "AllowWriteDestination" and f.severity == "error" and "s3: PutObject" in f.message
        for f in report.lint
    )

    # Defect 2: ListBucket granted on the object ARN in the source bucket policy grants nothing.
    listing = next(c for c in denied.values() if c.action == "s3:ListBucket")
    assert listing.resource == "arn:aws:s3:::src-bucket"
    assert "source-bucket-policy.json has no matching Allow" in listing.reason
    assert "source-bucket-policy.json" in (listing.fix or "") and '"Resource": "arn:aws:s3:::src-bucket"' in (
        listing.fix or ""
    )
    assert any(f.sid == "AllowReadOnlyOnDirectoryForUser" and "ListBucket" in f.message for f in report.lint)

    # And the blog's Deny, without a Null test, also refuses multipart parts (no SSE header).
    parts = next(c for c in report.checks if "no SSE headers" in c.purpose)
    assert not parts.allowed and "Ensure config is encrypted on upload" in parts.reason

    # What the blog got right stays allowed: reads, and KMS through the account-root grant.
    allowed = {(c.action, c.resource) for c in report.checks if c.allowed}
    assert ("s3:GetObject", "arn:aws:s3:::src-bucket/*") in allowed
    assert ("kms:Decrypt", SRC_KEY) in allowed and ("kms:GenerateDataKey", SRC_KEY) in allowed


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"delete": True},
        {"mode": "copy", "copy_tags": False, "multipart": False},
        {"enforce_destination_kms": False, "require_tls": False},
    ],
)
def test_plan_out_folder_passes_verify(tmp_path: Path, options: dict[str, Any]) -> None:
    s = spec(**options)
    report = verify_policies(s, planned(s, tmp_path))
    assert report.ok, report.summary()
    assert [f for f in report.lint if f.severity in ("error", "high")] == []


def test_plan_is_least_privilege(tmp_path: Path) -> None:
    s = spec(copy_tags=False, delete=False)
    files = plan_policies(s).files(s)
    identity_actions = {
        a
        for st in files["identity.json"]["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert identity_actions == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListBucketMultipartUploads",  # the engine finds uploads whose start was not answered
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }
    assert all(
        st["Sid"].startswith("S3xacct")
        for name in ("identity.json", "dest-bucket-policy.json")
        for st in files[name]["Statement"]
    )
    # The destination key is in the principal's own account: its default policy delegates, no change
    # needed; plan still writes it so that offline verify checks it instead of assuming it.
    assert files["dest-key-policy.json"] == default_key_policy(DST)
    # The cross-account source key keeps the owner's root statement and names the principal.
    key_policy = files["source-key-policies.json"][SRC_KEY]
    assert key_policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{SRC}:root"}
    assert key_policy["Statement"][1]["Principal"] == {"AWS": USER}


@pytest.mark.parametrize("mode", ["copy", "sync"])
@pytest.mark.parametrize("copy_tags", [False, True])
@pytest.mark.parametrize("multipart", [False, True])
@pytest.mark.parametrize("delete", [False, True])
def test_plan_grants_exactly_the_actions_the_copy_requests(
    mode: str, copy_tags: bool, multipart: bool, delete: bool
) -> None:
    """Both read one options table (permissions/actions.py): for every combination of options, the
    identity policy's actions are exactly the actions of the requests verify checks, per resource."""
    if delete and mode == "copy":
        pytest.skip("delete is only valid with sync")
    s = spec(mode=mode, copy_tags=copy_tags, multipart=multipart, delete=delete)
    granted = {
        (a, r)
        for st in plan_policies(s).identity
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
    }
    requested = {(r.action, r.shown_resource) for r in required_requests(s)}
    assert granted == requested


def test_missing_document_is_named_with_its_fix(tmp_path: Path) -> None:
    s = spec()
    policies = planned(s, tmp_path)
    # The source key still has AWS's default policy: nothing for another account.
    policies.source_keys = {SRC_KEY: Document(f"key policy of {SRC_KEY}", default_key_policy(SRC))}
    report = verify_policies(s, policies)
    (check,) = [c for c in report.checks if not c.allowed]
    assert (check.action, check.resource) == ("kms:Decrypt", SRC_KEY)
    assert "key policy" in check.reason and "required cross-account" in check.reason
    fix = check.fix or ""
    assert f"the key policy of {SRC_KEY}" in fix and json.dumps({"AWS": USER}) in fix


def test_bad_specs_name_the_field() -> None:
    base = spec().model_dump()
    cases = [
        (("source", "account_id"), "1234", "source.account_id"),
        (("destination", "bucket"), "Bad Bucket", "destination.bucket"),
        (("principal_arn",), "arn:aws:sts::222222222222:federated-user/s", "principal_arn"),
        (
            ("destination", "kms_key_arn"),
            "arn:aws:kms:eu-west-1:222222222222:key/k",
            "destination.kms_key_arn",
        ),
        (("source", "kms_key_arns"), ["not-an-arn"], "source.kms_key_arns[0]"),
    ]
    for path, value, field in cases:
        data = json.loads(json.dumps(base))
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        with pytest.raises(InvalidInputError) as raised:
            TransferSpec.create(data)
        assert raised.value.field == field


def test_config_file_yaml(tmp_path: Path) -> None:
    path = tmp_path / "transfer.yaml"
    path.write_text(f"""
source: {{account_id: "{SRC}", bucket: src-bucket, prefix: "data/", region: us-east-1, kms_key_arns: ["{SRC_KEY}"]}}
destination: {{account_id: "{DST}", bucket: dst-bucket, prefix: "", region: us-east-1, kms_key_arn: "{DST_KEY}"}}
principal_arn: {USER}
options: {{copy_tags: true, delete: false, multipart: true, enforce_destination_kms: true, require_tls: true}}
""")
    assert TransferSpec.from_file(path) == spec()
    path.write_text("source: [unclosed")
    with pytest.raises(InvalidInputError, match="config"):
        TransferSpec.from_file(path)


# -- apply on moto, both accounts --------------------------------------------------------------


@pytest.fixture
def accounts(moto: None) -> dict[str, Any]:
    from tests.aws_world import assume

    src, dst = assume(SRC), assume(DST)
    src.client("s3").create_bucket(Bucket="src-bucket")
    dst.client("s3").create_bucket(Bucket="dst-bucket")
    src_key = src.client("kms").create_key()["KeyMetadata"]["Arn"]
    dst_key = dst.client("kms").create_key()["KeyMetadata"]["Arn"]
    dst.client("iam").create_user(UserName="sync_user")
    foreign = {
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
    src.client("s3").put_bucket_policy(Bucket="src-bucket", Policy=json.dumps(foreign))
    s = TransferSpec.create(
        {
            "source": {
                "account_id": SRC,
                "bucket": "src-bucket",
                "prefix": "data/",
                "region": "us-east-1",
                "kms_key_arns": [src_key],
            },
            "destination": {
                "account_id": DST,
                "bucket": "dst-bucket",
                "region": "us-east-1",
                "kms_key_arn": dst_key,
            },
            "principal_arn": USER,
        }
    )
    return {
        "spec": s,
        "admins": AccountAdmins.from_sessions(s, src, dst),
        "src": src,
        "dst": dst,
        "foreign": foreign,
    }


def test_apply_writes_ours_keeps_theirs_and_is_idempotent(accounts: dict[str, Any]) -> None:
    s, admins = accounts["spec"], accounts["admins"]
    before = verify_policies(s, admins.read_all())
    assert not before.ok

    dry = apply_changes(plan_changes(s, admins), dry_run=True)
    assert dry.written == [] and "bucket policy of src-bucket" in dry.to_dict()["diffs"]
    assert not verify_policies(s, admins.read_all()).ok  # a dry run writes nothing

    first = apply_changes(plan_changes(s, admins))
    assert set(first.written) >= {
        "bucket policy of src-bucket",
        "bucket policy of dst-bucket",
        f"key policy of {s.source.kms_key_arns[0]}",
    }
    assert first.backups["bucket policy of src-bucket"] == accounts["foreign"]
    after = verify_policies(s, admins.read_all())
    assert after.ok, after.summary()

    source_policy = json.loads(accounts["src"].client("s3").get_bucket_policy(Bucket="src-bucket")["Policy"])
    assert source_policy["Statement"][0] == accounts["foreign"]["Statement"][0]
    key_policy = admins.read_key_policy(s.source.kms_key_arns[0])
    assert any(st.get("Principal") == {"AWS": f"arn:aws:iam::{SRC}:root"} for st in key_policy["Statement"])

    second = apply_changes(plan_changes(s, admins))
    assert second.written == []


def test_apply_refuses_a_document_changed_since_it_was_read(accounts: dict[str, Any]) -> None:
    s, admins = accounts["spec"], accounts["admins"]
    changes = plan_changes(s, admins)
    changed = dict(
        accounts["foreign"],
        Statement=[
            *accounts["foreign"]["Statement"],
            {
                "Sid": "Late",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::src-bucket/pub/*",
            },
        ],
    )
    accounts["src"].client("s3").put_bucket_policy(Bucket="src-bucket", Policy=json.dumps(changed))
    with pytest.raises(ConcurrentChangeError, match="bucket policy of src-bucket changed since it was read"):
        apply_changes(changes)
    current = json.loads(accounts["src"].client("s3").get_bucket_policy(Bucket="src-bucket")["Policy"])
    assert current == changed


def test_live_probes_as_the_principal(world: Any) -> None:
    from airflow_provider_s3xacct.aws.clients import ClientCache
    from airflow_provider_s3xacct.permissions.probe import live_probes

    world.put("data/a.csv", b"hello", kms=world.source_key_arn)
    s = TransferSpec.create(
        {
            "source": {
                "account_id": SRC,
                "bucket": world.source_bucket,
                "prefix": "data/",
                "region": "us-east-1",
                "kms_key_arns": [world.source_key_arn],
            },
            "destination": {
                "account_id": SRC,
                "bucket": "other-bucket",
                "region": "us-east-1",
                "kms_key_arn": world.source_key_arn,
            },
            "principal_arn": f"arn:aws:iam::{SRC}:role/admin",
        }
    )
    # moto's KMS keys are per account, so the probing principal is the keys' own account here.
    clients = ClientCache(
        lambda service, region: world.source.client(
            service, region_name=region, endpoint_url=world.endpoint_url
        )
    )
    results = {r["check"]: r for r in live_probes(s, clients)}
    assert results["list source"]["ok"] and results["head source object"]["ok"]
    assert results["decrypt source object"]["ok"]
    assert results["GenerateDataKey (DryRun) on the destination key"]["ok"]


def test_identity_is_read_from_attached_and_group_policies(accounts: dict[str, Any]) -> None:
    s, admins, dst = accounts["spec"], accounts["admins"], accounts["dst"]
    iam = dst.client("iam")
    planned_identity = plan_policies(s).identity
    managed = iam.create_policy(
        PolicyName="sync-read",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": planned_identity[:2]}),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName="sync_user", PolicyArn=managed)
    iam.create_group(GroupName="syncers")
    iam.add_user_to_group(GroupName="syncers", UserName="sync_user")
    iam.put_group_policy(
        GroupName="syncers",
        PolicyName="write",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": planned_identity[2:]}),
    )
    docs = admins.read_identity()
    assert {d.name for d in docs} == {f"managed policy {managed}", "inline policy 'write' of group syncers"}
    # The identity half is now complete: only the other account's documents are missing.
    report = verify_policies(s, admins.read_all())
    assert all("identity" not in c.reason for c in report.checks if not c.allowed)
