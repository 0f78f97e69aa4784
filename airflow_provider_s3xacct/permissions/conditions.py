"""IAM Condition blocks, decided three-valued against a request context.

No maintained Python library evaluates IAM policies offline (linters check grammar, they do not
decide), so the documented rules are written here, from the IAM User Guide:

- "IAM JSON policy elements: Condition operators": the operator families String*, Numeric*, Date*,
  Bool, BinaryEquals, IpAddress/NotIpAddress, Arn*, Null and every ...IfExists (Null has none). A
  key absent from the request makes a condition false, except for negated operators (true),
  ...IfExists (true) and Null (which tests exactly that).
- "Condition with multiple context keys or values": operators AND, keys AND, the values of one
  key OR; a negated operator is true when the request value matches none of the values (NOR).
- "Single-valued vs. multivalued context keys": ForAllValues is true when every request value
  matches (and when the key is absent or empty), ForAnyValue when at least one does (false when
  the key is absent or empty). The operator after the qualifier applies to each request value,
  so ``ForAllValues:StringNotLike`` means every value matches none of the patterns and
  ``ForAnyValue:StringNotEquals`` means at least one value is none of the listed ones.
- "IAM policy elements: Variables and tags": ``${key}`` in String*, Arn* and Bool values (and in
  Resource, through :func:`resolve_variables`), ``${*}``, ``${?}``, ``${$}`` for the literal
  characters, ``${key, 'default'}`` for a key without a value.

Verify cannot know everything AWS puts in a request, so a :class:`Context` says for each key
whether it is present (its values), known absent, or unknown, and the answer is an
:class:`Outcome` whose ``matched`` is ``None`` when it depends on something not known here. The
logic is Kleene's: FALSE dominates AND (operators, keys), TRUE dominates OR (values), so an
undetermined part only leaves the whole undetermined when it could still change it.

Where the documentation leaves the result open, the answer is undetermined too, never a guess:
an operator outside the reference (or spelled otherwise), a value its operator cannot read, a
malformed block, a variable without a value where AWS's two readings differ, an ARN value
without six components, ForAnyValue with IfExists on an absent key, a plain operator on a
multivalued key.
"""

from __future__ import annotations

import base64
import binascii
import enum
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from types import MappingProxyType
from typing import Any

from airflow_provider_s3xacct.aws.arns import arn_fields

# A piece of a policy value: (text, wildcards active). Text typed in the policy keeps its
# wildcards; what a variable substitutes (and ${*}, ${?}, ${$}) is literal.
Part = tuple[str, bool]


class _Unknown(enum.Enum):
    UNKNOWN = "unknown"


UNKNOWN = _Unknown.UNKNOWN
"""What :meth:`Context.get` returns for a key verify cannot know."""


@dataclass(frozen=True)
class Context:
    """What AWS would put in the request context. Key names are case-insensitive.

    ``values`` holds the keys present in the request and their value(s); ``absent`` the keys known
    NOT to be in it, where an entry ending in ``*`` covers every key it prefixes
    (``"aws:PrincipalTag/*"``: the principal has no tags; ``"*"``: nothing else is present). Any
    other key is unknown: verify cannot know it here. A key present with no value (an empty
    list) counts as absent, as AWS treats an empty multivalued key.
    """

    values: Mapping[str, tuple[str, ...]]
    absent: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        values = {str(k).lower(): _as_strings(v) for k, v in self.values.items()}
        object.__setattr__(self, "values", MappingProxyType(values))
        object.__setattr__(self, "absent", frozenset(str(k).lower() for k in self.absent))

    def __hash__(self) -> int:  # hashable like any frozen value, so callers may cache on it
        return hash((frozenset(self.values.items()), self.absent))

    @classmethod
    def from_flat(cls, mapping: Mapping[str, Any]) -> Context:
        """A context where ``mapping`` holds every key present and every other key is absent.

        The semantics of the old flat dictionaries: a value may be a string, a boolean or a list
        (a multivalued key).
        """
        return cls(dict(mapping), frozenset({"*"}))

    def get(self, key: str) -> tuple[str, ...] | _Unknown | None:
        """The key's values, ``None`` when it is known absent, :data:`UNKNOWN` otherwise."""
        name = key.lower()
        if name in self.values:
            return self.values[name] or None
        for entry in self.absent:
            if name == entry or (entry.endswith("*") and name.startswith(entry[:-1])):
                return None
        return UNKNOWN


