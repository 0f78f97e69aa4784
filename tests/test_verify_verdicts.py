"""Three-valued verify (issue 13): AWS's documented cases, each citing its guide and section.

moto enforces none of these policies, so no test here can show real AWS: the expectations are the
documented behaviour, checked through ``verify_policies`` (what ``s3xacct verify`` prints) on the
planned documents with one statement changed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.permissions.conditions import UNKNOWN, Context
from airflow_provider_s3xacct.permissions.documents import PolicySet, load_policy_dir, write_policy_dir
from airflow_provider_s3xacct.permissions.evaluator import Document, Request, evaluate, prefix_coverage
from airflow_provider_s3xacct.permissions.plan import plan_policies
from airflow_provider_s3xacct.permissions.requests import ObservedPrincipal, required_requests
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.permissions.verify import Check, verify_policies

SRC, DST = "111111111111", "222222222222"
ROLE = f"arn:aws:iam::{DST}:role/sync-role"
SESSION = f"arn:aws:sts::{DST}:assumed-role/sync-role/nightly"
ORG = "o-a1b2c3d4e5"


def make_spec(partition: str = "aws", region: str = "us-east-1", **top: Any) -> TransferSpec:
    data: dict[str, Any] = {
        "source": {
            "account_id": SRC,
            "bucket": "src-bucket",
            "prefix": "data/",
            "region": region,
            "kms_key_arns": [f"arn:{partition}:kms:{region}:{SRC}:key/1111aaaa-1111-aaaa-1111-aaaa1111aaaa"],
        },
        "destination": {
            "account_id": DST,
            "bucket": "dst-bucket",
            "region": region,
            "kms_key_arn": f"arn:{partition}:kms:{region}:{DST}:key/2222bbbb-2222-bbbb-2222-bbbb2222bbbb",
        },
        "principal_arn": ROLE.replace("arn:aws:", f"arn:{partition}:"),
    }
    data.update(top)
    return TransferSpec.create(data)


def planned(spec: TransferSpec, tmp_path: Path) -> PolicySet:
    write_policy_dir(plan_policies(spec).files(spec), tmp_path)
    return load_policy_dir(tmp_path)


def with_statement(policies: PolicySet, where: str, stmt: dict[str, Any]) -> PolicySet:
    """A copy of ``policies`` with ``stmt`` added to the document ``where``."""
    out = copy.deepcopy(policies)
    if where == "identity":
        doc = out.identity[0]
        out.identity = [Document(doc.name, {**doc.policy, "Statement": [*doc.statements(), stmt]})]
    elif where in ("source_bucket", "dest_bucket", "dest_key"):
        doc = getattr(out, where)
        setattr(out, where, Document(doc.name, {**doc.policy, "Statement": [*doc.statements(), stmt]}))
    else:  # source_key
        ((arn, doc),) = out.source_keys.items()
        out.source_keys = {arn: Document(doc.name, {**doc.policy, "Statement": [*doc.statements(), stmt]})}
    return out


def checks_for(report: Any, action: str, purpose: str = "") -> list[Check]:
    found = [c for c in report.checks if c.action == action and purpose in c.purpose]
    assert found, f"no check for {action}"
    return found


def test_plan_output_is_allowed_in_every_check(tmp_path: Path) -> None:
    spec = make_spec()
    report = verify_policies(spec, planned(spec, tmp_path))
    assert report.verdict == "allowed", report.summary()


# -- class 2: the request context AWS builds ----------------------------------------------------

KMS_VIA_S3 = {  # KMS Developer Guide, "kms:ViaService" and "kms:CallerAccount" (key policy examples)
    "Sid": "ViaS3FromTheCallerAccount",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
    "Resource": "*",
    "Condition": {"StringEquals": {"kms:CallerAccount": DST, "kms:ViaService": "s3.us-east-1.amazonaws.com"}},
}
ORG_ONLY = {  # S3 User Guide, "Bucket policy examples": restricting access to an organization
    "Sid": "OrgOnly",
    "Effect": "Allow",
    "Principal": "*",
    "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:ListBucket"],
    "Resource": ["arn:aws:s3:::src-bucket", "arn:aws:s3:::src-bucket/*"],
    "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}},
}
VPCE_ONLY = {  # S3 User Guide, "Controlling access from VPC endpoints with bucket policies"
    "Sid": "VpceOnly",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::dst-bucket", "arn:aws:s3:::dst-bucket/*"],
    "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
}
OWN_RESOURCES_ONLY = {  # IAM User Guide, global condition keys: aws:ResourceAccount (data perimeter)
    "Sid": "OwnAccounts",
    "Effect": "Deny",
    "Action": "s3:*",
    "Resource": "*",
    "Condition": {"StringNotEquals": {"aws:ResourceAccount": [SRC, DST]}},
}
PRINCIPAL_ARN_GUARD = {  # IAM User Guide, global condition keys: aws:PrincipalArn
    "Sid": "OnlyTheSyncRole",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::dst-bucket/*",
    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": ROLE}},
}


def _without_source_grants(policies: PolicySet) -> PolicySet:
    out = copy.deepcopy(policies)
    assert out.source_bucket is not None
    out.source_bucket = Document(out.source_bucket.name, {"Version": "2012-10-17", "Statement": []})
    return out


@pytest.mark.parametrize(
    ("case", "request_context", "expected"),
    [
        ("org id known and equal", {"organization_id": ORG}, "allowed"),
        ("org id of another organization", {"organization_id": "o-zzzzzzzzzz"}, "denied"),
        ("org id not given", {}, "undetermined"),
    ],
)
def test_organization_only_bucket_policy(
    tmp_path: Path, case: str, request_context: dict[str, Any], expected: str
) -> None:
    """S3 User Guide, bucket policy examples (aws:PrincipalOrgID): the grant depends on the org id."""
    spec = make_spec(request_context=request_context)
    policies = with_statement(_without_source_grants(planned(spec, tmp_path)), "source_bucket", ORG_ONLY)
    (check,) = checks_for(verify_policies(spec, policies), "s3:GetObject")
    assert check.verdict == expected, (case, check.reason)
    if expected == "undetermined":
        assert [u.sid for u in check.undetermined_by] == ["OrgOnly"]
        assert "aws:PrincipalOrgID" in check.undetermined_by[0].what
        assert "request_context.organization_id" in (check.fix or "")


def test_kms_guide_key_policy_via_s3_is_allowed(tmp_path: Path) -> None:
    """KMS Developer Guide, kms:ViaService / kms:CallerAccount: the key policy's own pattern passes."""
    spec = make_spec()
    policies = planned(spec, tmp_path)
    ((arn, doc),) = policies.source_keys.items()
    owner = doc.statements()[0]  # the owner's root grant stays; our statement is replaced by the pattern
    policies.source_keys = {
        arn: Document(doc.name, {"Version": "2012-10-17", "Statement": [owner, KMS_VIA_S3]})
    }
    (check,) = checks_for(verify_policies(spec, policies), "kms:Decrypt", "source")
    assert check.verdict == "allowed", check.reason
    # From another region's S3 the same pattern does not match: ViaService is per region.
    other = copy.deepcopy(policies)
    other.source_keys = {
        arn: Document(
            doc.name,
            {
                "Version": "2012-10-17",
                "Statement": [
                    owner,
                    {
                        **KMS_VIA_S3,
                        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
                    },
                ],
            },
        )
    }
    (check,) = checks_for(verify_policies(spec, other), "kms:Decrypt", "source")
    assert check.verdict == "denied"


