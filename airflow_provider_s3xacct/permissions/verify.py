"""``verify``: every required request evaluated against the documents, with the fix for each gap.

Each check is ``allowed``, ``denied`` or ``undetermined`` (a statement or document that could
change the outcome depends on something verify cannot know here; the check names it). The
report lists, in every output, the layers of AWS's authorization that were not checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_s3xacct.aws.arns import root_arn
from airflow_provider_s3xacct.permissions.conditions import Context
from airflow_provider_s3xacct.permissions.documents import AccountAdmins, PolicySet
from airflow_provider_s3xacct.permissions.evaluator import (
    Decision,
    Document,
    Request,
    Unknown,
    Verdict,
    evaluate,
    statement_matches,
)
from airflow_provider_s3xacct.permissions.guardrails import (
    Guardrails,
    SessionPolicy,
    apply_guardrails,
    read_guardrails,
)
from airflow_provider_s3xacct.permissions.lint import LintFinding, lint_policies
from airflow_provider_s3xacct.permissions.plan import (
    DEST_BUCKET_FILE,
    DEST_KEY_FILE,
    SOURCE_BUCKET_FILE,
    SOURCE_KEYS_FILE,
    PolicyPlan,
    identity_file,
    plan_policies,
)
from airflow_provider_s3xacct.permissions.requests import (
    ObservedPrincipal,
    RequiredRequest,
    required_requests,
)
from airflow_provider_s3xacct.permissions.spec import SIDES, Side, TransferSpec

if TYPE_CHECKING:
    from airflow_provider_s3xacct.permissions.aws_checks import AwsChecks


@dataclass(frozen=True)
class NotChecked:
    """A layer of AWS's authorization (or a document) that this verification did not evaluate."""

    what: str
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "why": self.why}

    def label(self) -> str:
        return f"{self.what} ({self.why})"


# What verify never sees from the five documents (IAM User Guide, "Policy evaluation logic";
# S3 User Guide, "Controlling ownership of objects", "Blocking public access", "Requester Pays").
# guardrails.py reads the first six (online or offline) and lists those it could not read instead.
_GUARDRAIL_SPOTS: tuple[NotChecked, ...] = (
    NotChecked("SCPs", "service control policies of AWS Organizations are not read"),
    NotChecked("RCPs", "resource control policies of AWS Organizations are not read"),
    NotChecked("permission boundaries", "the principal's permissions boundary is not read"),
    NotChecked("session policies", "policies passed when the role session is created are not known"),
    NotChecked("VPC endpoint policies", "the policy of the endpoint the copy goes through is not read"),
    NotChecked("KMS grants", "grants on the keys are not listed (they can only add permissions)"),
)
_OTHER_SPOTS: tuple[NotChecked, ...] = (
    NotChecked("Object Ownership/ACLs", "object ACLs and the bucket's Object Ownership setting are not read"),
    NotChecked("Block Public Access", "the account and bucket settings are not read"),
    NotChecked("Requester Pays", "whether a bucket requires x-amz-request-payer is not read"),
)
BLIND_SPOTS = _GUARDRAIL_SPOTS + _OTHER_SPOTS

# What the user can add to the spec (request_context) so verify can decide a key.
_KEY_HINTS = {
    "aws:principalorgid": "request_context.organization_id",
    "aws:principalorgpaths": "request_context.org_paths",
    "aws:principaltag/": "request_context.principal_tags",
    "aws:sourcevpce": "request_context.vpc_endpoint_id",
    "aws:sourceip": "request_context.egress_cidrs",
    "aws:vpcsourceip": "request_context.egress_cidrs",
}

_RANK: dict[Verdict, int] = {"allowed": 0, "undetermined": 1, "denied": 2}


@dataclass
class Check:
    principal: str
    action: str
    resource: str
    allowed: bool
    reason: str
    purpose: str
    fix: str | None = None
    verdict: Verdict = "allowed"
    undetermined_by: tuple[Unknown, ...] = ()
    denied_part: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "verdict": self.verdict,
            "allowed": self.allowed,
            "reason": self.reason,
            "fix": self.fix,
            "purpose": self.purpose,
            "denied_part": self.denied_part,
            "undetermined_by": [u.to_dict() for u in self.undetermined_by],
        }


