"""Differential test: our condition evaluator against an independent IAM simulator.

The oracle is the open-source npm package ``@cloud-copilot/iam-simulate`` (pinned in
``tests/differential/package.json``; AGPL, used only as a test oracle run in a separate node
process, never imported by or shipped with the provider). It is not installed by ``make test``:
install it with ``npm ci --prefix tests/differential`` (about 20 MB); without node or the package
this test is skipped. It is another reading of the same documentation, not AWS itself.

Seeded random Condition blocks over global keys of every operator family are evaluated by both,
each as the Condition of an identity-policy Allow (the simulator's "Allowed" means the Condition
matched). Wherever our evaluator decides, both must agree. Inputs on which the simulator departs
from the IAM User Guide are left out of the generator, each for a documented reason:

- epoch numbers in Date* values: the simulator reads them as milliseconds; "AWS global condition
  context keys", aws:EpochTime, says the key "accepts the number of seconds since January 1, 1970";
- ``0.0.0.0/0``: the simulator matches no address with it; RFC 4632 (which "IP address condition
  operators" cites) makes it every IPv4 address;
- a bare IPv4 address as an IP policy value against an IPv6 request: the simulator fails the
  comparison, so ``NotIpAddress`` does not match; an IPv6 address is not that IPv4 address.

Where our evaluator answers undetermined (a variable without a value where AWS's readings
differ, an ARN value without six components, ForAnyValue with IfExists on an absent key, a plain
operator on a multivalued key) the simulator's answer is one of the readings; those cases are
counted, not compared.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_s3xacct.permissions.conditions import Context, evaluate_conditions

ORACLE = Path(__file__).parent / "differential"
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or not (ORACLE / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir(),
    reason="node or @cloud-copilot/iam-simulate absent (npm ci --prefix tests/differential)",
)

ROLE = "arn:aws:iam::222222222222:role/sync"
# family: (operators, keys, policy values, request values)
FAMILIES: dict[str, tuple[list[str], list[str], list[str], list[Any]]] = {
    "string": (
        ["StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
         "StringNotLike"],
        ["aws:PrincipalTag/team"],
        ["data", "Data", "da*", "d?ta", "*", "x", "${aws:username}", "${aws:username, 'data'}", "d${*}",
         "${aws:PrincipalTag/other}"],
        ["data", "Data", "d*ta", "x", ""],
    ),
    "set": (
        ["ForAllValues:StringEquals", "ForAnyValue:StringEquals", "ForAllValues:StringNotEquals",
         "ForAnyValue:StringNotEquals", "ForAllValues:StringLike", "ForAnyValue:StringLike",
         "ForAllValues:StringNotLike", "ForAnyValue:StringNotLike"],
        ["aws:TagKeys"],
        ["a", "b", "a*", "?", "c"],
        ["a", "b", "ab", "c"],
    ),
    "numeric": (
        ["NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan",
         "NumericGreaterThanEquals"],
        ["aws:MultiFactorAuthAge"],
        ["0", "10", "3600", "10.5", "-1"],
        ["0", "10", "3600", "10.0", "7"],
    ),
    "date": (
        ["DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
         "DateGreaterThanEquals"],
        ["aws:CurrentTime"],
        ["2024-01-01T00:00:00Z", "2024-01-01", "2030-06-15T12:00:00+02:00", "2024-01-01T00:00:01Z"],
        ["2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "2023-12-31T23:59:59Z", "2030-06-15T10:00:00Z"],
    ),
    "bool": (["Bool"], ["aws:SecureTransport"], ["true", "false", "True"], ["true", "false"]),
    "ip": (
        ["IpAddress", "NotIpAddress"],
        ["aws:SourceIp"],
        ["203.0.113.0/24", "203.0.113.7/32", "2001:db8::/32", "2001:db8:1::/48", "10.0.0.0/8"],
        ["203.0.113.7", "198.51.100.1", "2001:db8:1::5", "2001:db9::1", "10.1.2.3"],
    ),
    "arn": (
        ["ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"],
        ["aws:SourceArn"],
        ["arn:aws:s3:::bucket", "arn:aws:s3:::*", "arn:aws:s3:*", "arn:aws:iam::*:role/*",
         "arn:aws:iam::222222222222:role/s?nc", "arn:aws:iam::*", "arn:*:*:*:*:*",
         "arn:aws:iam::${aws:username}:role/*", "arn:aws:lambda:*:*:function:*"],
        ["arn:aws:s3:::bucket", ROLE, "arn:aws:lambda:us-east-1:1:function:f:prod", "arn:aws:iam::1:x:role/sync"],
    ),
    "null": (["Null"], ["aws:PrincipalTag/team", "aws:SourceIp"], ["true", "false"], []),
}  # fmt: skip


def _cases(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        block: dict[str, dict[str, Any]] = {}
        context: dict[str, Any] = {}
        for _ in range(rng.choice([1, 1, 2])):
            family = rng.choice(list(FAMILIES))
            operators, keys, policy_values, request_values = FAMILIES[family]
            operator = rng.choice(operators)
            if family not in ("null", "set") and rng.random() < 0.3:
                operator += "IfExists"
            key = rng.choice(keys)
            if family == "null":
                block.setdefault(operator, {})[key] = rng.choice(policy_values)
            else:
                values = rng.sample(policy_values, rng.choice([1, 1, 2, 3]))
                block.setdefault(operator, {})[key] = values[0] if len(values) == 1 else values
            if rng.random() < 0.75:
                if family == "set":
                    context[key] = rng.sample(request_values, rng.choice([0, 1, 2, 3]))
                elif family == "null":
                    context[key] = "data" if key == "aws:PrincipalTag/team" else "203.0.113.7"
                else:
                    context[key] = rng.choice(request_values)
        if rng.random() < 0.5:
            context["aws:username"] = rng.choice(["data", "bob", "222222222222"])
        cases.append({"condition": block, "context": context})
    return cases


def test_evaluator_agrees_with_iam_simulate_wherever_it_decides() -> None:
    cases = _cases(seed=13, count=800)
    run = subprocess.run(
        ["node", "simulate.cjs"], input=json.dumps(cases), capture_output=True, text=True, cwd=ORACLE, timeout=300,
        check=True,
    )  # fmt: skip
    answers = json.loads(run.stdout)
    compared, undetermined, disagreements = 0, 0, []
    for case, answer in zip(cases, answers, strict=True):
        assert answer in ("Allowed", "ImplicitlyDenied"), (answer, case)
        ours = evaluate_conditions(case["condition"], Context.from_flat(case["context"]))
        if ours.matched is None:
            undetermined += 1
            continue
        compared += 1
        if ours.matched != (answer == "Allowed"):
            disagreements.append((ours, answer, case))
    assert not disagreements, "\n".join(map(str, disagreements[:10]))
    assert compared >= 700, (compared, undetermined)  # the comparison is not vacuous