@pytest.mark.parametrize(
    ("case", "where", "stmt", "request_context", "action", "expected"),
    [
        ("VPC endpoint given and equal", "dest_bucket", VPCE_ONLY, {"vpc_endpoint_id": "vpce-1a2b3c4d"},
         "s3:PutObject", "allowed"),
        ("another VPC endpoint", "dest_bucket", VPCE_ONLY, {"vpc_endpoint_id": "vpce-99999999"},
         "s3:PutObject", "denied"),
        ("endpoint not given", "dest_bucket", VPCE_ONLY, {}, "s3:PutObject", "undetermined"),
        ("resources of own accounts", "identity", OWN_RESOURCES_ONLY, {}, "s3:PutObject", "allowed"),
        ("principal ARN is the sync role", "dest_bucket", PRINCIPAL_ARN_GUARD, {}, "s3:PutObject", "allowed"),
    ],
)  # fmt: skip
def test_global_keys_from_the_spec(
    tmp_path: Path,
    case: str,
    where: str,
    stmt: dict[str, Any],
    request_context: dict[str, Any],
    action: str,
    expected: str,
) -> None:
    """IAM User Guide, "AWS global condition context keys": aws:SourceVpce, aws:ResourceAccount,
    aws:PrincipalArn are set on every request; verify uses them when the spec makes them knowable."""
    spec = make_spec(request_context=request_context)
    report = verify_policies(spec, with_statement(planned(spec, tmp_path), where, stmt))
    verdicts = {c.verdict for c in checks_for(report, action)}
    assert verdicts == {expected}, (case, report.summary())