@dataclass
class VerifyReport:
    checks: list[Check]
    lint: list[LintFinding]
    probes: list[dict[str, Any]] = field(default_factory=list)
    not_checked: list[NotChecked] = field(default_factory=list)
    aws: AwsChecks | None = None  # AWS's own checks when online (aws_checks.py)
    guardrails_read: list[str] = field(default_factory=list)  # what guardrails.py read, per layer

    @property
    def ok(self) -> bool:
        """True only when every check is allowed (and every live probe and AWS's simulator agree)."""
        return self.verdict == "allowed"

    @property
    def verdict(self) -> Verdict:
        """``denied`` if any check is (or a live probe fails, or AWS's simulator disagrees: then the
        verdict cannot be relied on), else ``undetermined`` if any check is, else ``allowed``."""
        if (
            any(c.verdict == "denied" for c in self.checks)
            or not all(p.get("ok", True) for p in self.probes)
            or (self.aws is not None and not self.aws.ok)
        ):
            return "denied"
        return "undetermined" if any(c.verdict == "undetermined" for c in self.checks) else "allowed"

    def undetermined_summary(self) -> list[dict[str, Any]]:
        """Each statement or document that left a check undetermined, once, with what it could not know."""
        seen: dict[tuple[str, str | None], dict[str, Any]] = {}
        for check in self.checks:
            for u in check.undetermined_by:
                entry = seen.setdefault(
                    (u.document, u.sid),
                    {"document": u.document, "sid": u.sid, "unknown": [], "checks": 0},
                )
                entry["unknown"] += [w for w in u.what if w not in entry["unknown"]]
                entry["checks"] += 1
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "checks": [c.to_dict() for c in self.checks],
            "undetermined": self.undetermined_summary(),
            "not_checked": [n.to_dict() for n in self.not_checked],
            "guardrails_checked": self.guardrails_read,
            "lint": [f.to_dict() for f in self.lint],
            "probes": self.probes,
            **({"aws": self.aws.to_dict()} if self.aws else {}),
        }

    def summary(self) -> str:
        allowed = sum(c.verdict == "allowed" for c in self.checks)
        lines = [f"{allowed}/{len(self.checks)} required requests allowed"]
        # A relay copy has two principals: each line says which one makes the request.
        two = len({c.principal for c in self.checks}) > 1
        for c in self.checks:
            if c.verdict == "allowed":
                continue
            who = f" by {c.principal}" if two else ""
            lines.append(f"{c.verdict.upper()} {c.action} on {c.resource}{who} ({c.purpose}): {c.reason}")
            if c.fix:
                lines.append(f"  fix: {c.fix}")
        for f in self.lint:
            lines.append(f"lint [{f.severity}] {f.document} {f.sid or ''}: {f.message}")
        if self.aws:
            lines += self.aws.summary_lines()
        if self.not_checked:
            lines.append("not checked: " + ", ".join(n.label() for n in self.not_checked))
        return "\n".join(lines)


def _resource_document(
    req: RequiredRequest, policies: PolicySet, spec: TransferSpec
) -> tuple[Document | None, bool, str]:
    """(the resource policy, whether it was given, its file name)."""
    if req.resource_kind == "source-bucket":
        return policies.source_bucket, SOURCE_BUCKET_FILE not in policies.not_given, SOURCE_BUCKET_FILE
    if req.resource_kind == "dest-bucket":
        return policies.dest_bucket, DEST_BUCKET_FILE not in policies.not_given, DEST_BUCKET_FILE
    assert req.key_arn
    document = policies.key_policy(req.key_arn, spec)
    name = DEST_KEY_FILE if req.resource_kind == "dest-key" else f"{SOURCE_KEYS_FILE}[{req.key_arn}]"
    return document, document is not None, f"the key policy of {req.key_arn} ({name})"


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
        fixes.append(
            f"add to the identity policy of {spec.principal_arn} ({identity_file(spec)}): {json.dumps(stmt)}"
        )
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
                    "Principal": {"AWS": root_arn(spec.arn_partition, req.resource_account)},
                    "Action": "kms:*",
                    "Resource": "*",
                }
                if req.key_arn
                else None
            )
        fixes.append(f"add to {target}: {json.dumps(stmt)}")
    return "; ".join(fixes)


