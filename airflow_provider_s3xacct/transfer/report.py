"""``CopyReport`` (the run summary) and the per-object JSON-lines report."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from airflow_provider_s3xacct.diagnosis.explain import Diagnosis

MAX_LISTED_FAILURES = 100


@dataclass
class ObjectFailure:
    key: str
    error: str
    diagnosis: Diagnosis

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "error": self.error,
            "diagnosis": str(self.diagnosis),
            "diagnosis_confirmed": self.diagnosis.confirmed_by_probe,
        }


@dataclass
class CopyReport:
    """Totals of one run. ``failures`` keeps the first 100; ``failure_causes`` counts all."""

    source: str
    destination: str
    mode: str
    dry_run: bool
    listed: int = 0
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    bytes_copied: int = 0
    multipart_copies: int = 0
    elapsed_seconds: float = 0.0
    failures: list[ObjectFailure] = field(default_factory=list)
    failure_causes: Counter[str] = field(default_factory=Counter)
    retryable_failures: int = 0
    delete_refused: str | None = None
    report_uri: str | None = None

    def add_failure(self, key: str, error: str, diagnosis: Diagnosis) -> None:
        self.failed += 1
        self.failure_causes[str(diagnosis)] += 1
        if not diagnosis.permanent:
            self.retryable_failures += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append(ObjectFailure(key, error, diagnosis))

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.delete_refused is None

    @property
    def only_retryable_failures(self) -> bool:
        return self.failed > 0 and self.retryable_failures == self.failed and self.delete_refused is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "listed": self.listed,
            "copied": self.copied,
            "skipped": self.skipped,
            "failed": self.failed,
            "deleted": self.deleted,
            "bytes_copied": self.bytes_copied,
            "multipart_copies": self.multipart_copies,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "failures": [failure.to_dict() for failure in self.failures],
            "failure_causes": [
                {"cause": cause, "objects": n} for cause, n in self.failure_causes.most_common()
            ],
            "delete_refused": self.delete_refused,
            "report_uri": self.report_uri,
        }

    def failure_summary(self) -> str:
        """Failures grouped by cause, then up to 100 keys with their errors."""
        verb = "would fail" if self.dry_run else "failed"
        lines = [f"delete refused: {self.delete_refused}"] if self.delete_refused else []
        if not self.failed:
            return "\n".join(lines)
        lines.append(f"{self.failed} of {self.listed} objects {verb}:")
        lines += [f"  {n} objects: {cause}" for cause, n in self.failure_causes.most_common()]
        lines.append("First failing keys:")
        lines += [f"  {f.key}: {f.error}" for f in self.failures]
        return "\n".join(lines)

    def summary_line(self) -> str:
        prefix = "[dry run] would copy" if self.dry_run else "copied"
        deleted = "would delete" if self.dry_run else "deleted"
        return (
            f"{prefix} {self.copied} objects ({self.bytes_copied} bytes), skipped {self.skipped}, "
            f"{deleted} {self.deleted}, failed {self.failed} of {self.listed} listed "
            f"in {self.elapsed_seconds:.1f}s"
        )


class ObjectLog:
    """Per-object JSON lines (key, size, action, status, error), written as the run goes.

    An S3 target is written to a local temporary file first and uploaded when the run ends, so a
    crashed run never leaves a truncated report object.
    """

    def __init__(self, target: str | None) -> None:
        self.target = target
        self._s3: tuple[str, str] | None = None
        self._file: IO[str] | None = None
        self._path: str | None = None
        if target is None:
            return
        if target.startswith("s3://"):
            bucket, _, key = target[5:].partition("/")
            self._s3 = (bucket, key)
            fd, self._path = tempfile.mkstemp(prefix="s3xacct-report-", suffix=".jsonl")
            self._file = os.fdopen(fd, "w", encoding="utf-8")
        else:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            self._path = target
            self._file = open(target, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(
        self,
        key: str,
        size: int | None,
        action: str,
        status: str,
        error: str | None = None,
        diagnosis: str | None = None,
    ) -> None:
        if self._file is None:
            return
        record = {"key": key, "size": size, "action": action, "status": status, "error": error}
        if diagnosis:
            record["diagnosis"] = diagnosis
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self, s3_client: Any | None = None) -> str | None:
        """Finish the report; uploads it when the target is an S3 URI. Returns where it is."""
        if self._file is None:
            return None
        self._file.close()
        self._file = None
        if self._s3 is not None:
            assert self._path is not None and s3_client is not None
            try:
                s3_client.upload_file(self._path, *self._s3)
            finally:
                os.unlink(self._path)
        return self.target