@dataclass(frozen=True)
class Outcome:
    """A Condition's result: ``matched`` is ``None`` when it could not be decided here.

    ``unknown`` names what could not be known, each entry either a context key exactly as the
    policy spells it (``"aws:SourceIp"``) or a sentence about an operator or value that cannot be
    evaluated. It is empty when ``matched`` is decided.
    """

    matched: bool | None
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolved:
    """A policy value after ``${...}`` substitution.

    ``text`` is ``None`` when a variable has no value and no default (the element then matches
    nothing) or when a variable's value is unknown (``unknown`` names it; the caller treats the
    element as undetermined). ``${*}`` and ``${?}`` appear in ``text`` as the bare characters,
    so match a resolved pattern with :meth:`regex`, which keeps them literal.
    """

    text: str | None
    unknown: tuple[str, ...] = ()
    parts: tuple[Part, ...] = ()

    def regex(self, ignore_case: bool = False) -> re.Pattern[str]:
        """The value as an IAM wildcard pattern (``*``, ``?``), its literal characters kept literal."""
        if self.text is None:
            raise ValueError("a policy value without a value has no pattern")
        return _parts_regex(self.parts, ignore_case)


@cache
def glob_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """An IAM wildcard pattern (``*`` any run, ``?`` one character) as a compiled regex."""
    return _parts_regex(((pattern, True),), ignore_case)


