"""Deferred, guarded deletion of destination keys that are gone from the source.

Everything about deletes lives here: the queue that holds the candidates while the listings
are merged, the safety rule that refuses a run over the limit, the HEAD that confirms each
candidate is gone, the DeleteObjects batches and the diagnosis of what S3 refused.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.codes import is_object_gone
from airflow_provider_s3xacct.aws.errors import error_code, http_status
from airflow_provider_s3xacct.aws.locations import S3Location, owner_args
from airflow_provider_s3xacct.diagnosis.explain import Diagnoser
from airflow_provider_s3xacct.transfer.clients import TransferClients
from airflow_provider_s3xacct.transfer.copier import back_up
from airflow_provider_s3xacct.transfer.outcomes import CopyFailedError, s3_call
from airflow_provider_s3xacct.transfer.report import CopyReport, ObjectLog
from airflow_provider_s3xacct.transfer.spec import CopySpec

# Deletions always allowed, whatever the fraction: 10% of a nightly prefix of 8 files is 0, which
# failed every night that one file went. 5 keeps a small prefix workable, while a mistyped filter
# on a large prefix is still stopped by the fraction, and a wrong run costs at most 5 objects.
DELETE_FLOOR = 5


class DeleteQueue:
    """Delete candidates spilled to a temporary file, so memory stays flat however many there are.

    Nothing is deleted while the listings are being merged: only when the whole plan is known can
    the safety limit be checked, and a run over the limit deletes nothing at all.
    """

    def __init__(self) -> None:
        self.count = 0
        self._file: IO[str] | None = None

    def add(self, key: str) -> None:
        if self._file is None:
            fd, path = tempfile.mkstemp(prefix="s3xacct-deletes-", suffix=".jsonl")
            os.unlink(path)  # anonymous: the data lives until the handle closes
            self._file = os.fdopen(fd, "w+", encoding="utf-8")
        self._file.write(json.dumps(key) + "\n")  # JSON, since S3 keys may contain newlines
        self.count += 1

    def batches(self, size: int = 1000) -> Iterator[list[str]]:
        if self._file is None:
            return
        self._file.seek(0)
        batch: list[str] = []
        for line in self._file:
            batch.append(json.loads(line))
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def delete_refusal(
    candidates: int, source_listed: int, dest_listed: int, max_delete: int | None, max_delete_fraction: float
) -> str | None:
    """Why ``candidates`` deletions must not happen, or None when they are within the limit."""
    if candidates == 0:
        return None
    if source_listed == 0 and (max_delete is None or candidates > max_delete):
        # Only an explicit max_delete covering every deletion mirrors an emptied source.
        return (
            f"the source listing is empty, so delete would remove all {candidates} destination objects; "
            "refusing (an empty or mistyped source prefix must never wipe a destination). Check the "
            f"source URI; if the source was emptied on purpose, pass --max-delete {candidates}"
        )
    limit = (
        max_delete if max_delete is not None else max(DELETE_FLOOR, int(max_delete_fraction * dest_listed))
    )
    if candidates > limit:
        how = (
            f"max_delete={max_delete}"
            if max_delete is not None
            else f"{max_delete_fraction:.0%} of the {dest_listed} destination objects, at least {DELETE_FLOOR}"
        )
        return (
            f"delete would remove {candidates} objects, above the safety limit of {limit} ({how}); "
            "nothing was deleted. Check the source prefix and filters, then raise max_delete "
            f"(--max-delete {candidates}) if this is intended"
        )
    return None


def still_in_source(
    client: Any,
    source: S3Location,
    keys: Sequence[str],
    expected_owner: str | None,
    concurrency: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The delete candidates that must be kept, each with the reason: a HEAD per key, in parallel.

    404 is the only proof a key is gone. An object that answers is kept (it appeared after the
    listing passed its place, or a listing page left it out); any other error keeps it too, since
    absence could not be shown.
    """
    owner: dict[str, Any] = owner_args(expected_owner)
    owner.update(extra or {})  # RequestPayer

    def reason(key: str) -> str | None:
        try:
            client.head_object(Bucket=source.bucket, Key=source.key_for(key), **owner)
        except ClientError as exc:
            status = http_status(exc)
            if status == 404 or is_object_gone(error_code(exc)):
                return None
            return f"could not confirm it is gone from the source: HeadObject {error_code(exc) or status}"
        except BotoCoreError as exc:
            return f"could not confirm it is gone from the source: {type(exc).__name__}"
        return "present in the source (written after the listing, or left out of a listing page)"

    with ThreadPoolExecutor(
        max(1, min(concurrency, len(keys))), thread_name_prefix="s3xacct-confirm"
    ) as pool:
        reasons = list(pool.map(reason, keys))
    return {key: why for key, why in zip(keys, reasons, strict=True) if why is not None}


