"""verify's online checks by AWS itself: Access Analyzer ValidatePolicy and the IAM policy simulator.

moto implements neither ValidatePolicy nor SimulatePrincipalPolicy, and this machine cannot reach
AWS, so these tests use botocore's Stubber: every request we send is checked against botocore's
service model for IAM and Access Analyzer (parameter names, types, enums) and against the exact
parameters AWS must receive; the responses are shaped by the same model (Stubber validates them
too). What they cannot show is AWS's real verdict on our documents.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from airflow_provider_s3xacct.permissions.aws_checks import ACCESS_ANALYZER, context_entries, run_aws_checks
from airflow_provider_s3xacct.permissions.documents import PolicySet, load_policy_dir, write_policy_dir
from airflow_provider_s3xacct.permissions.evaluator import Document
from airflow_provider_s3xacct.permissions.plan import plan_policies
from airflow_provider_s3xacct.permissions.requests import RequiredRequest, required_requests
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.permissions.verify import verify_policies

SRC, DST = "111111111111", "222222222222"
SRC_KEY = f"arn:aws:kms:us-east-1:{SRC}:key/1111aaaa-1111-aaaa-1111-aaaa1111aaaa"
DST_KEY = f"arn:aws:kms:eu-west-1:{DST}:key/2222bbbb-2222-bbbb-2222-bbbb2222bbbb"
USER = f"arn:aws:iam::{DST}:user/sync_user"
ROLE = f"arn:aws:iam::{DST}:role/sync-role"
SRC_OBJ = "arn:aws:s3:::src-bucket/data/s3xacct-any-object"  # the object simulated for the prefix


def spec(principal: str = USER) -> TransferSpec:
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
                "region": "eu-west-1",
                "kms_key_arn": DST_KEY,
            },
            "principal_arn": principal,
        }
    )


def planned(s: TransferSpec, tmp_path: Path) -> PolicySet:
    write_policy_dir(plan_policies(s).files(s), tmp_path)
    return load_policy_dir(tmp_path)


def client(service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def analyzer() -> Iterator[tuple[Any, Stubber]]:
    c = client("accessanalyzer")
    with Stubber(c) as stub:
        yield c, stub


@pytest.fixture
def iam() -> Iterator[tuple[Any, Stubber]]:
    c = client("iam")
    with Stubber(c) as stub:
        yield c, stub


# -- ValidatePolicy --------------------------------------------------------------------------------


def test_validate_policy_on_every_document_with_its_type_and_findings_named(
    tmp_path: Path, analyzer: tuple[Any, Stubber]
) -> None:
    s = spec()
    policies = planned(s, tmp_path)
    ac, stub = analyzer
    finding = {
        "findingDetails": "Granting access to all principals can be risky.",
        "findingType": "SECURITY_WARNING",
        "issueCode": "EXAMPLE_ISSUE",
        "learnMoreLink": "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html",
        "locations": [
            {
                "path": [{"value": "Statement"}, {"index": 2}, {"value": "Principal"}],
                "span": {
                    "start": {"line": 1, "column": 1, "offset": 1},
                    "end": {"line": 1, "column": 9, "offset": 9},
                },
            }
        ],
    }
    expected = [
        (policies.identity[0], "IDENTITY_POLICY", None),
        (policies.source_bucket, "RESOURCE_POLICY", "AWS::S3::Bucket"),
        (policies.dest_bucket, "RESOURCE_POLICY", "AWS::S3::Bucket"),
        (policies.source_keys[SRC_KEY], "RESOURCE_POLICY", None),
        (policies.dest_key, "RESOURCE_POLICY", None),  # plan writes it: verify checks it, never assumes it
    ]
    for doc, policy_type, resource_type in expected:
        assert doc is not None
        params: dict[str, Any] = {"policyDocument": json.dumps(doc.policy), "policyType": policy_type}
        if resource_type:
            params["validatePolicyResourceType"] = resource_type
        if doc is policies.dest_bucket:  # two pages: the finding is on the second
            stub.add_response("validate_policy", {"findings": [], "nextToken": "page2"}, params)
            stub.add_response("validate_policy", {"findings": [finding]}, {**params, "nextToken": "page2"})
        else:
            stub.add_response("validate_policy", {"findings": []}, params)
    calls: list[tuple[str, str, str | None]] = []

    def client_for(account: str, service: str, region: str | None) -> Any:
        calls.append((account, service, region))
        return ac

    checks = run_aws_checks(s, policies, client_for, validate=True, simulate=False)
    stub.assert_no_pending_responses()
    # Each document is validated by its own account's admin, in its region.
    assert calls == [
        (DST, "accessanalyzer", "eu-west-1"),
        (SRC, "accessanalyzer", "us-east-1"),
        (DST, "accessanalyzer", "eu-west-1"),
        (SRC, "accessanalyzer", "us-east-1"),
        (DST, "accessanalyzer", "eu-west-1"),
    ]
    (f,) = checks.findings
    assert (f.document, f.sid, f.severity, f.code, f.source) == (
        "dest-bucket-policy.json",
        "S3xacctDenyInsecureTransport",  # Statement[2] of the planned destination bucket policy
        "high",
        "EXAMPLE_ISSUE",
        ACCESS_ANALYZER,
    )
    # Reported beside our lint, in the human summary and in the JSON.
    report = verify_policies(s, policies)
    report.aws = checks
    assert (
        "lint [high] (IAM Access Analyzer) dest-bucket-policy.json S3xacctDenyInsecureTransport"
        in report.summary()
    )
    assert report.to_dict()["aws"]["findings"][0]["code"] == "EXAMPLE_ISSUE"
    assert report.ok  # a finding informs; it does not change a verdict


def test_validate_policy_denied_is_named_not_fatal(tmp_path: Path, analyzer: tuple[Any, Stubber]) -> None:
    s = spec()
    policies = PolicySet(identity=[Document("identity.json", plan_policies(s).files(s)["identity.json"])])
    ac, stub = analyzer
    stub.add_client_error("validate_policy", "AccessDeniedException", "not authorized", 403)
    checks = run_aws_checks(s, policies, lambda *_: ac, validate=True, simulate=False)
    assert checks.findings == []
    assert checks.not_checked == [
        "IAM Access Analyzer ValidatePolicy of identity.json (AccessDeniedException: not authorized)"
    ]


# -- SimulatePrincipalPolicy -----------------------------------------------------------------------


def _side(req: RequiredRequest) -> str | None:
    return {"source-bucket": "source", "dest-bucket": "dest"}.get(req.resource_kind)


# Every request the copy makes for spec(), in order: (action, the one resource simulated, side).
# ContextEntries carry aws:CurrentTime/aws:EpochTime, so the stubs take ANY for them and
# test_context_entries_keep_names_values_and_types checks their content.
REQUESTS: list[tuple[str, str, Any, str | None]] = [
    (r.action, r.sample_resource, ANY, _side(r)) for r in required_requests(spec())
]


def test_context_entries_keep_names_values_and_types() -> None:
    listing = next(r for r in required_requests(spec()) if r.action == "s3:ListBucket")
    entries = {e["ContextKeyName"].lower(): e for e in context_entries(listing.context.values)}
    assert entries["aws:securetransport"]["ContextKeyValues"] == ["true"]
    assert entries["aws:securetransport"]["ContextKeyType"] == "boolean"
    assert entries["s3:prefix"]["ContextKeyValues"] == ["data/"]
    assert entries["s3:max-keys"]["ContextKeyType"] == "numeric"
    assert entries["aws:epochtime"]["ContextKeyType"] == "numeric"
    assert entries["aws:currenttime"]["ContextKeyType"] == "date"
    kms = next(r for r in required_requests(spec()) if r.action == "kms:GenerateDataKey")
    kms_entries = {e["ContextKeyName"].lower(): e for e in context_entries(kms.context.values)}
    assert kms_entries["kms:viaservice"]["ContextKeyValues"] == ["s3.eu-west-1.amazonaws.com"]


def result(action: str, resource: str, decision: str, **extra: Any) -> dict[str, Any]:
    return {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision, **extra}


def test_simulator_gets_each_request_with_context_and_bucket_policy_and_disagreements_are_reported(
    tmp_path: Path, iam: tuple[Any, Stubber]
) -> None:
    s = spec()
    policies = planned(s, tmp_path)
    # Our copy of the identity policy lacks GetObjectTagging (AWS's deployed one has it): verify
    # denies where AWS allows.
    identity = json.loads(json.dumps(policies.identity[0].policy))
    read = next(st for st in identity["Statement"] if st["Sid"] == "S3xacctReadSource")
    read["Action"] = ["s3:GetObject"]
    policies.identity = [Document("identity.json", identity)]
    client_, stub = iam
    buckets = {"source": (policies.source_bucket, SRC), "dest": (policies.dest_bucket, DST)}
    for i, (action, resource, context, side) in enumerate(REQUESTS):
        params: dict[str, Any] = {
            "PolicySourceArn": USER,
            "ActionNames": [action],
            "ResourceArns": [resource],
            "ContextEntries": context,
        }
        if side:  # an IAM user: the bucket policy goes along, owned by the bucket's account
            doc, owner = buckets[side]
            assert doc is not None
            params |= {
                "ResourcePolicy": json.dumps(doc.policy),
                "ResourceOwner": f"arn:aws:iam::{owner}:root",
                "CallerArn": USER,
            }
        decision = "allowed"
        extra: dict[str, Any] = {}
        if (action, resource) == ("kms:Decrypt", SRC_KEY):  # an SCP denies what our documents allow
            decision, extra = (
                "implicitDeny",
                {"OrganizationsDecisionDetail": {"AllowedByOrganizations": False}},
            )
        if i == 0:  # the first answer comes on a second page
            stub.add_response(
                "simulate_principal_policy",
                {"EvaluationResults": [], "IsTruncated": True, "Marker": "m1"},
                params,
            )
            params = {**params, "Marker": "m1"}
        stub.add_response(
            "simulate_principal_policy",
            {"EvaluationResults": [result(action, resource, decision, **extra)], "IsTruncated": False},
            params,
        )
    checks = run_aws_checks(s, policies, lambda *_: client_, validate=False, simulate=True)
    stub.assert_no_pending_responses()
    assert len(checks.simulations) == len(REQUESTS)
    assert [
        (d.request.action, d.request.sample_resource, d.aws_decision, d.ours_allowed)
        for d in checks.disagreements
    ] == [
        ("s3:GetObjectTagging", SRC_OBJ, "allowed", False),
        ("kms:Decrypt", SRC_KEY, "implicitDeny", True),
    ]
    report = verify_policies(s, policies)
    report.aws = checks
    summary = report.summary()
    assert (
        f"IAM policy simulator, as {USER}: {len(REQUESTS) - 2}/{len(REQUESTS)} requests agree with verify"
        in summary
    )
    assert (
        f"DISAGREE kms:Decrypt on {SRC_KEY} (decrypt source objects encrypted under this key): AWS simulator says "
        "implicitDeny, verify says allowed [identity policies only (key policies are not simulated)]; denied by an SCP"
    ) in summary
    assert not report.ok and report.to_dict()["aws"]["disagreements"] == 2


def test_a_role_is_simulated_on_its_identity_side_only_and_a_disagreement_fails_verify(
    tmp_path: Path, iam: tuple[Any, Stubber]
) -> None:
    """SimulatePrincipalPolicy takes a ResourcePolicy only with an IAM user as CallerArn."""
    s = spec(ROLE)
    policies = planned(s, tmp_path)
    client_, stub = iam
    for action, resource, context, _ in REQUESTS:
        params = {
            "PolicySourceArn": ROLE,
            "ActionNames": [action],
            "ResourceArns": [resource],
            "ContextEntries": context,
        }
        # A permissions boundary verify does not read denies the multipart abort.
        decision = "implicitDeny" if action == "s3:AbortMultipartUpload" else "allowed"
        stub.add_response(
            "simulate_principal_policy", {"EvaluationResults": [result(action, resource, decision)]}, params
        )
    checks = run_aws_checks(s, policies, lambda *_: client_, validate=False, simulate=True)
    stub.assert_no_pending_responses()
    assert (
        checks.simulations[0].scope
        == "identity policies only (a resource policy is simulated only for an IAM user)"
    )
    report = verify_policies(s, policies)
    assert report.ok  # our evaluator allows every request of the plan...
    report.aws = checks
    # ...but AWS's simulator does not: verify must not pass.
    assert not report.ok and report.to_dict()["ok"] is False
    assert (
        f"as {ROLE} (the copy's assumed-role session is simulated as its role): "
        f"{len(REQUESTS) - 1}/{len(REQUESTS)}" in report.summary()
    )
    assert [(d.request.action, d.aws_decision) for d in checks.disagreements] == [
        ("s3:AbortMultipartUpload", "implicitDeny")
    ]


def test_simulator_access_denied_is_named(tmp_path: Path, iam: tuple[Any, Stubber]) -> None:
    s = spec()
    client_, stub = iam
    stub.add_client_error("simulate_principal_policy", "AccessDenied", "no iam:SimulatePrincipalPolicy", 403)
    checks = run_aws_checks(s, planned(s, tmp_path), lambda *_: client_, validate=False, simulate=True)
    assert checks.simulations == [] and checks.ok is True
    assert checks.not_checked == [
        "IAM policy simulator (SimulatePrincipalPolicy: AccessDenied: no iam:SimulatePrincipalPolicy)"
    ]


def test_simulate_with_a_policies_dir_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "transfer.json"
    config.write_text(spec().model_dump_json())
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("s3xacct")),
            "verify",
            "--config",
            str(config),
            "--policies-dir",
            str(tmp_path),
            "--simulate",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "--simulate" in run.stderr and "--policies-dir" in run.stderr


def test_online_verify_validates_by_default_and_says_what_aws_would_not_answer(
    moto: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Online, ValidatePolicy runs unless --no-validate; moto answers it with 404 "Not yet
    implemented", which verify lists as not checked instead of failing."""
    from airflow_provider_s3xacct.cli import main

    account = "123456789012"  # moto's in-process account: one account plays both sides
    s = TransferSpec.create(
        {
            "source": {
                "account_id": account,
                "bucket": "src-bucket",
                "prefix": "data/",
                "region": "us-east-1",
            },
            "destination": {"account_id": account, "bucket": "dst-bucket", "region": "us-east-1"},
            "principal_arn": f"arn:aws:iam::{account}:user/sync_user",
        }
    )
    iam = boto3.client("iam")
    iam.create_user(UserName="sync_user")
    files = plan_policies(s).files(s)
    iam.put_user_policy(
        UserName="sync_user", PolicyName="s3xacct-sync", PolicyDocument=json.dumps(files["identity.json"])
    )
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    s3.put_bucket_policy(Bucket="dst-bucket", Policy=json.dumps(files["dest-bucket-policy.json"]))
    config = tmp_path / "transfer.json"
    config.write_text(s.model_dump_json())

    assert main(["verify", "--config", str(config), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out.splitlines()[-1])["aws"]["not_checked"] == [
        "IAM Access Analyzer ValidatePolicy of inline policy 's3xacct-sync' of user sync_user (404: Not yet implemented)",
        "IAM Access Analyzer ValidatePolicy of bucket policy of dst-bucket (404: Not yet implemented)",
    ]
    assert "not checked: IAM Access Analyzer ValidatePolicy of bucket policy of dst-bucket" in out.err
    assert main(["verify", "--config", str(config), "--json", "--no-validate"]) == 0
    assert "aws" not in json.loads(capsys.readouterr().out.splitlines()[-1])
