"""``apply``: splice our statements into each deployed document, and touch nothing else.

Ours are the statements whose Sid is one ``plan_policies`` writes (``PLANNED_SIDS``), by exact
Sid: a person's ``S3xacctBreakGlassDeny`` is not ours. Every other statement is kept as the text
AWS returned it (characters, key order, number formatting, layout): the new document is the old
text with our statements cut out of its ``Statement`` array and the new ones appended, never a
re-serialisation of the whole policy.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_s3xacct.aws.arns import account_of, partition_of_arn, region_of
from airflow_provider_s3xacct.aws.locations import owner_args
from airflow_provider_s3xacct.permissions.documents import AccountAdmins
from airflow_provider_s3xacct.permissions.plan import (
    IDENTITY_POLICY_NAME,
    PLANNED_SIDS,
    default_key_policy,
    plan_policies,
)
from airflow_provider_s3xacct.permissions.spec import Side, TransferSpec


class ConcurrentChangeError(RuntimeError):
    """Someone else changed a document while apply was reading or writing it."""


_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _spans(text: str, start: int, closing: str) -> list[tuple[int, int, Any]]:
    """(start, end, value) of each member value (object) or element (array) opening at ``start``.

    ``text`` is known to be valid JSON (it was parsed before), so the scanner only needs
    to find the boundaries, with the standard library's own decoder for each value.
    """
    spans: list[tuple[int, int, Any]] = []
    i = _skip(text, start + 1)
    while text[i] != closing:
        if closing == "}":
            key, i = _DECODER.raw_decode(text, i)
            i = _skip(text, _skip(text, i) + 1)  # past ':'
        else:
            key = None
        value, end = _DECODER.raw_decode(text, i)
        spans.append((i, end, (key, value)))
        i = _skip(text, end)
        if text[i] == ",":
            i = _skip(text, i + 1)
    return spans


def _render(statements: Sequence[dict[str, Any]], indent: str) -> list[str]:
    """Our statements as JSON text, laid out like the array they join (one line, or indented).

    ASCII with escapes: a policy's text may hold only tab, LF, CR and U+0020-U+00FF (IAM User
    Guide, "IAM and AWS STS quotas", character limits), and a prefix may hold any character.
    """
    if "\n" not in indent:
        return [json.dumps(s) for s in statements]
    margin = indent.rsplit("\n", 1)[-1]
    return [json.dumps(s, indent=2).replace("\n", "\n" + margin) for s in statements]


def _is_ours(statement: Any, owned: frozenset[str]) -> bool:
    return isinstance(statement, dict) and statement.get("Sid") in owned


def splice_statements(text: str, ours: Sequence[dict[str, Any]], owned: frozenset[str]) -> str:
    """``text`` with the statements whose Sid is in ``owned`` replaced by ``ours`` (appended).

    Every other character of ``text`` stays: foreign statements, their order, the other members.
    """
    start = _skip(text, 0)
    members = _spans(text, start, "}")
    statement = [m for m in members if m[2][0] == "Statement"]
    if not statement:  # no Statement member yet: add one after the last member
        if not ours:
            return text
        at = members[-1][1] if members else start + 1
        added = f'"Statement": [{", ".join(_render(ours, ""))}]'
        return text[:at] + (", " if members else "") + added + text[at:]
    begin, end, (_, value) = statement[-1]  # JSON's last duplicate wins, as json.loads decides
    if isinstance(value, dict):  # a single statement object
        kept = [] if _is_ours(value, owned) else [text[begin:end]]
        if kept and not ours:
            return text
        return text[:begin] + "[" + ", ".join(kept + _render(ours, "")) + "]" + text[end:]
    elements = _spans(text, begin, "]")
    kept = [text[a:b] for a, b, (_, v) in elements if not _is_ours(v, owned)]
    if elements:
        lead, trail = text[begin + 1 : elements[0][0]], text[elements[-1][1] : end - 1]
        sep = text[elements[0][1] : elements[1][0]] if len(elements) > 1 else "," + (lead or " ")
    else:
        lead, trail, sep = "", "", ", "
    items = kept + _render(ours, lead)
    body = lead + sep.join(items) + trail if items else ""
    return text[:begin] + "[" + body + "]" + text[end:]


def _canonical(policy: dict[str, Any] | None) -> str:
    return json.dumps(policy, sort_keys=True) if policy is not None else "null"


def _parse(text: str | None) -> dict[str, Any] | None:
    return None if text is None else dict(json.loads(text))


@dataclass
class DocumentChange:
    """One document: as read (text), as apply would write it (text; None: no document), and how to
    read and write it (``write(None)`` deletes it)."""

    name: str
    before_text: str | None
    after_text: str | None
    read: Callable[[], str | None]
    write: Callable[[str | None], None]

    @property
    def before(self) -> dict[str, Any] | None:
        return _parse(self.before_text)

    @property
    def after(self) -> dict[str, Any] | None:
        return _parse(self.after_text)

    @property
    def changed(self) -> bool:
        return _canonical(self.before) != _canonical(self.after)

    def diff(self) -> str:
        def lines(p: dict[str, Any] | None) -> list[str]:
            return json.dumps(p, indent=2, sort_keys=True).splitlines(keepends=True) if p is not None else []

        return "".join(
            difflib.unified_diff(
                lines(self.before), lines(self.after), f"{self.name} (deployed)", f"{self.name} (after apply)"
            )
        )


@dataclass
class ApplyResult:
    changes: list[DocumentChange]
    dry_run: bool
    written: list[str] = field(default_factory=list)

    @property
    def backups(self) -> dict[str, Any]:
        """The previous version of every document that was (or would be) written."""
        return {c.name: c.before for c in self.changes if c.changed}

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "written": self.written,
            "unchanged": [c.name for c in self.changes if not c.changed],
            "diffs": {c.name: c.diff() for c in self.changes if c.changed},
            "backups": self.backups,
        }


def merged_text(
    before: str | None, ours: list[dict[str, Any]], empty: dict[str, Any] | None = None
) -> str | None:
    """The document to write: ``before`` with our statements spliced in, or a new one.

    None when no statement would be left (no document, or only ours and we need none now): S3
    and IAM refuse a policy without statements, so such a document is deleted instead. A key
    policy passes ``empty`` (KMS's default) and is never left without one.
    """
    owned = PLANNED_SIDS | {s["Sid"] for s in ours}
    if before is None:
        if not ours:
            return None
        return splice_statements(json.dumps(empty or {"Version": "2012-10-17"}), ours, owned)
    after = splice_statements(before, ours, owned)
    return None if empty is None and not json.loads(after).get("Statement") else after


def _identity_change(admins: AccountAdmins, ours: list[dict[str, Any]]) -> DocumentChange:
    """Our inline policy on ``admins.spec.principal`` (a relay view: its side's principal)."""
    spec = admins.spec
    iam = admins.client(spec.principal_account, "iam")

    def write_identity(body: str | None) -> None:
        kind = spec.principal_kind.capitalize()  # User or Role
        names = {f"{kind}Name": spec.principal_name, "PolicyName": IDENTITY_POLICY_NAME}
        if body is None:
            getattr(iam, f"delete_{spec.principal_kind}_policy")(**names)
        else:
            getattr(iam, f"put_{spec.principal_kind}_policy")(**names, PolicyDocument=body)

    before = admins.read_identity_inline_text()
    return DocumentChange(
        f"inline policy {IDENTITY_POLICY_NAME!r} of {spec.principal_arn}",
        before,
        merged_text(before, ours),
        admins.read_identity_inline_text,
        write_identity,
    )


def plan_changes(spec: TransferSpec, admins: AccountAdmins) -> list[DocumentChange]:
    """Read each document we touch and compute its merged version.

    A relay copy writes both principals' inline policies (one, holding both sides' statements,
    when the two are the same user or role).
    """
    plan = plan_policies(spec)
    src, dst = spec.source, spec.destination
    changes = []
    if spec.relay:
        owners: dict[str, tuple[AccountAdmins, list[dict[str, Any]]]] = {}
        per_side: tuple[tuple[Side, list[dict[str, Any]]], ...] = (
            ("source", plan.identity),
            ("destination", plan.dest_identity),
        )
        for side, ours in per_side:
            view = admins.acting(side)
            owners.setdefault(view.spec.principal.arn, (view, []))[1].extend(ours)
        changes += [_identity_change(view, ours) for view, ours in owners.values()]
    else:
        changes.append(_identity_change(admins, plan.identity))

    for account, bucket, region, ours in (
        (src.account_id, src.bucket, src.region, plan.source_bucket),
        (dst.account_id, dst.bucket, dst.region, plan.dest_bucket),
    ):

        def read_bucket(a: str = account, b: str = bucket, r: str = region) -> str | None:
            return admins.read_bucket_policy_text(a, b, r)

        def write_bucket(body: str | None, a: str = account, b: str = bucket, r: str = region) -> None:
            s3 = admins.client(a, "s3", r)
            if body is None:
                s3.delete_bucket_policy(Bucket=b, **owner_args(a))
            else:
                s3.put_bucket_policy(Bucket=b, Policy=body, **owner_args(a))

        before = read_bucket()
        changes.append(
            DocumentChange(
                f"bucket policy of {bucket}", before, merged_text(before, ours), read_bucket, write_bucket
            )
        )

    key_statements = dict(plan.source_keys)
    if dst.kms_key_arn and plan.dest_key:
        key_statements[dst.kms_key_arn] = plan.dest_key
    for arn, ours in key_statements.items():

        def read_key(a: str = arn) -> str | None:
            return admins.read_key_policy_text(a)

        def write_key(body: str | None, a: str = arn) -> None:
            assert body is not None  # merged_text keeps a key policy (``empty`` is given)
            kms = admins.client(account_of(a), "kms", region_of(a))
            # Never BypassPolicyLockoutSafetyCheck: KMS must keep refusing a policy that locks the owner out.
            kms.put_key_policy(KeyId=a.rsplit("/", 1)[-1], PolicyName="default", Policy=body)

        before = read_key()
        changes.append(
            DocumentChange(
                f"key policy of {arn}",
                before,
                merged_text(before, ours, default_key_policy(account_of(arn), partition_of_arn(arn))),
                read_key,
                write_key,
            )
        )
    return changes


def apply_changes(
    changes: list[DocumentChange], *, dry_run: bool = False, settle: Sequence[float] = (1.0, 2.0, 4.0)
) -> ApplyResult:
    """Write the documents that change; refuse any that changed since they were read.

    Neither S3, IAM nor KMS offers a conditional write, so a change made between our last read and
    our write cannot be seen. Each document is read again right before its write (a change before
    that is refused, nothing written to it) and right after it: a document that is then not what
    we wrote was changed by someone else meanwhile, and that is reported. While the re-read still
    shows the previous version it is retried after each ``settle`` delay (IAM and bucket policies
    are eventually consistent), then reported too.
    """
    result = ApplyResult(changes, dry_run)
    if dry_run:
        return result
    for change in changes:
        if not change.changed:
            continue
        done = f"(already written: {', '.join(result.written) or 'nothing'})"
        if _canonical(_parse(change.read())) != _canonical(change.before):
            raise ConcurrentChangeError(
                f"{change.name} changed since it was read; nothing was written to it. Run apply again {done}"
            )
        change.write(change.after_text)
        result.written.append(change.name)
        for delay in (*settle, None):
            current = _canonical(_parse(change.read()))
            if current == _canonical(change.after) or current != _canonical(change.before) or delay is None:
                break
            time.sleep(delay)
        if current != _canonical(change.after):
            raise ConcurrentChangeError(
                f"{change.name} is not what apply wrote: someone changed it at the same time"
                + (" (it still shows the previous version)" if current == _canonical(change.before) else "")
                + f". Check it, then run apply again (written: {', '.join(result.written)})"
            )
    return result
