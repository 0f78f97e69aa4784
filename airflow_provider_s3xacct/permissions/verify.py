"""``verify``: every required request evaluated against the documents, with the fix for each gap."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_s3xacct.permissions.documents import PolicySet
from airflow_provider_s3xacct.permissions.evaluator import Document, Request, evaluate, statement_matches
from airflow_provider_s3xacct.permissions.lint import LintFinding, lint_policies
from airflow_provider_s3xacct.permissions.plan import (
    DEST_BUCKET_FILE,
    DEST_KEY_FILE,
    IDENTITY_FILE,
    SOURCE_BUCKET_FILE,
    SOURCE_KEYS_FILE,
    PolicyPlan,
    plan_policies,
)
from airflow_provider_s3xacct.permissions.requests import RequiredRequest, required_requests
from airflow_provider_s3xacct.permissions.spec import TransferSpec

if TYPE_CHECKING:
    from airflow_provider_s3xacct.permissions.aws_checks import AwsChecks


@dataclass
class Check:
    principal: str
    action: str
    resource: str
    allowed: bool
    reason: str
    purpose: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "allowed": self.allowed,
            "reason": self.reason,
            "fix": self.fix,
            "purpose": self.purpose,
        }


@dataclass
class VerifyReport:
    checks: list[Check]
    lint: list[LintFinding]
    probes: list[dict[str, Any]] = field(default_factory=list)
    aws: AwsChecks | None = None  # AWS's own checks when online (aws_checks.py)

    @property
    def ok(self) -> bool:
        return (
            all(c.allowed for c in self.checks)
            and all(p.get("ok", True) for p in self.probes)
            and (self.aws is None or self.aws.ok)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [c.to_dict() for c in self.checks],
            "lint": [f.to_dict() for f in self.lint],
            "probes": self.probes,
            **({"aws": self.aws.to_dict()} if self.aws else {}),
        }

    def summary(self) -> str:
        denied = [c for c in self.checks if not c.allowed]
        lines = [f"{len(self.checks) - len(denied)}/{len(self.checks)} required requests allowed"]
        for c in denied:
            lines.append(f"DENIED {c.action} on {c.resource} ({c.purpose}): {c.reason}")
            if c.fix:
                lines.append(f"  fix: {c.fix}")
        for f in self.lint:
            lines.append(f"lint [{f.severity}] {f.document} {f.sid or ''}: {f.message}")
        if self.aws:
            lines += self.aws.summary_lines()
        return "\n".join(lines)


def _resource_document(req: RequiredRequest, policies: PolicySet, spec: TransferSpec) -> Document | None:
    if req.resource_kind == "source-bucket":
        return policies.source_bucket
    if req.resource_kind == "dest-bucket":
        return policies.dest_bucket
    assert req.key_arn
    return policies.key_policy(req.key_arn, spec)


def _covering(
    statements: list[dict[str, Any]], request: Request, resource_policy: bool
) -> dict[str, Any] | None:
    """The planned Allow statement that grants ``request`` by itself."""
    for stmt in statements:
        if stmt.get("Effect") == "Allow" and statement_matches(stmt, request, resource_policy)[0]:
            return stmt
    return None


def _fix(
    req: RequiredRequest, request: Request, missing: tuple[str, ...], plan: PolicyPlan, spec: TransferSpec
) -> str:
    fixes = []
    if "identity" in missing:
        stmt = _covering(plan.identity, request, False)
        fixes.append(f"add to the principal's identity policy ({IDENTITY_FILE}): {json.dumps(stmt)}")
    if "resource" in missing:
        if req.resource_kind == "source-bucket":
            target, statements = f"the source bucket policy ({SOURCE_BUCKET_FILE})", plan.source_bucket
        elif req.resource_kind == "dest-bucket":
            target, statements = f"the destination bucket policy ({DEST_BUCKET_FILE})", plan.dest_bucket
        elif req.resource_kind == "source-key":
            target = f"the key policy of {req.key_arn} ({SOURCE_KEYS_FILE})"
            statements = plan.source_keys.get(req.key_arn or "", [])
        else:
            target, statements = f"the key policy of {req.key_arn} ({DEST_KEY_FILE})", plan.dest_key
        stmt = _covering(statements, request, True)
        if stmt is None:  # a same-account key whose policy does not delegate to IAM
            stmt = (
                {
                    "Sid": "S3xacctDelegateToIam",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{req.resource_account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
                if req.key_arn
                else None
            )
        fixes.append(f"add to {target}: {json.dumps(stmt)}")
    return "; ".join(fixes)


def evaluator_request(spec: TransferSpec, req: RequiredRequest) -> Request:
    """The evaluator's view of one required request, made by the spec's principal."""
    return Request(
        spec.principal_arn,
        spec.principal_account,
        req.action,
        req.resource,
        req.resource_account,
        req.context,
        is_kms=req.action.startswith("kms:"),
    )


def verify_policies(spec: TransferSpec, policies: PolicySet) -> VerifyReport:
    """Lint every document and evaluate every request the copy makes."""
    plan = plan_policies(spec)
    checks = []
    for req in required_requests(spec):
        request = evaluator_request(spec, req)
        decision = evaluate(request, policies.identity, _resource_document(req, policies, spec))
        if decision.allowed:
            fix = None
        elif decision.denied_by is not None:
            fix = (
                f"remove or narrow {decision.denied_by.label()}: it denies {req.action} on {req.resource} "
                f"with the context the copy sends ({json.dumps(req.context)})"
            )
        else:
            fix = _fix(req, request, decision.missing, plan, spec)
        checks.append(
            Check(
                spec.principal_arn,
                req.action,
                req.resource,
                decision.allowed,
                decision.reason,
                req.purpose,
                fix,
            )
        )
    return VerifyReport(checks, lint_policies(policies))
