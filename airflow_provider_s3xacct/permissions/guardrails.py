"""Guardrails: the policies outside the identity/bucket/key documents that can still deny the copy.

Layers and the rules applied (docs/guardrails.md cites each source):

- **SCPs** (Organizations User Guide, "Service control policies"; IAM User Guide, "Policy
  evaluation logic"): they limit principals of the accounts they apply to. Every level from the
  root through each OU down to the principal's account must have an Allow (the default
  ``FullAWSAccess`` is such an Allow); an explicit Deny at any level denies. They do not apply to
  the management account nor to service-linked roles.
- **RCPs** (Organizations User Guide, "Resource control policies"): the same inheritance, for
  resources (S3 and KMS among them) of the accounts they apply to; not for resources of the
  management account.
- **Permissions boundary** and **session policy** (IAM User Guide, "Permissions boundaries for IAM
  entities", "Session policies", "Policy evaluation for requests within a single account"): they
  limit identity-based grants, and resource-based grants that name the *role* ARN. A same-account
  resource policy naming the IAM *user*, the role *session* or ``*`` is not limited by their
  implicit deny; a cross-account request always needs the identity side, so always the limits.
  A Deny with ``NotPrincipal`` in a resource policy always denies a principal with a boundary.
- **VPC endpoint policy** (VPC User Guide, "Control access to VPC endpoints using endpoint
  policies"): S3 requests through the endpoint (buckets of the endpoint's region) need its Allow.
  KMS calls S3 makes on the principal's behalf do not pass the endpoint.
- **KMS grants** (KMS Developer Guide, "Grants in AWS KMS", "Grant constraints"): a grant whose
  grantee is the principal and whose operations include the call allows it, when its
  ``EncryptionContextSubset`` / ``EncryptionContextEquals`` constraint holds for the request's
  encryption context. A grant does not override an explicit Deny; like a resource policy naming
  the role ARN it is treated as limited by the boundary and session policy (AWS documents no
  exception for grants).

A layer that could not be read is not an Allow and not a Deny: it is listed in ``not_checked``
with the reason, and the verdict says nothing about it. A statement whose condition cannot be
evaluated makes the check undetermined when it could change the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.arns import account_of, partition_of_arn, region_of
from airflow_provider_s3xacct.aws.errors import InvalidInputError, error_code
from airflow_provider_s3xacct.permissions.conditions import UNKNOWN
from airflow_provider_s3xacct.permissions.documents import AccountAdmins, _load_json, _policy_json
from airflow_provider_s3xacct.permissions.evaluator import (
    Document,
    Request,
    Unknown,
    Verdict,
    statement_outcome,
)
from airflow_provider_s3xacct.permissions.spec import TransferSpec

SCP = "SERVICE_CONTROL_POLICY"
RCP = "RESOURCE_CONTROL_POLICY"

# Offline layout beside plan's files (``verify --policies-dir``); each file is optional.
SCPS_FILE = "scps.json"
RCPS_FILE = "rcps.json"
BOUNDARY_FILE = "permission-boundary.json"
SESSION_POLICY_FILE = "session-policy.json"
VPCE_FILE = "vpce-policy.json"
GRANTS_FILE = "grants.json"


@dataclass(frozen=True)
class OrgPolicies:
    """The SCPs or RCPs that apply to one account, one entry per level, root first."""

    account: str
    levels: tuple[tuple[str, tuple[Document, ...]], ...]  # (target id, its attached policies)


@dataclass(frozen=True)
class VpcEndpoint:
    endpoint_id: str
    buckets: frozenset[str]  # the transfer's buckets in the endpoint's region: their requests pass it
    policy: Document


@dataclass
class Guardrails:
    """What was read of each layer; an absent layer is either not applicable (see ``notes``) or not checked."""

    scps: dict[str, OrgPolicies] = field(default_factory=dict)  # by principal account
    rcps: dict[str, OrgPolicies] = field(default_factory=dict)  # by resource account
    boundary: Document | None = None
    session_policies: tuple[Document, ...] | None = None  # None: no session policy limits the session
    vpc_endpoint: VpcEndpoint | None = None
    grants: dict[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)  # by key ARN
    notes: list[str] = field(default_factory=list)  # what was read, or why a layer does not apply
    not_checked: list[tuple[str, str]] = field(default_factory=list)  # (layer, why it was not checked)

    def to_dict(self) -> dict[str, Any]:
        return {"checked": list(self.notes), "not_checked": self.not_checked_labels()}

    def not_checked_labels(self) -> list[str]:
        return [f"{what}: not checked ({why})" for what, why in self.not_checked]


@dataclass(frozen=True)
class SessionPolicy:
    """How the copy's session is created, as far as the session policy goes.

    ``known`` False: the credentials come from somewhere s3xacct cannot see (``reason`` says
    where), so the layer is not checked. Otherwise ``policy`` (inline JSON) and ``policy_arns``
    (managed session policies) are what the role assumption passes; both empty means none.
    """

    known: bool
    policy: Mapping[str, Any] | None = None
    policy_arns: tuple[str, ...] = ()
    reason: str = ""

    @classmethod
    def unknown(cls, reason: str) -> SessionPolicy:
        return cls(False, reason=reason)

    @classmethod
    def from_assume_role_kwargs(cls, kwargs: Mapping[str, Any]) -> SessionPolicy:
        """From an Airflow ``aws`` connection's ``assume_role_kwargs`` extra (STS AssumeRole's arguments)."""
        raw = kwargs.get("Policy")
        policy = json.loads(raw) if isinstance(raw, str) else raw
        arns = tuple(
            str(item["arn"]) if isinstance(item, Mapping) else str(item)
            for item in kwargs.get("PolicyArns") or ()
        )
        return cls(True, policy, arns)


# -- evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardrailVerdict:
    verdict: Verdict
    reason: str
    unknown: tuple[Unknown, ...] = ()  # guardrail statements whose outcome verify could not know
    fix: str | None = None  # for a guardrail's denial: what its owner has to change


def _label(document: str, stmt: Mapping[str, Any]) -> str:
    sid = stmt.get("Sid")
    return f"{document} statement {sid!r}" if sid else f"{document} (statement without Sid)"


def _matches(
    stmt: Mapping[str, Any], request: Request, resource_policy: bool
) -> tuple[bool | None, tuple[str, ...]]:
    """The evaluator's statement matching: (applies, what it could not know).

    As in the evaluator, an Allow that covers only part of the copied prefix does not grant the
    request, and a Deny that hits part of it denies it.
    """
    outcome = statement_outcome(stmt, request, resource_policy)
    if outcome.part is not None and stmt.get("Effect") != "Deny":
        return False, ()
    return outcome.applies, outcome.unknown


@dataclass(frozen=True)
class _LayerResult:
    verdict: Verdict
    reason: str
    unknown: tuple[Unknown, ...] = ()
    explicit: bool = False  # denied by a Deny statement (not merely without an Allow)
    fix: str | None = None


def _layer(name: str, documents: Sequence[Document], request: Request, resource_policy: bool) -> _LayerResult:
    """A layer that must allow: explicit Deny denies, an Allow is needed, unknown conditions undetermine."""
    allow: str | None = None
    unknown_allow: list[Unknown] = []
    unknown_deny: list[Unknown] = []
    for doc in documents:
        for stmt in doc.statements():
            hit, what = _matches(stmt, request, resource_policy)
            deny = stmt.get("Effect") == "Deny"
            if hit and deny:
                label = _label(doc.name, stmt)
                fix = f"remove or narrow {label} (its owner must change it): it denies {request.action} on {request.resource}"
                return _LayerResult("denied", f"explicitly denied by {label}", explicit=True, fix=fix)
            if hit is None:
                unknown = Unknown(doc.name, stmt.get("Sid"), str(stmt.get("Effect")), what)
                (unknown_deny if deny else unknown_allow).append(unknown)
            elif hit and allow is None:
                allow = _label(doc.name, stmt)
    if allow and not unknown_deny:
        return _LayerResult("allowed", f"allowed by {allow}")
    if allow or unknown_allow:
        unknowns = tuple(unknown_deny + unknown_allow)
        return _LayerResult(
            "undetermined", f"{name}: depends on {'; '.join(u.label() for u in unknowns)}", unknowns
        )
    fix = f"{name} must allow {request.action} on {request.resource} (its owner must add it)"
    return _LayerResult(
        "denied", f"implicitly denied: no statement of {name} allows it", tuple(unknown_deny), fix=fix
    )


def _org_layers(kind: str, policies: OrgPolicies | None, request: Request) -> list[_LayerResult]:
    if policies is None:
        return []
    return [
        _layer(f"the {kind} attached to {target}", docs, request, resource_policy=(kind == "RCPs"))
        for target, docs in policies.levels
    ]


def _names_directly(principal: Any, request: Request, principal_kind: str) -> bool:
    """Whether a resource policy's Principal names the caller in a form boundaries do not limit.

    IAM User Guide, "Policy evaluation for requests within a single account": a grant to the IAM
    user ARN, to the role *session* ARN, or to ``*`` is not limited by an implicit deny in the
    boundary or session policy; a grant to the role ARN (or to the account) is.
    """
    values = (
        [principal]
        if principal == "*"
        else (principal.get("AWS", []) if isinstance(principal, Mapping) else [])
    )
    for value in values if isinstance(values, list) else [values]:
        value = str(value)
        if value == "*":
            return True
        if principal_kind == "user" and value == request.principal_arn:
            return True
        if ":sts::" in value and ":assumed-role/" in value:
            return True
    return False


def _unlimited_resource_grant(
    request: Request, resource: Document | None, principal_kind: str
) -> bool | None:
    if resource is None or request.principal_account != request.resource_account:
        return False
    found: bool | None = False
    for stmt in resource.statements():
        if stmt.get("Effect") != "Allow" or "Principal" not in stmt:
            continue
        if not _names_directly(stmt["Principal"], request, principal_kind):
            continue
        hit, _ = _matches(stmt, request, True)
        if hit:
            return True
        if hit is None:
            found = None
    return found


def _not_principal_deny(request: Request, resource: Document | None) -> str | None:
    """IAM User Guide, "Permissions boundaries for IAM entities": a Deny with NotPrincipal always
    denies a principal that has a permissions boundary, whatever NotPrincipal lists."""
    for stmt in resource.statements() if resource else []:
        if stmt.get("Effect") == "Deny" and "NotPrincipal" in stmt:
            rest = {k: v for k, v in stmt.items() if k != "NotPrincipal"}
            if _matches(rest, request, False)[0]:
                return _label(resource.name, stmt)  # type: ignore[union-attr]
    return None


def _partition(request: Request) -> str:
    return request.principal.partition if request.principal else partition_of_arn(request.principal_arn)


def _encryption_context(request: Request) -> dict[str, str] | None:
    """The request's whole encryption context (``kms:EncryptionContextKeys`` and each
    ``kms:EncryptionContext:<key>``); None when the context does not know it."""
    keys = request.ctx.get("kms:EncryptionContextKeys")
    if keys is UNKNOWN:
        return None
    found = {}
    for key in keys or ():
        value = request.ctx.get(f"kms:EncryptionContext:{key}")
        if value is UNKNOWN or not value:
            return None
        found[key] = value[0]
    return found


def _grantee_matches(grantee: str, request: Request) -> bool | None:
    """The grantee is the user, the role or the copy's session; None: a session of the role whose
    name verify does not know."""
    principal = request.principal
    if principal is None:
        return grantee == request.principal_arn
    if grantee in (principal.arn, principal.session_arn):
        return True
    if (
        principal.kind == "role"
        and principal.session is None
        and grantee.startswith(principal.session_arn_prefix)
    ):
        return None
    return False


def _grant_allows(request: Request, grants: Iterable[Mapping[str, Any]]) -> tuple[bool | None, str]:
    """Whether a grant allows the request (KMS Developer Guide, "Grant constraints")."""
    operation = request.action.split(":", 1)[1]
    unknown: bool | None = False
    for grant in grants:
        grantee = _grantee_matches(str(grant.get("GranteePrincipal", "")), request)
        if grantee is None and operation in grant.get("Operations", ()):
            unknown = None
        if not grantee:
            continue
        if operation not in grant.get("Operations", ()):
            continue
        constraints = grant.get("Constraints") or {}
        label = f"grant {grant.get('GrantId', '?')} ({grant.get('Name') or 'unnamed'}) on {request.resource}"
        if not constraints:
            return True, label
        context = _encryption_context(request)
        if context is None:
            unknown = None
            continue
        subset = constraints.get("EncryptionContextSubset")
        equals = constraints.get("EncryptionContextEquals")
        if subset is not None and all(context.get(k) == v for k, v in subset.items()):
            return True, label
        if equals is not None and context == dict(equals):
            return True, label
    return unknown, ""


def apply_guardrails(
    request: Request,
    base: Verdict,
    guardrails: Guardrails,
    *,
    resource: Document | None,
    explicitly_denied: bool,
    principal_kind: str,
) -> GuardrailVerdict:
    """Combine the evaluator's verdict on ``request`` with the guardrail layers, in AWS's order.

    ``base`` is the verdict of the identity and resource documents; ``explicitly_denied`` says it
    is denied by an explicit Deny (a grant cannot lift that). Kleene AND over the layers: any
    denied -> denied, else any undetermined -> undetermined, else allowed.
    """
    results: list[_LayerResult] = []
    is_kms = request.action.startswith("kms:")
    # 1. Organizations: SCPs of the principal's account, RCPs of the resource's account.
    results += _org_layers("SCPs", guardrails.scps.get(request.principal_account), request)
    results += _org_layers("RCPs", guardrails.rcps.get(request.resource_account), request)
    # 2. The VPC endpoint the S3 requests pass.
    vpce = guardrails.vpc_endpoint
    if (
        vpce
        and request.resource.startswith(f"arn:{_partition(request)}:s3:::")
        and (request.resource.split(":::", 1)[1].split("/", 1)[0] in vpce.buckets)
    ):
        results.append(_layer(f"the endpoint policy of {vpce.endpoint_id}", [vpce.policy], request, True))
    # 3. The evaluator's verdict, widened by KMS grants when it is an implicit deny.
    via_grant = False
    granted_by = ""
    if base == "denied" and not explicitly_denied and is_kms and request.resource in guardrails.grants:
        granted, label = _grant_allows(request, guardrails.grants[request.resource])
        if granted:
            base, via_grant = "allowed", True
            granted_by = label
        elif granted is None:
            base = "undetermined"
            results.append(
                _LayerResult(
                    "undetermined",
                    "a grant could allow it: its grantee is a session verify cannot name, or its "
                    "encryption-context constraint depends on a context verify does not know",
                    (
                        Unknown(
                            f"the grants of {request.resource}",
                            None,
                            "Allow",
                            ("grantee session or encryption context",),
                        ),
                    ),
                )
            )
    # 4. Boundary and session policy limit identity grants and resource grants to the role ARN.
    unlimited = False if via_grant else _unlimited_resource_grant(request, resource, principal_kind)
    limits: list[_LayerResult] = []
    if guardrails.boundary is not None:
        if (np_deny := _not_principal_deny(request, resource)) is not None:
            results.append(
                _LayerResult(
                    "denied",
                    f"explicitly denied by {np_deny}: a Deny with NotPrincipal always denies a "
                    "principal that has a permissions boundary",
                    explicit=True,
                    fix=f"replace NotPrincipal in {np_deny} by an ArnNotEquals condition on aws:PrincipalArn",
                )
            )
        limits.append(
            _layer(
                f"the permissions boundary {guardrails.boundary.name}", [guardrails.boundary], request, False
            )
        )
    if guardrails.session_policies is not None:
        limits.append(_layer("the session policy", guardrails.session_policies, request, False))
    for limit in limits:
        if limit.explicit or unlimited is False:
            results.append(limit)  # an explicit Deny denies whatever granted the request
        elif unlimited is None and limit.verdict != "allowed":
            results.append(
                _LayerResult(
                    "undetermined",
                    f"{limit.reason}, and whether the resource policy grants the principal "
                    "directly (then the limit does not apply) depends on conditions not evaluated",
                    limit.unknown,
                )
            )
    return _combine(base, results, granted_by)


def _combine(base: Verdict, results: list[_LayerResult], granted_by: str) -> GuardrailVerdict:
    denied = next((r for r in results if r.verdict == "denied"), None)
    if denied is not None:
        return GuardrailVerdict("denied", denied.reason, fix=denied.fix)
    if base == "denied":
        return GuardrailVerdict("denied", "")
    unknown = tuple(u for r in results for u in r.unknown)
    undetermined = [r.reason for r in results if r.verdict == "undetermined"]
    if undetermined:
        return GuardrailVerdict("undetermined", "; ".join(undetermined), unknown)
    return GuardrailVerdict(base, f"allowed by {granted_by}" if granted_by else "")


# -- reading online ---------------------------------------------------------------------------------


def _why(exc: Exception, service: str) -> str:
    """``no <service>:<Operation> access: <code>`` for a refused call, else what failed."""
    if isinstance(exc, ClientError):
        code = error_code(exc) or "error"
        if "denied" in code.lower() or "unauthorized" in code.lower():
            return f"no {service}:{exc.operation_name} access: {code}"
        return f"{service}:{exc.operation_name} failed: {code}"
    return f"{service}: {exc}"


def _managed_policy(iam: Any, arn: str) -> Document:
    return AccountAdmins._managed(iam, [{"PolicyArn": arn}])[0]


ClientFor = Callable[[str, str, "str | None"], Any]  # (account, service, region) -> client


def _read_org_policies(
    account: str, policy_type: str, clients: Sequence[tuple[str, str, Any]]
) -> tuple[OrgPolicies | None, str | None, str | None]:
    """(policies, note, not-checked reason) of ``policy_type`` for ``account``.

    Organizations answers policy reads only to the management account or a delegated
    administrator, so each admin session (``clients``: (name, its account, client)) is tried in turn;
    DescribeOrganization describes the caller's own organization.
    """
    kind = "SCPs" if policy_type == SCP else "RCPs"
    failures = []
    for whose, whose_account, org in clients:
        try:
            try:
                organization = org.describe_organization()["Organization"]
            except ClientError as exc:
                not_in_use = error_code(exc) == "AWSOrganizationsNotInUseException"
                if not_in_use and whose_account == account:
                    return None, f"{kind} of {account}: none apply (the account is in no organization)", None
                raise
            if organization.get("FeatureSet") != "ALL":
                return None, f"{kind} of {account}: none apply (organization without all features)", None
            if organization.get("MasterAccountId") == account:
                return None, f"{kind} of {account}: do not apply (it is the management account)", None
            root = org.list_roots()["Roots"][0]
            enabled = any(
                t.get("Type") == policy_type and t.get("Status") == "ENABLED"
                for t in root.get("PolicyTypes", [])
            )
            if not enabled:
                return None, f"{kind} of {account}: none apply (the policy type is not enabled)", None
            chain = [account]
            target = account
            while True:
                parents = org.list_parents(ChildId=target)["Parents"]
                if not parents:
                    break
                target = parents[0]["Id"]
                chain.append(target)
                if parents[0]["Type"] == "ROOT":
                    break
            levels = []
            for target in reversed(chain):
                docs = []
                pages = org.get_paginator("list_policies_for_target").paginate(
                    TargetId=target, Filter=policy_type
                )
                for page in pages:
                    for summary in page["Policies"]:
                        content = org.describe_policy(PolicyId=summary["Id"])["Policy"]["Content"]
                        docs.append(
                            Document(
                                f"{kind[:-1]} {summary['Name']} ({summary['Id']})", _policy_json(content)
                            )
                        )
                levels.append((target, tuple(docs)))
            note = f"{kind} of {account}: read through the {whose} admin ({' > '.join(chain[::-1])})"
            return OrgPolicies(account, tuple(levels)), note, None
        except (ClientError, BotoCoreError) as exc:
            failures.append(f"through the {whose} admin: {_why(exc, 'organizations')}")
    return None, None, "; ".join(failures)


def read_guardrails(
    spec: TransferSpec,
    client_for: ClientFor,
    session_policy: SessionPolicy,
) -> Guardrails:
    """Read every layer the admin sessions may read; what they may not is listed as not checked.

    ``client_for(account, service, region)`` is ``AccountAdmins.client``. Never raises for an AWS
    error: a refused read is a ``not_checked`` entry naming the call and the error code.
    """
    g = Guardrails()
    src, dst = spec.source, spec.destination
    principal_account = spec.principal_account
    region_by_account = {src.account_id: src.region, dst.account_id: dst.region}

    def admin_orgs(first: str) -> list[tuple[str, str, Any]]:
        names = {src.account_id: "source", dst.account_id: "destination"}
        order = dict.fromkeys([first, src.account_id, dst.account_id])
        return [(names[a], a, client_for(a, "organizations", region_by_account[a])) for a in order if a in names]

    # SCPs (principal's account) and RCPs (each resource account).
    if ":role/aws-service-role/" in spec.acting_principal_arn:
        g.notes.append("SCPs: do not apply (service-linked role)")
    else:
        _org_into(g, g.scps, principal_account, SCP, admin_orgs(principal_account))
    for account in dict.fromkeys([src.account_id, dst.account_id]):
        _org_into(g, g.rcps, account, RCP, admin_orgs(account))

    iam = client_for(principal_account, "iam", None)
    # Permissions boundary of the user or role.
    try:
        entity = (
            iam.get_user(UserName=spec.principal_name)["User"]
            if spec.principal_kind == "user"
            else iam.get_role(RoleName=spec.principal_name)["Role"]
        )
        boundary_arn = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if boundary_arn:
            g.boundary = _managed_policy(iam, boundary_arn)
            g.notes.append(f"permissions boundary: {boundary_arn}")
        else:
            g.notes.append(f"permissions boundary: none on {spec.principal_arn}")
    except (ClientError, BotoCoreError) as exc:
        g.not_checked.append(("permissions boundary", f"{_why(exc, 'iam')}"))

    # Session policy of the copy's role assumption.
    if spec.principal_kind == "user":
        g.notes.append("session policy: none (the copy uses the IAM user's own credentials)")
    elif not session_policy.known:
        g.not_checked.append(("session policy", f"{session_policy.reason}"))
    elif session_policy.policy is None and not session_policy.policy_arns:
        g.notes.append("session policy: none (the role assumption passes no Policy/PolicyArns)")
    else:
        try:
            docs = (
                [Document("the inline session policy", dict(session_policy.policy))]
                if session_policy.policy
                else []
            )
            docs += [_managed_policy(iam, arn) for arn in session_policy.policy_arns]
            g.session_policies = tuple(docs)
            g.notes.append(f"session policy: {', '.join(d.name for d in docs)}")
        except (ClientError, BotoCoreError) as exc:
            g.not_checked.append(("session policy", f"its managed policies: {_why(exc, 'iam')}"))

    # VPC endpoint policy.
    if vpc_endpoint_id := spec.request_context.vpc_endpoint_id:
        _read_vpce(g, spec, client_for, vpc_endpoint_id)
    else:
        g.notes.append("VPC endpoint policy: none (the spec names no endpoint)")

    # KMS grants on every key the copy uses.
    for key_arn in dict.fromkeys([*src.kms_key_arns, *([dst.kms_key_arn] if dst.kms_key_arn else [])]):
        kms = client_for(account_of(key_arn), "kms", region_of(key_arn))
        try:
            grants = [
                grant
                for page in kms.get_paginator("list_grants").paginate(KeyId=key_arn)
                for grant in page["Grants"]
            ]
            g.grants[key_arn] = tuple(grants)
            g.notes.append(f"KMS grants of {key_arn}: {len(grants)}")
        except (ClientError, BotoCoreError) as exc:
            g.not_checked.append((f"KMS grants of {key_arn}", f"{_why(exc, 'kms')}"))
    return g


def _org_into(
    g: Guardrails,
    into: dict[str, OrgPolicies],
    account: str,
    policy_type: str,
    clients: list[tuple[str, str, Any]],
) -> None:
    policies, note, failure = _read_org_policies(account, policy_type, clients)
    if policies is not None:
        into[account] = policies
    if note:
        g.notes.append(note)
    if failure:
        kind = "SCPs" if policy_type == SCP else "RCPs"
        g.not_checked.append((f"{kind} of {account}", failure))


def _endpoint(spec: TransferSpec, item: Mapping[str, Any]) -> VpcEndpoint:
    """An endpoint from DescribeVpcEndpoints: its region is the 4th part of ``com.amazonaws.<region>.s3``."""
    region = str(item.get("ServiceName", "")).split(".")[-2] if item.get("ServiceName") else ""
    buckets = frozenset(side.bucket for side in (spec.source, spec.destination) if side.region == region)
    return VpcEndpoint(
        str(item["VpcEndpointId"]),
        buckets,
        Document(f"endpoint policy of {item['VpcEndpointId']}", _policy_json(item["PolicyDocument"])),
    )


def _read_vpce(g: Guardrails, spec: TransferSpec, client_for: ClientFor, endpoint_id: str) -> None:
    failures = []
    for region in dict.fromkeys([spec.source.region, spec.destination.region]):
        ec2 = client_for(spec.principal_account, "ec2", region)
        try:
            found = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
        except (ClientError, BotoCoreError) as exc:
            failures.append(f"{region}: {_why(exc, 'ec2')}")
            continue
        if found:
            g.vpc_endpoint = _endpoint(spec, found[0])
            g.notes.append(f"VPC endpoint policy: {endpoint_id} ({found[0].get('ServiceName')})")
            return
    g.not_checked.append((f"VPC endpoint policy of {endpoint_id}", f"{'; '.join(failures)}"))


# -- reading offline --------------------------------------------------------------------------------


def _policy_file(root: Path, name: str) -> tuple[bool, tuple[Document, ...] | None]:
    """(given, its policies): a file holding ``null`` is given and says there is none."""
    path = root / name
    if not path.exists():
        return False, None
    raw = _load_json(path)
    if raw is None:
        return True, None
    items = raw if isinstance(raw, list) else [raw]
    return True, tuple(Document(name if len(items) == 1 else f"{name}[{i}]", d) for i, d in enumerate(items))


def _org_file(
    path: Path, kind: str, accounts: Iterable[str], into: dict[str, OrgPolicies], g: Guardrails
) -> None:
    raw = _load_json(path)
    shape = '{"<account id>": {"<root, OU or account id>": [<policy>, ...]}}'
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise InvalidInputError(path.name, f"must map each account to its levels: {shape}")
    for account in accounts:
        if account not in raw:
            g.not_checked.append((f"{kind} of {account}", f"not in {path.name}"))
            continue
        levels = []
        for target, docs in raw[account].items():
            items = docs if isinstance(docs, list) else [docs]
            levels.append(
                (
                    target,
                    tuple(Document(f"{path.name}[{account}][{target}][{i}]", d) for i, d in enumerate(items)),
                )
            )
        into[account] = OrgPolicies(account, tuple(levels))
        g.notes.append(f"{kind} of {account}: {path.name} ({len(levels)} levels)")


def load_guardrails_dir(directory: str | Path, spec: TransferSpec) -> Guardrails:
    """The optional guardrail files of ``--policies-dir``; a file not given is a layer not checked.

    ``scps.json`` / ``rcps.json``: account -> level (root, OU, account id) -> policies, each level
    must allow. ``permission-boundary.json``: a policy, or ``null`` for none. ``session-policy.json``:
    a policy or a list of them, or ``null`` for none. ``vpce-policy.json``: the output of
    ``aws ec2 describe-vpc-endpoints``. ``grants.json``: key ARN -> the output of ``aws kms list-grants``.
    """
    root = Path(directory)
    g = Guardrails()
    src, dst = spec.source, spec.destination
    if (path := root / SCPS_FILE).exists():
        _org_file(path, "SCPs", [spec.principal_account], g.scps, g)
    else:
        g.not_checked.append(("SCPs", f"no {SCPS_FILE}"))
    if (path := root / RCPS_FILE).exists():
        _org_file(path, "RCPs", dict.fromkeys([src.account_id, dst.account_id]), g.rcps, g)
    else:
        g.not_checked.append(("RCPs", f"no {RCPS_FILE}"))
    given, boundary = _policy_file(root, BOUNDARY_FILE)
    if not given:
        g.not_checked.append(("permissions boundary", f"no {BOUNDARY_FILE}"))
    elif boundary is None:
        g.notes.append(f"permissions boundary: none ({BOUNDARY_FILE} is null)")
    elif len(boundary) != 1:
        raise InvalidInputError(
            BOUNDARY_FILE, "a permissions boundary is one policy: give it, or null for none"
        )
    else:
        g.boundary = boundary[0]
        g.notes.append(f"permissions boundary: {BOUNDARY_FILE}")
    given, session = _policy_file(root, SESSION_POLICY_FILE)
    if given and session is None:
        g.notes.append(f"session policy: none ({SESSION_POLICY_FILE} is null)")
    elif given:
        g.session_policies = session
        g.notes.append(f"session policy: {SESSION_POLICY_FILE}")
    elif spec.principal_kind == "user":
        g.notes.append("session policy: none (the copy uses the IAM user's own credentials)")
    else:
        g.not_checked.append(("session policy", f"no {SESSION_POLICY_FILE}"))
    if (path := root / VPCE_FILE).exists():
        raw = _load_json(path)
        endpoints = raw.get("VpcEndpoints") if isinstance(raw, dict) else None
        if not endpoints or "PolicyDocument" not in endpoints[0] or "VpcEndpointId" not in endpoints[0]:
            raise InvalidInputError(
                VPCE_FILE,
                "must be the output of `aws ec2 describe-vpc-endpoints --vpc-endpoint-ids vpce-...`",
            )
        g.vpc_endpoint = _endpoint(spec, endpoints[0])
        g.notes.append(f"VPC endpoint policy: {VPCE_FILE}")
    else:
        g.not_checked.append(("VPC endpoint policy", f"no {VPCE_FILE}"))
    keys = dict.fromkeys([*src.kms_key_arns, *([dst.kms_key_arn] if dst.kms_key_arn else [])])
    if (path := root / GRANTS_FILE).exists():
        raw = _load_json(path)
        if not isinstance(raw, dict):
            raise InvalidInputError(
                GRANTS_FILE, "must map each key ARN to the output of `aws kms list-grants --key-id <arn>`"
            )
        for key_arn in keys:
            if key_arn not in raw:
                g.not_checked.append((f"KMS grants of {key_arn}", f"not in {GRANTS_FILE}"))
                continue
            grants = raw[key_arn].get("Grants", []) if isinstance(raw[key_arn], dict) else raw[key_arn]
            g.grants[key_arn] = tuple(grants)
            g.notes.append(f"KMS grants of {key_arn}: {GRANTS_FILE} ({len(grants)})")
    elif keys:
        g.not_checked.append(("KMS grants", f"no {GRANTS_FILE}"))
    return g
