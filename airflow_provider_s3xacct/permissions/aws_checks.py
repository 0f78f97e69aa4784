"""AWS's own answers beside ours, when verify is online.

- **IAM Access Analyzer ``ValidatePolicy``** on each document: identity policies as
  ``IDENTITY_POLICY``; bucket policies as ``RESOURCE_POLICY`` with resource type
  ``AWS::S3::Bucket``; key policies as ``RESOURCE_POLICY`` (Access Analyzer has no KMS resource
  type to validate against). Its findings are reported beside our lint (lint.py), never instead.
- **The IAM policy simulator ``SimulatePrincipalPolicy``** on each request the copy makes, with
  the request context our evaluator uses (same keys, typed), and every request where AWS's answer
  and our evaluator's differ is reported. What is simulated: the principal's deployed identity
  policies (``PolicySourceArn`` = the user or role ARN; an assumed-role session is simulated as its
  role, which is what the spec names). The bucket policy is passed as ``ResourcePolicy`` (with
  ``ResourceOwner`` = the bucket's account and ``CallerArn`` = the user) only for an IAM *user*:
  the API accepts a resource policy only with a user as caller. For a role, and for every KMS
  request (the simulator takes no key policies), the comparison is of the identity side alone.

moto implements neither API; tests/test_aws_checks.py drives these functions through botocore's
Stubber, which checks each request against botocore's service model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.arns import account_of, partition_of_arn, region_of
from airflow_provider_s3xacct.aws.errors import InvalidInputError, code_and_message
from airflow_provider_s3xacct.permissions.documents import PolicySet
from airflow_provider_s3xacct.permissions.evaluator import Document, evaluate
from airflow_provider_s3xacct.permissions.lint import LintFinding, PolicyKind
from airflow_provider_s3xacct.permissions.requests import RequiredRequest, required_requests
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.permissions.verify import evaluator_request

ACCESS_ANALYZER = "IAM Access Analyzer"
# Access Analyzer's finding types on our severities (lint.py): SECURITY_WARNING is a wide grant.
_SEVERITY = {"ERROR": "error", "SECURITY_WARNING": "high", "WARNING": "warning", "SUGGESTION": "suggestion"}

# The simulator needs each context key's type (ContextKeyType); keys not listed are strings.
# IAM User Guide, "AWS global condition context keys", and the S3/KMS service authorization pages.
_CONTEXT_TYPES = {
    "aws:securetransport": "boolean",
    "aws:multifactorauthpresent": "boolean",
    "aws:viaawsservice": "boolean",
    "aws:principalisawsservice": "boolean",
    "aws:currenttime": "date",
    "aws:tokenissuetime": "date",
    "aws:epochtime": "numeric",
    "aws:multifactorauthage": "numeric",
    "aws:sourceip": "ip",
    "s3:max-keys": "numeric",
    "s3:signatureage": "numeric",
    "s3:object-lock-remaining-retention-days": "numeric",
}
# Multivalued keys: a list type even with one value.
_MULTIVALUED = {"aws:tagkeys", "aws:principalorgpaths", "aws:calledvia", "aws:principalservicenameslist"}

ClientFor = Callable[[str, str, "str | None"], Any]  # (account, service, region) -> boto3 client


@dataclass(frozen=True)
class Simulation:
    """AWS's simulator and our evaluator on one required request."""

    request: RequiredRequest
    aws_decision: str  # allowed | explicitDeny | implicitDeny (EvalDecision)
    ours_allowed: bool
    scope: str  # what both sides looked at
    missing_context: tuple[str, ...] = ()
    detail: str = ""  # SCP / permission boundary verdicts, matched statements

    @property
    def agrees(self) -> bool:
        return (self.aws_decision == "allowed") == self.ours_allowed

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.request.action,
            "resource": self.request.sample_resource,
            "purpose": self.request.purpose,
            "aws": self.aws_decision,
            "ours": "allowed" if self.ours_allowed else "denied",
            "agrees": self.agrees,
            "scope": self.scope,
            "missing_context": list(self.missing_context),
            "detail": self.detail,
        }