@cache
def _parts_regex(parts: tuple[Part, ...], ignore_case: bool) -> re.Pattern[str]:
    body = "".join(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
        if wild
        else re.escape(text)
        for text, wild in parts
    )
    return re.compile(f"^{body}$", (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


# ---------------------------------------------------------------------------------------------
# Policy variables ("IAM policy elements: Variables and tags")

# ${key}, ${key, 'default'} (the default may hold braces), ${*}, ${?}, ${$}
_VARIABLE = re.compile(r"\$\{([^,'{}]+,\s*'[^']*'\s*|[^}]*)\}")
# the key may hold inner spaces (tag keys do); the default is quoted
_KEY_AND_DEFAULT = re.compile(r"\s*([^,'\s](?:[^,']*[^,'\s])?)\s*(?:,\s*'([^']*)'\s*)?")


def resolve_variables(text: str, context: Context) -> Resolved:
    """Substitute the ``${...}`` policy variables of ``text`` from ``context``.

    One round only: a default's text is not substituted again. A variable whose key is absent
    takes its default, and without one the value has no value at all (``text`` is ``None``): a
    Resource then matches nothing, whichever way AWS's "the value is effectively null" and "this
    might cause the entire statement to be invalid" are read. A multivalued key cannot be a policy variable ("Single-valued vs. multivalued context keys")
    and a malformed ``${...}`` has no documented meaning; both leave the value undetermined
    rather than guessed. The substituted text is literal: a ``*`` in a tag value is no wildcard.
    """
    return _resolve(text, context)[0]


def _resolve(text: str, context: Context) -> tuple[Resolved, bool, tuple[str, ...]]:
    """:func:`resolve_variables`; whether an unknown variable without a default may have no
    value; the keys of the variables that have none."""
    parts: list[Part] = []
    unknown: list[str] = []
    missing: list[str] = []
    maybe_no_value = False
    end = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > end:
            parts.append((text[end : match.start()], True))
        end = match.end()
        body = match.group(1)
        if body in ("*", "?", "$"):
            parts.append((body, False))
            continue
        key_default = _KEY_AND_DEFAULT.fullmatch(body)
        if key_default is None:
            unknown.append(f"malformed policy variable {match.group(0)!r}")
            continue
        key, default = key_default.group(1), key_default.group(2)
        value = context.get(key)
        if value is UNKNOWN:
            unknown.append(key)
            maybe_no_value = maybe_no_value or default is None
        elif value is None:
            if default is None:
                missing.append(key)
            else:
                parts.append((default, False))
        elif len(value) > 1:
            unknown.append(f"{key} (multivalued: it cannot be a policy variable)")
        else:
            parts.append((value[0], False))
    if end < len(text):
        parts.append((text[end:], True))
    if missing:  # whatever the unknown ones are, this value has none
        return Resolved(None), False, tuple(missing)
    if unknown:
        return Resolved(None, tuple(dict.fromkeys(unknown))), maybe_no_value, ()
    return Resolved("".join(t for t, _ in parts), parts=tuple(parts)), False, ()


def _literal(text: str) -> Resolved:
    """A value of an operator family that does not take policy variables: the text as typed."""
    return Resolved(text, parts=((text, True),))


# ---------------------------------------------------------------------------------------------
# Operator families ("IAM JSON policy elements: Condition operators")


def _as_strings(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list | tuple) else [raw]
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in items)


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_EPOCH = re.compile(r"-?\d+(\.\d+)?")
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")


def _number(text: str) -> Decimal | None:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    return Decimal(text)


def _date(text: str) -> datetime | None:
    """W3C ISO 8601 (a date, a date-time with or without zone, UTC assumed) or epoch seconds.

    An all-digit value is read as epoch seconds (``aws:EpochTime``), never as a bare year.
    """
    text = text.strip()
    try:
        if _EPOCH.fullmatch(text):
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=float(text))
        year_month = _YEAR_MONTH.fullmatch(text)
        if year_month:
            return datetime(int(year_month.group(1)), int(year_month.group(2)), 1, tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _bool(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.strip().lower())


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _arn_pattern(value: Resolved) -> tuple[re.Pattern[str], ...] | None:
    """One wildcard pattern per ARN segment: a wildcard matches within its segment only.

    "Each of the six colon-delimited components of the ARN is checked separately". A value with
    fewer (``arn:aws:s3:*``) has no documented meaning: it could match nothing, or its last
    ``*`` could reach across the colons as it may in a Resource element ("IAM JSON policy
    elements: Resource"), so it is not read (``None``: undetermined).
    """
    segments: list[list[Part]] = [[]]
    for text, wild in value.parts:
        pieces = text.split(":")
        for index, piece in enumerate(pieces):
            if index:
                segments.append([])
            if piece:
                segments[-1].append((piece, wild))
    if len(segments) < 6:
        return None
    head, resource = segments[:5], segments[5:]
    joined: list[Part] = []
    for index, segment in enumerate(resource):
        if index:
            joined.append((":", False))
        joined.extend(segment)
    return tuple(_parts_regex(tuple(s), False) for s in [*head, joined])


def _in_network(address: Any, network: Any) -> bool:
    return address in network  # False across IPv4 and IPv6


def _arn_matches(value: tuple[str, ...], patterns: tuple[re.Pattern[str], ...]) -> bool:
    """Segment by segment; a request value that is no six-part ARN matches no pattern."""
    return len(value) == 6 and all(p.match(v) for p, v in zip(patterns, value, strict=True))


@dataclass(frozen=True)
class _Operator:
    """One base operator: how to read a policy value and a request value, and how to compare."""

    kind: str  # what its values are, for messages
    prepare: Callable[[Resolved], Any]  # policy value -> comparable (None: unreadable)
    read: Callable[[str], Any]  # request value -> comparable (None: unreadable)
    test: Callable[[Any, Any], bool]
    negated: bool = False
    variables: bool = False  # accepts policy variables


def _string(test: Callable[[str, Any], bool], prepare: Callable[[Resolved], Any], negated: bool) -> _Operator:
    return _Operator("string", prepare, str, test, negated, variables=True)


def _typed(
    kind: str, parse: Callable[[str], Any], test: Callable[[Any, Any], bool], negated: bool = False
) -> _Operator:
    return _Operator(kind, lambda v: parse(v.text or ""), parse, test, negated)


def _text(value: Resolved) -> str | None:
    return value.text


def _equals(a: Any, b: Any) -> bool:
    return bool(a == b)


def _iequals(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _like(a: str, pattern: re.Pattern[str]) -> bool:
    return pattern.match(a) is not None


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


def _ordered(kind: str, parse: Callable[[str], Any]) -> dict[str, _Operator]:
    """Numeric* and Date*: the five comparisons and NotEquals."""
    prefix = kind.capitalize()
    table = {f"{prefix}{name}": _typed(kind, parse, test) for name, test in _COMPARISONS.items()}
    table[f"{prefix}NotEquals"] = _typed(kind, parse, _COMPARISONS["Equals"], negated=True)
    return table


_ARN = _Operator("ARN", _arn_pattern, arn_fields, _arn_matches, variables=True)
_NOT_ARN = _Operator("ARN", _arn_pattern, arn_fields, _arn_matches, negated=True, variables=True)

_OPERATORS: dict[str, _Operator] = {
    "StringEquals": _string(_equals, _text, False),
    "StringNotEquals": _string(_equals, _text, True),
    "StringEqualsIgnoreCase": _string(_iequals, _text, False),
    "StringNotEqualsIgnoreCase": _string(_iequals, _text, True),
    "StringLike": _string(_like, lambda v: v.regex(), False),
    "StringNotLike": _string(_like, lambda v: v.regex(), True),
    **_ordered("numeric", _number),
    **_ordered("date", _date),
    "Bool": _Operator("boolean", lambda v: _bool(v.text or ""), _bool, _equals, variables=True),
    "BinaryEquals": _typed("base64", _binary, _equals),
    "IpAddress": _Operator("IP", lambda v: _network(v.text or ""), _address, _in_network),
    "NotIpAddress": _Operator("IP", lambda v: _network(v.text or ""), _address, _in_network, negated=True),
    # ArnEquals and ArnLike are the same comparison: per segment, with wildcards.
    "ArnEquals": _ARN,
    "ArnLike": _ARN,
    "ArnNotEquals": _NOT_ARN,
    "ArnNotLike": _NOT_ARN,
}


# ---------------------------------------------------------------------------------------------
# Three-valued combination


def _kleene(outcomes: Iterable[Outcome], decisive: bool) -> Outcome:
    """Kleene AND (``decisive=False``: any FALSE decides) or OR (``True``: any TRUE decides).

    Otherwise any unknown part leaves the result undetermined, naming all that was unknown.
    """
    unknown: list[str] = []
    for outcome in outcomes:
        if outcome.matched is decisive:
            return Outcome(decisive)
        if outcome.matched is None:
            unknown.extend(outcome.unknown)
    return Outcome(None, tuple(dict.fromkeys(unknown))) if unknown else Outcome(not decisive)


def _all(outcomes: Iterable[Outcome]) -> Outcome:
    return _kleene(outcomes, decisive=False)


def _any(outcomes: Iterable[Outcome]) -> Outcome:
    return _kleene(outcomes, decisive=True)


def _not(outcome: Outcome) -> Outcome:
    return outcome if outcome.matched is None else Outcome(not outcome.matched)


def _undetermined(reason: str) -> Outcome:
    return Outcome(None, (reason,))


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate_conditions(block: Any, context: Context) -> Outcome:
    """Decide a whole Condition element against ``context``.

    ``None`` is a statement without a Condition element, which always applies (callers pass
    ``stmt.get("Condition")``, which cannot tell a JSON null from a missing element); ``{}``
    constrains nothing either. Anything else the IAM JSON grammar does not allow (the element
    not an object, an operator not mapping keys to values, a key's value an object, null or an
    empty list) is a lint error for the document as a whole; here it makes the outcome
    undetermined with the reason, because guessing either way could hide a Deny or invent an
    Allow.
    """
    if block is None:
        return Outcome(True)
    if not isinstance(block, Mapping):
        return _undetermined(f"malformed Condition: an object is required, not {type(block).__name__}")
    return _all(_evaluate_operator(str(name), pairs, context) for name, pairs in block.items())


def _evaluate_operator(raw_name: str, pairs: Any, context: Context) -> Outcome:
    """One operator of the block, spelled as the reference spells it (anything else: undetermined)."""
    qualifier, _, operator = raw_name.rpartition(":")
    base = operator.removesuffix("IfExists")
    if_exists = base != operator
    if qualifier not in ("", "ForAllValues", "ForAnyValue") or (base not in _OPERATORS and base != "Null"):
        return _undetermined(f"condition operator {raw_name!r} is not supported")
    if not isinstance(pairs, Mapping):
        return _undetermined(f"malformed Condition: {raw_name} must map context keys to values")
    if base == "Null":
        if qualifier or if_exists:  # no ...IfExists and no set form of Null exists
            return _undetermined(f"condition operator {raw_name!r} is not supported")
        return _all(_evaluate_null(str(key), values, context) for key, values in pairs.items())
    return _all(
        _evaluate_key(base, _OPERATORS[base], qualifier, if_exists, str(key), values, context)
        for key, values in pairs.items()
    )


def _policy_values(raw: Any) -> tuple[str, ...] | None:
    """The condition values of one key as strings; ``None`` when the JSON grammar forbids them."""
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(v, str | bool | int | float) for v in items):
        return None
    return _as_strings(items)


def _evaluate_null(key: str, raw: Any, context: Context) -> Outcome:
    values = _policy_values(raw)
    wanted = None if values is None else [_bool(v) for v in values]
    if wanted is None or None in wanted:
        return _undetermined(f"malformed Condition: Null on {key} takes true or false, not {raw!r}")
    actual = context.get(key)
    if actual is UNKNOWN:
        return _undetermined(key)
    return Outcome((actual is None) in wanted)


def _evaluate_key(
    name: str, op: _Operator, qualifier: str, if_exists: bool, key: str, raw: Any, context: Context
) -> Outcome:
    """One key of one operator: the policy's values read, then compared with the request's."""
    label = f"{qualifier}:{name}" if qualifier else name
    values = _policy_values(raw)
    if values is None:
        return _undetermined(f"malformed Condition: {label} on {key} has value {raw!r}")

    # The policy's values, variables substituted. A variable without a value and without a
    # default has two documented readings ("Variables and tags"): the value is null, with "no
    # equal or like value", so it matches nothing; or "the entire statement" is invalid, so the
    # condition does not match. Where they agree the outcome is decided, elsewhere undetermined.
    prepared: list[Any] = []
    pending: list[str] = []  # variables whose value is unknown: those values might still match
    missing: list[str] = []  # variables without a value: those values match nothing
    maybe_missing: list[str] = []  # unknown variables without a default: they may have none
    for text in values:
        if op.variables:
            resolved, maybe_no_value, no_value = _resolve(text, context)
        else:
            resolved, maybe_no_value, no_value = _literal(text), False, ()
        missing.extend(no_value)
        if resolved.unknown:
            pending.extend(resolved.unknown)
            if maybe_no_value:
                maybe_missing.extend(resolved.unknown)
            continue
        if resolved.text is None:
            continue
        comparable = op.prepare(resolved)
        if comparable is None:
            # A value the operator cannot read might match or not: an unknown value, so the
            # key's absence (or another value that matches) still decides the outcome.
            pending.append(f"{label} on {key}: {text!r} is not a valid {op.kind} value")
            continue
        prepared.append(comparable)
    # "null" reading; the "invalid statement" reading is FALSE, so only a FALSE here is certain
    outcome = _compare_key(label, op, qualifier, if_exists, key, prepared, pending, context)
    if missing and outcome.matched is not False:
        variables = ", ".join(f"${{{v}}}" for v in dict.fromkeys(missing))
        return _undetermined(f"{label} on {key}: {variables} has no value, and AWS leaves the outcome open")
    if maybe_missing and outcome.matched is True:
        return Outcome(None, tuple(dict.fromkeys(maybe_missing)))
    return outcome


def _compare_key(
    label: str,
    op: _Operator,
    qualifier: str,
    if_exists: bool,
    key: str,
    prepared: list[Any],
    pending: list[str],
    context: Context,
) -> Outcome:
    """The request's value(s) of ``key`` against the policy's ``prepared`` values."""
    actual = context.get(key)
    if actual is UNKNOWN:
        return _undetermined(key)
    if actual is None:
        if qualifier == "ForAllValues":
            return Outcome(True)
        if qualifier == "ForAnyValue":
            if if_exists:
                return _undetermined(
                    f"{label}IfExists on absent {key}: the IfExists rule says true, the ForAnyValue rule false"
                )
            return Outcome(False)
        return Outcome(if_exists or op.negated)

    def one(value: str) -> Outcome:
        """Whether one request value satisfies the operator (values OR; negated: NOR)."""
        comparable = op.read(value)
        if comparable is None:
            return _undetermined(
                f"{label} on {key}: the request value {value!r} is not a valid {op.kind} value"
            )
        hit = _any([Outcome(op.test(comparable, p)) for p in prepared] + [_undetermined(v) for v in pending])
        return _not(hit) if op.negated else hit

    if qualifier == "ForAllValues":
        return _all(one(v) for v in actual)
    if qualifier == "ForAnyValue":
        return _any(one(v) for v in actual)
    if len(actual) > 1:
        return _undetermined(f"{label} on multivalued {key} needs ForAllValues or ForAnyValue")
    return one(actual[0])


# ---------------------------------------------------------------------------------------------
# Bridge for evaluator.py until it consumes Outcome (remove when the evaluator switches).


class UnsupportedCondition(ValueError):
    """A condition that could not be decided; the statement's outcome is then unknown."""


def condition_matches(block: Any, context: Mapping[str, Any]) -> bool:
    """True when the Condition ``block`` holds for a flat ``context`` (every other key absent).

    Raises :class:`UnsupportedCondition` when the outcome is undetermined. Kept only for the
    evaluator's single call site until it uses :func:`evaluate_conditions`; remove then.
    """
    outcome = evaluate_conditions(block, Context.from_flat(context))
    if outcome.matched is None:
        raise UnsupportedCondition("; ".join(outcome.unknown))
    return outcome.matched