class Deleter:
    """Deletes the queued candidates the source is shown not to have, within the safety limit.

    A key missing from the source listing is not proof it is gone: it may have been written
    after the listing passed its place, or a faulty page may have left it out. So nothing is
    deleted unless the source listing ran to its end with consistent pages, and each candidate
    is confirmed absent by a HEAD (404) right before its batch is deleted. Every outcome goes
    into the report and the per-object log; a failure carries its diagnosis.
    """

    def __init__(
        self,
        spec: CopySpec,
        clients: TransferClients,
        diagnoser: Diagnoser,
        report: CopyReport,
        log: ObjectLog,
        cancel: threading.Event,
    ) -> None:
        self.spec = spec
        self.clients = clients
        self.diagnoser = diagnoser
        self.report = report
        self.log = log
        self.cancel = cancel

    def run(self, queue: DeleteQueue, *, source_listed: int, dest_listed: int) -> None:
        spec, report = self.spec, self.report
        if report.listing_problem is not None:
            if queue.count:
                report.delete_skipped += queue.count
                report.delete_skip_reasons["the source listing may be incomplete"] += queue.count
            return
        refusal = delete_refusal(
            queue.count, source_listed, dest_listed, spec.max_delete, spec.max_delete_fraction
        )
        if refusal:
            report.delete_refused = refusal
            return
        for candidates in queue.batches():
            if self.cancel.is_set():  # stopped: the rest waits for the next run
                break
            batch = self._confirmed_gone(candidates)
            if not batch:
                continue
            if spec.dry_run:
                report.deleted += len(batch)
                for key in batch:
                    self.log.write(key, None, "delete", "dry-run")
                continue
            if spec.backup_prefix is not None:
                batch = self._back_up(batch)
            self._delete_batch(batch)

    def _confirmed_gone(self, candidates: list[str]) -> list[str]:
        """The candidates a HEAD shows gone from the source; the others are kept, with the reason."""
        spec = self.spec
        present = still_in_source(
            self.clients.source,
            spec.source,
            candidates,
            spec.source_account_id,
            spec.concurrency,
            spec.payer_args(),
        )
        gone = []
        for key in candidates:
            if key in present:
                self.report.delete_skipped += 1
                self.report.delete_skip_reasons[present[key]] += 1
                self.log.write(key, None, "delete", "kept", present[key])
            else:
                gone.append(key)
        return gone

    def _back_up(self, batch: list[str]) -> list[str]:
        """The keys of ``batch`` saved under the backup prefix; the others are not deleted."""
        saved = []
        for key in batch:
            try:
                back_up(self.spec, self.clients.dest, key)
            except CopyFailedError as exc:
                diagnosis = exc.diagnose(self.diagnoser, "")
                self.report.add_failure(key, f"backup before delete: {exc}", diagnosis)
                self.log.write(key, None, "delete", "failed", str(exc), str(diagnosis))
            else:
                saved.append(key)
        return saved

    def _delete_batch(self, batch: list[str]) -> None:
        """One DeleteObjects request; each key's own refusal is reported with its diagnosis."""
        if not batch:
            return
        spec = self.spec
        owner = owner_args(spec.dest_account_id)
        prefix = spec.destination.prefix
        try:
            response = s3_call(
                "DeleteObjects",
                self.clients.dest.delete_objects,
                Bucket=spec.destination.bucket,
                Delete={"Objects": [{"Key": prefix + key} for key in batch], "Quiet": True},
                **owner,
                **spec.payer_args(),
            )
        except CopyFailedError as exc:
            diagnosis = exc.diagnose(self.diagnoser, "")
            for key in batch:
                self.report.add_failure(key, f"DeleteObjects: {exc.error}", diagnosis)
                self.log.write(key, None, "delete", "failed", str(exc.error), str(diagnosis))
            return
        failed = {e["Key"][len(prefix) :]: e for e in response.get("Errors", [])}
        for key in batch:
            if key in failed:
                code, message = failed[key].get("Code", ""), failed[key].get("Message", "")
                diagnosis = self.diagnoser.explain("DeleteObject", "", code, message)
                self.report.add_failure(key, f"DeleteObject: {code}: {message}", diagnosis)
                self.log.write(key, None, "delete", "failed", code, str(diagnosis))
            else:
                self.report.deleted += 1
                self.log.write(key, None, "delete", "deleted")