def test_request_contexts_per_api_call() -> None:
    """S3 User Guide, condition keys for PutObject: UploadPartCopy carries no SSE headers, CopyObject does;
    KMS calls carry kms:ViaService of the bucket's region and the caller account."""
    spec = make_spec(options={"acl": "bucket-owner-full-control"})
    by_purpose = {r.purpose: r.context for r in required_requests(spec)}
    copy_ctx = by_purpose["write destination objects (CopyObject)"]
    part_ctx = by_purpose["write parts of multipart copies (UploadPartCopy, no SSE headers)"]
    assert copy_ctx.get("s3:x-amz-server-side-encryption") == ("aws:kms",)
    assert copy_ctx.get("S3:X-AMZ-ACL") == ("bucket-owner-full-control",)
    assert part_ctx.get("s3:x-amz-server-side-encryption-aws-kms-key-id") is None  # known absent
    assert part_ctx.get("s3:x-amz-acl") is None
    read_ctx = by_purpose["read source objects (CopyObject/UploadPartCopy source, HeadObject)"]
    assert read_ctx.get("s3:ExistingObjectTag/classification") is UNKNOWN
    assert read_ctx.get("aws:ResourceAccount") == (SRC,) and read_ctx.get("aws:PrincipalAccount") == (DST,)
    kms_ctx = by_purpose["decrypt source objects encrypted under this key"]
    assert kms_ctx.get("kms:ViaService") == ("s3.us-east-1.amazonaws.com",)
    assert kms_ctx.get("kms:CallerAccount") == (DST,)
    assert kms_ctx.get("aws:username") is None  # roles have no aws:username
    # IAM User Guide, "Forward access sessions": S3 calls KMS on the principal's behalf.
    assert kms_ctx.get("aws:ViaAWSService") == ("true",) and read_ctx.get("aws:ViaAWSService") == ("false",)
    assert kms_ctx.get("aws:CalledVia") == ("s3.amazonaws.com",) and read_ctx.get("aws:CalledVia") is None
    assert kms_ctx.get("aws:EpochTime") and kms_ctx.get("aws:CurrentTime")


# -- class 1 (evaluator side): a statement verify cannot evaluate is never skipped ---------------


