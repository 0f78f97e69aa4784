"""The IAM condition language, decided three-valued, against the IAM User Guide's own rules.

Every row cites the guide and section it comes from. moto enforces no IAM, so these cases are
AWS's documented behaviour, not observed AWS answers; where the documentation is silent or
contradicts itself the evaluator answers "undetermined" and the row says so.
"""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_s3xacct.permissions.conditions import (
    Context,
    Outcome,
    UnsupportedCondition,
    condition_matches,
    evaluate_conditions,
    glob_regex,
    resolve_variables,
)

GUIDE = "IAM User Guide"
OPS = f"{GUIDE}, 'IAM JSON policy elements: Condition operators'"
STRING = f"{OPS}, String condition operators"
NUMERIC = f"{OPS}, Numeric condition operators"
DATE = f"{OPS}, Date condition operators"
BOOLEAN = f"{OPS}, Boolean condition operators"
BINARY = f"{OPS}, Binary condition operators"
IP = f"{OPS}, IP address condition operators"
ARN = f"{OPS}, Amazon Resource Name (ARN) condition operators"
IFEXISTS = f"{OPS}, ...IfExists condition operators"
NULL = f"{OPS}, Condition operator to check existence of condition keys"
ABSENT = f"{OPS}, introduction (a key not in the request: false, negated operators true)"
MULTI = f"{GUIDE}, 'Condition with multiple context keys or values'"
SETS = f"{GUIDE}, 'Single-valued vs. multivalued context keys', set operators"
VARS = f"{GUIDE}, 'IAM policy elements: Variables and tags'"
COND = f"{GUIDE}, 'IAM JSON policy elements: Condition'"
GRAMMAR = f"{GUIDE}, 'Grammar of the IAM JSON policy language' (condition_block)"

ROLE = "arn:aws:iam::222222222222:role/sync"


def ctx(known: dict[str, Any] | None = None, **values: Any) -> Context:
    """A request context holding these keys and no other (``__`` in a keyword stands for ``:``)."""
    return Context.from_flat({**(known or {}), **{k.replace("__", ":"): v for k, v in values.items()}})


def partial(values: dict[str, Any]) -> Context:
    """A request context holding these keys, where every other key is unknown to verify."""
    return Context({k: tuple(v) if isinstance(v, list) else (v,) for k, v in values.items()})


TRUE, FALSE, UNDETERMINED = True, False, None