@dataclass
class AwsChecks:
    """What AWS said: Access Analyzer findings, simulations, and what could not be asked."""

    findings: list[LintFinding] = field(default_factory=list)
    simulations: list[Simulation] = field(default_factory=list)
    simulated_as: str = ""  # the PolicySourceArn, and why when it is a role
    not_checked: list[str] = field(default_factory=list)

    @property
    def disagreements(self) -> list[Simulation]:
        return [s for s in self.simulations if not s.agrees]

    @property
    def ok(self) -> bool:
        """A disagreement means one of the two is wrong: nobody should rely on the verdict."""
        return not self.disagreements

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "simulations": [s.to_dict() for s in self.simulations],
            "simulated_as": self.simulated_as,
            "disagreements": len(self.disagreements),
            "not_checked": self.not_checked,
        }

    def summary_lines(self) -> list[str]:
        lines = [
            f"lint [{f.severity}] ({f.source}) {f.document} {f.sid or ''}: {f.message}" for f in self.findings
        ]
        if self.simulations:
            lines.append(
                f"IAM policy simulator, as {self.simulated_as}: "
                f"{len(self.simulations) - len(self.disagreements)}/"
                f"{len(self.simulations)} requests agree with verify"
            )
        for s in self.disagreements:
            missing = f"; AWS lacked context keys {', '.join(s.missing_context)}" if s.missing_context else ""
            lines.append(
                f"DISAGREE {s.request.action} on {s.request.sample_resource} ({s.request.purpose}): "
                f"AWS simulator says {s.aws_decision}, verify says "
                f"{'allowed' if s.ours_allowed else 'denied'} [{s.scope}]{missing}"
                + (f"; {s.detail}" if s.detail else "")
            )
        lines += [f"not checked: {note}" for note in self.not_checked]
        return lines


def _error(exc: Exception) -> str:
    return code_and_message(exc) or str(exc)


# -- ValidatePolicy ------------------------------------------------------------------------------


def placed_documents(spec: TransferSpec, policies: PolicySet) -> list[tuple[PolicyKind, Document, str, str]]:
    """Each document with its kind, and the account and region that own it."""
    src, dst = spec.source, spec.destination
    out: list[tuple[PolicyKind, Document, str, str]] = [
        ("identity", d, spec.principal_account, dst.region) for d in policies.identity
    ]
    if policies.source_bucket is not None:
        out.append(("bucket", policies.source_bucket, src.account_id, src.region))
    if policies.dest_bucket is not None:
        out.append(("bucket", policies.dest_bucket, dst.account_id, dst.region))
    keys = dict(policies.source_keys)
    if policies.dest_key is not None and dst.kms_key_arn:
        keys[dst.kms_key_arn] = policies.dest_key
    for arn, doc in keys.items():
        out.append(("key", doc, account_of(arn), region_of(arn)))
    return out


def _statement_sid(policy: Mapping[str, Any], path: list[Mapping[str, Any]]) -> str | None:
    """The Sid (or #index) of the statement a finding's location path points into."""
    if not path or path[0].get("value") != "Statement":
        return None
    statements = policy.get("Statement")
    if isinstance(statements, Mapping):
        index = 0
    elif len(path) > 1 and "index" in path[1]:
        index = int(path[1]["index"])
    else:
        return None
    items = [statements] if isinstance(statements, Mapping) else list(statements or [])
    if index >= len(items) or not isinstance(items[index], Mapping):
        return f"#{index}"
    return str(items[index]["Sid"]) if items[index].get("Sid") else f"#{index}"


def validate_documents(
    documents: Iterable[tuple[PolicyKind, Document, str, str]], client_for: ClientFor
) -> tuple[list[LintFinding], list[str]]:
    """Access Analyzer's findings on each document; a document AWS would not validate is named."""
    findings: list[LintFinding] = []
    not_checked: list[str] = []
    for kind, doc, account, region in documents:
        params: dict[str, Any] = {
            "policyDocument": json.dumps(doc.policy),
            "policyType": "IDENTITY_POLICY" if kind == "identity" else "RESOURCE_POLICY",
        }
        if kind == "bucket":
            params["validatePolicyResourceType"] = "AWS::S3::Bucket"
        try:
            client = client_for(account, "accessanalyzer", region)
            for page in client.get_paginator("validate_policy").paginate(**params):
                for f in page.get("findings", []):
                    path = (f.get("locations") or [{}])[0].get("path", [])
                    link = f" ({f['learnMoreLink']})" if f.get("learnMoreLink") else ""
                    findings.append(
                        LintFinding(
                            doc.name,
                            _statement_sid(doc.policy, path),
                            _SEVERITY.get(f["findingType"], f["findingType"].lower()),
                            f"{f['findingDetails']}{link}",
                            f["issueCode"],
                            ACCESS_ANALYZER,
                        )
                    )
        except (ClientError, BotoCoreError, InvalidInputError) as exc:
            not_checked.append(f"{ACCESS_ANALYZER} ValidatePolicy of {doc.name} ({_error(exc)})")
    return findings, not_checked


# -- SimulatePrincipalPolicy ---------------------------------------------------------------------