@pytest.mark.parametrize(
    "condition",
    [
        {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},  # source IP not given in the spec
        {"StringEqualsMaybe": {"aws:PrincipalAccount": DST}},  # an operator nobody implements
    ],
)
def test_a_deny_verify_cannot_evaluate_makes_the_check_undetermined(
    tmp_path: Path, condition: dict[str, Any]
) -> None:
    """IAM User Guide, "Policy evaluation logic": an explicit Deny that may apply may deny; verify
    must not call the request allowed (old behaviour: the statement was skipped, verdict allowed)."""
    spec = make_spec()
    deny = {"Sid": "Unknowable", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::dst-bucket/*", "Condition": condition}  # fmt: skip
    report = verify_policies(spec, with_statement(planned(spec, tmp_path), "dest_bucket", deny))
    puts = checks_for(report, "s3:PutObject")
    assert {c.verdict for c in puts} == {"undetermined"}
    assert all(u.sid == "Unknowable" for c in puts for u in c.undetermined_by)
    assert report.verdict == "undetermined" and not report.ok
    assert report.undetermined_summary()[0]["sid"] == "Unknowable"


# -- class 6: principals as AWS matches them --------------------------------------------------------

NOT_PRINCIPAL_ROLE_AND_ACCOUNT = {  # IAM User Guide, NotPrincipal: a role ARN does not exempt its sessions
    "Sid": "OnlyTheRole",
    "Effect": "Deny",
    "NotPrincipal": {"AWS": [ROLE, f"arn:aws:iam::{DST}:root"]},
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::src-bucket", "arn:aws:s3:::src-bucket/*"],
}
NOT_PRINCIPAL_SESSION_ROLE_ACCOUNT = dict(
    NOT_PRINCIPAL_ROLE_AND_ACCOUNT,
    Sid="OnlyTheSession",
    NotPrincipal={"AWS": [SESSION, ROLE, f"arn:aws:iam::{DST}:root"]},
)
NOT_PRINCIPAL_SESSION_ONLY = dict(
    NOT_PRINCIPAL_ROLE_AND_ACCOUNT, Sid="SessionNoAccount", NotPrincipal={"AWS": SESSION}
)


def _grant(principal: Any, sid: str = "Grant") -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Principal": principal,
            "Action": ["s3:GetObject", "s3:GetObjectTagging"], "Resource": "arn:aws:s3:::src-bucket/*"}  # fmt: skip


@pytest.mark.parametrize(
    ("case", "principal_arn", "stmt", "expected"),
    [
        ("NotPrincipal lists role+account, copy runs as a session", ROLE, NOT_PRINCIPAL_ROLE_AND_ACCOUNT, "denied"),
        ("NotPrincipal lists role+account, session ARN given", SESSION, NOT_PRINCIPAL_ROLE_AND_ACCOUNT, "denied"),
        ("NotPrincipal lists session+role+account", SESSION, NOT_PRINCIPAL_SESSION_ROLE_ACCOUNT, "allowed"),
        ("NotPrincipal lists a session, session name unknown", ROLE, NOT_PRINCIPAL_SESSION_ROLE_ACCOUNT,
         "undetermined"),
        ("NotPrincipal lists the session but not its account", SESSION, NOT_PRINCIPAL_SESSION_ONLY, "undetermined"),
    ],
)  # fmt: skip
def test_not_principal_and_sessions(
    tmp_path: Path, case: str, principal_arn: str, stmt: dict[str, Any], expected: str
) -> None:
    """IAM User Guide, "AWS JSON policy elements: NotPrincipal" (NotPrincipal with Deny, the
    assumed-role example): a session is exempt only when its session ARN, role and account are listed."""
    spec = make_spec(principal_arn=principal_arn)
    report = verify_policies(spec, with_statement(planned(spec, tmp_path), "source_bucket", stmt))
    (check,) = checks_for(report, "s3:GetObject")
    assert check.verdict == expected, (case, check.reason)


@pytest.mark.parametrize(
    ("case", "principal_arn", "grant", "expected"),
    [
        ("role ARN matches the role's sessions", SESSION, {"AWS": ROLE}, "allowed"),
        ("the session ARN itself", SESSION, {"AWS": SESSION}, "allowed"),
        ("another session of the role", SESSION, {"AWS": SESSION.replace("nightly", "other")}, "denied"),
        ("a session ARN while the session name is unknown", ROLE, {"AWS": SESSION}, "undetermined"),
        ("AWS * matches anyone", ROLE, {"AWS": "*"}, "allowed"),
        ("a service principal never is the sync principal", ROLE, {"Service": "s3.amazonaws.com"}, "denied"),
        ("a federated principal never is the sync principal", ROLE, {"Federated": "cognito-identity.amazonaws.com"},
         "denied"),
    ],
)  # fmt: skip
def test_principal_element_forms(
    tmp_path: Path, case: str, principal_arn: str, grant: dict[str, Any], expected: str
) -> None:
    """IAM User Guide, "AWS JSON policy elements: Principal" (role sessions, AWS *, service and
    federated principals): the cross-account read needs the source bucket policy to name the caller."""
    spec = make_spec(principal_arn=principal_arn)
    policies = planned(spec, tmp_path)
    assert policies.source_bucket is not None
    policies.source_bucket = Document(
        "source-bucket-policy.json", {"Version": "2012-10-17", "Statement": [_grant(grant)]}
    )
    (check,) = checks_for(verify_policies(spec, policies), "s3:GetObject")
    assert check.verdict == expected, (case, check.reason)


def test_a_session_arn_is_a_valid_principal() -> None:
    spec = make_spec(principal_arn=SESSION)
    assert spec.principal_name == "sync-role" and spec.principal.session == "nightly"
    # Plans name the role (every session of it), not one session.
    assert plan_policies(spec).source_bucket[0]["Principal"] == {"AWS": ROLE}


# -- class 7: the whole prefix, not one stand-in key -------------------------------------------------


def test_a_deny_on_a_sub_prefix_denies_that_part_and_names_it(tmp_path: Path) -> None:
    """IAM User Guide, "Policy evaluation logic" (explicit deny): objects under data/secret/ are
    denied, so the copy of data/ fails for them; verify says denied for that part."""
    spec = make_spec()
    deny = {"Sid": "NoSecrets", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::src-bucket/data/secret/*"}  # fmt: skip
    (check,) = checks_for(
        verify_policies(spec, with_statement(planned(spec, tmp_path), "source_bucket", deny)), "s3:GetObject"
    )
    assert check.verdict == "denied"
    assert check.denied_part == "arn:aws:s3:::src-bucket/data/secret/*" and "NoSecrets" in check.reason


def test_a_deny_on_object_tags_is_undetermined_naming_the_tag(tmp_path: Path) -> None:
    """S3 User Guide, "Tagging and access control policies" (s3:ExistingObjectTag/<key>): tags of
    objects not yet listed are unknown to verify; the check names the tag key."""
    spec = make_spec()
    deny = {"Sid": "NoConfidential", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::src-bucket/*",
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "confidential"}}}  # fmt: skip
    (check,) = checks_for(
        verify_policies(spec, with_statement(planned(spec, tmp_path), "source_bucket", deny)), "s3:GetObject"
    )
    assert check.verdict == "undetermined"
    assert check.undetermined_by[0].what == ("s3:ExistingObjectTag/classification",)


def test_an_allow_on_part_of_the_prefix_does_not_grant_it(tmp_path: Path) -> None:
    spec = make_spec()
    policies = planned(spec, tmp_path)
    narrow = {"Sid": "PublicOnly", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging"],
              "Resource": "arn:aws:s3:::src-bucket/data/public/*"}  # fmt: skip
    policies.identity = [Document("identity.json", {"Version": "2012-10-17", "Statement": [
        s for s in policies.identity[0].statements() if s["Sid"] != "S3xacctReadSource"] + [narrow]})]  # fmt: skip
    (check,) = checks_for(verify_policies(spec, policies), "s3:GetObject")
    assert check.verdict == "denied" and "covers only arn:aws:s3:::src-bucket/data/public/*" in check.reason


@pytest.mark.parametrize(
    ("pattern", "prefix", "expected"),
    [
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/data/", "all"),
        ("arn:aws:s3:::b/da*", "arn:aws:s3:::b/data/", "all"),
        ("arn:aws:s3:::b/data/*/x*", "arn:aws:s3:::b/data/", "part"),
        ("arn:aws:s3:::b/data/secret/*", "arn:aws:s3:::b/data/", "part"),
        ("arn:aws:s3:::b/data/????.csv", "arn:aws:s3:::b/data/", "part"),
        ("arn:aws:s3:::b/other/*", "arn:aws:s3:::b/data/", "none"),
        ("arn:aws:s3:::b/data/", "arn:aws:s3:::b/data/", "part"),
        ("*", "arn:aws:s3:::b/", "all"),
    ],
)
def test_prefix_coverage(pattern: str, prefix: str, expected: str) -> None:
    assert prefix_coverage(pattern, prefix) == expected


