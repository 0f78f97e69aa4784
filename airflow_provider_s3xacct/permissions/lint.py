"""Linting policy documents: parliament for actions and resource formats, plus the risky-grant check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_s3xacct.permissions.evaluator import Document

# Findings that make a statement grant nothing (or not what it says): errors, whatever parliament's
# own severity label (it rates an unknown action LOW).
_ERRORS = {"UNKNOWN_ACTION", "UNKNOWN_PREFIX", "RESOURCE_MISMATCH", "MALFORMED", "UNKNOWN_PRINCIPAL"}


@dataclass(frozen=True)
class LintFinding:
    document: str
    sid: str | None
    severity: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "sid": self.sid,
            "severity": self.severity,
            "message": self.message,
        }


def _describe(issue: str, detail: Any, location: Any) -> str:
    import parliament

    title = parliament.config.get(issue, {}).get("title", issue)
    if issue == "UNKNOWN_ACTION":
        return f"{title}: {detail!s} (matches no action, so it grants nothing)"
    if issue == "RESOURCE_MISMATCH":
        parts = [f"{d['action']} needs a resource like {d['required_format']}" for d in detail or []]
        return f"{title}: " + "; ".join(parts) + " (this statement grants nothing for it)"
    return f"{title}: {detail}" if detail else title


def lint_document(doc: Document) -> list[LintFinding]:
    """Lint each statement on its own, so every finding names its Sid."""
    import parliament  # loads AWS's whole action catalogue: only when linting, not at DAG parse time

    findings = []
    base = {k: v for k, v in doc.policy.items() if k != "Statement"}
    for stmt in doc.statements():
        sid = stmt.get("Sid")
        single = json.dumps({**base, "Version": doc.policy.get("Version", "2012-10-17"), "Statement": [stmt]})
        analysed = parliament.analyze_policy_string(single, include_community_auditors=False)
        for f in analysed.findings:
            if f.issue in ("RESOURCE_STAR", "MISSING_VERSION") and stmt.get("Principal"):
                continue  # key policies use Resource "*" by design (it means "this key")
            severity = (
                "error"
                if f.issue in _ERRORS
                else parliament.config.get(f.issue, {}).get("severity", "LOW").lower()
            )
            findings.append(LintFinding(doc.name, sid, severity, _describe(f.issue, f.detail, f.location)))
        findings += _risky(doc, stmt)
    return findings


def _risky(doc: Document, stmt: dict[str, Any] | Any) -> list[LintFinding]:
    principal = stmt.get("Principal")
    everyone = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") in ("*", ["*"]))
    if stmt.get("Effect") == "Allow" and everyone and not stmt.get("Condition"):
        return [
            LintFinding(
                doc.name,
                stmt.get("Sid"),
                "high",
                "Allow with Principal '*' and no condition grants every AWS account (public access)",
            )
        ]
    return []


def lint_all(documents: list[Document]) -> list[LintFinding]:
    return [finding for doc in documents for finding in lint_document(doc)]
