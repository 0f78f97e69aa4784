"""Linting policy documents on the evaluator's model, before anyone trusts a verdict built on them.

Three kinds of finding, each naming the document and the statement (Sid, or its position):

- ``error``: AWS would refuse the document (``MalformedPolicyDocument``), or a statement cannot do
  what it says (an action with a space grants nothing; ``s3:ListBucket`` on ``bucket/*`` grants
  nothing for listing).
- ``high``: a grant wider than anyone means (an Allow to every AWS account, ``NotPrincipal`` with
  Allow, ``Action: "*"``).
- ``warning``: likely a mistake, or something this lint cannot check (an action prefix botocore
  does not know).

This replaces parliament, which is unmaintained, imports ``pkg_resources`` (gone from setuptools
82) and flags AWS's own default key policy as an error. AWS's own validator (IAM Access Analyzer
``ValidatePolicy``) runs beside this one when verify is online (aws_checks.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_s3xacct.permissions.conditions import glob_regex
from airflow_provider_s3xacct.permissions.evaluator import Document

if TYPE_CHECKING:
    from airflow_provider_s3xacct.permissions.documents import PolicySet

PolicyKind = Literal["identity", "bucket", "key"]


@dataclass(frozen=True)
class LintFinding:
    document: str
    sid: str | None
    severity: str  # "error" | "high" | "warning" (ours); Access Analyzer's types map onto them
    message: str
    code: str = ""  # a stable name for the rule, e.g. RESOURCE_MISMATCH, or Access Analyzer's issueCode
    source: str = "s3xacct lint"  # or "IAM Access Analyzer"

    def to_dict(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "sid": self.sid,
            "severity": self.severity,
            "code": self.code,
            "source": self.source,
            "message": self.message,
        }


# -- the grammar (IAM User Guide, "IAM JSON policy element reference" and "grammar") ---------------

_VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_KEYS = {"Version", "Id", "Statement"}
_STATEMENT_KEYS = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}
_PRINCIPAL_TYPES = {"AWS", "Service", "Federated", "CanonicalUser"}
# "Condition operators": every operator of the reference; each but Null takes ...IfExists.
_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
}
_SET_QUALIFIERS = ("ForAllValues", "ForAnyValue")
# An action is service-prefix:name, the name made of letters, digits and the wildcards.
_ACTION_RE = re.compile(r"^([A-Za-z0-9-]+):([A-Za-z0-9*?]+)$")
_SID_IAM_RE = re.compile(r"^[A-Za-z0-9]*$")  # IAM policies; S3 and KMS accept more (spaces)
_AWS_PRINCIPAL_RE = re.compile(
    r"^arn:aws[a-z-]*:(?:iam::\d{12}:(?:root|user/.+|role/.+)"
    r"|sts::\d{12}:(?:assumed-role/[^/]+/.+|federated-user/.+)"
    r"|iam::cloudfront:user/CloudFront Origin Access Identity \w+)$"  # what S3 writes for an OAI
)
_UNIQUE_ID_RE = re.compile(r"^A[A-Z]{3}[A-Z0-9]{12,}$")  # AIDA.../AROA...: what a deleted principal becomes

# -- resource types ---------------------------------------------------------------------------------
# Which resource types an action takes is in IAM's Service Authorization Reference; botocore carries
# the API models, not that reference (S3's IAM actions are not its API operations: s3:ListBucket
# authorises ListObjectsV2), and parliament's copy of it is what this module replaces. So the types
# are kept here for the S3 and KMS actions the copy, verify and apply use; every other action is not
# checked (a wrong guess would be a false error on a correct policy).
_RESOURCE_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "s3:listbucket",
            "s3:listbucketversions",
            "s3:listbucketmultipartuploads",
            "s3:getbucketlocation",
            "s3:getbucketpolicy",
            "s3:putbucketpolicy",
            "s3:deletebucketpolicy",
            "s3:getencryptionconfiguration",
        ),
        "bucket",
    ),
    **dict.fromkeys(
        (
            "s3:getobject",
            "s3:getobjectversion",
            "s3:getobjecttagging",
            "s3:getobjectversiontagging",
            "s3:putobject",
            "s3:putobjecttagging",
            "s3:abortmultipartupload",
            "s3:listmultipartuploadparts",
            "s3:deleteobject",
            "s3:deleteobjectversion",
        ),
        "object",
    ),
    **dict.fromkeys(
        (
            "kms:decrypt",
            "kms:encrypt",
            "kms:generatedatakey",
            "kms:generatedatakeywithoutplaintext",
            "kms:reencryptfrom",
            "kms:reencryptto",
            "kms:describekey",
            "kms:getkeypolicy",
            "kms:putkeypolicy",
            "kms:creategrant",
            "kms:listgrants",
        ),
        "key",
    ),
}
_TYPE_EXAMPLES = {
    "bucket": "a bucket ARN (arn:aws:s3:::BUCKET, no '/')",
    "object": "an object ARN (arn:aws:s3:::BUCKET/KEY-PATTERN, e.g. BUCKET/prefix/*)",
    "key": "a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID; not an alias)",
}

# -- who an Allow to Principal "*" is limited to ------------------------------------------------------
# Condition keys that pin the caller (its account, organization, ARN, network or the service
# acting for it) when tested with a positive operator; aws:SecureTransport and the like do not.
_LIMITING_KEYS = {
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:userid",
    "aws:username",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "kms:calleraccount",
}
_POSITIVE_OPERATORS = {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
    "IpAddress",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def _known_prefixes() -> frozenset[str]:
    """Service names and endpoint prefixes botocore knows: most IAM prefixes are one of them."""
    import botocore.session

    loader = botocore.session.get_session().get_component("data_loader")
    names = set(loader.list_available_services("service-2"))
    for partition in loader.load_data("endpoints")["partitions"]:
        names |= set(partition["services"])
    return frozenset(n.lower() for n in names)


class _Linter:
    """Collects the findings of one document."""

    def __init__(self, doc: Document, kind: PolicyKind) -> None:
        self.doc, self.kind = doc, kind
        self.findings: list[LintFinding] = []

    def add(self, sid: str | None, severity: str, code: str, message: str) -> None:
        self.findings.append(LintFinding(self.doc.name, sid, severity, message, code))

    def run(self) -> list[LintFinding]:
        policy = self.doc.policy
        if not isinstance(policy, Mapping):
            self.add(None, "error", "MALFORMED", "the document is not a JSON object")
            return self.findings
        for key in sorted(set(policy) - _TOP_KEYS):
            self.add(
                None,
                "error",
                "MALFORMED",
                f"unknown top-level element {key!r} (allowed: Version, Id, Statement)",
            )
        version = policy.get("Version")
        if version is None:
            self.add(
                None,
                "warning",
                "MISSING_VERSION",
                'no "Version": AWS reads it as 2008-10-17, where policy variables are not substituted; '
                'add "Version": "2012-10-17"',
            )
        elif version not in _VERSIONS:
            self.add(None, "error", "MALFORMED", f"Version {version!r} is not 2012-10-17 (or 2008-10-17)")
        raw = policy.get("Statement")
        if not isinstance(raw, list | Mapping) or not raw:
            self.add(
                None, "error", "MALFORMED", '"Statement" must be an object or a non-empty list of objects'
            )
            return self.findings
        statements = _as_list(raw)
        sids = Counter(str(s.get("Sid")) for s in statements if isinstance(s, Mapping) and s.get("Sid"))
        for sid, count in sids.items():
            if count > 1:
                self.add(str(sid), "warning", "DUPLICATE_SID", f"Sid {sid!r} is used by {count} statements")
        for index, stmt in enumerate(statements):
            if not isinstance(stmt, Mapping):
                self.add(f"#{index}", "error", "MALFORMED", f"statement #{index} is not a JSON object")
                continue
            self.statement(stmt, str(stmt["Sid"]) if stmt.get("Sid") else f"#{index}")
        return self.findings

    def statement(self, stmt: Mapping[str, Any], sid: str) -> None:
        for key in sorted(set(stmt) - _STATEMENT_KEYS):
            self.add(sid, "error", "MALFORMED", f"unknown statement element {key!r}")
        if "Sid" in stmt and self.kind == "identity" and not _SID_IAM_RE.match(str(stmt["Sid"])):
            self.add(sid, "error", "MALFORMED", "IAM accepts only letters and digits in a Sid")
        effect = stmt.get("Effect")
        if effect not in ("Allow", "Deny"):
            self.add(sid, "error", "MALFORMED", f'"Effect" must be "Allow" or "Deny", not {effect!r}')
        actions = self.pair(stmt, sid, "Action", "NotAction", self.action)
        resources = self.pair(stmt, sid, "Resource", "NotResource", self.resource)
        if self.kind == "identity":
            for key in ("Principal", "NotPrincipal"):
                if key in stmt:
                    self.add(sid, "error", "MALFORMED", f"an identity policy cannot have {key!r}")
        else:
            self.pair(stmt, sid, "Principal", "NotPrincipal", None)
            for key in ("Principal", "NotPrincipal"):
                if key in stmt:
                    self.principal(stmt[key], sid, key)
        if "Condition" in stmt:
            self.condition(stmt["Condition"], sid)
        if actions is not None and resources is not None and "Action" in stmt and "Resource" in stmt:
            self.resource_types(actions, resources, sid, str(effect))
        self.security(stmt, sid)

    def pair(self, stmt: Mapping[str, Any], sid: str, key: str, not_key: str, check: Any) -> list[str] | None:
        """Exactly one of ``key`` / ``not_key``; its values as strings (None when malformed)."""
        present = [k for k in (key, not_key) if k in stmt]
        if len(present) != 1:
            self.add(sid, "error", "MALFORMED", f"a statement needs exactly one of {key!r} or {not_key!r}")
            return None
        if check is None:
            return []
        values = _as_list(stmt[present[0]])
        if not values or not all(isinstance(v, str) for v in values):
            self.add(
                sid, "error", "MALFORMED", f'"{present[0]}" must be a string or a non-empty list of strings'
            )
            return None
        for value in values:
            check(value, sid)
        return list(values)

    def action(self, action: str, sid: str) -> None:
        if action == "*":
            return
        match = _ACTION_RE.match(action)
        if not match:
            hint = " (it contains whitespace)" if re.search(r"\s", action) else ""
            self.add(
                sid,
                "error",
                "MALFORMED_ACTION",
                f"action {action!r} is not service:Action{hint}: it matches no action, so it grants nothing",
            )
            return
        prefix = match.group(1).lower()
        if prefix not in _known_prefixes():
            self.add(
                sid,
                "warning",
                "UNKNOWN_PREFIX",
                f"service prefix {prefix!r} of {action!r} is not a service botocore knows: check the spelling",
            )

    def resource(self, resource: str, sid: str) -> None:
        if resource != "*" and (not resource.startswith("arn:") or resource.count(":") < 5):
            self.add(
                sid,
                "error",
                "MALFORMED_RESOURCE",
                f"resource {resource!r} is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE) or '*'",
            )

    def principal(self, value: Any, sid: str, key: str) -> None:
        if value == "*":
            return
        if not isinstance(value, Mapping) or not value:
            self.add(
                sid,
                "error",
                "MALFORMED_PRINCIPAL",
                f'"{key}" must be "*" or an object such as {{"AWS": ARN}}',
            )
            return
        for kind, raw in value.items():
            if kind not in _PRINCIPAL_TYPES:
                self.add(sid, "error", "MALFORMED_PRINCIPAL", f"unknown principal type {kind!r} in {key!r}")
                continue
            items = _as_list(raw)
            if not items or not all(isinstance(v, str) for v in items):
                self.add(
                    sid,
                    "error",
                    "MALFORMED_PRINCIPAL",
                    f'"{key}.{kind}" must be a string or a list of strings',
                )
                continue
            for item in items:
                self.one_principal(kind, item, sid, key)

    def one_principal(self, kind: str, item: str, sid: str, key: str) -> None:
        if kind == "AWS":
            if item == "*" or re.fullmatch(r"\d{12}", item) or _AWS_PRINCIPAL_RE.match(item):
                if "*" in item[1:] or "?" in item:
                    self.add(
                        sid,
                        "error",
                        "MALFORMED_PRINCIPAL",
                        f"{key} {item!r}: principals take no wildcards; use Principal '*' with an ArnLike "
                        "condition on aws:PrincipalArn",
                    )
                return
            if _UNIQUE_ID_RE.match(item):
                self.add(
                    sid,
                    "warning",
                    "DELETED_PRINCIPAL",
                    f"{key} {item!r} is a unique id: AWS shows one when the principal was deleted; it matches nobody",
                )
                return
            self.add(
                sid,
                "error",
                "MALFORMED_PRINCIPAL",
                f"{key} {item!r} is not an account id, an account root, user, role or session ARN, or '*'",
            )
        elif kind == "Service" and not re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?", item):
            self.add(
                sid, "warning", "MALFORMED_PRINCIPAL", f"service principal {item!r} is not NAME.amazonaws.com"
            )

    def condition(self, block: Any, sid: str) -> None:
        if not isinstance(block, Mapping):
            self.add(
                sid,
                "error",
                "MALFORMED_CONDITION",
                '"Condition" must be an object: {OPERATOR: {KEY: VALUE(S)}}',
            )
            return
        for raw_operator, pairs in block.items():
            qualifier, _, operator = str(raw_operator).rpartition(":")
            base = operator.removesuffix("IfExists")
            known = base in _OPERATORS or (operator == "Null")
            if not known or (qualifier and qualifier not in _SET_QUALIFIERS):
                self.add(
                    sid,
                    "error",
                    "UNKNOWN_OPERATOR",
                    f"condition operator {raw_operator!r} is not an IAM operator (IAM JSON reference, "
                    "'Condition operators'); AWS refuses the document",
                )
                continue
            if not isinstance(pairs, Mapping) or not pairs:
                self.add(
                    sid, "error", "MALFORMED_CONDITION", f"{raw_operator!r} must map condition keys to values"
                )
                continue
            for key, values in pairs.items():
                if not all(isinstance(v, str | bool | int | float) for v in _as_list(values)) or values == []:
                    self.add(
                        sid,
                        "error",
                        "MALFORMED_CONDITION",
                        f"{raw_operator} {key!r}: a value must be a string, number, boolean or a list of them",
                    )

    def resource_types(self, actions: list[str], resources: list[str], sid: str, effect: str) -> None:
        verb = "denies" if effect == "Deny" else "grants"
        for action in actions:
            kind = _RESOURCE_TYPES.get(action.lower())  # wildcard actions span types: not checked
            if kind is None or any(_could_be(r, kind) for r in resources):
                continue
            self.add(
                sid,
                "error",
                "RESOURCE_MISMATCH",
                f"{action} needs {_TYPE_EXAMPLES[kind]}; none of this statement's resources "
                f"({', '.join(resources)}) can be one, so it {verb} nothing for {action}",
            )

    def security(self, stmt: Mapping[str, Any], sid: str) -> None:
        if stmt.get("Effect") != "Allow":
            return
        if "NotPrincipal" in stmt:
            self.add(
                sid,
                "high",
                "ALLOW_NOT_PRINCIPAL",
                "Allow with NotPrincipal grants every principal not listed, in every AWS account",
            )
        principal = stmt.get("Principal")
        everyone = principal == "*" or (
            isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS"))
        )
        if everyone and not _limits_caller(stmt.get("Condition")):
            self.add(
                sid,
                "high",
                "PUBLIC_ACCESS",
                "Allow with Principal '*' and no condition that limits the caller (aws:PrincipalAccount, "
                "aws:PrincipalOrgID, aws:SourceVpce, kms:CallerAccount, ...) grants every AWS account",
            )
        if "*" in _as_list(stmt.get("Action", [])):
            self.add(
                sid, "high", "ALLOW_ALL_ACTIONS", 'Allow with Action "*" grants every action of every service'
            )


def _limits_caller(block: Any) -> bool:
    if not isinstance(block, Mapping):
        return False
    for raw_operator, pairs in block.items():
        qualifier, _, operator = str(raw_operator).rpartition(":")
        if (
            operator not in _POSITIVE_OPERATORS
            or qualifier == "ForAllValues"
            or not isinstance(pairs, Mapping)
        ):
            continue  # negated, ...IfExists and ForAllValues hold when the key is missing
        if any(str(key).lower() in _LIMITING_KEYS for key in pairs):
            return True
    return False


def _literal_prefix(pattern: str) -> tuple[str, bool]:
    """The part of a wildcard pattern before its first wildcard, and whether it has one."""
    cut = re.search(r"[*?]", pattern)
    return (pattern[: cut.start()], True) if cut else (pattern, False)


def _could_be(pattern: str, kind: str) -> bool:
    """Whether the Resource pattern could match some resource of ``kind`` (True when not checked)."""
    if pattern == "*":
        return True
    parts = pattern.split(":", 5)
    if len(parts) < 6:
        return True  # malformed (reported apart) or a wildcard spanning segments: not checked
    _, _, service, region, account, resource = parts
    wanted = "kms" if kind == "key" else "s3"
    if not glob_regex(service, ignore_case=True).match(wanted):
        return False
    if kind == "key":
        literal, wild = _literal_prefix(resource)
        return literal.startswith("key/") or (wild and "key/".startswith(literal))
    if region.strip("*") or account.strip("*"):
        return True  # access points, Outposts, Object Lambda: ARNs with a region; not checked
    if kind == "bucket":
        return "/" not in resource  # a literal '/' is in every match: an object, never a bucket
    literal_slash = resource.find("/")
    if literal_slash < 0:
        return "*" in resource  # only a '*' can stand for the '/' of BUCKET/KEY
    return bool(resource[literal_slash + 1 :]) and literal_slash > 0


def lint_document(doc: Document, kind: PolicyKind) -> list[LintFinding]:
    """Every finding of one document; ``kind`` says which elements it must and must not have."""
    return _Linter(doc, kind).run()


def lint_policies(policies: PolicySet) -> list[LintFinding]:
    """Lint every document of the set, each as the kind of policy it is."""
    identities = [*policies.identity, *policies.dest_identity]
    findings = [f for doc in identities for f in lint_document(doc, "identity")]
    for bucket in (policies.source_bucket, policies.dest_bucket):
        if bucket is not None:
            findings += lint_document(bucket, "bucket")
    keys = [*policies.source_keys.values(), *([policies.dest_key] if policies.dest_key else [])]
    for key in keys:
        findings += lint_document(key, "key")
    return findings