# -- class 9: partitions ---------------------------------------------------------------------------


@pytest.mark.parametrize(("partition", "region"), [("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1")])
def test_partitions_in_plan_requests_and_matching(tmp_path: Path, partition: str, region: str) -> None:
    """AWS General Reference, "Amazon Resource Names" (partitions): ARNs carry the partition; a
    policy written with arn:aws: grants nothing in aws-cn or aws-us-gov."""
    spec = make_spec(partition, region)
    files = plan_policies(spec).files(spec)
    assert "arn:aws:" not in json.dumps(files) and f"arn:{partition}:s3:::src-bucket" in json.dumps(files)
    policies = planned(spec, tmp_path)
    assert verify_policies(spec, policies).verdict == "allowed"
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    kms = next(r for r in required_requests(spec) if r.action == "kms:Decrypt")
    assert kms.context.get("kms:ViaService") == (f"s3.{region}.{suffix}",)
    # The same documents written for the aws partition: every S3 grant misses.
    wrong = json.loads(json.dumps(files).replace(f"arn:{partition}:s3", "arn:aws:s3"))
    write_policy_dir(wrong, tmp_path / "wrong")
    report = verify_policies(spec, load_policy_dir(tmp_path / "wrong"))
    assert {c.verdict for c in report.checks if c.action.startswith("s3:")} == {"denied"}


