"""Multipart uploads: every one this run starts is tracked until completed or aborted.

An upload that is neither completed nor aborted is invisible in listings and billed until someone
aborts it. So the run keeps a register of the uploads it created (``UploadTracker``), aborts what
is left of it when a copy fails or the run is interrupted, and reports an abort that failed with
its upload id instead of hiding it. A CreateMultipartUpload whose response was lost (the request
reached S3, the answer did not reach us, botocore sent it again) leaves an upload we were never
told about: it is found by key and initiation time (``ListMultipartUploads``) and aborted.

``cleanup_uploads`` removes stale uploads under a prefix, whoever left them (``s3xacct
cleanup-uploads``); a bucket lifecycle rule (AbortIncompleteMultipartUpload) does the same on S3's
side and is the recommended backstop (README, "Interruption, faults and cleanup").
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.errors import InvalidInputError, code_and_message, error_code
from airflow_provider_s3xacct.aws.locations import owner_args

# How far apart our clock and S3's may be when only our clock bounds a lost upload's window.
CLOCK_MARGIN = timedelta(seconds=60)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class OpenUpload:
    """A multipart upload in the destination that is neither completed nor aborted yet."""

    bucket: str
    key: str
    upload_id: str


@dataclass(frozen=True)
class AbortFailure:
    """An abort that did not succeed: the upload stays (and is billed) until it is removed."""

    key: str
    upload_id: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "upload_id": self.upload_id, "error": self.error}


def error_text(exc: BaseException) -> str:
    """``Code: Message`` of an S3 error, or the exception's type and text when S3 never answered."""
    return code_and_message(exc) or f"{type(exc).__name__}: {exc}"


def _no_such_upload(exc: BaseException) -> bool:
    return error_code(exc) in ("NoSuchUpload", "404")


def abort_upload(
    client: Any, upload: OpenUpload, expected_owner: str | None, extra: dict[str, Any] | None = None
) -> AbortFailure | None:
    """Abort one upload; None when it is gone (an upload already gone counts as aborted).

    Never raises: the caller is usually handling another error, whose diagnosis must survive.
    """
    owner: dict[str, Any] = owner_args(expected_owner)
    owner.update(extra or {})  # RequestPayer on a Requester Pays bucket
    try:
        client.abort_multipart_upload(
            Bucket=upload.bucket, Key=upload.key, UploadId=upload.upload_id, **owner
        )
    except (ClientError, BotoCoreError) as exc:
        if _no_such_upload(exc):
            return None
        return AbortFailure(upload.key, upload.upload_id, f"AbortMultipartUpload: {error_text(exc)}")
    return None


def list_uploads(
    client: Any, bucket: str, prefix: str, expected_owner: str | None, extra: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """The incomplete multipart uploads under ``prefix`` (all pages)."""
    kwargs: dict[str, Any] = {
        "Bucket": bucket,
        "Prefix": prefix,
        **(extra or {}),
        **owner_args(expected_owner),
    }
    for page in client.get_paginator("list_multipart_uploads").paginate(**kwargs):
        yield from page.get("Uploads", ())


@dataclass
class UploadTracker:
    """The uploads this run created and has not yet completed or aborted. Thread-safe."""

    client: Any
    expected_owner: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # RequestPayer, when the spec sets it
    aborted: int = 0
    failures: list[AbortFailure] = field(default_factory=list)
    _open: dict[str, OpenUpload] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def opened(self, upload: OpenUpload) -> None:
        with self._lock:
            self._open[upload.upload_id] = upload

    def completed(self, upload: OpenUpload) -> None:
        with self._lock:
            self._open.pop(upload.upload_id, None)

    def abort(self, upload: OpenUpload) -> None:
        """Abort ``upload``; a failure is recorded with its upload id (see ``failures``)."""
        failure = abort_upload(self.client, upload, self.expected_owner, self.extra)
        with self._lock:
            self._open.pop(upload.upload_id, None)
            if failure is None:
                self.aborted += 1
            else:
                self.failures.append(failure)

    def abort_all(self) -> None:
        """Abort every upload still open: the last step of a run, whatever ended it."""
        with self._lock:
            left = list(self._open.values())
        for upload in left:
            self.abort(upload)

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    def abort_lost(self, bucket: str, key: str, keep: str | None, since: datetime, until: datetime) -> None:
        """Abort uploads of ``key`` initiated in [since, until] other than ``keep``: lost responses.

        Only an upload of this exact key, started while our CreateMultipartUpload was being sent,
        can be ours; another run copying the same key in that same window is the one case this
        could abort by mistake, and that run's completion then fails and is retried, losing nothing.
        """
        try:
            uploads = list(list_uploads(self.client, bucket, key, self.expected_owner, self.extra))
        except (ClientError, BotoCoreError) as exc:
            with self._lock:
                self.failures.append(
                    AbortFailure(
                        key,
                        "(unknown)",
                        f"ListMultipartUploads: {error_text(exc)}; an upload "
                        "whose CreateMultipartUpload response was lost may remain",
                    )
                )
            return
        for entry in uploads:
            initiated = entry.get("Initiated")
            if entry.get("Key") != key or entry.get("UploadId") == keep or initiated is None:
                continue
            if since <= initiated <= until:
                self.abort(OpenUpload(bucket, key, entry["UploadId"]))


def server_time(response: dict[str, Any]) -> datetime | None:
    """S3's clock when it answered (the Date header), so a window needs no guess at clock skew."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None


def parse_duration(text: str, field_name: str = "older_than") -> timedelta:
    """``30m``, ``12h``, ``7d``, ``3600s`` as a timedelta; anything else is an InvalidInputError."""
    match = _DURATION.match(str(text))
    if not match:
        raise InvalidInputError(field_name, f"{text!r} is not a duration; write e.g. 90m, 24h or 7d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


@dataclass
class CleanupResult:
    """What ``cleanup_uploads`` found and did."""

    found: int = 0
    aborted: int = 0
    kept_recent: int = 0
    dry_run: bool = False
    uploads: list[dict[str, str]] = field(default_factory=list)
    failures: list[AbortFailure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "aborted": self.aborted,
            "kept_recent": self.kept_recent,
            "dry_run": self.dry_run,
            "uploads": self.uploads,
            "failures": [f.to_dict() for f in self.failures],
        }


def cleanup_uploads(
    client: Any,
    bucket: str,
    prefix: str,
    older_than: timedelta,
    *,
    expected_owner: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> CleanupResult:
    """Abort the incomplete multipart uploads under ``prefix`` initiated before now - ``older_than``.

    Recent uploads are kept: they may belong to a copy that is still running.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    result = CleanupResult(dry_run=dry_run)
    for entry in list_uploads(client, bucket, prefix, expected_owner):
        if entry["Initiated"] > cutoff:
            result.kept_recent += 1
            continue
        result.found += 1
        upload = OpenUpload(bucket, entry["Key"], entry["UploadId"])
        result.uploads.append(
            {"key": upload.key, "upload_id": upload.upload_id, "initiated": entry["Initiated"].isoformat()}
        )
        if dry_run:
            continue
        failure = abort_upload(client, upload, expected_owner)
        if failure is None:
            result.aborted += 1
        else:
            result.failures.append(failure)
    return result