# (source, Condition block, context, expected matched)
# fmt: off
ROWS: list[tuple[str, Any, Context, bool | None]] = [
    # --- String ----------------------------------------------------------------------------
    (STRING, {"StringEquals": {"aws:PrincipalTag/team": "Data"}}, ctx({"aws:PrincipalTag/team": "data"}), FALSE),
    (STRING, {"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "Data"}}, ctx({"aws:PrincipalTag/team": "data"}), TRUE),
    (STRING, {"StringNotEqualsIgnoreCase": {"k": "DATA"}}, ctx(k="data"), FALSE),
    (STRING, {"StringEquals": {"k": "a*"}}, ctx(k="abc"), FALSE),  # no wildcards in StringEquals
    (STRING, {"StringLike": {"s3:prefix": "data/202?/*"}}, ctx(s3__prefix="data/2024/x"), TRUE),
    (STRING, {"StringLike": {"s3:prefix": "data/202?/*"}}, ctx(s3__prefix="data/20245/x"), FALSE),
    (STRING, {"StringLike": {"s3:prefix": "Data/*"}}, ctx(s3__prefix="data/x"), FALSE),  # case-sensitive
    (STRING, {"StringNotLike": {"s3:prefix": ["a/*", "b/*"]}}, ctx(s3__prefix="c/x"), TRUE),
    (STRING, {"StringEquals": {"k": 5}}, ctx(k="5"), TRUE),  # a JSON number is its text
    (ABSENT, {"StringLike": {"s3:prefix": "*"}}, ctx(), FALSE),
    (ABSENT, {"StringNotLike": {"s3:prefix": "a/*"}}, ctx(), TRUE),
    (ABSENT, {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}, ctx(), TRUE),
    # --- Numeric ---------------------------------------------------------------------------
    (NUMERIC, {"NumericLessThanEquals": {"s3:max-keys": "10"}}, ctx({"s3:max-keys": "10"}), TRUE),
    (NUMERIC, {"NumericLessThan": {"s3:max-keys": 10}}, ctx({"s3:max-keys": "10"}), FALSE),
    (NUMERIC, {"NumericGreaterThan": {"k": "1.5"}}, ctx(k="2"), TRUE),
    (NUMERIC, {"NumericEquals": {"k": "1.0"}}, ctx(k="1"), TRUE),  # numbers, not strings
    (NUMERIC, {"NumericGreaterThanEquals": {"k": "-3"}}, ctx(k="-3e0"), TRUE),
    (NUMERIC, {"NumericNotEquals": {"k": "1"}}, ctx(), TRUE),
    (NUMERIC, {"NumericEquals": {"k": "ten"}}, ctx(k="10"), UNDETERMINED),  # not a number: no guess
    (NUMERIC, {"NumericEquals": {"k": "10"}}, ctx(k="ten"), UNDETERMINED),
    # --- Date (ISO 8601 and epoch, on either side) -----------------------------------------
    (DATE, {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, ctx(aws__CurrentTime="2029-12-31T23:59:59Z"), TRUE),
    (DATE, {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01"}}, ctx(aws__CurrentTime="2029-12-31T23:59:59Z"), FALSE),
    (DATE, {"DateGreaterThanEquals": {"aws:CurrentTime": "2030-01-01"}}, ctx(aws__CurrentTime="2030-01-01T00:00:00Z"), TRUE),
    (DATE, {"DateEquals": {"aws:EpochTime": "1700000000"}}, ctx(aws__EpochTime="2023-11-14T22:13:20Z"), TRUE),
    (DATE, {"DateLessThan": {"aws:CurrentTime": "2023-11-14T22:13:21Z"}}, ctx(aws__CurrentTime="1700000000"), TRUE),
    (DATE, {"DateEquals": {"k": "2024-01-01T02:00:00+02:00"}}, ctx(k="2024-01-01T00:00:00Z"), TRUE),
    (DATE, {"DateLessThanEquals": {"k": "2024-06"}}, ctx(k="2024-05-31T23:00:00Z"), TRUE),
    (DATE, {"DateNotEquals": {"aws:TokenIssueTime": "2024-01-01"}}, ctx(), TRUE),
    (DATE, {"DateLessThan": {"aws:TokenIssueTime": "2024-01-01"}}, ctx(), FALSE),
    (DATE, {"DateLessThan": {"k": "yesterday"}}, ctx(k="2024-01-01"), UNDETERMINED),
    # Date* takes no policy variables: the text stays "${...}", which is no date.
    (DATE, {"DateLessThan": {"k": "${aws:CurrentTime}"}}, ctx(k="2024-01-01", aws__CurrentTime="2025-01-01"), UNDETERMINED),
    # --- Bool ------------------------------------------------------------------------------
    (BOOLEAN, {"Bool": {"aws:SecureTransport": "false"}}, ctx(aws__SecureTransport="false"), TRUE),
    (BOOLEAN, {"Bool": {"aws:SecureTransport": False}}, ctx(aws__SecureTransport="true"), FALSE),
    (BOOLEAN, {"Bool": {"aws:SecureTransport": "TRUE"}}, ctx(aws__SecureTransport="true"), TRUE),
    (BOOLEAN, {"Bool": {"aws:MultiFactorAuthPresent": "true"}}, ctx(), FALSE),
    (IFEXISTS, {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, ctx(), TRUE),
    (BOOLEAN, {"Bool": {"k": "yes"}}, ctx(k="true"), UNDETERMINED),
    # --- Binary ----------------------------------------------------------------------------
    (BINARY, {"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, ctx(k="QmluYXJ5VmFsdWVJbkJhc2U2NA=="), TRUE),
    (BINARY, {"BinaryEquals": {"k": "aGVsbG8="}}, ctx(k="aGVsbA=="), FALSE),
    (BINARY, {"BinaryEquals": {"k": "not base64!"}}, ctx(k="aGVsbG8="), UNDETERMINED),
    (BINARY, {"BinaryNotEquals": {"k": "aGVsbG8="}}, ctx(k="aGVsbG8="), UNDETERMINED),  # not in the reference
    # --- IP address (IPv4 and IPv6) --------------------------------------------------------
    (IP, {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, ctx(aws__SourceIp="203.0.113.7"), TRUE),
    (IP, {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, ctx(aws__SourceIp="198.51.100.7"), FALSE),
    (IP, {"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, ctx(aws__SourceIp="203.0.113.7"), TRUE),  # one address
    (IP, {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}, ctx(aws__SourceIp="2001:db8:1234:5678::9"), TRUE),
    (IP, {"IpAddress": {"aws:SourceIp": "2001:DB8:1234:5678::/64"}}, ctx(aws__SourceIp="2001:db8:1234:5679::9"), FALSE),
    (IP, {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, ctx(aws__SourceIp="2001:db8::1"), FALSE),  # v6 in no v4 range
    (IP, {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, ctx(aws__SourceIp="203.0.113.7"), FALSE),
    (IP, {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, ctx(aws__SourceIp="198.51.100.7"), TRUE),
    (ABSENT, {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, ctx(), TRUE),
    (ABSENT, {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, ctx(), FALSE),
    (IP, {"IpAddress": {"aws:SourceIp": "203.0.113.0/33"}}, ctx(aws__SourceIp="203.0.113.7"), UNDETERMINED),
    # --- ARN, segment by segment -----------------------------------------------------------
    (ARN, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/sync"}}, ctx(aws__PrincipalArn=ROLE), TRUE),
    (ARN, {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/sync"}}, ctx(aws__PrincipalArn=ROLE), TRUE),
    (ARN, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::22222222222?:role/*"}}, ctx(aws__PrincipalArn=ROLE), TRUE),
    (ARN, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Sync"}}, ctx(aws__PrincipalArn=ROLE), FALSE),
    # a wildcard never spans a colon...
    (ARN, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/sync"}}, ctx(aws__PrincipalArn="arn:aws:iam::1:x:role/sync"), FALSE),
    (ARN, {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/sync"}}, ctx(aws__PrincipalArn="arn:aws:iam::1:x:role/sync"), TRUE),
    # ...and a value without the six components has no documented reading
    (ARN, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}, ctx(aws__PrincipalArn=ROLE), UNDETERMINED),
    (ARN, {"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:*"}}, ctx(aws__SourceArn="arn:aws:s3:::bucket"), UNDETERMINED),
    (ARN, {"ArnLike": {"aws:SourceArn": "arn:aws:lambda:*:*:function:*"}}, ctx(aws__SourceArn="arn:aws:lambda:us-east-1:1:function:f:prod"), TRUE),
    (ARN, {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}}, ctx(aws__SourceArn="not-an-arn"), FALSE),
    (ARN, {"ArnNotEquals": {"aws:SourceArn": "arn:aws:s3:::bucket"}}, ctx(), TRUE),
    (ARN, {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::bucket"}}, ctx(), FALSE),
    # --- Null ------------------------------------------------------------------------------
    (NULL, {"Null": {"aws:TokenIssueTime": "true"}}, ctx(), TRUE),
    (NULL, {"Null": {"aws:TokenIssueTime": "false"}}, ctx(), FALSE),
    (NULL, {"Null": {"aws:TokenIssueTime": False}}, ctx(aws__TokenIssueTime="2024-01-01T00:00:00Z"), TRUE),
    (NULL, {"Null": {"aws:TokenIssueTime": "true"}}, partial({}), UNDETERMINED),
    (NULL, {"NullIfExists": {"aws:TokenIssueTime": "true"}}, ctx(), UNDETERMINED),  # Null has no IfExists
    (NULL, {"Null": {"aws:TokenIssueTime": "maybe"}}, ctx(), UNDETERMINED),
    # --- ...IfExists -----------------------------------------------------------------------
    (IFEXISTS, {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*"]}}, ctx(), TRUE),
    (IFEXISTS, {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*"]}}, ctx({"ec2:InstanceType": "m5.large"}), FALSE),
    (IFEXISTS, {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*"]}}, ctx({"ec2:InstanceType": "t2.micro"}), TRUE),
    (IFEXISTS, {"NumericLessThanIfExists": {"s3:max-keys": "10"}}, ctx(), TRUE),
    (IFEXISTS, {"IpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}, ctx(), TRUE),
    # --- several operators, keys, values ---------------------------------------------------
    (MULTI, {"StringEquals": {"a": "1"}, "Bool": {"b": "true"}}, ctx(a="1", b="false"), FALSE),
    (MULTI, {"StringEquals": {"a": "1", "b": "2"}}, ctx(a="1", b="2"), TRUE),
    (MULTI, {"StringEquals": {"a": "1", "b": "2"}}, ctx(a="1", b="3"), FALSE),
    (MULTI, {"StringEquals": {"s3:prefix": ["a/", "b/"]}}, ctx(s3__prefix="b/"), TRUE),
    (MULTI, {"StringNotEquals": {"k": ["a", "b"]}}, ctx(k="b"), FALSE),  # negated: matches none (NOR)
    (MULTI, {"StringNotEquals": {"k": ["a", "b"]}}, ctx(k="c"), TRUE),
    # --- set operators ---------------------------------------------------------------------
    (SETS, {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, ctx(aws__TagKeys=["a", "b"]), TRUE),
    (SETS, {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, ctx(aws__TagKeys=["a", "c"]), FALSE),
    (SETS, {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, ctx(), TRUE),  # absent: true
    (SETS, {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, ctx(aws__TagKeys=[]), TRUE),  # empty: true
    (SETS, {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, ctx(aws__TagKeys=["c", "b"]), TRUE),
    (SETS, {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, ctx(aws__TagKeys=["c", "d"]), FALSE),
    (SETS, {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, ctx(), FALSE),  # absent: false
    # negated operators after a qualifier apply to each request value
    (SETS, {"ForAllValues:StringNotLike": {"aws:TagKeys": ["secret*", "internal*"]}}, ctx(aws__TagKeys=["env", "team"]), TRUE),
    (SETS, {"ForAllValues:StringNotLike": {"aws:TagKeys": ["secret*", "internal*"]}}, ctx(aws__TagKeys=["env", "secret-x"]), FALSE),
    (SETS, {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a", "b"]}}, ctx(aws__TagKeys=["a", "z"]), TRUE),
    (SETS, {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a", "b"]}}, ctx(aws__TagKeys=["b", "a"]), FALSE),
    (SETS, {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["a"]}}, ctx(), TRUE),
    (SETS, {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a"]}}, ctx(), FALSE),
    (SETS, {"ForAnyValue:ArnLike": {"k": "arn:aws:iam::*:role/*"}}, ctx(k=["arn:aws:s3:::b", ROLE]), TRUE),
    (SETS, {"ForAllValues:ArnLike": {"k": "arn:aws:iam::*:role/*"}}, ctx(k=["arn:aws:s3:::b", ROLE]), FALSE),
    # the IfExists rule (absent: true) and the ForAnyValue rule (absent: false) disagree
    (SETS, {"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["a"]}}, ctx(), UNDETERMINED),
    # a plain operator on a multivalued request value is not documented
    (SETS, {"StringEquals": {"aws:TagKeys": "a"}}, ctx(aws__TagKeys=["a", "b"]), UNDETERMINED),
    (SETS, {"ForSomeValues:StringEquals": {"k": "a"}}, ctx(k="a"), UNDETERMINED),
    # --- policy variables ------------------------------------------------------------------
    (VARS, {"StringLike": {"s3:prefix": ["${aws:username}/*"]}}, ctx(aws__username="bob", s3__prefix="bob/notes"), TRUE),
    (VARS, {"StringLike": {"s3:prefix": ["${aws:username}/*"]}}, ctx(aws__username="bob", s3__prefix="alice/notes"), FALSE),
    (VARS, {"StringEquals": {"aws:PrincipalAccount": "${aws:ResourceAccount}"}}, ctx(aws__PrincipalAccount="1", aws__ResourceAccount="1"), TRUE),
    (VARS, {"StringNotEquals": {"aws:PrincipalAccount": "${aws:ResourceAccount}"}}, ctx(aws__PrincipalAccount="1", aws__ResourceAccount="2"), TRUE),
    (VARS, {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}, ctx({"aws:ResourceTag/team": "x", "aws:PrincipalTag/team": "x"}), TRUE),
    # a variable without a value and without a default: "effectively null" (it matches nothing)
    # and "the entire statement might be invalid" (no match) agree here...
    (VARS, {"StringEquals": {"s3:prefix": "${aws:username}/"}}, ctx(s3__prefix="/"), FALSE),
    (VARS, {"StringLike": {"s3:prefix": ["${aws:username}/*", "public/*"]}}, ctx(s3__prefix="home/x"), FALSE),
    # ...and disagree here, so verify does not pretend to know
    (VARS, {"StringNotEquals": {"s3:prefix": "${aws:username}/"}}, ctx(s3__prefix="x/"), UNDETERMINED),
    (VARS, {"StringLike": {"s3:prefix": ["${aws:username}/*", "public/*"]}}, ctx(s3__prefix="public/x"), UNDETERMINED),
    (VARS, {"ForAllValues:StringEquals": {"aws:TagKeys": "${aws:username}"}}, ctx(), UNDETERMINED),
    # ...with a default it takes the default (case-sensitive text)
    (VARS, {"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team, 'company-wide'}/"}}, ctx(s3__prefix="company-wide/"), TRUE),
    (VARS, {"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team, 'company-wide'}/"}}, ctx({"aws:PrincipalTag/team": "x"}, s3__prefix="x/"), TRUE),
    # a variable whose value verify cannot know: undetermined, unless another value decides
    (VARS, {"StringEquals": {"s3:prefix": "${aws:userid}"}}, partial({"s3:prefix": "x"}), UNDETERMINED),
    # ...as long as the unknown one may have no value, which would make the condition false
    (VARS, {"StringEquals": {"s3:prefix": ["${aws:userid}", "x"]}}, partial({"s3:prefix": "x"}), UNDETERMINED),
    (VARS, {"StringEquals": {"s3:prefix": ["${aws:userid, 'none'}", "x"]}}, partial({"s3:prefix": "x"}), TRUE),
    (VARS, {"StringNotEquals": {"s3:prefix": ["${aws:userid}", "x"]}}, partial({"s3:prefix": "x"}), FALSE),
    # ${*} ${?} ${$} are the literal characters, not wildcards
    (VARS, {"StringLike": {"k": "a${*}"}}, ctx(k="ab"), FALSE),
    (VARS, {"StringLike": {"k": "a${*}"}}, ctx(k="a*"), TRUE),
    (VARS, {"StringLike": {"k": "a${?}*"}}, ctx(k="a?bc"), TRUE),
    (VARS, {"StringLike": {"k": "a${?}*"}}, ctx(k="ab"), FALSE),
    (VARS, {"StringEquals": {"k": "${$}{aws:username}"}}, ctx(k="${aws:username}", aws__username="bob"), TRUE),
    (VARS, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:role/*"}}, ctx(aws__PrincipalArn=ROLE, aws__PrincipalAccount="222222222222"), TRUE),
    (VARS, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:role/*"}}, ctx(aws__PrincipalArn=ROLE, aws__PrincipalAccount="111111111111"), FALSE),
    (VARS, {"Bool": {"k": "${j}"}}, ctx(k="true", j="true"), TRUE),
    # Numeric* takes no variables: "${...}" is no number
    (VARS, {"NumericEquals": {"k": "${j}"}}, ctx(k="1", j="1"), UNDETERMINED),
    # a multivalued key cannot be a variable
    (VARS, {"StringEquals": {"k": "${aws:TagKeys}"}}, ctx(k="a", aws__TagKeys=["a", "b"]), UNDETERMINED),
    (VARS, {"StringEquals": {"k": "${aws:username"}}, ctx(k="${aws:username"), TRUE),  # not a variable
    (VARS, {"StringEquals": {"k": "${aws:username, unquoted}"}}, ctx(k="x"), UNDETERMINED),
    (VARS, {"StringEquals": {"k": "${aws:PrincipalTag/cost center}"}}, ctx({"aws:PrincipalTag/Cost Center": "x"}, k="x"), TRUE),
    # --- what verify cannot know, and Kleene logic -----------------------------------------
    (ABSENT, {"StringEquals": {"aws:SourceVpce": "vpce-1"}}, partial({}), UNDETERMINED),
    (MULTI, {"StringEquals": {"aws:SourceVpce": "vpce-1", "k": "a"}}, partial({"k": "b"}), FALSE),
    (MULTI, {"StringEquals": {"aws:SourceVpce": "vpce-1"}, "Foo": {"k": "a"}}, ctx(aws__SourceVpce="vpce-2"), FALSE),
    (OPS, {"StringStartsWith": {"k": "a"}}, ctx(k="a"), UNDETERMINED),
    (COND, {"StringEquals": {"K": "a"}}, ctx(k="a"), TRUE),  # key names are not case-sensitive
    # operator names: the reference spells them one way, and another spelling is not guessed at
    (OPS, {"stringequals": {"k": "a"}}, ctx(k="a"), UNDETERMINED),
    # --- malformed blocks ------------------------------------------------------------------
    (GRAMMAR, None, ctx(), TRUE),  # no Condition element
    (GRAMMAR, {}, ctx(), TRUE),
    (GRAMMAR, ["StringEquals"], ctx(), UNDETERMINED),
    (GRAMMAR, "StringEquals", ctx(), UNDETERMINED),
    (GRAMMAR, 5, ctx(), UNDETERMINED),
    (GRAMMAR, {"StringEquals": 5}, ctx(), UNDETERMINED),
    (GRAMMAR, {"StringEquals": {"k": {"nested": "x"}}}, ctx(k="x"), UNDETERMINED),
    (GRAMMAR, {"StringEquals": {"k": []}}, ctx(k="x"), UNDETERMINED),
    (GRAMMAR, {"StringEquals": {"k": None}}, ctx(k="x"), UNDETERMINED),
]
# fmt: on


@pytest.mark.parametrize(("source", "block", "context", "expected"), ROWS)
def test_documented_cases(source: str, block: Any, context: Context, expected: bool | None) -> None:
    outcome = evaluate_conditions(block, context)
    assert outcome.matched is expected, f"{source}: {block} -> {outcome}"
    # undetermined names what it could not know; a decided outcome names nothing
    assert bool(outcome.unknown) == (expected is None), outcome


def test_undetermined_names_the_key_verify_could_not_know() -> None:
    """The evaluator reports the key (as the policy spells it) so verify can name it."""
    context = Context({"aws:PrincipalAccount": ("1",)}, frozenset({"s3:*"}))
    outcome = evaluate_conditions(
        {"StringEquals": {"aws:SourceVpce": "vpce-1", "aws:PrincipalAccount": "${aws:ResourceAccount}"}},
        context,
    )
    assert outcome == Outcome(None, ("aws:SourceVpce", "aws:ResourceAccount"))
    unsupported = evaluate_conditions({"StringStartsWith": {"k": "a"}}, context)
    assert unsupported.matched is None and "StringStartsWith" in unsupported.unknown[0]


def test_absent_covers_families_and_keys_are_case_insensitive() -> None:
    """Context: ``prefix/*`` in ``absent`` covers every key of that family."""
    context = Context({"AWS:PrincipalTag/Team": ("data",)}, frozenset({"aws:principaltag/*"}))
    same = Context({"aws:principaltag/team": ["data"]}, frozenset({"AWS:PrincipalTag/*"}))
    assert context == same and hash(context) == hash(same)
    assert context.get("aws:principaltag/team") == ("data",)
    assert context.get("aws:PrincipalTag/other") is None
    assert evaluate_conditions({"StringEquals": {"aws:PrincipalTag/other": "x"}}, context).matched is False
    assert evaluate_conditions({"StringEquals": {"aws:ResourceTag/x": "x"}}, context).matched is None


# --- resolve_variables (Resource and Condition values) ----------------------------------------


def test_resolve_variables_for_a_resource() -> None:
    """VARS, 'Using variables in policies': ``${aws:username}`` in a Resource ARN."""
    context = Context.from_flat({"aws:username": "bob"})
    resolved = resolve_variables("arn:aws:s3:::bucket/home/${aws:username}/*", context)
    assert resolved.text == "arn:aws:s3:::bucket/home/bob/*"
    assert resolved.regex().match("arn:aws:s3:::bucket/home/bob/notes.txt")
    assert not resolved.regex().match("arn:aws:s3:::bucket/home/alice/notes.txt")


def test_resolve_variables_without_a_value_or_unknown() -> None:
    """VARS, 'Policy variables with no value' and 'Specifying default values'."""
    absent = Context.from_flat({})
    assert resolve_variables("arn:aws:s3:::b/${aws:username}/*", absent) == resolve_variables(
        "${aws:userid}", absent
    )
    assert resolve_variables("arn:aws:s3:::b/${aws:username}/*", absent).text is None
    assert resolve_variables("b/${aws:username, 'shared'}/*", absent).text == "b/shared/*"
    assert resolve_variables("b/${ aws:username , 'shared' }/*", absent).text == "b/shared/*"
    unknown = Context({}, frozenset())
    resolved = resolve_variables("b/${aws:username, 'shared'}/${aws:PrincipalTag/team}", unknown)
    assert resolved.text is None and resolved.unknown == ("aws:username", "aws:PrincipalTag/team")
    # one round only: the default is not substituted again
    assert resolve_variables("${aws:username, '${aws:userid}'}", absent).text == "${aws:userid}"


def test_special_characters_stay_literal_in_a_resource() -> None:
    """VARS, special characters: ``${*}`` is a star the resource name contains, no wildcard."""
    resolved = resolve_variables("arn:aws:s3:::b/${*}/x${?}${$}", Context.from_flat({}))
    assert resolved.text == "arn:aws:s3:::b/*/x?$"
    assert resolved.regex().match("arn:aws:s3:::b/*/x?$")
    assert not resolved.regex().match("arn:aws:s3:::b/any/xy$")
    # and a substituted value is literal too
    tagged = resolve_variables("b/${aws:PrincipalTag/p}", Context.from_flat({"aws:PrincipalTag/p": "a*"}))
    assert tagged.regex().match("b/a*") and not tagged.regex().match("b/abc")


# --- the defect classes of issue 13, through the API the evaluator used before ---------------
# Run against the code before this change (cc0f8e2), 13 of these 15 rows failed: class 1 raised
# UnsupportedCondition (the evaluator then skipped the statement), classes 3-5 answered the
# opposite; the two class-5 rows that passed pin the other side of the same rule.
# condition_matches is the bridge the evaluator still calls, so the rows run on both versions.

# fmt: off
DEFECTS: list[tuple[str, str, dict[str, Any], dict[str, Any], bool | None]] = [
    # 1. conditions it could not evaluate raised, and the evaluator skipped the statement
    ("1", IP, {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.7"}, True),
    ("1", IP, {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": "2001:db8::1"}, True),
    ("1", DATE, {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2026-11-28T00:00:00Z"}, True),
    ("1", BINARY, {"BinaryEquals": {"k": "aGVsbG8="}}, {"k": "aGVsbG8="}, True),
    # 3. policy variables were compared as literal text
    ("3", VARS, {"StringEquals": {"aws:PrincipalAccount": "${aws:ResourceAccount}"}}, {"aws:PrincipalAccount": "1", "aws:ResourceAccount": "1"}, True),
    ("3", VARS, {"StringLike": {"s3:prefix": "${aws:username}/*"}}, {"aws:username": "bob", "s3:prefix": "bob/x"}, True),
    ("3", VARS, {"StringNotEquals": {"aws:PrincipalAccount": "${aws:ResourceAccount}"}}, {"aws:PrincipalAccount": "1", "aws:ResourceAccount": "1"}, False),
    # 4. Arn* matched the whole string: a wildcard spanned the colons
    ("4", ARN, {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/sync"}}, {"aws:PrincipalArn": "arn:aws:iam::1:x:role/sync"}, False),
    ("4", ARN, {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/sync"}}, {"aws:PrincipalArn": "arn:aws:iam::1:x:role/sync"}, True),
    ("4", ARN, {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}, {"aws:PrincipalArn": ROLE}, None),
    # 5. negated operators under a set qualifier were inverted
    ("5", SETS, {"ForAllValues:StringNotLike": {"aws:TagKeys": ["secret*"]}}, {"aws:TagKeys": ["env", "team"]}, True),
    ("5", SETS, {"ForAllValues:StringNotLike": {"aws:TagKeys": ["secret*"]}}, {"aws:TagKeys": ["env", "secret1"]}, False),
    ("5", SETS, {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "z"]}, True),
    ("5", SETS, {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "b"]}, False),
    ("5", SETS, {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a"]}}, {}, False),
]
# fmt: on


@pytest.mark.parametrize(("issue_class", "source", "block", "flat", "expected"), DEFECTS)
def test_defect_classes_of_issue_13(
    issue_class: str, source: str, block: dict[str, Any], flat: dict[str, Any], expected: bool | None
) -> None:
    """``None``: undetermined, which the bridge reports by raising (never a silent answer)."""
    if expected is None:
        with pytest.raises(UnsupportedCondition):
            condition_matches(block, flat)
    else:
        assert condition_matches(block, flat) is expected, f"class {issue_class}, {source}"
    assert evaluate_conditions(block, Context.from_flat(flat)).matched is expected


def test_bridge_raises_on_undetermined() -> None:
    """The evaluator's old call site still learns that a condition could not be decided."""
    with pytest.raises(UnsupportedCondition, match="StringStartsWith"):
        condition_matches({"StringStartsWith": {"k": "a"}}, {"k": "a"})


# --- properties --------------------------------------------------------------------------------

STRING_OPS = [
    "StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "StringEqualsIgnoreCase",
    "StringLikeIfExists", "StringNotEqualsIfExists", "ForAllValues:StringLike", "ForAnyValue:StringEquals",
    "ForAllValues:StringNotEquals", "ForAnyValue:StringNotLike", "ForAllValues:StringEqualsIfExists",
]  # fmt: skip
WORDS = ["a", "b", "ab", "a*", "?b", "*", "${k2}", "${k3, 'a'}", "${*}", "${ip}"]
# key -> (operators, policy values, request values); "k*" keys may be multivalued
TYPED: dict[str, tuple[list[str], list[str], list[str]]] = {
    "k1": (STRING_OPS, WORDS, ["a", "b", "ab", "A", "a*"]),
    "k2": (STRING_OPS, WORDS, ["a", "b", "ab", "A", "a*"]),
    "k3": (STRING_OPS, WORDS, ["a", "b", "ab", "A", "a*"]),
    "n": (["NumericLessThan", "NumericNotEquals", "NumericGreaterThanEqualsIfExists"], ["1", "5", "-2.5"], ["0", "5", "9"]),
    "d": (["DateLessThan", "DateNotEqualsIfExists", "DateGreaterThanEquals"], ["2024-01-01", "1704067200", "2030-01-01T00:00:00+01:00"],
          ["2023-12-31T23:00:00Z", "1704067200", "2031-01-01T00:00:00Z"]),
    "b": (["Bool", "BoolIfExists"], ["true", "false", "${k1}"], ["true", "false"]),
    "ip": (["IpAddress", "NotIpAddress", "IpAddressIfExists"], ["10.0.0.0/8", "2001:db8::/32", "10.1.2.3"],
           ["10.1.2.3", "192.0.2.1", "2001:db8::1"]),
    "arn": (["ArnLike", "ArnNotEquals", "ArnLikeIfExists", "ForAnyValue:ArnLike"],
            ["arn:aws:iam::*:role/*", "arn:aws:s3:::${k2}/*", "arn:aws:s3:::*", "arn:aws:iam::*"],
            [ROLE, "arn:aws:s3:::a/k", "arn:aws:s3:::b/k"]),
}  # fmt: skip
KEYS = tuple(TYPED)


def concrete(key: str) -> st.SearchStrategy[Any]:
    """A known state of ``key``: absent (None) or its request value(s)."""
    size = 3 if key.startswith("k") else 1
    return st.one_of(st.none(), st.lists(st.sampled_from(TYPED[key][2]), min_size=1, max_size=size))


@st.composite
def blocks(draw: st.DrawFn) -> dict[str, Any]:
    block: dict[str, Any] = {}
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(KEYS))
        operators, words, _ = TYPED[key]
        operator = draw(st.sampled_from([*operators, "Null"]))
        if operator == "Null":
            block.setdefault(operator, {})[key] = draw(st.sampled_from(["true", "false"]))
        else:
            block.setdefault(operator, {})[key] = draw(
                st.lists(st.sampled_from(words), min_size=1, max_size=3)
            )
    return block


def _context(states: dict[str, Any]) -> Context:
    present = {k: tuple(v) for k, v in states.items() if v not in (None, "unknown")}
    absent = frozenset(k for k, v in states.items() if v is None)
    return Context(present, absent)


def states() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({k: st.one_of(st.just("unknown"), concrete(k)) for k in KEYS})


@settings(max_examples=500, deadline=None)
@given(block=blocks(), known_or_not=states(), data=st.data())
def test_an_unknown_key_never_decides_what_a_known_value_would_not(
    block: dict[str, Any], known_or_not: dict[str, Any], data: st.DataObject
) -> None:
    """Replacing each unknown key by any concrete value (or absence) never contradicts a decision.

    This is what makes "undetermined" safe to act on: a decided outcome holds whatever the keys
    verify could not know turn out to be (Kleene logic, contract of issue 13).
    """
    outcome = evaluate_conditions(block, _context(known_or_not))
    filled = {k: data.draw(concrete(k)) if v == "unknown" else v for k, v in known_or_not.items()}
    known = evaluate_conditions(block, _context(filled))
    if outcome.matched is not None:
        assert known.matched is outcome.matched
    assert not set(known.unknown) & set(KEYS), known  # every key known: none reported unknown
    if outcome.matched is None:
        assert outcome.unknown


@settings(max_examples=200, deadline=None)
@given(
    values=st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "ab", "ba", "c"]), max_size=4)),
    patterns=st.lists(st.sampled_from(["a", "b*", "?a", "*", "c"]), min_size=1, max_size=3),
)
def test_negated_set_operators_are_the_complement_of_the_other_qualifier(
    values: list[str] | None, patterns: list[str]
) -> None:
    """SETS: ForAllValues:StringNotLike = no value matches a pattern = not ForAnyValue:StringLike.

    The same duality for StringNotEquals, including an absent or empty key (ForAllValues true,
    ForAnyValue false).
    """
    context = Context.from_flat({} if values is None else {"aws:TagKeys": values})

    def run(operator: str) -> bool | None:
        return evaluate_conditions({operator: {"aws:TagKeys": patterns}}, context).matched

    assert run("ForAllValues:StringNotLike") is (not run("ForAnyValue:StringLike"))
    assert run("ForAnyValue:StringNotLike") is (not run("ForAllValues:StringLike"))
    assert run("ForAnyValue:StringNotEquals") is (not run("ForAllValues:StringEquals"))
    assert run("ForAllValues:StringNotEquals") is (not run("ForAnyValue:StringEquals"))


NEGATIONS = [
    ("StringEquals", "StringNotEquals", st.sampled_from(["a", "b", "A"])),
    ("StringLike", "StringNotLike", st.sampled_from(["a", "ab", "b*", "*"])),
    ("NumericEquals", "NumericNotEquals", st.integers(-5, 5).map(str)),
    ("DateEquals", "DateNotEquals", st.integers(0, 3).map(str)),
    (
        "IpAddress",
        "NotIpAddress",
        st.sampled_from(["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", "10.1.2.3"]),
    ),
    ("ArnLike", "ArnNotLike", st.sampled_from(["arn:aws:iam::*:role/*", "arn:aws:s3:::*", "arn:*:*:*:*:*"])),
]
REQUEST_VALUES = st.sampled_from(
    ["a", "b", "ab", "1", "-3", "0", "10.1.2.3", "2001:db8::1", ROLE, "arn:aws:s3:::b/k", "x"]
)


@settings(max_examples=300, deadline=None)
@given(pair=st.sampled_from(NEGATIONS), data=st.data(), value=REQUEST_VALUES)
def test_negated_operator_is_the_complement_for_a_present_key(
    pair: Any, data: st.DataObject, value: str
) -> None:
    """OPS: each Not operator is the negation of its positive one when the key is present."""
    positive, negative, policy_values = pair
    policy = data.draw(st.lists(policy_values, min_size=1, max_size=3))
    context = Context.from_flat({"k": value})
    yes = evaluate_conditions({positive: {"k": policy}}, context).matched
    no = evaluate_conditions({negative: {"k": policy}}, context).matched
    assert (yes is None and no is None) or yes is (not no)


SEGMENT = st.sampled_from(["", "aws", "s3", "iam", "us-east-1", "111", "role/a", "a:b"])


@settings(max_examples=300, deadline=None)
@given(arn=st.lists(SEGMENT, min_size=6, max_size=6), wild=st.lists(st.booleans(), min_size=6, max_size=6))
def test_arn_wildcards_stay_within_their_segment(arn: list[str], wild: list[bool]) -> None:
    """ARN: "each of the six colon-delimited components ... is checked separately".

    A pattern made of the ARN's own segments, some replaced by ``*``, matches it; segment matching
    is never wider than the old whole-string glob.
    """
    value = ":".join(arn)
    pattern = ":".join("*" if w else s for s, w in zip(arn, wild, strict=True))
    context = Context.from_flat({"aws:SourceArn": value})
    matched = evaluate_conditions({"ArnLike": {"aws:SourceArn": pattern}}, context).matched
    if ":" not in "".join(arn[:5]):  # a colon inside a non-resource segment makes it another ARN
        assert matched is True
    if matched:
        assert glob_regex(pattern).match(value)


@settings(max_examples=200, deadline=None)
@given(seconds=st.integers(0, 4_000_000_000), offset=st.integers(-12, 14))
def test_dates_compare_as_instants_whatever_their_notation(seconds: int, offset: int) -> None:
    """DATE: ISO 8601 with any zone and epoch seconds name the same instant."""
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    zone = instant.astimezone(__import__("datetime").timezone(timedelta(hours=offset)))
    context = Context.from_flat({"aws:CurrentTime": zone.isoformat()})
    assert evaluate_conditions({"DateEquals": {"aws:CurrentTime": str(seconds)}}, context).matched is True
    later = (instant + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert evaluate_conditions({"DateLessThan": {"aws:CurrentTime": later}}, context).matched is True


@settings(max_examples=200, deadline=None)
@given(address=st.ip_addresses(), prefix=st.integers(0, 128), network_base=st.ip_addresses())
def test_ip_ranges_as_the_standard_library_reads_them(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int, network_base: Any
) -> None:
    """IP: RFC 4632 CIDR for IPv4 and IPv6; an address is in no range of the other version."""
    prefix = min(prefix, network_base.max_prefixlen)
    network = ipaddress.ip_network(f"{network_base}/{prefix}", strict=False)
    context = Context.from_flat({"aws:SourceIp": str(address)})
    matched = evaluate_conditions({"IpAddress": {"aws:SourceIp": str(network)}}, context).matched
    assert matched is (address.version == network.version and address in network)


def test_binary_compares_the_decoded_bytes() -> None:
    """BINARY: the policy value is base64; equal bytes match."""
    encoded = base64.b64encode(b"\x00\xffbytes").decode()
    context = Context.from_flat({"k": encoded})
    assert evaluate_conditions({"BinaryEquals": {"k": encoded}}, context).matched is True
