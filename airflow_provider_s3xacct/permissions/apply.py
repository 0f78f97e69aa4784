"""``apply``: merge our statements into each deployed document by Sid, and nothing else."""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_s3xacct.permissions.documents import AccountAdmins
from airflow_provider_s3xacct.permissions.plan import (
    IDENTITY_POLICY_NAME,
    SID_PREFIX,
    default_key_policy,
    plan_policies,
)
from airflow_provider_s3xacct.permissions.spec import TransferSpec


class ConcurrentChangeError(RuntimeError):
    """A document changed between our read and our write; nothing was written to it."""


def _statements(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not policy:
        return []
    raw = policy.get("Statement", [])
    return [raw] if isinstance(raw, dict) else list(raw)


def merge_statements(
    existing: dict[str, Any] | None, ours: list[dict[str, Any]], empty: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """``existing`` with every statement whose Sid has our prefix replaced by ``ours``.

    Every other statement is kept exactly, in its place; ours come after them. None when there is
    no document and nothing to add.
    """
    if existing is None and not ours:
        return None
    base = (
        copy.deepcopy(existing) if existing is not None else copy.deepcopy(empty or {"Version": "2012-10-17"})
    )
    kept = [s for s in _statements(base) if not str(s.get("Sid", "")).startswith(SID_PREFIX)]
    base["Statement"] = kept + copy.deepcopy(ours)
    return base


def _canonical(policy: dict[str, Any] | None) -> str:
    return json.dumps(policy, sort_keys=True) if policy is not None else "null"


@dataclass
class DocumentChange:
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    read: Callable[[], dict[str, Any] | None]
    write: Callable[[dict[str, Any]], None]

    @property
    def changed(self) -> bool:
        return self.after is not None and _canonical(self.before) != _canonical(self.after)

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


def plan_changes(spec: TransferSpec, admins: AccountAdmins) -> list[DocumentChange]:
    """Read each document we touch and compute its merged version."""
    plan = plan_policies(spec)
    src, dst = spec.source, spec.destination
    changes = []
    iam = admins.client(spec.principal_account, "iam")

    def write_identity(doc: dict[str, Any]) -> None:
        body = json.dumps(doc)
        if spec.principal_kind == "user":
            iam.put_user_policy(
                UserName=spec.principal_name, PolicyName=IDENTITY_POLICY_NAME, PolicyDocument=body
            )
        else:
            iam.put_role_policy(
                RoleName=spec.principal_name, PolicyName=IDENTITY_POLICY_NAME, PolicyDocument=body
            )

    before = admins.read_identity_inline()
    changes.append(
        DocumentChange(
            f"inline policy {IDENTITY_POLICY_NAME!r} of {spec.principal_arn}",
            before,
            merge_statements(before, plan.identity),
            admins.read_identity_inline,
            write_identity,
        )
    )

    for account, bucket, region, ours in (
        (src.account_id, src.bucket, src.region, plan.source_bucket),
        (dst.account_id, dst.bucket, dst.region, plan.dest_bucket),
    ):

        def read_bucket(a: str = account, b: str = bucket, r: str = region) -> dict[str, Any] | None:
            return admins.read_bucket_policy(a, b, r)

        def write_bucket(doc: dict[str, Any], a: str = account, b: str = bucket, r: str = region) -> None:
            admins.client(a, "s3", r).put_bucket_policy(
                Bucket=b, Policy=json.dumps(doc), ExpectedBucketOwner=a
            )

        before = read_bucket()
        changes.append(
            DocumentChange(
                f"bucket policy of {bucket}",
                before,
                merge_statements(before, ours),
                read_bucket,
                write_bucket,
            )
        )

    key_statements = dict(plan.source_keys)
    if dst.kms_key_arn and plan.dest_key:
        key_statements[dst.kms_key_arn] = plan.dest_key
    for arn, ours in key_statements.items():

        def read_key(a: str = arn) -> dict[str, Any] | None:
            return admins.read_key_policy(a)

        def write_key(doc: dict[str, Any], a: str = arn) -> None:
            kms = admins.client(a.split(":")[4], "kms", a.split(":")[3])
            # Never BypassPolicyLockoutSafetyCheck: KMS must keep refusing a policy that locks the owner out.
            kms.put_key_policy(KeyId=a.rsplit("/", 1)[-1], PolicyName="default", Policy=json.dumps(doc))

        before = read_key()
        changes.append(
            DocumentChange(
                f"key policy of {arn}",
                before,
                merge_statements(before, ours, default_key_policy(arn.split(":")[4])),
                read_key,
                write_key,
            )
        )
    return changes


def apply_changes(changes: list[DocumentChange], *, dry_run: bool = False) -> ApplyResult:
    """Write the documents that change; refuse any that changed since they were read."""
    result = ApplyResult(changes, dry_run)
    if dry_run:
        return result
    for change in changes:
        if not change.changed:
            continue
        current = change.read()
        if _canonical(current) != _canonical(change.before):
            raise ConcurrentChangeError(
                f"{change.name} changed since it was read; nothing was written to it. Run apply again "
                f"(already written: {', '.join(result.written) or 'nothing'})"
            )
        assert change.after is not None
        change.write(change.after)
        result.written.append(change.name)
    return result
