"""IAM Condition blocks, evaluated against a request context.

No maintained Python library evaluates IAM policies offline (parliament lints, it does not
decide), so the documented rules are implemented here, limited to the operator families these
documents use: String*, Arn*, Bool, Null, Numeric*, with IfExists and ForAnyValue/ForAllValues.
Rules (IAM User Guide, "Condition operators" and "multiple context keys or values"):
operators AND, keys AND, values OR (NOR for negated operators); a key absent from the context
makes the condition false, except for negated operators (true), ...IfExists (true), Null.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any


@cache
def glob_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """An IAM wildcard pattern (``*`` any run, ``?`` one character) as a compiled regex."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _string_equals(value: str, expected: str) -> bool:
    return value == expected


def _string_ieq(value: str, expected: str) -> bool:
    return value.lower() == expected.lower()


def _like(value: str, expected: str) -> bool:
    return bool(glob_regex(expected).match(value))


def _bool(value: str, expected: str) -> bool:
    return value.lower() == expected.lower()


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(value: str, expected: str) -> bool:
        try:
            return compare(float(value), float(expected))
        except ValueError:
            return False

    return match


# operator -> (positive matcher, negated?)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_ieq, False),
    "StringNotEqualsIgnoreCase": (_string_ieq, True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_like, False),
    "ArnLike": (_like, False),
    "ArnNotEquals": (_like, True),
    "ArnNotLike": (_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
}


class UnsupportedCondition(ValueError):
    """An operator the evaluator does not implement; the statement's outcome is then unknown."""


def _values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


def _lookup(context: Mapping[str, Any], key: str) -> list[str] | None:
    """Context keys are case-insensitive; a value may be a list (multivalued key)."""
    for name, value in context.items():
        if name.lower() == key.lower():
            return _values(value)
    return None


def condition_matches(block: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Any]) -> bool:
    """True when every operator of the Condition ``block`` holds for ``context``."""
    for raw_operator, pairs in (block or {}).items():
        qualifier, _, operator = raw_operator.rpartition(":")
        if_exists = operator.endswith("IfExists")
        base = operator.removesuffix("IfExists")
        for key, expected_raw in pairs.items():
            expected = _values(expected_raw)
            actual = _lookup(context, key)
            if base == "Null":
                if (actual is None) != (expected[0].lower() == "true"):
                    return False
                continue
            if base not in _OPERATORS:
                raise UnsupportedCondition(f"condition operator {raw_operator!r} is not supported")
            matcher, negated = _OPERATORS[base]
            if actual is None:
                if if_exists or negated or qualifier == "ForAllValues":
                    continue
                return False

            def one(
                value: str, matcher: Callable[[str, str], bool] = matcher, expected: list[str] = expected
            ) -> bool:
                return any(matcher(value, e) for e in expected)

            # ForAllValues: every context value must match; ForAnyValue or a single-valued key: one.
            hit = all(one(v) for v in actual) if qualifier == "ForAllValues" else any(one(v) for v in actual)
            if hit == negated:
                return False
    return True