def test_a_spec_mixing_partitions_is_refused() -> None:
    with pytest.raises(InvalidInputError) as raised:
        make_spec(region="cn-north-1")  # the ARNs are arn:aws:...: keys in us-east-1 cannot serve cn-north-1
    assert raised.value.field in {"source.region", "source.kms_key_arns[0]"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("organization_id", "org-1"),
        ("org_paths", ["o-a1b2c3d4e5/"]),
        ("vpc_endpoint_id", "vpc-123"),
        ("egress_cidrs", ["10.0.0.0/33"]),
    ],
)
def test_request_context_fields_are_validated(field: str, value: Any) -> None:
    with pytest.raises(InvalidInputError) as raised:
        make_spec(request_context={field: value})
    assert raised.value.field.startswith(f"request_context.{field}")


# -- class 10: what verify did not check -----------------------------------------------------------


def test_every_report_lists_what_was_not_checked(tmp_path: Path) -> None:
    spec = make_spec()
    report = verify_policies(spec, planned(spec, tmp_path))
    listed = {n["what"] for n in report.to_dict()["not_checked"]}
    assert listed == {
        "SCPs", "RCPs", "permission boundaries", "session policies", "VPC endpoint policies", "KMS grants",
        "Object Ownership/ACLs", "Block Public Access", "Requester Pays",
    }  # fmt: skip
    assert "not checked: SCPs" in report.summary()


# -- properties (issue 13, "Tests") --------------------------------------------------------------

PRINCIPAL = ROLE
OBJECTS = "arn:aws:s3:::b/data/"
KEYS = ("aws:SourceVpce", "aws:PrincipalOrgID", "s3:ExistingObjectTag/t")
VALUES = ("v1", "v2")

conditions = st.one_of(
    st.none(),
    st.builds(
        lambda op, key, value: {op: {key: value}},
        st.sampled_from(["StringEquals", "StringNotEquals", "StringEqualsIfExists", "StringLike"]),
        st.sampled_from(KEYS),
        st.sampled_from(VALUES),
    ),
)
resources = st.sampled_from(["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/data/*", "arn:aws:s3:::b/data/x/*",
                             "arn:aws:s3:::b/other/*"])  # fmt: skip
principals = st.sampled_from(["*", {"AWS": PRINCIPAL}, {"AWS": "222222222222"}, {"AWS": SESSION}, {"AWS": "*"},
                              {"Service": "s3.amazonaws.com"}])  # fmt: skip


def _statement(
    effect: str, resource: str, condition: dict[str, Any] | None, principal: Any = None
) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Effect": effect, "Action": "s3:GetObject", "Resource": resource}
    if condition:
        stmt["Condition"] = condition
    if principal is not None:
        stmt["Principal"] = principal
    return stmt


identity_statements = st.lists(
    st.builds(_statement, st.sampled_from(["Allow", "Deny"]), resources, conditions), max_size=3
)
bucket_statements = st.lists(
    st.builds(_statement, st.sampled_from(["Allow", "Deny"]), resources, conditions, principals), max_size=3
)
contexts = st.fixed_dictionaries({k: st.sampled_from([None, "absent", *VALUES]) for k in KEYS})


def _context(known: dict[str, str | None]) -> Context:
    return Context(
        {k: (v,) for k, v in known.items() if v not in (None, "absent")},
        frozenset(k for k, v in known.items() if v == "absent"),
    )


def _verdict(ids: list[dict[str, Any]], bucket: list[dict[str, Any]], known: dict[str, str | None]) -> str:
    request = Request(PRINCIPAL, "222222222222", "s3:GetObject", OBJECTS, "111111111111", _context(known),
                      resource_prefix=True)  # fmt: skip
    return evaluate(
        request,
        [Document("identity", {"Statement": ids})],
        Document("bucket", {"Statement": bucket}),
    ).verdict


RANK = {"allowed": 0, "undetermined": 1, "denied": 2}
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _with_added(
    effect: str,
    ids: list[Any],
    bucket: list[Any],
    known: Any,
    to_bucket: bool,
    resource: str,
    cond: Any,
    principal: Any,
) -> str:
    if to_bucket:
        return _verdict(ids, [*bucket, _statement(effect, resource, cond, principal)], known)
    return _verdict([*ids, _statement(effect, resource, cond)], bucket, known)


additions = (
    identity_statements,
    bucket_statements,
    contexts,
    st.booleans(),
    resources,
    conditions,
    principals,
)


@PROPERTY
@given(*additions)
def test_adding_an_allow_never_makes_it_worse(
    ids: list[Any], bucket: list[Any], known: Any, to_bucket: bool, resource: str, cond: Any, principal: Any
) -> None:
    after = _with_added("Allow", ids, bucket, known, to_bucket, resource, cond, principal)
    assert RANK[after] <= RANK[_verdict(ids, bucket, known)]