def evaluator_request(
    spec: TransferSpec, req: RequiredRequest, context: Context | None = None, *, sample: bool = False
) -> Request:
    """The evaluator's view of one required request, made by the spec's principal.

    ``context``: one of ``req.contexts`` (default the first); ``sample``: one object under the
    prefix instead of the whole prefix, for a one-resource API such as the policy simulator.
    """
    return Request(
        spec.acting_principal_arn,
        spec.principal_account,
        req.action,
        req.sample_resource if sample else req.resource,
        req.resource_account,
        context or req.context,
        is_kms=req.action.startswith("kms:"),
        resource_prefix=req.resource_prefix and not sample,
        value_prefixes={} if sample else req.value_prefixes,
    )


def _undetermined_fix(unknowns: Sequence[Unknown]) -> str:
    """How to let verify decide: give the missing document or the spec field for the key."""
    hints: list[str] = []
    for u in unknowns:
        for what in u.what:
            if what == "document not given":
                hints.append(f"give {u.document}")
                continue
            lowered = what.lower()
            field_name = next((f for k, f in _KEY_HINTS.items() if lowered.startswith(k)), None)
            if field_name:
                hints.append(f"set {field_name} in the spec ({what})")
            elif lowered.startswith("the session name"):
                hints.append(
                    "if the copy always uses one session name, give principal_arn as the session ARN "
                    "(arn:<partition>:sts::<account>:assumed-role/<role>/<session>)"
                )
            elif lowered.startswith("s3:existingobjecttag/"):
                hints.append(
                    f"{u.document} statement {u.sid!r} depends on each object's tag {what[21:]!r}: "
                    "narrow it, or copy a prefix whose objects it cannot hit"
                )
    hints = list(dict.fromkeys(hints))
    return (
        "; ".join(hints)
        if hints
        else "review the named statements: verify cannot know their outcome before the copy runs"
    )


def _guarded(
    decision: Decision,
    request: Request,
    document: Document | None,
    guardrails: Guardrails,
    spec: TransferSpec,
) -> tuple[Decision, str | None]:
    """The evaluator's decision combined with the guardrail layers; the guardrail's fix when it denies."""
    guarded = apply_guardrails(
        request,
        decision.verdict,
        guardrails,
        resource=document,
        explicitly_denied=decision.denied_by is not None,
        principal_kind=spec.principal_kind,
    )
    if not guarded.reason:  # the guardrails change nothing
        return decision, None
    if guarded.verdict == "denied":
        return Decision("denied", guarded.reason), guarded.fix
    if guarded.verdict == "undetermined":
        reason = f"undetermined: {guarded.reason}"
        if decision.verdict == "undetermined":
            reason += f"; {decision.reason}"
        unknowns = decision.undetermined_by + guarded.unknown
        return Decision("undetermined", reason, decision.missing, None, unknowns, decision.denied_part), None
    return Decision("allowed", guarded.reason), None  # a KMS grant allows what the key policy does not


def _decide(
    req: RequiredRequest, spec: TransferSpec, policies: PolicySet, guardrails: Guardrails | None
) -> tuple[Decision, Request, str | None]:
    """Evaluate ``req`` in each of its contexts (network variants); the worst verdict wins."""
    document, given, name = _resource_document(req, policies, spec)
    identity = None if identity_file(spec) in policies.not_given else policies.identity_of(spec)
    worst: tuple[Decision, Request, str | None] | None = None
    for context in req.contexts:
        request = evaluator_request(spec, req, context)
        decision = evaluate(request, identity, document, resource_given=given, resource_name=name)
        guard_fix = None
        if guardrails is not None:
            decision, guard_fix = _guarded(decision, request, document, guardrails, spec)
        if worst is None or _RANK[decision.verdict] > _RANK[worst[0].verdict]:
            worst = (decision, request, guard_fix)
    assert worst is not None
    return worst