def context_entries(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request context as the simulator's ContextEntries: same keys, values and types."""
    entries = []
    for key, value in context.items():
        values = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
        base = _CONTEXT_TYPES.get(key.lower(), "string")
        listed = len(values) > 1 or key.lower() in _MULTIVALUED
        entries.append(
            {
                "ContextKeyName": key,
                "ContextKeyValues": values,
                "ContextKeyType": base + ("List" if listed else ""),
            }
        )
    return entries


def _bucket_policy(req: RequiredRequest, policies: PolicySet) -> Document | None:
    if req.resource_kind == "source-bucket":
        return policies.source_bucket
    if req.resource_kind == "dest-bucket":
        return policies.dest_bucket
    return None


def simulate_requests(
    spec: TransferSpec, policies: PolicySet, iam: Any
) -> tuple[list[Simulation], list[str]]:
    """Ask the IAM policy simulator about every required request; compare with our evaluator.

    ``policies.identity`` must be what is deployed on the principal (online verify reads it), as
    the simulator reads the principal's policies from IAM itself.
    """
    partition = partition_of_arn(spec.acting_principal_arn)
    simulations: list[Simulation] = []
    for req in required_requests(spec):
        # One object under the prefix and the keys verify knows: what the simulator can take.
        request = evaluator_request(spec, req, sample=True)
        params: dict[str, Any] = {
            "PolicySourceArn": spec.principal.arn,  # a session is simulated as its role
            "ActionNames": [req.action],
            "ResourceArns": [req.sample_resource],
            "ContextEntries": context_entries(req.context.values),
        }
        bucket = _bucket_policy(req, policies)
        if spec.principal_kind == "user" and bucket is not None:
            params |= {
                "ResourcePolicy": json.dumps(bucket.policy),
                "ResourceOwner": f"arn:{partition}:iam::{req.resource_account}:root",
                "CallerArn": spec.principal_arn,
            }
            scope = f"identity policies and {bucket.name}"
            ours = evaluate(request, policies.identity, bucket).allowed
        else:
            if req.key_arn:
                why = "key policies are not simulated"
            elif bucket is None:
                why = "no bucket policy"
            else:
                why = "a resource policy is simulated only for an IAM user"
            scope = f"identity policies only ({why})"
            # The identity side alone: the same request as if it were same-account and not KMS,
            # where an identity Allow without a Deny decides.
            alone = replace(request, resource_account=request.principal_account, is_kms=False)
            ours = evaluate(alone, policies.identity, None).allowed
        try:
            results = [
                r
                for page in iam.get_paginator("simulate_principal_policy").paginate(**params)
                for r in page.get("EvaluationResults", [])
            ]
        except (ClientError, BotoCoreError, InvalidInputError) as exc:
            return simulations, [f"IAM policy simulator (SimulatePrincipalPolicy: {_error(exc)})"]
        decision, missing, detail = _combine(results)
        simulations.append(Simulation(req, decision, ours, scope, missing, detail))
    return simulations, []


def _combine(results: list[Mapping[str, Any]]) -> tuple[str, tuple[str, ...], str]:
    """One decision from the simulator's results for one action and resource (any deny wins)."""
    if not results:
        return "implicitDeny", (), "the simulator returned no result"
    order = {"explicitDeny": 0, "implicitDeny": 1, "allowed": 2}
    decision = min((r["EvalDecision"] for r in results), key=lambda d: order.get(d, 1))
    missing = tuple(sorted({k for r in results for k in r.get("MissingContextValues", [])}))
    details = []
    for r in results:
        if r.get("OrganizationsDecisionDetail", {}).get("AllowedByOrganizations") is False:
            details.append("denied by an SCP")
        if r.get("PermissionsBoundaryDecisionDetail", {}).get("AllowedByPermissionsBoundary") is False:
            details.append("denied by the permissions boundary")
        matched = [m.get("SourcePolicyId", "?") for m in r.get("MatchedStatements", [])]
        if matched:
            details.append("matched " + ", ".join(matched))
    return decision, missing, "; ".join(dict.fromkeys(details))


def run_aws_checks(
    spec: TransferSpec, policies: PolicySet, client_for: ClientFor, validate: bool, simulate: bool
) -> AwsChecks:
    """Access Analyzer on every document and/or the simulator on every request, with ``client_for``
    making each account's admin client (the principal's account for IAM)."""
    checks = AwsChecks()
    if validate:
        checks.findings, notes = validate_documents(placed_documents(spec, policies), client_for)
        checks.not_checked += notes
    if simulate:
        try:
            iam = client_for(spec.principal_account, "iam", None)
        except (ClientError, BotoCoreError, InvalidInputError) as exc:
            checks.not_checked.append(f"IAM policy simulator ({_error(exc)})")
        else:
            checks.simulations, notes = simulate_requests(spec, policies, iam)
            checks.simulated_as = spec.acting_principal_arn + (
                " (the copy's assumed-role session is simulated as its role)"
                if spec.principal_kind == "role"
                else ""
            )
            checks.not_checked += notes
    return checks