@PROPERTY
@given(*additions)
def test_adding_a_deny_never_makes_it_better(
    ids: list[Any], bucket: list[Any], known: Any, to_bucket: bool, resource: str, cond: Any, principal: Any
) -> None:
    after = _with_added("Deny", ids, bucket, known, to_bucket, resource, cond, principal)
    assert RANK[after] >= RANK[_verdict(ids, bucket, known)]


@PROPERTY
@given(identity_statements, bucket_statements, contexts)
def test_an_unknown_key_never_yields_allowed_where_a_known_value_denies(
    ids: list[Any], bucket: list[Any], known: Any
) -> None:
    verdict = _verdict(ids, bucket, known)
    unknown = [k for k, v in known.items() if v is None]
    for key in unknown:
        for value in ("absent", *VALUES, "v3"):
            concrete = _verdict(ids, bucket, {**known, key: value})
            if verdict == "allowed":
                assert concrete == "allowed", (key, value)
            if verdict == "denied":
                assert concrete == "denied", (key, value)


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("arn:aws:s3:::src-bucket/${aws:PrincipalAccount, 'x'}*", "denied"),  # data/ is not 222222222222
        ("arn:aws:s3:::${aws:ResourceAccount}-bucket/*", "denied"),  # 111111111111-bucket is another bucket
        (
            "arn:aws:s3:::src-bucket/${aws:username}/*",
            "denied",
        ),  # roles have no aws:username: matches nothing
        ("arn:aws:s3:::src-bucket/${aws:PrincipalTag/team}/*", "undetermined"),  # tags not given
        ("arn:aws:s3:::src-bucket/data${*}", "denied"),  # ${*} is a literal '*', not a wildcard
        ("arn:aws:s3:::src-bucket/${s3:prefix, 'data/'}*", "allowed"),  # absent key: the default applies
    ],
)
def test_policy_variables_in_the_resource(tmp_path: Path, resource: str, expected: str) -> None:
    """IAM User Guide, "IAM policy elements: Variables and tags" (where you can use policy
    variables; special characters; default values): the Resource is resolved per request first."""
    spec = make_spec()
    policies = planned(spec, tmp_path)
    grant = {
        "Sid": "Var",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:GetObjectTagging"],
        "Resource": resource,
    }
    policies.identity = [Document("identity.json", {"Version": "2012-10-17", "Statement": [
        s for s in policies.identity[0].statements() if s["Sid"] != "S3xacctReadSource"] + [grant]})]  # fmt: skip
    (check,) = checks_for(verify_policies(spec, policies), "s3:GetObject")
    assert check.verdict == expected, check.reason


def test_a_key_missing_from_the_key_policies_file_is_listed_and_undetermined(tmp_path: Path) -> None:
    """Class 8: a key policy not given is not checked, never assumed to be KMS's default."""
    spec = make_spec()
    policies = planned(spec, tmp_path)
    policies.source_keys = {}
    report = verify_policies(spec, policies)
    (check,) = checks_for(report, "kms:Decrypt", "source")
    assert check.verdict == "undetermined" and "document not given" in check.undetermined_by[0].what
    assert any(n.what == f"key policy of {spec.source.kms_key_arns[0]}" for n in report.not_checked)


