"""Our policy lint: what AWS refuses or what grants nothing is an error, wide grants are flagged, and
nothing is flagged on AWS's own default documents or on anything ``plan`` writes.

The rules come from the IAM User Guide ("IAM JSON policy element reference", "Condition
operators", "Grammar of the IAM JSON policy language"), the S3 User Guide ("Policy resources for
Amazon S3", "Bucket policy examples") and the KMS Developer Guide ("Default key policy", "Allowing
users in other accounts to use a KMS key"). moto does not validate policies, so these tests cannot
show AWS refusing a document: they check the lint against the documented rules.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_s3xacct.permissions.documents import PolicySet, load_policy_dir, write_policy_dir
from airflow_provider_s3xacct.permissions.evaluator import Document
from airflow_provider_s3xacct.permissions.lint import PolicyKind, lint_document, lint_policies
from airflow_provider_s3xacct.permissions.plan import default_key_policy, plan_policies
from airflow_provider_s3xacct.permissions.spec import TransferSpec

A, B, C = "111111111111", "222222222222", "333333333333"


def key_arn(account: str, n: int = 1) -> str:
    return f"arn:aws:kms:us-east-1:{account}:key/{n:04d}aaaa-1111-aaaa-1111-aaaa1111aaaa"


def make_spec(
    src: str = A,
    dst: str = B,
    principal: str = f"arn:aws:iam::{B}:user/sync_user",
    src_keys: tuple[str, ...] | None = None,
    dst_key: str | None = "default",
    src_prefix: str = "data/",
    dst_prefix: str = "",
    **options: Any,
) -> TransferSpec:
    return TransferSpec.create(
        {
            "source": {
                "account_id": src,
                "bucket": "src-bucket",
                "prefix": src_prefix,
                "region": "us-east-1",
                "kms_key_arns": list(src_keys if src_keys is not None else (key_arn(src),)),
            },
            "destination": {
                "account_id": dst,
                "bucket": "dst-bucket",
                "prefix": dst_prefix,
                "region": "us-east-1",
                "kms_key_arn": key_arn(dst, 2) if dst_key == "default" else dst_key,
            },
            "principal_arn": principal,
            "options": options,
        }
    )


PLAN_SPECS = {
    "cross-account, defaults": make_spec(),
    "sync with delete": make_spec(delete=True),
    "copy, no tags, no multipart": make_spec(mode="copy", copy_tags=False, multipart=False),
    "no guard rails": make_spec(enforce_destination_kms=False, require_tls=False),
    "role in a third account, keys in both": make_spec(
        principal=f"arn:aws:iam::{C}:role/path/sync-role", dst_prefix="in/"
    ),
    "principal in the source account": make_spec(principal=f"arn:aws:iam::{A}:role/sync"),
    "same account everywhere": make_spec(src=B),
    "no KMS at all": make_spec(src_keys=(), dst_key=None, src_prefix=""),
    "two source keys": make_spec(src_keys=(key_arn(A, 1), key_arn(C, 3))),
}


@pytest.mark.parametrize("name", sorted(PLAN_SPECS))
def test_every_document_plan_writes_lints_clean(name: str, tmp_path: Path) -> None:
    spec = PLAN_SPECS[name]
    write_policy_dir(plan_policies(spec).files(spec), tmp_path)
    policies = load_policy_dir(tmp_path)
    assert policies.all_documents(), "plan wrote nothing to lint"
    assert lint_policies(policies) == []


def findings(policy: Any, kind: PolicyKind = "bucket") -> list[tuple[str | None, str, str]]:
    return [(f.sid, f.severity, f.code) for f in lint_document(Document("doc.json", policy), kind)]


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


KMS_GUIDE_OTHER_ACCOUNT = {  # KMS Developer Guide, "Allowing users in other accounts to use a KMS key"
    "Sid": "Allow use of the key",
    "Effect": "Allow",
    "Principal": {"AWS": [f"arn:aws:iam::{B}:root", f"arn:aws:iam::{B}:role/ExampleRole"]},
    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
    "Resource": "*",
}
KMS_GUIDE_VIA_SERVICE = {  # KMS Developer Guide, "kms:ViaService" / "kms:CallerAccount" examples
    "Sid": "Allow access through S3 for all principals in the account that are authorized to use S3",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
    "Resource": "*",
    "Condition": {"StringEquals": {"kms:CallerAccount": A, "kms:ViaService": "s3.us-east-1.amazonaws.com"}},
}
BUCKET_OWNER = {  # the bucket owner's own full access, as consoles and templates write it
    "Sid": "BucketOwnerFullAccess",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::src-bucket", "arn:aws:s3:::src-bucket/*"],
}
ACCESS_LOGS = {  # S3 User Guide, "Enabling Amazon S3 server access logging": the log delivery grant
    "Sid": "S3ServerAccessLogsPolicy",
    "Effect": "Allow",
    "Principal": {"Service": "logging.s3.amazonaws.com"},
    "Action": ["s3:PutObject"],
    "Resource": "arn:aws:s3:::log-bucket/logs*",
    "Condition": {
        "ArnLike": {"aws:SourceArn": "arn:aws:s3:::src-bucket"},
        "StringEquals": {"aws:SourceAccount": A},
    },
}
CLOUDFRONT_OAI = {  # CloudFront Developer Guide, "Restricting access to an Amazon S3 origin" (legacy OAI)
    "Sid": "2",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E15MNIMTCFKK4C"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::src-bucket/*",
}
ORG_ONLY = {  # S3 User Guide, bucket policy examples: "aws:PrincipalOrgID"
    "Sid": "AllowOrganization",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::src-bucket/*",
    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-exampleorgid"}},
}


@pytest.mark.parametrize(
    ("kind", "policy"),
    [
        ("key", default_key_policy(A)),  # Sid "Enable IAM User Permissions" has spaces: fine in a key policy
        ("key", doc(default_key_policy(A)["Statement"][0], KMS_GUIDE_OTHER_ACCOUNT, KMS_GUIDE_VIA_SERVICE)),
        ("bucket", doc(BUCKET_OWNER, ACCESS_LOGS, ORG_ONLY, CLOUDFRONT_OAI)),
    ],
    ids=["default key policy", "KMS guide patterns", "bucket owner, access logs, organization, CloudFront"],
)
def test_aws_own_documents_have_no_findings(kind: PolicyKind, policy: dict[str, Any]) -> None:
    assert findings(policy, kind) == []


OBJ = "arn:aws:s3:::b/*"
BAD: list[tuple[str, PolicyKind, dict[str, Any], str, str]] = [
    # (case, kind, statement (or whole document), code, severity)
    ("space after the prefix", "identity", {"Action": "s3: PutObject"}, "MALFORMED_ACTION", "error"),
    ("no colon", "identity", {"Action": "s3PutObject"}, "MALFORMED_ACTION", "error"),
    ("unknown prefix", "identity", {"Action": "s4:GetObject"}, "UNKNOWN_PREFIX", "warning"),
    ("ListBucket on objects", "identity", {"Action": "s3:ListBucket"}, "RESOURCE_MISMATCH", "error"),
    (
        "GetObject on the bucket",
        "identity",
        {"Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"},
        "RESOURCE_MISMATCH",
        "error",
    ),
    (
        "PutObject on bucket/ (empty key)",
        "identity",
        {"Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/"},
        "RESOURCE_MISMATCH",
        "error",
    ),
    (
        "Decrypt on an alias",
        "identity",
        {"Action": "kms:Decrypt", "Resource": f"arn:aws:kms:us-east-1:{A}:alias/data"},
        "RESOURCE_MISMATCH",
        "error",
    ),
    (
        "Deny that denies nothing",
        "bucket",
        {"Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket"},
        "RESOURCE_MISMATCH",
        "error",
    ),
    ("resource not an ARN", "identity", {"Resource": "s3://b/*"}, "MALFORMED_RESOURCE", "error"),
    ("lower-case effect", "identity", {"Effect": "allow"}, "MALFORMED", "error"),
    ("Action and NotAction", "identity", {"NotAction": "s3:PutObject"}, "MALFORMED", "error"),
    ("Sid with spaces in IAM", "identity", {"Sid": "Read source"}, "MALFORMED", "error"),
    ("unknown element", "identity", {"Resources": OBJ}, "MALFORMED", "error"),
    ("Principal in an identity policy", "identity", {"Principal": {"AWS": A}}, "MALFORMED", "error"),
    ("no Principal in a bucket policy", "bucket", {"Principal": None}, "MALFORMED", "error"),
    (
        "wildcard in a principal ARN",
        "bucket",
        {"Principal": {"AWS": f"arn:aws:iam::{A}:role/*"}},
        "MALFORMED_PRINCIPAL",
        "error",
    ),
    (
        "a group as principal",
        "bucket",
        {"Principal": {"AWS": f"arn:aws:iam::{A}:group/g"}},
        "MALFORMED_PRINCIPAL",
        "error",
    ),
    ("unknown principal type", "bucket", {"Principal": {"User": A}}, "MALFORMED_PRINCIPAL", "error"),
    (
        "deleted principal",
        "bucket",
        {"Principal": {"AWS": "AROAEXAMPLEEXAMPLE1234"}},
        "DELETED_PRINCIPAL",
        "warning",
    ),
    (
        "typo in an operator",
        "identity",
        {"Condition": {"StringEqual": {"aws:SourceIp": "x"}}},
        "UNKNOWN_OPERATOR",
        "error",
    ),
    (
        "typo in a set qualifier",
        "identity",
        {"Condition": {"ForAnyValues:StringLike": {"aws:TagKeys": "x"}}},
        "UNKNOWN_OPERATOR",
        "error",
    ),
    (
        "Null takes no IfExists",
        "identity",
        {"Condition": {"NullIfExists": {"s3:prefix": "true"}}},
        "UNKNOWN_OPERATOR",
        "error",
    ),
    (
        "condition value an object",
        "identity",
        {"Condition": {"StringEquals": {"s3:prefix": {"a": "b"}}}},
        "MALFORMED_CONDITION",
        "error",
    ),
    ("public Allow", "bucket", {"Principal": "*"}, "PUBLIC_ACCESS", "high"),
    (
        "public Allow, TLS only",
        "bucket",
        {"Principal": {"AWS": "*"}, "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        "PUBLIC_ACCESS",
        "high",
    ),
    (
        "public Allow, negated account test",
        "bucket",
        {"Principal": "*", "Condition": {"StringNotEquals": {"aws:PrincipalAccount": A}}},
        "PUBLIC_ACCESS",
        "high",
    ),
    (
        "public Allow, a condition on something else",
        "bucket",
        {"Principal": "*", "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
        "PUBLIC_ACCESS",
        "high",
    ),
    (
        "public Allow, IfExists holds without the key",
        "bucket",
        {"Principal": "*", "Condition": {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}},
        "PUBLIC_ACCESS",
        "high",
    ),
    (
        "Allow with NotPrincipal",
        "bucket",
        {"Principal": None, "NotPrincipal": {"AWS": A}},
        "ALLOW_NOT_PRINCIPAL",
        "high",
    ),
    ("Allow Action *", "identity", {"Action": "*", "Resource": "*"}, "ALLOW_ALL_ACTIONS", "high"),
]


@pytest.mark.parametrize(("case", "kind", "change", "code", "severity"), BAD, ids=[b[0] for b in BAD])
def test_each_defect_is_named_on_its_statement(
    case: str, kind: PolicyKind, change: dict[str, Any], code: str, severity: str
) -> None:
    stmt: dict[str, Any] = {"Sid": "Target", "Effect": "Allow", "Action": "s3:GetObject", "Resource": OBJ}
    if kind != "identity":
        stmt["Principal"] = {"AWS": f"arn:aws:iam::{B}:root"}
    stmt.update(change)
    stmt = {k: v for k, v in stmt.items() if v is not None}
    sid = stmt.get("Sid")
    assert ((sid, severity, code)) in findings(doc(stmt), kind)


def test_document_level_defects() -> None:
    ok = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": OBJ}
    assert findings({"Statement": [ok]}, "identity") == [(None, "warning", "MISSING_VERSION")]
    assert (None, "error", "MALFORMED") in findings({"Version": "2012-10-18", "Statement": [ok]}, "identity")
    assert findings({"Version": "2012-10-17"}, "identity") == [(None, "error", "MALFORMED")]
    assert findings({"Version": "2012-10-17", "Statement": ["x"]}, "identity") == [
        ("#0", "error", "MALFORMED")
    ]
    # A statement without Sid is named by its position.
    assert findings(doc(ok, {**ok, "Action": "s3:ListBucket"}), "identity") == [
        ("#1", "error", "RESOURCE_MISMATCH")
    ]


def test_an_action_with_a_space_is_explained() -> None:
    (finding,) = lint_document(
        Document("identity.json", doc({"Effect": "Allow", "Action": "s3: PutObject", "Resource": OBJ})),
        "identity",
    )
    assert "'s3: PutObject'" in finding.message and "whitespace" in finding.message


def test_the_message_tells_what_the_statement_fails_to_grant() -> None:
    (finding,) = lint_document(
        Document(
            "source-bucket-policy.json",
            doc(
                {
                    "Sid": "List",
                    "Effect": "Allow",
                    "Principal": {"AWS": A},
                    "Action": "s3:ListBucket",
                    "Resource": OBJ,
                }
            ),
        ),
        "bucket",
    )
    assert finding.document == "source-bucket-policy.json" and finding.sid == "List"
    assert "s3:ListBucket needs a bucket ARN" in finding.message and "grants nothing" in finding.message


def test_a_policy_set_is_linted_by_role() -> None:
    """The same statement is an error in an identity policy (Principal) and fine in a bucket policy."""
    stmt = {
        "Sid": "Read",
        "Effect": "Allow",
        "Principal": {"AWS": A},
        "Action": "s3:GetObject",
        "Resource": OBJ,
    }
    policies = PolicySet(
        identity=[Document("identity.json", doc(stmt))], source_bucket=Document("b.json", doc(stmt))
    )
    assert [(f.document, f.code) for f in lint_policies(policies)] == [("identity.json", "MALFORMED")]


def test_verify_runs_without_pkg_resources_or_parliament(tmp_path: Path) -> None:
    """setuptools >= 82 ships no pkg_resources (issue 16): plan and verify must not need it."""
    config = tmp_path / "transfer.json"
    config.write_text(make_spec().model_dump_json())
    script = (
        "import sys\n"
        "sys.modules['pkg_resources'] = None; sys.modules['parliament'] = None  # import -> ImportError\n"
        "from airflow_provider_s3xacct.cli import main\n"
        f"assert main(['plan', '--config', {str(config)!r}, '--out', {str(tmp_path / 'p')!r}]) == 0\n"
        f"sys.exit(main(['verify', '--config', {str(config)!r}, '--policies-dir', {str(tmp_path / 'p')!r}]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert run.returncode == 0, run.stderr
    assert "required requests allowed" in run.stderr and "lint [" not in run.stderr


def test_a_statement_over_a_bucket_and_its_objects_is_fine() -> None:
    """S3 User Guide, "Policy resources for Amazon S3": one statement may list both ARNs."""
    stmt = {
        "Sid": "ReadAll",
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetObject"],
        "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    }
    assert findings(doc(stmt), "identity") == []
