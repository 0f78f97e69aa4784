"""Deciding whether a principal may make a request, with AWS's documented evaluation logic.

Covered: explicit Deny anywhere wins; same account needs an Allow in the identity policy OR the
resource policy (naming the principal); cross-account needs both; a KMS key policy is always
required, either naming the principal or delegating to an account root (then the identity policy
must allow); Action/NotAction, Resource/NotResource, Principal/NotPrincipal with wildcards; the
conditions of conditions.py. Not covered (outside these documents): SCPs/RCPs, permissions
boundaries, session policies, grants, ACLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_s3xacct.permissions.conditions import (
    UnsupportedCondition,
    condition_matches,
    glob_regex,
)


@dataclass(frozen=True)
class Document:
    """A named policy document (``name`` says which file or AWS policy it is)."""

    name: str
    policy: Mapping[str, Any]

    def statements(self) -> list[Mapping[str, Any]]:
        raw = self.policy.get("Statement", [])
        return [raw] if isinstance(raw, Mapping) else list(raw)


@dataclass(frozen=True)
class Request:
    principal_arn: str
    principal_account: str
    action: str
    resource: str
    resource_account: str
    context: Mapping[str, str]
    is_kms: bool = False


@dataclass(frozen=True)
class Match:
    document: str
    sid: str | None
    effect: str
    via_account: bool = False  # a resource policy matched through an account principal (delegation)

    def label(self) -> str:
        return (
            f"{self.document} statement {self.sid!r}"
            if self.sid
            else f"{self.document} (statement without Sid)"
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    missing: tuple[str, ...] = ()  # which documents need an Allow: "identity", "resource"
    denied_by: Match | None = None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(glob_regex(p, ignore_case=True).match(action) for p in patterns)


def _resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(glob_regex(p).match(resource) for p in patterns)


def _principal_match(principal: Any, request: Request) -> tuple[bool, bool]:
    """(matches, via_account) for a resource policy's Principal element."""
    if principal == "*":
        return True, False
    if not isinstance(principal, Mapping):
        return False, False
    for value in _as_list(principal.get("AWS")):
        value = str(value)
        if value == "*" or value == request.principal_arn:
            return True, False
        if value in (request.principal_account, f"arn:aws:iam::{request.principal_account}:root"):
            return True, True
    return False, False


def statement_matches(stmt: Mapping[str, Any], request: Request, resource_policy: bool) -> tuple[bool, bool]:
    if "NotAction" in stmt:
        if _action_matches(_as_list(stmt["NotAction"]), request.action):
            return False, False
    elif not _action_matches(_as_list(stmt.get("Action")), request.action):
        return False, False
    if "NotResource" in stmt:
        if _resource_matches(_as_list(stmt["NotResource"]), request.resource):
            return False, False
    elif not _resource_matches(_as_list(stmt.get("Resource")), request.resource):
        return False, False
    via_account = False
    if resource_policy:
        if "NotPrincipal" in stmt:
            matched, _ = _principal_match(stmt["NotPrincipal"], request)
            if matched:
                return False, False
        else:
            matched, via_account = _principal_match(stmt.get("Principal"), request)
            if not matched:
                return False, False
    return condition_matches(stmt.get("Condition"), request.context), via_account


def _matches(
    documents: Sequence[Document], request: Request, resource_policy: bool, unsupported: list[str]
) -> list[Match]:
    found = []
    for doc in documents:
        for stmt in doc.statements():
            try:
                hit, via_account = statement_matches(stmt, request, resource_policy)
            except UnsupportedCondition as exc:
                unsupported.append(f"{doc.name} {stmt.get('Sid')!r}: {exc}")
                continue
            if hit:
                found.append(Match(doc.name, stmt.get("Sid"), str(stmt.get("Effect")), via_account))
    return found


def evaluate(request: Request, identity: Sequence[Document], resource: Document | None) -> Decision:
    """Decide ``request`` from the principal's identity policies and the resource's policy."""
    unsupported: list[str] = []
    id_matches = _matches(identity, request, False, unsupported)
    res_matches = _matches([resource] if resource else [], request, True, unsupported)
    for match in id_matches + res_matches:
        if match.effect == "Deny":
            return Decision(False, f"explicitly denied by {match.label()}", denied_by=match)
    id_allow = next((m for m in id_matches if m.effect == "Allow"), None)
    direct = next((m for m in res_matches if m.effect == "Allow" and not m.via_account), None)
    delegated = next((m for m in res_matches if m.effect == "Allow" and m.via_account), None)
    same_account = request.principal_account == request.resource_account
    note = f" (not evaluated: {'; '.join(unsupported)})" if unsupported else ""
    resource_name = (
        resource.name if resource else ("the key policy" if request.is_kms else "the bucket policy")
    )

    if request.is_kms:
        if direct and (same_account or id_allow):
            via = f" and {id_allow.label()}" if id_allow and not same_account else ""
            return Decision(True, f"allowed by {direct.label()}{via}")
        if delegated and id_allow:
            return Decision(True, f"{delegated.label()} delegates to IAM; allowed by {id_allow.label()}")
        missing = []
        if not (direct or delegated):
            missing.append("resource")
        if not id_allow and not (direct and same_account):
            missing.append("identity")
        return Decision(False, _missing_reason(missing, resource_name, request) + note, tuple(missing))

    if same_account:
        if id_allow:
            return Decision(True, f"allowed by {id_allow.label()}")
        if direct:
            return Decision(True, f"allowed by {direct.label()}")
        return Decision(False, _missing_reason(["identity"], resource_name, request) + note, ("identity",))
    if id_allow and (direct or delegated):
        return Decision(True, f"allowed by {id_allow.label()} and {(direct or delegated).label()}")  # type: ignore[union-attr]
    missing = ([] if id_allow else ["identity"]) + ([] if (direct or delegated) else ["resource"])
    return Decision(False, _missing_reason(missing, resource_name, request) + note, tuple(missing))


def _missing_reason(missing: Sequence[str], resource_name: str, request: Request) -> str:
    parts = []
    if "identity" in missing:
        parts.append("no identity policy of the principal allows it")
    if "resource" in missing:
        cross = " (required cross-account)" if request.principal_account != request.resource_account else ""
        parts.append(f"{resource_name} has no matching Allow{cross}")
    return "implicitly denied: " + " and ".join(parts)
