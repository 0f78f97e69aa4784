"""Guardrail layers: read through the admin sessions (moto, or botocore's Stubber) and evaluated.

moto stores SCPs/RCPs, role permission boundaries, VPC endpoint policies and KMS grants but
enforces none of them, so whether AWS allows a request is decided here with AWS's documented
cases, each citing its guide and section (docs/guardrails.md lists the sources). None of these
tests shows what real AWS answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from airflow_provider_s3xacct.aws.arns import account_of
from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.permissions.conditions import Context
from airflow_provider_s3xacct.permissions.documents import AccountAdmins, load_policy_dir, write_policy_dir
from airflow_provider_s3xacct.permissions.evaluator import Document, Request
from airflow_provider_s3xacct.permissions.guardrails import (
    Guardrails,
    OrgPolicies,
    SessionPolicy,
    apply_guardrails,
    load_guardrails_dir,
    read_guardrails,
)
from airflow_provider_s3xacct.permissions.plan import plan_policies
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.permissions.verify import verify_policies
from tests.test_permissions_operator import transfer  # noqa: F401  (fixture)

SRC, DST = "111111111111", "222222222222"
ROLE = f"arn:aws:iam::{DST}:role/sync"
USER = f"arn:aws:iam::{DST}:user/sync_user"
SRC_KEY = f"arn:aws:kms:us-east-1:{SRC}:key/1111aaaa-1111-aaaa-1111-aaaa1111aaaa"
DST_KEY = f"arn:aws:kms:us-east-1:{DST}:key/2222bbbb-2222-bbbb-2222-bbbb2222bbbb"
TLS = {"aws:SecureTransport": "true"}

# The default SCP / RCP every level gets (Organizations User Guide, "Service control policies" and
# "Resource control policies": FullAWSAccess, RCPFullAWSAccess).
FULL_AWS_ACCESS = Document(
    "FullAWSAccess",
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
)
RCP_FULL_AWS_ACCESS = Document(
    "RCPFullAWSAccess",
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
    },
)


def spec_for(
    principal: str = ROLE,
    dest_key: str | None = DST_KEY,
    src_key: str = SRC_KEY,
    vpc_endpoint_id: str | None = None,
) -> TransferSpec:
    return TransferSpec.create(
        {
            "source": {
                "account_id": account_of(src_key),
                "bucket": "src-bucket",
                "prefix": "data/",
                "region": "us-east-1",
                "kms_key_arns": [src_key],
            },
            "destination": {
                "account_id": account_of(principal),
                "bucket": "dst-bucket",
                "region": "us-east-1",
                "kms_key_arn": dest_key,
            },
            "principal_arn": principal,
            "request_context": {"vpc_endpoint_id": vpc_endpoint_id},
        }
    )


def put_request(region: str = "us-east-1", context: dict[str, str] | Context | None = None) -> Request:
    return Request(
        ROLE,
        DST,
        "s3:PutObject",
        "arn:aws:s3:::dst-bucket/x",
        DST,
        {"aws:RequestedRegion": region, **TLS} if context is None else context,
    )


def judge(request: Request, guardrails: Guardrails, base: str = "allowed", **kwargs: Any) -> Any:
    kwargs.setdefault("resource", None)
    kwargs.setdefault("explicitly_denied", False)
    kwargs.setdefault("principal_kind", "role")
    return apply_guardrails(request, base, guardrails, **kwargs)  # type: ignore[arg-type]


# -- SCPs -----------------------------------------------------------------------------------------

# Organizations User Guide, "Example service control policies", "Deny access to AWS based on the
# requested AWS Region" (narrowed to s3:PutObject).
REGION_SCP = Document(
    "DenyOutsideEU",
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyPutOutsideEU",
                "Effect": "Deny",
                "Action": "s3:PutObject",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}},
            }
        ],
    },
)


def scps(*levels: tuple[str, tuple[Document, ...]]) -> Guardrails:
    return Guardrails(scps={DST: OrgPolicies(DST, levels)})


def test_scp_denying_putobject_outside_a_region_denies_the_copy_there_and_not_inside() -> None:
    g = scps(("r-root", (FULL_AWS_ACCESS,)), (DST, (FULL_AWS_ACCESS, REGION_SCP)))
    outside = judge(put_request("us-east-1"), g)
    assert outside.verdict == "denied"
    assert "DenyPutOutsideEU" in outside.reason
    assert judge(put_request("eu-west-1"), g).verdict == "allowed"


def test_scp_level_without_an_allow_denies_even_without_a_deny() -> None:
    # Organizations User Guide, "SCP evaluation": every level from the root to the account must
    # allow; an OU whose FullAWSAccess was replaced by a policy that does not list s3 denies it.
    ec2_only = Document("Ec2Only", {"Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]})
    g = scps(("r-root", (FULL_AWS_ACCESS,)), ("ou-data", (ec2_only,)), (DST, (FULL_AWS_ACCESS,)))
    verdict = judge(put_request(), g)
    assert verdict.verdict == "denied"
    assert "ou-data" in verdict.reason


def test_scps_apply_to_the_principals_account_rcps_to_the_resources_account() -> None:
    # IAM User Guide, "Cross-account policy evaluation logic": the principal's account's SCPs and
    # the resource's account's RCPs; SCPs of the bucket's account do not limit a foreign principal.
    deny_all = Document("DenyAll", {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    get = Request(ROLE, DST, "s3:GetObject", "arn:aws:s3:::src-bucket/data/x", SRC, TLS)
    assert judge(get, Guardrails(scps={SRC: OrgPolicies(SRC, (("r", (deny_all,)),))})).verdict == "allowed"
    assert judge(get, Guardrails(scps={DST: OrgPolicies(DST, (("r", (deny_all,)),))})).verdict == "denied"


# -- RCPs -----------------------------------------------------------------------------------------

# Organizations User Guide, "Resource control policy examples", "Enforce secure transport".
SECURE_TRANSPORT_RCP = Document(
    "EnforceSecureTransport",
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnforceSecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["sts:*", "s3:*", "sqs:*", "secretsmanager:*", "kms:*"],
                "Resource": "*",
                "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}},
            }
        ],
    },
)


def test_rcp_requiring_secure_transport_allows_the_tls_copy_and_denies_plain_http() -> None:
    g = Guardrails(rcps={SRC: OrgPolicies(SRC, (("r-root", (RCP_FULL_AWS_ACCESS, SECURE_TRANSPORT_RCP)),))})
    tls = Request(
        ROLE, DST, "s3:GetObject", "arn:aws:s3:::src-bucket/data/x", SRC, {"aws:SecureTransport": "true"}
    )
    plain = Request(
        ROLE, DST, "s3:GetObject", "arn:aws:s3:::src-bucket/data/x", SRC, {"aws:SecureTransport": "false"}
    )
    assert judge(tls, g).verdict == "allowed"
    denied = judge(plain, g)
    assert denied.verdict == "denied" and "EnforceSecureTransport" in denied.reason


# -- permissions boundary and session policy ------------------------------------------------------

S3_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def s3xacct(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("s3xacct")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        # PYTHONPATH: the worktree's package, not the one the virtualenv was installed from
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )


def planned_dir(tmp_path: Path, spec: TransferSpec, principal: str) -> Path:
    """``plan --out`` files and a config the CLI reads."""
    write_policy_dir(plan_policies(spec).files(spec), tmp_path / "policies")
    config = tmp_path / "transfer.yaml"
    config.write_text(yaml.safe_dump(json.loads(spec.model_dump_json(exclude={"options"}))))
    return tmp_path / "policies"


def test_boundary_lacking_kms_decrypt_fails_verify_naming_the_boundary(tmp_path: Path) -> None:
    # IAM User Guide, "Permissions boundaries for IAM entities": the effective permissions are what
    # both the identity-based policies and the boundary allow. Plan's identity policy allows
    # kms:Decrypt; a boundary of s3:* only does not.
    policies = planned_dir(tmp_path, spec_for(ROLE), ROLE)
    ok = s3xacct("verify", "--config", str(tmp_path / "transfer.yaml"), "--policies-dir", str(policies))
    assert ok.returncode == 0, ok.stderr
    assert "permissions boundary (no permission-boundary.json)" in ok.stderr

    (policies / "permission-boundary.json").write_text(json.dumps(S3_ONLY))
    out = s3xacct(
        "verify", "--config", str(tmp_path / "transfer.yaml"), "--policies-dir", str(policies), "--json"
    )
    assert out.returncode == 1
    denied = [c for c in json.loads(out.stdout)["checks"] if not c["allowed"]]
    assert {(c["action"], c["resource"]) for c in denied} == {
        ("kms:Decrypt", SRC_KEY),
        ("kms:GenerateDataKey", DST_KEY),
        ("kms:Decrypt", DST_KEY),
    }
    assert all("permissions boundary permission-boundary.json" in c["reason"] for c in denied)


def test_same_account_key_policy_naming_the_user_is_not_limited_by_the_boundary() -> None:
    # IAM User Guide, "Policy evaluation for requests within a single account": a resource-based
    # policy that names the IAM user ARN is not limited by an implicit deny in the boundary; one
    # naming a role ARN is.
    def key_policy(principal: str) -> Document:
        return Document(
            "key policy",
            {
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "kms:*", "Resource": "*"}
                ]
            },
        )

    g = Guardrails(boundary=Document("boundary", S3_ONLY))
    user_req = Request(USER, DST, "kms:Decrypt", DST_KEY, DST, {}, is_kms=True)
    role_req = Request(ROLE, DST, "kms:Decrypt", DST_KEY, DST, {}, is_kms=True)
    assert judge(user_req, g, resource=key_policy(USER), principal_kind="user").verdict == "allowed"
    assert judge(role_req, g, resource=key_policy(ROLE)).verdict == "denied"
    # the same key in another account: the identity side is needed, so the boundary limits it
    cross = Request(USER, DST, "kms:Decrypt", SRC_KEY, SRC, {}, is_kms=True)
    assert judge(cross, g, resource=key_policy(USER), principal_kind="user").verdict == "denied"


def test_not_principal_deny_always_denies_a_principal_with_a_boundary() -> None:
    # IAM User Guide, "Permissions boundaries for IAM entities" (Important): a Deny with
    # NotPrincipal denies any principal that has a boundary, whatever NotPrincipal lists.
    bucket = Document(
        "bucket policy",
        {
            "Statement": [
                {
                    "Sid": "OnlySync",
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": [ROLE, f"arn:aws:iam::{DST}:root"]},
                    "Action": "s3:*",
                    "Resource": "arn:aws:s3:::dst-bucket/*",
                }
            ]
        },
    )
    assert judge(put_request(), Guardrails(), resource=bucket).verdict == "allowed"
    verdict = judge(put_request(), Guardrails(boundary=Document("boundary", S3_ONLY)), resource=bucket)
    assert verdict.verdict == "denied" and "OnlySync" in verdict.reason and "NotPrincipal" in verdict.reason


def test_session_policy_narrower_than_the_role_denies_what_it_leaves_out() -> None:
    # IAM User Guide, "Session policies": the session's permissions are the intersection of the
    # role's identity-based policies and the session policy.
    read_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}],
    }
    session = SessionPolicy.from_assume_role_kwargs(
        {"Policy": json.dumps(read_only), "DurationSeconds": 3600}
    )
    assert session.known and session.policy == read_only
    g = Guardrails(session_policies=(Document("the inline session policy", read_only),))
    assert judge(put_request(), g).verdict == "denied"
    get = Request(ROLE, DST, "s3:GetObject", "arn:aws:s3:::src-bucket/data/x", SRC, TLS)
    assert judge(get, g).verdict == "allowed"


def test_an_explicit_deny_in_a_guardrail_beats_a_grant_the_boundary_would_not_limit() -> None:
    # IAM User Guide, "Policy evaluation logic": an explicit Deny in any policy denies.
    bucket = Document(
        "bucket", {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}
    )
    deny_put = Document(
        "boundary", {"Statement": [{"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}]}
    )
    assert judge(put_request(), Guardrails(boundary=deny_put), resource=bucket).verdict == "denied"
    assert judge(
        put_request(), Guardrails(boundary=Document("b", {"Statement": []})), resource=bucket
    ).verdict == ("allowed")


# -- KMS grants -----------------------------------------------------------------------------------


def grant(**extra: Any) -> dict[str, Any]:
    return {"GrantId": "g-1", "Name": "copy", "GranteePrincipal": ROLE, "Operations": ["Decrypt"], **extra}


def decrypt(context: dict[str, str] | Context) -> Request:
    """kms:Decrypt as S3 calls it; a flat ``context`` is the whole encryption context."""
    if isinstance(context, Context):
        return Request(ROLE, DST, "kms:Decrypt", SRC_KEY, SRC, context, is_kms=True)
    keys = [k.split(":", 2)[2] for k in context if k.startswith("kms:EncryptionContext:")]
    flat: dict[str, Any] = {**context, "kms:EncryptionContextKeys": keys}
    return Request(ROLE, DST, "kms:Decrypt", SRC_KEY, SRC, flat, is_kms=True)


def test_grant_with_encryption_context_subset_allows_decrypt_of_that_object_only() -> None:
    # KMS Developer Guide, "Grants in AWS KMS" / "Grant constraints" (EncryptionContextSubset): the
    # grant allows the operation when the request's encryption context contains the constraint's
    # pairs; S3 sends {"aws:s3:arn": <object ARN>} (S3 User Guide, "Encryption context").
    obj = "arn:aws:s3:::src-bucket/data/a"
    g = Guardrails(grants={SRC_KEY: (grant(Constraints={"EncryptionContextSubset": {"aws:s3:arn": obj}}),)})
    allowed = judge(decrypt({"kms:EncryptionContext:aws:s3:arn": obj}), g, base="denied")
    assert allowed.verdict == "allowed" and "g-1" in allowed.reason
    other = judge(
        decrypt({"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::src-bucket/data/b"}), g, base="denied"
    )
    assert other.verdict == "denied"
    unknown = judge(decrypt(Context({})), g, base="denied")  # nothing about the context is known
    assert unknown.verdict == "undetermined"


def test_grant_does_not_lift_an_explicit_deny_nor_grant_other_operations() -> None:
    g = Guardrails(grants={SRC_KEY: (grant(),)})
    assert judge(decrypt({}), g, base="denied").verdict == "allowed"
    assert judge(decrypt({}), g, base="denied", explicitly_denied=True).verdict == "denied"
    gen = Request(ROLE, DST, "kms:GenerateDataKey", SRC_KEY, SRC, {}, is_kms=True)
    assert judge(gen, g, base="denied").verdict == "denied"


def test_grant_with_encryption_context_equals_needs_the_exact_context() -> None:
    obj = "arn:aws:s3:::src-bucket/data/a"
    g = Guardrails(grants={SRC_KEY: (grant(Constraints={"EncryptionContextEquals": {"aws:s3:arn": obj}}),)})
    assert judge(decrypt({"kms:EncryptionContext:aws:s3:arn": obj}), g, base="denied").verdict == "allowed"
    extra = {"kms:EncryptionContext:aws:s3:arn": obj, "kms:EncryptionContext:team": "x"}
    assert judge(decrypt(extra), g, base="denied").verdict == "denied"


# -- VPC endpoint policy --------------------------------------------------------------------------


def test_endpoint_policy_limits_s3_requests_through_it_and_not_kms_calls_made_by_s3() -> None:
    # VPC User Guide / PrivateLink Guide, "Control access to VPC endpoints using endpoint policies":
    # a request through the endpoint needs its Allow; S3's own calls to KMS do not pass it.
    from airflow_provider_s3xacct.permissions.guardrails import VpcEndpoint

    policy = Document(
        "endpoint policy",
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]},
    )
    g = Guardrails(vpc_endpoint=VpcEndpoint("vpce-0123456789abcdef0", frozenset({"dst-bucket"}), policy))
    verdict = judge(put_request(), g)
    assert verdict.verdict == "denied" and "vpce-0123456789abcdef0" in verdict.reason
    get = Request(ROLE, DST, "s3:GetObject", "arn:aws:s3:::dst-bucket/x", DST, TLS)
    assert judge(get, g).verdict == "allowed"
    assert judge(Request(ROLE, DST, "kms:Decrypt", DST_KEY, DST, {}, is_kms=True), g).verdict == "allowed"


# -- three-valued ---------------------------------------------------------------------------------


def test_guardrail_deny_with_a_condition_verify_cannot_evaluate_is_undetermined_not_skipped() -> None:
    unevaluable = Document(
        "scp",
        {
            "Statement": [
                {
                    "Sid": "OfficeOnly",
                    "Effect": "Deny",
                    "Action": "s3:*",
                    "Resource": "*",
                    "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
                }
            ]
        },
    )
    # the copy's source IP is unknown (no request_context.egress_cidrs)
    request = put_request(
        context=Context({"aws:SecureTransport": ("true",)}, frozenset({"aws:RequestedRegion"}))
    )
    verdict = judge(request, scps(("r", (FULL_AWS_ACCESS, unevaluable))))
    assert verdict.verdict == "undetermined"
    assert [(u.sid, u.what) for u in verdict.unknown] == [("OfficeOnly", ("aws:SourceIp",))]


# -- reading through the admin sessions (moto) --------------------------------------------------


@pytest.fixture
def org_world(moto: None) -> Iterator[dict[str, Any]]:
    """The source account is an organization's management account; the destination a member in an OU."""
    from tests.aws_world import assume

    mgmt = assume(SRC)
    org = mgmt.client("organizations")
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="dst", Email="dst@example.com")["CreateAccountStatus"][
        "AccountId"
    ]
    root = org.list_roots()["Roots"][0]["Id"]
    for policy_type in ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"):
        org.enable_policy_type(RootId=root, PolicyType=policy_type)
    ou = org.create_organizational_unit(ParentId=root, Name="data")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou)
    scp = org.create_policy(
        Name="region", Description="", Type="SERVICE_CONTROL_POLICY", Content=json.dumps(REGION_SCP.policy)
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=ou)
    rcp = org.create_policy(
        Name="tls",
        Description="",
        Type="RESOURCE_CONTROL_POLICY",
        Content=json.dumps(SECURE_TRANSPORT_RCP.policy),
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=rcp, TargetId=member)
    dst = assume(member)
    iam = dst.client("iam")
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(S3_ONLY))["Policy"]["Arn"]
    iam.create_role(RoleName="sync", AssumeRolePolicyDocument="{}", PermissionsBoundary=boundary)
    role = f"arn:aws:iam::{member}:role/sync"
    src_key = mgmt.client("kms").create_key()["KeyMetadata"]["Arn"]
    mgmt.client("kms").create_grant(
        KeyId=src_key,
        GranteePrincipal=role,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"aws:s3:arn": "arn:aws:s3:::src-bucket/data/a"}},
    )
    ec2 = dst.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    endpoint_policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::src-bucket/*",
            }
        ]
    }
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", PolicyDocument=json.dumps(endpoint_policy)
    )["VpcEndpoint"]["VpcEndpointId"]
    spec = spec_for(role, dest_key=None, src_key=src_key, vpc_endpoint_id=endpoint)
    yield {
        "spec": spec,
        "admins": AccountAdmins.from_sessions(spec, mgmt, dst),
        "member": member,
        "ou": ou,
        "role": role,
        "src_key": src_key,
        "endpoint": endpoint,
        "boundary": boundary,
    }


def test_reads_every_layer_the_admins_may_read(org_world: dict[str, Any]) -> None:
    w = org_world
    g = read_guardrails(w["spec"], w["admins"].client, SessionPolicy(True))
    assert g.not_checked == []
    # SCPs: root > OU > account, each level's policies, read through the management account's admin
    # after the member's admin could not (Organizations answers only the management account).
    scp_levels = g.scps[w["member"]].levels
    assert [target for target, _ in scp_levels] == [scp_levels[0][0], w["ou"], w["member"]]
    assert [d.policy for d in scp_levels[1][1]] == [FULL_AWS_ACCESS.policy, REGION_SCP.policy]
    # RCPs: none for the management account's resources; the member's attached one is read.
    assert SRC not in g.rcps
    assert any("management account" in note for note in g.notes)
    assert SECURE_TRANSPORT_RCP.policy in [d.policy for d in g.rcps[w["member"]].levels[-1][1]]
    assert g.boundary is not None and g.boundary.policy == S3_ONLY
    assert g.session_policies is None
    assert g.vpc_endpoint is not None and g.vpc_endpoint.buckets == {"src-bucket", "dst-bucket"}
    assert g.grants[w["src_key"]][0]["Constraints"] == {
        "EncryptionContextSubset": {"aws:s3:arn": "arn:aws:s3:::src-bucket/data/a"}
    }


def test_verify_with_what_was_read_denies_through_the_layers(org_world: dict[str, Any]) -> None:
    w = org_world
    spec = w["spec"]
    g = read_guardrails(w["spec"], w["admins"].client, SessionPolicy(True))
    planned = plan_policies(spec).files(spec)
    report = verify_policies(spec, _policy_set(planned, spec), guardrails=g)
    denied = {c.action: c.reason for c in report.checks if not c.allowed}
    # the SCP denies PutObject outside the EU (the copy writes in us-east-1), the endpoint policy
    # allows only GetObject, the boundary has no kms:Decrypt
    assert "DenyPutOutsideEU" in denied["s3:PutObject"]
    assert "endpoint policy of" in denied["s3:ListBucket"]
    assert "permissions boundary" in denied["kms:Decrypt"]
    layers = ("SCPs", "RCPs", "permissions boundary", "session policy", "VPC endpoint", "KMS grants")
    assert not [n for n in report.to_dict()["not_checked"] if n["what"].startswith(layers)]


def _policy_set(files: dict[str, Any], spec: TransferSpec) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_policy_dir(files, tmp)
        return load_policy_dir(tmp)


def test_session_policy_of_the_connection_is_read_with_its_managed_policies(
    org_world: dict[str, Any],
) -> None:
    w = org_world
    session = SessionPolicy.from_assume_role_kwargs({"PolicyArns": [{"arn": w["boundary"]}]})
    g = read_guardrails(w["spec"], w["admins"].client, session)
    assert g.session_policies is not None
    assert [d.policy for d in g.session_policies] == [S3_ONLY]
    unknown = read_guardrails(
        w["spec"], w["admins"].client, SessionPolicy.unknown("credentials from elsewhere")
    )
    assert "session policy: not checked (credentials from elsewhere)" in unknown.not_checked_labels()


def test_no_organization_means_no_scps_not_a_gap(moto: None) -> None:
    from tests.aws_world import assume

    src, dst = assume(SRC), assume(DST)
    spec = spec_for(ROLE, dest_key=None, src_key=src.client("kms").create_key()["KeyMetadata"]["Arn"])
    dst.client("iam").create_role(RoleName="sync", AssumeRolePolicyDocument="{}")
    g = read_guardrails(spec, AccountAdmins.from_sessions(spec, src, dst).client, SessionPolicy(True))
    assert f"SCPs of {DST}: none apply (the account is in no organization)" in g.notes
    assert not any(item.startswith("SCPs") for item in g.not_checked_labels())


# -- unreadable layers (botocore Stubber) ---------------------------------------------------------


def _stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_unreadable_scps_are_listed_as_not_checked_and_decide_nothing(moto: None) -> None:
    """Organizations refuses member accounts: responses shaped by botocore's service model
    (Stubber validates them) stand in for AWS, which moto does not refuse."""
    from tests.aws_world import assume

    src, dst = assume(SRC), assume(DST)
    spec = spec_for(ROLE, dest_key=None, src_key=src.client("kms").create_key()["KeyMetadata"]["Arn"])
    dst.client("iam").create_role(RoleName="sync", AssumeRolePolicyDocument="{}")
    stubs = []
    clients: dict[str, Any] = {}
    for account in (DST, SRC):  # the principal's account's admin is asked first, then the other
        org, stub = _stubbed("organizations")
        org_desc = {
            "Organization": {
                "Id": "o-exampleorgid",
                "MasterAccountId": "999999999999",
                "FeatureSet": "ALL",
            }
        }
        stub.add_response("describe_organization", org_desc)
        stub.add_response(
            "list_roots",
            {
                "Roots": [
                    {"Id": "r-ab12", "PolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]}
                ]
            },
        )
        stub.add_response("list_parents", {"Parents": [{"Id": "r-ab12", "Type": "ROOT"}]}, {"ChildId": DST})
        stub.add_client_error(
            "list_policies_for_target",
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        )
        # the RCP reads (both resource accounts) are refused the same way, at DescribeOrganization
        for _ in range(2):
            stub.add_client_error("describe_organization", "AccessDeniedException")
        stub.activate()
        stubs.append(stub)
        clients[account] = org
    admins = AccountAdmins.from_sessions(spec, src, dst)

    def client_for(account: str, service: str, region: str | None) -> Any:
        return clients[account] if service == "organizations" else admins.client(account, service, region)

    g = read_guardrails(spec, client_for, SessionPolicy(True))
    expected = (
        f"SCPs of {DST}: not checked (through the destination admin: no organizations:ListPoliciesForTarget "
        "access: AccessDeniedException; through the source admin: no organizations:ListPoliciesForTarget "
        "access: AccessDeniedException)"
    )
    assert expected in g.not_checked_labels()
    assert DST not in g.scps
    report = verify_policies(spec, _policy_set(plan_policies(spec).files(spec), spec), guardrails=g)
    assert report.ok  # nothing read denies; the gap is listed, not turned into a deny or an allow claim
    why = expected.split(": not checked (", 1)[1][:-1]
    assert f"SCPs of {DST} ({why})" in report.summary()
    assert {"what": f"SCPs of {DST}", "why": why} in report.to_dict()["not_checked"]


def test_refused_boundary_and_grant_reads_name_the_call(moto: None) -> None:
    from tests.aws_world import assume

    spec = spec_for(ROLE)
    src, dst = assume(SRC), assume(DST)
    admins = AccountAdmins.from_sessions(spec, src, dst)
    iam, iam_stub = _stubbed("iam")
    iam_stub.add_client_error("get_role", "AccessDenied", "not authorized to perform: iam:GetRole")
    iam_stub.activate()
    kms, kms_stub = _stubbed("kms")
    for _ in range(2):
        kms_stub.add_client_error("list_grants", "AccessDeniedException")
    kms_stub.activate()

    def client_for(account: str, service: str, region: str | None) -> Any:
        return {"iam": iam, "kms": kms}.get(service) or admins.client(account, service, region)

    g = read_guardrails(spec, client_for, SessionPolicy(True))
    assert "permissions boundary: not checked (no iam:GetRole access: AccessDenied)" in g.not_checked_labels()
    assert (
        f"KMS grants of {SRC_KEY}: not checked (no kms:ListGrants access: AccessDeniedException)"
        in g.not_checked_labels()
    )


# -- offline files --------------------------------------------------------------------------------


def test_offline_layer_files_are_read_and_a_missing_file_is_not_checked(tmp_path: Path) -> None:
    spec = spec_for(ROLE)
    bare = load_guardrails_dir(tmp_path, spec)
    assert {what for what, _ in bare.not_checked} == {
        "SCPs",
        "RCPs",
        "permissions boundary",
        "session policy",
        "VPC endpoint policy",
        "KMS grants",
    }
    (tmp_path / "scps.json").write_text(
        json.dumps({DST: {"r-root": [FULL_AWS_ACCESS.policy], DST: REGION_SCP.policy}})
    )
    (tmp_path / "permission-boundary.json").write_text("null")
    (tmp_path / "session-policy.json").write_text(json.dumps(S3_ONLY))
    (tmp_path / "grants.json").write_text(json.dumps({SRC_KEY: {"Grants": [grant()]}}))
    (tmp_path / "vpce-policy.json").write_text(
        json.dumps(
            {
                "VpcEndpoints": [
                    {
                        "VpcEndpointId": "vpce-0123456789abcdef0",
                        "ServiceName": "com.amazonaws.eu-west-1.s3",
                        "PolicyDocument": json.dumps({"Statement": []}),
                    }
                ]
            }
        )
    )
    g = load_guardrails_dir(tmp_path, spec)
    assert [t for t, _ in g.scps[DST].levels] == ["r-root", DST]
    assert g.boundary is None and "permissions boundary: none (permission-boundary.json is null)" in g.notes
    assert g.session_policies is not None and g.session_policies[0].policy == S3_ONLY
    assert g.grants[SRC_KEY][0]["GrantId"] == "g-1"
    assert f"KMS grants of {DST_KEY}: not checked (not in grants.json)" in g.not_checked_labels()
    # the endpoint is in eu-west-1: the transfer's us-east-1 buckets do not pass it
    assert g.vpc_endpoint is not None and g.vpc_endpoint.buckets == frozenset()
    assert judge(put_request("us-east-1", TLS), Guardrails(vpc_endpoint=g.vpc_endpoint)).verdict == "allowed"


@pytest.mark.parametrize(
    ("name", "content"),
    [("scps.json", [{"Statement": []}]), ("grants.json", []), ("vpce-policy.json", {"Statement": []})],
)
def test_malformed_offline_layer_file_names_the_file(tmp_path: Path, name: str, content: Any) -> None:
    (tmp_path / name).write_text(json.dumps(content))
    with pytest.raises(InvalidInputError) as err:
        load_guardrails_dir(tmp_path, spec_for(ROLE))
    assert err.value.field == name


# -- the operator: the session policy of the sync principal's Airflow connection -----------------


def test_operator_verify_reads_the_session_policy_from_assume_role_kwargs(
    transfer: dict[str, Any],  # noqa: F811  (the fixture imported above)
    world: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The planned documents applied, a connection whose role assumption passes a read-only
    session policy: verify fails on the writes, naming the session policy (IAM User Guide,
    "Session policies"); moto does not enforce it, so the copy itself is not run."""
    from airflow_provider_s3xacct.compat import AirflowFailException
    from tests.aws_world import aws_connection
    from tests.test_permissions_operator import _TI, op

    op("apply", transfer).execute({"ti": _TI()})  # type: ignore[typeddict-item]
    read_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}],
    }
    aws_connection(
        monkeypatch,
        "sync",
        world.endpoint_url,
        role_arn=transfer["principal_arn"],
        assume_role_kwargs={"Policy": json.dumps(read_only)},
    )
    verify = op("verify", transfer)
    verify.aws_conn_id = "sync"
    ti = _TI()
    with pytest.raises(AirflowFailException, match="the session policy"):
        verify.execute({"ti": ti})  # type: ignore[typeddict-item]
    denied = {c["action"] for c in ti.pushed["report"]["checks"] if not c["allowed"]}
    assert "s3:PutObject" in denied and "s3:GetObject" not in denied
    assert "session policy: the inline session policy" in ti.pushed["report"]["guardrails_checked"]


def test_a_users_boundary_is_read_with_getuser(moto: None) -> None:
    """moto 5.2.5 does not store user boundaries (GetUser returns none): IAM answers shaped by
    botocore's service model (Stubber validates them) stand in for AWS."""
    from tests.aws_world import assume

    src, dst = assume(SRC), assume(DST)
    spec = spec_for(USER, dest_key=None, src_key=src.client("kms").create_key()["KeyMetadata"]["Arn"])
    boundary_arn = f"arn:aws:iam::{DST}:policy/boundary"
    iam, stub = _stubbed("iam")
    user = {
        "Path": "/",
        "UserName": "sync_user",
        "UserId": "AIDAEXAMPLEEXAMPLE01",
        "Arn": USER,
        "CreateDate": "2026-01-01T00:00:00Z",
        "PermissionsBoundary": {
            "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
            "PermissionsBoundaryArn": boundary_arn,
        },
    }
    stub.add_response("get_user", {"User": user}, {"UserName": "sync_user"})
    stub.add_response("get_policy", {"Policy": {"DefaultVersionId": "v2"}}, {"PolicyArn": boundary_arn})
    stub.add_response(
        "get_policy_version",
        {"PolicyVersion": {"Document": json.dumps(S3_ONLY), "VersionId": "v2", "IsDefaultVersion": True}},
        {"PolicyArn": boundary_arn, "VersionId": "v2"},
    )
    stub.activate()
    admins = AccountAdmins.from_sessions(spec, src, dst)

    def client_for(account: str, service: str, region: str | None) -> Any:
        return iam if service == "iam" else admins.client(account, service, region)

    g = read_guardrails(spec, client_for, SessionPolicy.unknown("irrelevant for a user"))
    assert g.boundary is not None and g.boundary.policy == S3_ONLY
    assert "session policy: none (the copy uses the IAM user's own credentials)" in g.notes
    stub.assert_no_pending_responses()


def test_guardrail_allow_covering_part_of_the_prefix_does_not_allow_the_copy() -> None:
    # Organizations User Guide, "SCP evaluation": the level must allow the request; an SCP that
    # allows only part of the copied prefix leaves the rest without an Allow.
    public_only = Document(
        "PublicOnly",
        {
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::dst-bucket/public/*"}
            ]
        },
    )
    whole = Request(ROLE, DST, "s3:PutObject", "arn:aws:s3:::dst-bucket/", DST, TLS, resource_prefix=True)
    public = Request(
        ROLE, DST, "s3:PutObject", "arn:aws:s3:::dst-bucket/public/", DST, TLS, resource_prefix=True
    )
    g = scps(("r", (public_only,)))
    assert judge(whole, g).verdict == "denied"
    assert judge(public, g).verdict == "allowed"


def test_grant_to_a_session_of_the_role_is_undetermined_when_the_session_name_is_unknown() -> None:
    # KMS Developer Guide, "Grants in AWS KMS": the grantee can be an assumed-role session; the
    # spec names the role, so verify cannot know whether the copy's session is that one.
    session = f"arn:aws:sts::{DST}:assumed-role/sync/nightly"
    g = Guardrails(grants={SRC_KEY: (grant(GranteePrincipal=session),)})
    assert judge(decrypt({}), g, base="denied").verdict == "undetermined"
    as_session = Request(session, DST, "kms:Decrypt", SRC_KEY, SRC, {}, is_kms=True)
    assert judge(as_session, g, base="denied").verdict == "allowed"