CORPORATE_EGRESS_ONLY = {  # IAM User Guide, "AWS: Denies access to AWS based on the source IP"
    "Sid": "CorporateEgressOnly",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::dst-bucket", "arn:aws:s3:::dst-bucket/*"],
    "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}},
}


@pytest.mark.parametrize(
    ("egress", "expected"),
    [
        (["203.0.113.10/32"], "allowed"),  # the NAT gateway's address, inside the allowed range
        (["203.0.113.10/32", "198.51.100.7"], "denied"),  # one of the two egress addresses is outside
        (["203.0.113.0/28"], "undetermined"),  # a range: IpAddress decides addresses, not ranges
        (None, "undetermined"),  # not given
    ],
)
def test_source_ip_from_the_egress_addresses(tmp_path: Path, egress: list[str] | None, expected: str) -> None:
    spec = make_spec(request_context={"egress_cidrs": egress} if egress else {})
    report = verify_policies(
        spec, with_statement(planned(spec, tmp_path), "dest_bucket", CORPORATE_EGRESS_ONLY)
    )
    assert {c.verdict for c in checks_for(report, "s3:PutObject")} == {expected}


ROLE_SESSIONS_ONLY = {  # IAM User Guide, global condition keys, aws:userid ("role-id:caller-specified-role-name")
    "Sid": "OnlyTheSyncRolesSessions",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::dst-bucket", "arn:aws:s3:::dst-bucket/*"],
    "Condition": {"StringNotLike": {"aws:userid": ["AROAEXAMPLEROLEID:*", DST]}},
}


@pytest.mark.parametrize(
    ("principal_arn", "role_id", "expected"),
    [
        (SESSION, "AROAEXAMPLEROLEID", "allowed"),  # id read online, session name from the session ARN
        (SESSION, "AROAANOTHERROLEID", "denied"),
        (ROLE, "AROAEXAMPLEROLEID", "undetermined"),  # the session name is not known
        (SESSION, None, "undetermined"),  # the id could not be read
    ],
)
def test_userid_of_a_role_session(
    tmp_path: Path, principal_arn: str, role_id: str | None, expected: str
) -> None:
    spec = make_spec(principal_arn=principal_arn)
    policies = with_statement(planned(spec, tmp_path), "dest_bucket", ROLE_SESSIONS_ONLY)
    report = verify_policies(spec, policies, observed=ObservedPrincipal(unique_id=role_id))
    assert {c.verdict for c in checks_for(report, "s3:PutObject")} == {expected}


NO_CONFIDENTIAL_UPLOADS = {  # S3 User Guide, "Tagging and access control policies" (s3:RequestObjectTag/<key>)
    "Sid": "NoConfidentialUploads",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::dst-bucket/*",
    "Condition": {"StringEquals": {"s3:RequestObjectTag/classification": "confidential"}},
}


@pytest.mark.parametrize(("copy_tags", "expected"), [(True, "undetermined"), (False, "allowed")])
def test_request_tags_of_multipart_copies(tmp_path: Path, copy_tags: bool, expected: str) -> None:
    """The engine's CreateMultipartUpload carries the source object's tags when copying them."""
    spec = make_spec(options={"copy_tags": copy_tags})
    report = verify_policies(
        spec, with_statement(planned(spec, tmp_path), "dest_bucket", NO_CONFIDENTIAL_UPLOADS)
    )
    (start,) = checks_for(report, "s3:PutObject", "CreateMultipartUpload")
    assert start.verdict == expected
    (single,) = checks_for(report, "s3:PutObject", "(CopyObject)")
    assert single.verdict == "allowed"  # CopyObject copies tags with TaggingDirective COPY: no tag header


def _key_condition(pattern: str, operator: str = "StringLike") -> dict[str, Any]:
    return {  # KMS Developer Guide, "kms:EncryptionContext:context-key" (S3's aws:s3:arn)
        "Sid": "OnlyTheseObjects",
        "Effect": "Allow",
        "Principal": {"AWS": ROLE},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {operator: {"kms:EncryptionContext:aws:s3:arn": pattern}},
    }


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("arn:aws:s3:::src-bucket/*", "allowed"),  # covers every object under data/
        ("arn:aws:s3:::src-bucket/data/*", "allowed"),
        ("arn:aws:s3:::other-bucket/*", "denied"),  # none of them
        ("arn:aws:s3:::src-bucket/data/public/*", "undetermined"),  # only some: not the stand-in's answer
        ("arn:aws:s3:::src-bucket/data/s3xacct-any-object", "undetermined"),  # one object
    ],
)
def test_the_encryption_context_stands_for_every_object(tmp_path: Path, pattern: str, expected: str) -> None:
    """Class 7 for condition values: a condition on the object ARN decides the check only when it
    holds for all objects under the prefix or for none (one stand-in object would say yes to a
    pattern that names the stand-in's sub-prefix)."""
    spec = make_spec()
    policies = planned(spec, tmp_path)
    ((arn, doc),) = policies.source_keys.items()
    owner = doc.statements()[0]
    policies.source_keys = {
        arn: Document(doc.name, {"Version": "2012-10-17", "Statement": [owner, _key_condition(pattern)]})
    }
    (check,) = checks_for(verify_policies(spec, policies), "kms:Decrypt", "source")
    assert check.verdict == expected, check.reason
    if expected == "undetermined":
        assert "differs between objects under the prefix" in check.undetermined_by[0].what[0]
