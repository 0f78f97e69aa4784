"""Differential test: whole-request decisions of our evaluator against an independent simulator.

The oracle is ``@cloud-copilot/iam-simulate`` (pinned in ``tests/differential/package.json``; a
test oracle run in a separate node process, never imported or shipped), as in
tests/test_conditions_differential.py: ``npm ci --prefix tests/differential``; skipped without
node or the package. It is another reading of AWS's documentation, not AWS itself.

Every combination of principal (an IAM user, an assumed-role session), resource account (same,
other), identity policy (allows or not) and resource-policy statement (each Principal form, each
NotPrincipal form of the IAM User Guide's examples, an explicit Deny) is decided by both; with a
fully known context our evaluator always decides, and both must agree. S3 object requests only:
the oracle's KMS key-policy model is not what this compares.

One reading differs and is left out of the comparison: the simulator exempts every principal of
an account listed in ``NotPrincipal`` (an account-level match), while the IAM User Guide,
"AWS JSON policy elements: NotPrincipal", exempts a principal only when its own ARN is listed
with its account (the assumed-role example lists the session, the role and the account; a role
ARN does not exempt its sessions), which is issue 13's class 6. On those cases our evaluator must
deny, as the guide says.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_s3xacct.permissions.evaluator import Document, Request, evaluate

ORACLE = Path(__file__).parent / "differential"
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or not (ORACLE / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir(),
    reason="node or @cloud-copilot/iam-simulate absent (npm ci --prefix tests/differential)",
)

ACCOUNT, OTHER = "222222222222", "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sync"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/sync/nightly"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
OBJECT = "arn:aws:s3:::bucket/data/file.csv"


def _allow(principal: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"}


def _deny_except(not_principal: list[str]) -> dict[str, Any]:
    return {"Effect": "Deny", "NotPrincipal": {"AWS": not_principal}, "Action": "s3:*", "Resource": "*"}


RESOURCE_STATEMENTS: dict[str, list[dict[str, Any]] | None] = {
    "no bucket policy": None,
    "Allow account id": [_allow({"AWS": ACCOUNT})],
    "Allow account root": [_allow({"AWS": ROOT})],
    "Allow role ARN": [_allow({"AWS": ROLE})],
    "Allow the session ARN": [_allow({"AWS": SESSION})],
    "Allow another session": [_allow({"AWS": SESSION.replace("nightly", "other")})],
    "Allow the user": [_allow({"AWS": USER})],
    "Allow *": [_allow("*")],
    "Allow AWS *": [_allow({"AWS": "*"})],
    "Allow a service": [_allow({"Service": "s3.amazonaws.com"})],
    "Deny all but role+account": [_allow("*"), _deny_except([ROLE, ROOT])],
    "Deny all but session+role+account": [_allow("*"), _deny_except([SESSION, ROLE, ROOT])],
    "Deny all but user+account": [_allow("*"), _deny_except([USER, ROOT])],
    "Deny all but account": [_allow("*"), _deny_except([ROOT])],
    "explicit Deny": [
        _allow("*"),
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
    ],
}
IDENTITY = {
    "identity allows": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}],
    "identity silent": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bucket"}],
}
CASES = list(itertools.product([USER, SESSION], [ACCOUNT, OTHER], IDENTITY, RESOURCE_STATEMENTS))


def _guide_departs(principal: str, resource: str) -> bool:
    """A NotPrincipal that lists the account but not the principal's own ARN (see the docstring)."""
    statements = RESOURCE_STATEMENTS[resource] or []
    listed = [v for st in statements for v in st.get("NotPrincipal", {}).get("AWS", [])]
    return bool(listed) and ROOT in listed and principal not in listed


def _policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def test_whole_requests_agree_with_the_oracle() -> None:
    payload = []
    ours = []
    for principal, owner, identity, resource in CASES:
        statements = RESOURCE_STATEMENTS[resource]
        payload.append(
            {
                "principal": principal,
                "action": "s3:GetObject",
                "resource": OBJECT,
                "accountId": owner,
                "context": {"aws:SecureTransport": "true"},
                "identity": _policy(IDENTITY[identity]),
                "resourcePolicy": _policy(statements) if statements else None,
            }
        )
        request = Request(principal, ACCOUNT, "s3:GetObject", OBJECT, owner, {"aws:SecureTransport": "true"})
        bucket = Document(resource, _policy(statements)) if statements else None
        decision = evaluate(request, [Document(identity, _policy(IDENTITY[identity]))], bucket)
        assert decision.verdict != "undetermined", (principal, owner, identity, resource, decision.reason)
        ours.append(decision.allowed)
    run = subprocess.run(
        ["node", str(ORACLE / "requests.cjs")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    theirs = json.loads(run.stdout)
    assert not [t for t in theirs if t.startswith("error")], theirs
    disagreements = [
        (case, "ours allowed" if mine else "ours denied", oracle)
        for case, mine, oracle in zip(CASES, ours, theirs, strict=True)
        if mine != (oracle == "Allowed") and not _guide_departs(case[0], case[3])
    ]
    assert disagreements == []
    departing = [mine for case, mine in zip(CASES, ours, strict=True) if _guide_departs(case[0], case[3])]
    assert len(departing) == 24 and not any(departing)  # denied, as the guide says
