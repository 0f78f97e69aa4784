"""``CopyReport`` (the run summary) and the per-object JSON-lines report."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import validate_bucket_name
from airflow_provider_s3xacct.diagnosis.explain import Diagnosis
from airflow_provider_s3xacct.transfer.uploads import AbortFailure, OpenUpload, abort_upload, error_text

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
    # Source objects deleted between listing and copy: skipped (counted in ``skipped`` too).
    vanished: int = 0
    # Delete candidates kept because the source could not be shown not to have them.
    delete_skipped: int = 0
    delete_skip_reasons: Counter[str] = field(default_factory=Counter)
    # The engine's own retries after botocore's or the CRT's ran out, and the time spent waiting.
    retries: int = 0
    retry_wait_seconds: float = 0.0
    # Set when a signal or on_kill stopped the run: what stopped it.
    interrupted: str | None = None
    interrupted_copies: int = 0
    uploads_aborted: int = 0
    abort_failures: list[AbortFailure] = field(default_factory=list)
    report_error: str | None = None
    # The source listing ended early or had inconsistent pages: objects may have been missed.
    listing_problem: str | None = None

    def add_failure(self, key: str, error: str, diagnosis: Diagnosis) -> None:
        self.failed += 1
        self.failure_causes[str(diagnosis)] += 1
        if not diagnosis.permanent:
            self.retryable_failures += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append(ObjectFailure(key, error, diagnosis))

    @property
    def ok(self) -> bool:
        return (
            self.failed == 0
            and self.delete_refused is None
            and self.interrupted is None
            and not self.abort_failures
            and self.report_error is None
            and self.listing_problem is None
        )

    @property
    def only_retryable_failures(self) -> bool:
        return (
            (self.failed > 0 or self.listing_problem is not None)
            and self.retryable_failures == self.failed
            and self.delete_refused is None
            and not self.abort_failures
        )

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
            "vanished": self.vanished,
            "delete_skipped": self.delete_skipped,
            "delete_skip_reasons": [
                {"reason": reason, "objects": n} for reason, n in self.delete_skip_reasons.most_common()
            ],
            "retries": self.retries,
            "retry_wait_seconds": round(self.retry_wait_seconds, 3),
            "interrupted": self.interrupted,
            "interrupted_copies": self.interrupted_copies,
            "uploads_aborted": self.uploads_aborted,
            "abort_failures": [failure.to_dict() for failure in self.abort_failures],
            "report_error": self.report_error,
            "listing_problem": self.listing_problem,
        }

    def failure_summary(self) -> str:
        """Failures grouped by cause, then up to 100 keys with their errors."""
        verb = "would fail" if self.dry_run else "failed"
        lines = [f"delete refused: {self.delete_refused}"] if self.delete_refused else []
        if self.interrupted:
            lines.append(
                f"interrupted ({self.interrupted}): no copy was started after that, {self.uploads_aborted} "
                f"multipart uploads were aborted, {self.interrupted_copies} copies did not finish; "
                "run the same command again (mode sync) to finish"
            )
        for failure in self.abort_failures:
            lines.append(
                f"multipart upload {failure.upload_id} of {failure.key} could not be aborted ({failure.error}); "
                "remove it with `s3xacct cleanup-uploads` or a lifecycle rule"
            )
        if self.report_error:
            lines.append(f"report: {self.report_error}")
        if self.listing_problem:
            lines.append(
                f"the source listing may be incomplete ({self.listing_problem}): objects may not have "
                "been seen, and nothing was deleted. Run again"
            )
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
        vanished = f" ({self.vanished} vanished from the source)" if self.vanished else ""
        kept = f" (kept {self.delete_skipped} still in the source)" if self.delete_skipped else ""
        retried = (
            f", {self.retries} own retries ({self.retry_wait_seconds:.1f}s backoff)" if self.retries else ""
        )
        stopped = f"; INTERRUPTED by {self.interrupted}" if self.interrupted else ""
        return (
            f"{prefix} {self.copied} objects ({self.bytes_copied} bytes), skipped {self.skipped}{vanished}, "
            f"{deleted} {self.deleted}{kept}, failed {self.failed} of {self.listed} listed "
            f"in {self.elapsed_seconds:.1f}s{retried}{stopped}"
        )


class ObjectLog:
    """Per-object JSON lines (key, size, action, status, error), written as the run goes.

    An S3 target is written to a local temporary file first and uploaded when the run ends, so a
    crashed run never leaves a truncated report object. The target is checked before the run
    starts (``check``): a report that cannot be written must not cost a whole copy.
    """

    def __init__(self, target: str | None, write_args: dict[str, Any] | None = None) -> None:
        self.target = target
        self.write_args = write_args or {}
        self.error: str | None = None  # why an S3 target could not be written, once closed
        self._s3: tuple[str, str] | None = None
        self._file: IO[str] | None = None
        self._path: str | None = None
        if target is None:
            return
        if target.startswith("s3://"):
            bucket, _, key = target[len("s3://") :].partition("/")
            validate_bucket_name(bucket, "report")
            if not key or key.endswith("/"):
                raise InvalidInputError(
                    "report", f"{target} names no object; give s3://bucket/path/report.jsonl"
                )
            self._s3 = (bucket, key)
            fd, self._path = tempfile.mkstemp(prefix="s3xacct-report-", suffix=".jsonl")
            self._file = os.fdopen(fd, "w", encoding="utf-8")
            return
        try:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            self._path = target
            self._file = open(target, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise InvalidInputError("report", f"cannot write {target}: {exc.strerror or exc}") from None

    def check(self, s3_client: Any) -> None:
        """Show that an S3 target is writable with the data's encryption and expected owner.

        A CreateMultipartUpload needs what the final PutObject needs (s3:PutObject, the KMS key,
        the bucket's Deny conditions) and leaves nothing once aborted, unlike a test object.
        """
        if self._s3 is None:
            return
        bucket, key = self._s3
        try:
            upload_id = s3_client.create_multipart_upload(Bucket=bucket, Key=key, **self.write_args)[
                "UploadId"
            ]
        except (ClientError, BotoCoreError) as exc:
            self.discard()
            raise InvalidInputError(
                "report", f"cannot write s3://{bucket}/{key}: {error_text(exc)}; nothing was copied"
            ) from None
        owner = self.write_args.get("ExpectedBucketOwner")
        failure = abort_upload(s3_client, OpenUpload(bucket, key, upload_id), owner)
        if failure is not None:
            raise InvalidInputError(
                "report",
                f"the check upload {upload_id} of s3://{bucket}/{key} could not be aborted: {failure.error}",
            )

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

    def discard(self) -> None:
        """Drop a temporary report that will never be uploaded."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._s3 is not None and self._path is not None and os.path.exists(self._path):
            os.unlink(self._path)

    def close(self, s3_client: Any | None = None) -> str | None:
        """Finish the report; upload it when the target is an S3 URI. Returns where it is.

        A failed upload keeps the local copy, returns its path and says why in ``error``, so no
        report line is lost.
        """
        if self._file is None:
            return None
        self._file.close()
        self._file = None
        if self._s3 is None:
            return self.target
        assert self._path is not None and s3_client is not None
        try:
            with open(self._path, "rb") as body:
                s3_client.put_object(
                    Bucket=self._s3[0],
                    Key=self._s3[1],
                    Body=body,
                    ContentType="application/x-ndjson",
                    **{k: v for k, v in self.write_args.items() if k != "ACL"},
                )
        except (ClientError, BotoCoreError) as exc:
            self.error = f"upload to {self.target} failed ({error_text(exc)}); the report is in {self._path}"
            return self._path
        os.unlink(self._path)
        return self.target