def verify_policies(
    spec: TransferSpec,
    policies: PolicySet,
    *,
    not_checked: Sequence[NotChecked] | None = None,
    observed: ObservedPrincipal | Mapping[Side, ObservedPrincipal] | None = None,
    guardrails: Guardrails | Mapping[Side, Guardrails] | None = None,
) -> VerifyReport:
    """Lint every document and evaluate every request the copy makes.

    A relay copy: each side's requests are evaluated as made by that side's principal, against
    its identity policies and its side's bucket and key policies; ``observed`` and ``guardrails``
    are then given per side (they describe one principal each).

    :param not_checked: the authorization layers not evaluated (default: every blind spot of
        :data:`BLIND_SPOTS`, or with ``guardrails`` the layers it could not read and the other
        blind spots); documents not given offline are added to it.
    :param observed: what was read online about the principal (tags, organization).
    :param guardrails: SCPs, RCPs, boundary, session policy, endpoint policy and grants
        (guardrails.py), evaluated with every request.
    """
    if spec.relay and spec.side is None:
        return _merged(
            [
                verify_policies(
                    spec.acting(side),
                    policies,
                    not_checked=not_checked,
                    observed=observed[side] if isinstance(observed, Mapping) else observed,
                    guardrails=guardrails[side] if isinstance(guardrails, Mapping) else guardrails,
                )
                for side in SIDES
            ],
            policies,
        )
    assert not isinstance(observed, Mapping) and not isinstance(guardrails, Mapping)
    plan = plan_policies(spec)
    checks = []
    for req in required_requests(spec, observed=observed):
        decision, request, guard_fix = _decide(req, spec, policies, guardrails)
        fix: str | None
        if guard_fix:
            fix = guard_fix
        elif decision.verdict == "allowed":
            fix = None
        elif decision.verdict == "undetermined":
            fix = _undetermined_fix(decision.undetermined_by)
        elif decision.denied_by is not None:
            scope = f" for {decision.denied_part}" if decision.denied_part else ""
            fix = (
                f"remove or narrow {decision.denied_by.label()}: it denies {req.action} on "
                f"{req.shown_resource}{scope} with the context the copy sends; or copy a prefix it does not cover"
                if decision.denied_part
                else f"remove or narrow {decision.denied_by.label()}: it denies {req.action} on "
                f"{req.shown_resource} with the context the copy sends"
            )
        else:
            fix = _fix(req, request, decision.missing, plan, spec)
        checks.append(
            Check(
                spec.acting_principal_arn,
                req.action,
                req.shown_resource,
                decision.allowed,
                decision.reason,
                req.purpose,
                fix,
                decision.verdict,
                decision.undetermined_by,
                decision.denied_part,
            )
        )
    if not_checked is not None:
        layers = list(not_checked)
    elif guardrails is not None:
        layers = [NotChecked(what, why) for what, why in guardrails.not_checked] + list(_OTHER_SPOTS)
    else:
        layers = list(BLIND_SPOTS)
    layers += [
        NotChecked(name, "not given in --policies-dir: the checks that need it are undetermined")
        for name in sorted(policies.not_given)
    ]
    key_files = [(arn, SOURCE_KEYS_FILE) for arn in spec.source.kms_key_arns]
    key_files += [(spec.destination.kms_key_arn, DEST_KEY_FILE)] if spec.destination.kms_key_arn else []
    layers += [
        NotChecked(
            f"key policy of {arn}", f"not given (not in {file}): the checks that need it are undetermined"
        )
        for arn, file in dict(key_files).items()
        if policies.key_policy(arn, spec) is None and file not in policies.not_given
    ]
    report = VerifyReport(checks, lint_policies(policies), not_checked=layers)
    report.guardrails_read = list(guardrails.notes) if guardrails is not None else []
    return report


def _merged(reports: Sequence[VerifyReport], policies: PolicySet) -> VerifyReport:
    """One report of a relay copy from each principal's: every check, each layer and finding once."""
    layers = list({(n.what, n.why): n for r in reports for n in r.not_checked}.values())
    merged = VerifyReport([c for r in reports for c in r.checks], lint_policies(policies), not_checked=layers)
    merged.guardrails_read = list(dict.fromkeys(note for r in reports for note in r.guardrails_read))
    return merged


def verify_deployed(
    spec: TransferSpec,
    admins: AccountAdmins,
    session_policy: SessionPolicy | None = None,
    policies: PolicySet | None = None,
) -> VerifyReport:
    """Verify the deployed documents, with what the admins may read about the principal and the
    guardrails; ``session_policy`` says how the copy's role session is created (None: not known);
    ``policies``: the documents when the caller has read them already (``admins.read_all()``)."""
    session_policy = session_policy or SessionPolicy.unknown(
        "how the copy's role session is created is not known here"
    )
    policies = admins.read_all() if policies is None else policies
    if spec.relay:
        views = {side: admins.acting(side) for side in SIDES}
        return verify_policies(
            spec,
            policies,
            observed={side: view.read_principal() for side, view in views.items()},
            guardrails={
                side: read_guardrails(view.spec, admins.client, session_policy)
                for side, view in views.items()
            },
        )
    return verify_policies(
        spec,
        policies,
        observed=admins.read_principal(),
        guardrails=read_guardrails(spec, admins.client, session_policy),
    )
