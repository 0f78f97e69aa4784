"""Deciding whether a principal may make a request, with AWS's documented evaluation logic.

Covered (IAM User Guide, "Policy evaluation logic" and "Cross-account policy evaluation logic"):
explicit Deny anywhere wins; same account needs an Allow in the identity policy OR the resource
policy (naming the principal); cross-account needs both; a KMS key policy is always required,
either naming the principal or delegating to an account root (then the identity policy must
allow); Action/NotAction, Resource/NotResource with wildcards and policy variables;
Principal/NotPrincipal as AWS matches them (see :func:`principal_outcome`); the conditions of
conditions.py.

Three-valued: a statement whose Principal, Resource or Condition depends on something the
request context does not know is *unknown*. The request is then evaluated twice, once with every
unknown Deny matching and every unknown Allow not (pessimistic) and once the other way
(optimistic): both allow -> allowed, both deny -> denied, else undetermined, naming each unknown
statement and what it could not know. A document that was not given (offline) is unknown as a
whole. Object requests may stand for every key under a prefix: a Deny that hits only part of it
denies that part (named), an Allow that covers only part does not grant the request.

Not covered here (listed by verify as not checked): SCPs/RCPs, permissions boundaries, session
policies, VPC endpoint policies, grants, ACLs, Block Public Access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_s3xacct.aws.arns import Principal
from airflow_provider_s3xacct.permissions.conditions import (
    Context,
    evaluate_conditions,
    glob_regex,
    resolve_variables,
)

Verdict = Literal["allowed", "denied", "undetermined"]


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
    """One authorisation. ``principal_arn`` is a user, role or assumed-role session ARN (a role ARN
    means "a session of this role whose name verify does not know"). ``context`` is a
    :class:`Context` or, for tests and old callers, a flat mapping (every other key absent).
    With ``resource_prefix`` the request stands for every resource ARN starting with ``resource``.
    """

    principal_arn: str
    principal_account: str
    action: str
    resource: str
    resource_account: str
    context: Context | Mapping[str, Any]
    is_kms: bool = False
    resource_prefix: bool = False
    # Context keys whose one value stands for every value starting with this prefix (the object ARN
    # of the encryption context, x-amz-copy-source): see _condition_context.
    value_prefixes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.context, Context):
            object.__setattr__(self, "context", Context.from_flat(self.context))

    @property
    def ctx(self) -> Context:
        assert isinstance(self.context, Context)
        return self.context

    @property
    def principal(self) -> Principal | None:
        return Principal.parse(self.principal_arn)


@dataclass(frozen=True)
class Unknown:
    """A statement (or a whole document) whose effect on this request verify could not know."""

    document: str
    sid: str | None
    effect: str
    what: tuple[str, ...]  # context keys, operators, principals, or "document not given"

    def to_dict(self) -> dict[str, Any]:
        return {"document": self.document, "sid": self.sid, "effect": self.effect, "unknown": list(self.what)}

    def label(self) -> str:
        where = f"{self.document} statement {self.sid!r}" if self.sid else self.document
        return f"{where} ({self.effect}; cannot know {', '.join(self.what)})"


@dataclass(frozen=True)
class Match:
    document: str
    sid: str | None
    effect: str
    via_account: bool = False  # a resource policy matched through an account principal (delegation)
    part: str | None = None  # the statement applies only to this part of the prefix (shown pattern)

    def label(self) -> str:
        return (
            f"{self.document} statement {self.sid!r}"
            if self.sid
            else f"{self.document} (statement without Sid)"
        )


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    missing: tuple[str, ...] = ()  # which documents need an Allow: "identity", "resource"
    denied_by: Match | None = None
    undetermined_by: tuple[Unknown, ...] = ()
    denied_part: str | None = None  # a Deny hits only this part of the prefix

    @property
    def allowed(self) -> bool:
        return self.verdict == "allowed"


@dataclass(frozen=True)
class StatementOutcome:
    """Whether a statement applies to a request: True, False, or None (unknown: see ``unknown``)."""

    applies: bool | None
    via_account: bool = False
    part: str | None = None  # applies (or may apply) to this part of the prefix only
    unknown: tuple[str, ...] = field(default_factory=tuple)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _and(*values: bool | None) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(glob_regex(str(p), ignore_case=True).match(action) for p in patterns)


# -- resources: one ARN, or every ARN under a prefix ----------------------------------------------


# A pattern as (character, is a wildcard) tokens: characters a policy variable substituted, and
# ${*} / ${?}, are literal (IAM User Guide, "Policy variables": special characters).
Token = tuple[str, bool]


def _tokens(parts: Iterable[tuple[str, bool]]) -> list[Token]:
    return [(c, wild and c in "*?") for text, wild in parts for c in text]


def _glob_states(pattern: Sequence[Token], text: str) -> set[int]:
    """Positions of ``pattern`` reachable after consuming ``text`` (a glob NFA: ``*`` and ``?``)."""

    def star(i: int) -> bool:
        return i < len(pattern) and pattern[i] == ("*", True)

    def closure(states: set[int]) -> set[int]:
        out, todo = set(states), list(states)
        while todo:
            i = todo.pop()
            if star(i) and i + 1 not in out:
                out.add(i + 1)
                todo.append(i + 1)
        return out

    states = closure({0})
    for ch in text:
        nxt = set()
        for i in states:
            if star(i):
                nxt.add(i)
            elif i < len(pattern) and (pattern[i] == ("?", True) or pattern[i][0] == ch):
                nxt.add(i + 1)
        states = closure(nxt)
        if not states:
            break
    return states


def prefix_coverage(pattern: str | Sequence[tuple[str, bool]], prefix: str) -> Literal["all", "part", "none"]:
    """Does the glob ``pattern`` match every string starting with ``prefix``, some, or none?

    ``pattern`` is policy text (``*``, ``?`` wild) or resolved parts (text, wildcards active).
    After reading ``prefix``, the pattern covers every continuation exactly when some reachable
    position is followed by ``*`` and nothing else; it matches some when any position is reachable.
    """
    tokens = _tokens([(pattern, True)] if isinstance(pattern, str) else pattern)
    states = _glob_states(tokens, prefix)
    if not states:
        return "none"
    if any(i < len(tokens) and all(t == ("*", True) for t in tokens[i:]) for i in states):
        return "all"
    return "part"


def _resource_outcome(
    patterns: list[Any], request: Request
) -> tuple[Literal["all", "part", "none"] | None, str | None, tuple[str, ...]]:
    """(coverage, the narrower pattern that covers part, unknown variables) of a Resource list."""
    best: Literal["all", "part", "none"] = "none"
    part: str | None = None
    unknown: list[str] = []
    for raw in patterns:
        resolved = resolve_variables(str(raw), request.ctx)
        if resolved.text is None:
            unknown += resolved.unknown  # no unknown: a variable without value, matches nothing
            continue
        if request.resource_prefix:
            coverage = prefix_coverage(resolved.parts, request.resource)
        else:
            coverage = "all" if resolved.regex().match(request.resource) else "none"
        if coverage == "all":
            return "all", None, ()
        if coverage == "part" and best == "none":
            best, part = "part", resolved.text
    if unknown and best != "all":
        return None, part, tuple(unknown)
    return best, part, ()


# -- principals -------------------------------------------------------------------------------------


def _principal_values(element: Any) -> tuple[list[str], bool]:
    """(the AWS principal strings, whether the element is the anonymous ``*``)."""
    if element == "*":
        return [], True
    if not isinstance(element, Mapping):
        return [], False
    return [str(v) for v in _as_list(element.get("AWS"))], False


def principal_outcome(element: Any, request: Request) -> tuple[bool | None, bool, tuple[str, ...]]:
    """(matches, via_account, unknown) of a resource policy's ``Principal`` element.

    IAM User Guide, "AWS JSON policy elements: Principal": ``*`` and ``{"AWS": "*"}`` match anyone;
    an account id or root ARN matches every principal of the account, as a delegation to its IAM
    policies; a role ARN matches the role's assumed-role sessions; a session ARN matches that
    session only; service, federated and canonical-user principals never match the sync principal.
    """
    values, anyone = _principal_values(element)
    if anyone or "*" in values:
        return True, False, ()
    principal = request.principal
    if principal is None:  # an ARN the parser does not know: exact match only
        return request.principal_arn in values, False, ()
    if principal.arn in values or (principal.session_arn is not None and principal.session_arn in values):
        return True, False, ()
    if principal.account in values or principal.root in values:
        return True, True, ()
    if principal.kind == "role" and principal.session is None:
        sessions = [v for v in values if v.startswith(principal.session_arn_prefix)]
        if sessions:
            return None, False, (f"the session name of {principal.arn} (named: {', '.join(sessions)})",)
    return False, False, ()


def not_principal_excludes(element: Any, request: Request) -> tuple[bool | None, tuple[str, ...]]:
    """Whether ``NotPrincipal`` exempts the request's principal (the statement then does not apply).

    IAM User Guide, "AWS JSON policy elements: NotPrincipal": AWS may check the account, then the
    role, then the assumed-role session, so a session is exempt only when the session ARN is
    listed (no wildcard), together with its role and account; a user when the user ARN and the
    account are listed. Listing a role ARN does not exempt its sessions.
    """
    values, anyone = _principal_values(element)
    if anyone or "*" in values:
        return True, ()
    principal = request.principal
    if principal is None:
        return request.principal_arn in values, ()
    account_listed = principal.account in values or principal.root in values
    if principal.kind == "user":
        exact: bool | None = principal.arn in values
        needed = [("its account", account_listed)]
    else:
        if principal.session_arn is not None:
            exact = principal.session_arn in values
        else:
            sessions = [v for v in values if v.startswith(principal.session_arn_prefix)]
            exact = None if sessions else False
        needed = [("its role", principal.arn in values), ("its account", account_listed)]
    if exact is False:
        return False, ()
    lacking = [name for name, listed in needed if not listed]
    unknown: list[str] = []
    if exact is None:
        unknown.append(f"the session name of {principal.arn}")
    if lacking:
        unknown.append(
            f"whether AWS checks {' and '.join(lacking)} first (NotPrincipal lists the principal but not "
            f"{' and '.join(lacking)}; IAM User Guide, NotPrincipal)"
        )
    return (None, tuple(unknown)) if unknown else (True, ())


# -- one statement ----------------------------------------------------------------------------------


def statement_outcome(stmt: Mapping[str, Any], request: Request, resource_policy: bool) -> StatementOutcome:
    """Whether ``stmt`` applies to ``request`` (its Effect aside), three-valued."""
    if "NotAction" in stmt:
        if _action_matches(_as_list(stmt["NotAction"]), request.action):
            return StatementOutcome(False)
    elif not _action_matches(_as_list(stmt.get("Action")), request.action):
        return StatementOutcome(False)

    unknown: list[str] = []
    if "NotResource" in stmt:
        coverage, part, unknown_vars = _resource_outcome(_as_list(stmt["NotResource"]), request)
        # The statement applies to what the NotResource patterns do not cover.
        resource_applies: bool | None = {"all": False, "none": True, "part": True, None: None}[coverage]
        part = f"everything but {part}" if coverage == "part" else None
    else:
        coverage, part, unknown_vars = _resource_outcome(_as_list(stmt.get("Resource")), request)
        resource_applies = {"all": True, "part": True, "none": False, None: None}[coverage]
        part = part if coverage == "part" else None
    if resource_applies is False:
        return StatementOutcome(False)
    unknown += unknown_vars

    via_account = False
    principal_applies: bool | None = True
    if resource_policy:
        if "NotPrincipal" in stmt:
            excluded, why = not_principal_excludes(stmt["NotPrincipal"], request)
            principal_applies = None if excluded is None else not excluded
        else:
            principal_applies, via_account, why = principal_outcome(stmt.get("Principal"), request)
        if principal_applies is False:
            return StatementOutcome(False)
        unknown += why

    context, varying = _condition_context(stmt.get("Condition"), request)
    outcome = evaluate_conditions(stmt.get("Condition"), context)
    if outcome.matched is False:
        return StatementOutcome(False)
    unknown += [
        f"{u} (differs between objects under the prefix)" if u.lower() in varying else u
        for u in outcome.unknown
    ]
    applies = _and(resource_applies, principal_applies, outcome.matched)
    return StatementOutcome(applies, via_account, part, tuple(dict.fromkeys(unknown)))


def _condition_context(condition: Any, request: Request) -> tuple[Context, set[str]]:
    """The context to evaluate ``condition`` with, and the keys made unknown for it.

    A key of ``request.value_prefixes`` carries one stand-in value for every object under a prefix.
    That value decides the condition for all of them only when each policy value for the key
    matches all of the prefix or none of it; otherwise (a narrower pattern, one object, a policy
    variable) the key is unknown for this statement, never the stand-in's answer.
    """
    varying: set[str] = set()
    prefixes = {k.lower(): v for k, v in request.value_prefixes.items()}
    if prefixes and isinstance(condition, Mapping):
        for pairs in condition.values():
            for key, raw in pairs.items() if isinstance(pairs, Mapping) else ():
                prefix = prefixes.get(str(key).lower())
                if prefix is not None and any(
                    "${" in str(v) or prefix_coverage(str(v), prefix) == "part" for v in _as_list(raw)
                ):
                    varying.add(str(key).lower())
    if not varying:
        return request.ctx, varying
    ctx = request.ctx
    return Context({k: v for k, v in ctx.values.items() if k.lower() not in varying}, ctx.absent), varying


def statement_matches(stmt: Mapping[str, Any], request: Request, resource_policy: bool) -> tuple[bool, bool]:
    """(applies to the whole request for certain, via_account): for callers that need a yes."""
    outcome = statement_outcome(stmt, request, resource_policy)
    return outcome.applies is True and outcome.part is None, outcome.via_account


# -- a whole request --------------------------------------------------------------------------------


@dataclass
class _Found:
    sure: list[Match] = field(default_factory=list)  # apply for certain (a Deny may be partial)
    maybe: list[tuple[Match, Unknown]] = field(default_factory=list)  # unknown
    partial_allows: list[Match] = field(default_factory=list)  # Allows that cover part of the prefix


def _scan(documents: Sequence[Document], request: Request, resource_policy: bool, found: _Found) -> None:
    for doc in documents:
        for stmt in doc.statements():
            outcome = statement_outcome(stmt, request, resource_policy)
            if outcome.applies is False:
                continue
            effect = str(stmt.get("Effect"))
            match = Match(doc.name, stmt.get("Sid"), effect, outcome.via_account, outcome.part)
            if effect == "Allow" and outcome.part is not None:
                found.partial_allows.append(match)  # never grants the whole prefix, known or not
            elif outcome.applies is None:
                found.maybe.append((match, Unknown(doc.name, stmt.get("Sid"), effect, outcome.unknown)))
            else:
                found.sure.append(match)


def evaluate(
    request: Request,
    identity: Sequence[Document] | None,
    resource: Document | None,
    *,
    resource_given: bool = True,
    resource_name: str | None = None,
) -> Decision:
    """Decide ``request`` from the principal's identity policies and the resource's policy.

    ``identity=None`` means the identity policies were not given; ``resource_given=False`` that the
    resource policy was not (``resource_name`` names it then): both make the request undetermined
    unless the rest decides it either way.
    """
    id_found, res_found = _Found(), _Found()
    unknown_docs: list[Unknown] = []
    if identity is None:
        unknown_docs.append(Unknown("the identity policies", None, "Allow/Deny", ("document not given",)))
    else:
        _scan(identity, request, False, id_found)
    if resource is not None:
        _scan([resource], request, True, res_found)
    name = (
        resource.name
        if resource
        else resource_name or ("the key policy" if request.is_kms else "the bucket policy")
    )
    if not resource_given:
        unknown_docs.append(Unknown(name, None, "Allow/Deny", ("document not given",)))

    def decide(optimistic: bool) -> Decision:
        ids = list(id_found.sure)
        res = list(res_found.sure)
        for found, target in ((id_found, ids), (res_found, res)):
            for match, _ in found.maybe:
                if (match.effect == "Allow") == optimistic:
                    target.append(match)
        if identity is None:
            ids.append(Match("the identity policies (not given)", None, "Allow" if optimistic else "Deny"))
        if not resource_given:
            res.append(Match(f"{name} (not given)", None, "Allow" if optimistic else "Deny"))
        return _decide(request, ids, res, name, id_found.partial_allows + res_found.partial_allows)

    pessimistic, optimistic = decide(False), decide(True)
    if pessimistic.allowed:
        return pessimistic
    if not optimistic.allowed:
        return optimistic
    unknowns = tuple(u for _, u in id_found.maybe + res_found.maybe) + tuple(unknown_docs)
    return Decision(
        "undetermined",
        "undetermined: depends on "
        + "; ".join(u.label() for u in unknowns)
        + f"; at worst {pessimistic.reason}",
        pessimistic.missing,
        pessimistic.denied_by,
        unknowns,
        pessimistic.denied_part,
    )


def _decide(
    request: Request,
    id_matches: list[Match],
    res_matches: list[Match],
    resource_name: str,
    partial: list[Match],
) -> Decision:
    """AWS's decision for definite matches (IAM User Guide, "Policy evaluation logic")."""
    for match in id_matches + res_matches:
        if match.effect == "Deny":
            if match.part is not None:
                return Decision(
                    "denied",
                    f"explicitly denied for {match.part} by {match.label()}",
                    denied_by=match,
                    denied_part=match.part,
                )
            return Decision("denied", f"explicitly denied by {match.label()}", denied_by=match)
    id_allow = next((m for m in id_matches if m.effect == "Allow"), None)
    direct = next((m for m in res_matches if m.effect == "Allow" and not m.via_account), None)
    delegated = next((m for m in res_matches if m.effect == "Allow" and m.via_account), None)
    same_account = request.principal_account == request.resource_account
    note = " (" + "; ".join(f"{m.label()} covers only {m.part}" for m in partial) + ")" if partial else ""

    if request.is_kms:
        if direct and (same_account or id_allow):
            via = f" and {id_allow.label()}" if id_allow and not same_account else ""
            return Decision("allowed", f"allowed by {direct.label()}{via}")
        if delegated and id_allow:
            return Decision("allowed", f"{delegated.label()} delegates to IAM; allowed by {id_allow.label()}")
        missing = []
        if not (direct or delegated):
            missing.append("resource")
        if not id_allow and not (direct and same_account):
            missing.append("identity")
        return Decision("denied", _missing_reason(missing, resource_name, request) + note, tuple(missing))

    if same_account:
        if id_allow:
            return Decision("allowed", f"allowed by {id_allow.label()}")
        if direct:
            return Decision("allowed", f"allowed by {direct.label()}")
        return Decision("denied", _missing_reason(["identity"], resource_name, request) + note, ("identity",))
    grant = direct or delegated
    if id_allow and grant:
        return Decision("allowed", f"allowed by {id_allow.label()} and {grant.label()}")
    missing = ([] if id_allow else ["identity"]) + ([] if grant else ["resource"])
    return Decision("denied", _missing_reason(missing, resource_name, request) + note, tuple(missing))


def _missing_reason(missing: Sequence[str], resource_name: str, request: Request) -> str:
    parts = []
    if "identity" in missing:
        parts.append("no identity policy of the principal allows it")
    if "resource" in missing:
        cross = " (required cross-account)" if request.principal_account != request.resource_account else ""
        parts.append(f"{resource_name} has no matching Allow{cross}")
    return "implicitly denied: " + " and ".join(parts)
