"""``TransferEngine``: runs one copy/sync with bounded concurrency and explains every failure."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.diagnosis.explain import Diagnoser, Diagnosis, TransferContext
from airflow_provider_s3xacct.transfer.clients import RequestRateLimiter, TransferClients
from airflow_provider_s3xacct.transfer.copier import CopyFailedError, CopyOutcome, ObjectCopier, back_up
from airflow_provider_s3xacct.transfer.crt import CrtCopyClient
from airflow_provider_s3xacct.transfer.deletes import DeleteQueue, delete_refusal
from airflow_provider_s3xacct.transfer.filters import KeyFilter, ObjectFilter, parse_key_list
from airflow_provider_s3xacct.transfer.listing import (
    ListedObject,
    find_object,
    list_objects,
    list_one,
    list_versions_at,
)
from airflow_provider_s3xacct.transfer.locations import S3Location
from airflow_provider_s3xacct.transfer.planner import Action, SyncPlanner
from airflow_provider_s3xacct.transfer.report import CopyReport, ObjectLog
from airflow_provider_s3xacct.transfer.spec import CopySpec

ProgressCallback = Callable[[CopyReport], None]


class ListingFailedError(RuntimeError):
    """A bucket could not be listed; nothing more can be planned. Carries the diagnosis."""

    def __init__(self, location: str, error: ClientError, diagnosis: Diagnosis) -> None:
        self.diagnosis = diagnosis
        info = error.response.get("Error", {})
        super().__init__(f"listing {location} failed: {info.get('Code')}: {info.get('Message')}. {diagnosis}")


class _CountingListing:
    """Wraps a listing to count what it yields and to turn its errors into a diagnosis."""

    def __init__(self, objects: Iterator[ListedObject], location: str, diagnoser: Diagnoser) -> None:
        self._objects = objects
        self._location = location
        self._diagnoser = diagnoser
        self.count = 0

    def __iter__(self) -> Iterator[ListedObject]:
        try:
            for obj in self._objects:
                self.count += 1
                yield obj
        except ClientError as exc:
            diagnosis = self._diagnoser.explain_client_error("ListObjectsV2", "", exc)
            raise ListingFailedError(self._location, exc, diagnosis) from exc


class _InFlight:
    """Copies started and not yet handled, and the order in which they finished.

    Every future puts itself on a queue when it is done, so the main thread picks up finished
    copies in O(1). ``concurrent.futures.wait`` locks and unlocks every pending future on each
    call: with 32 in flight it was the engine's biggest own cost in py-spy, and this queue cut the
    client CPU of a 3,000-object copy by 6% (docs/benchmarks.md). The standard library has no
    completion queue for futures, hence this.
    """

    def __init__(self) -> None:
        self._objects: dict[Future[CopyOutcome], ListedObject] = {}
        self._done: queue.SimpleQueue[Future[CopyOutcome]] = queue.SimpleQueue()

    def __len__(self) -> int:
        return len(self._objects)

    def add(self, future: Future[CopyOutcome], obj: ListedObject) -> None:
        self._objects[future] = obj
        future.add_done_callback(self._done.put)  # runs at once if the future is already done

    def finished(self, *, block: bool) -> list[tuple[Future[CopyOutcome], ListedObject]]:
        """The copies done since the last call; with ``block``, wait for at least one."""
        done = [self._done.get()] if block and self._objects else []
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                return [(future, self._objects.pop(future)) for future in done]


class TransferEngine:
    """Copy or sync ``spec.source`` to ``spec.destination`` as one principal, server side.

    The main thread streams the plan and keeps at most ``concurrency`` copies in flight; results
    are handled on the main thread, so the report needs no locks and the pending work never
    exceeds the bound, whatever the size of the listing.
    """

    def __init__(
        self,
        spec: CopySpec,
        clients: TransferClients,
        *,
        principal_arn: str | None = None,
        progress: ProgressCallback | None = None,
        report_target: str | None = None,
    ) -> None:
        self.spec = spec
        self.clients = clients
        self.progress = progress
        self.report_target = report_target
        self.diagnoser = Diagnoser(
            TransferContext(
                source_bucket=spec.source.bucket,
                dest_bucket=spec.destination.bucket,
                dest_kms_key_arn=spec.dest_kms_key_id,
                principal_arn=principal_arn,
                source_account_id=spec.source_account_id,
                dest_account_id=spec.dest_account_id,
            ),
            clients.source,
        )

    def run(self) -> CopyReport:
        self.spec = spec = self._resolve_source()
        report = CopyReport(
            source=spec.source.uri, destination=spec.destination.uri, mode=spec.mode, dry_run=spec.dry_run
        )
        started = time.monotonic()
        key_filter = KeyFilter(spec.filter_rules(), self._key_list())
        object_filter = ObjectFilter(
            now=datetime.now(UTC),
            min_size=spec.min_size,
            max_size=spec.max_size,
            min_age=spec.min_age,
            max_age=spec.max_age,
            skip_classes=frozenset(spec.storage_class_skip),
        )
        # Whether an archived object was restored is only listed on request.
        restore = {"OptionalObjectAttributes": ["RestoreStatus"]} if spec.storage_class_skip else {}
        source = self._listing(self.clients.source, spec.source, spec.source_account_id, key_filter, restore)
        dest = self._listing(self.clients.dest, spec.destination, spec.dest_account_id, key_filter)
        planner = SyncPlanner(
            spec.mode,
            delete=spec.delete,
            compare=spec.compare,
            rejects=object_filter.rejects if object_filter.active else None,
        )
        deletes = DeleteQueue()
        log = ObjectLog(self.report_target)
        limiter = RequestRateLimiter(spec.max_requests_per_second) if spec.max_requests_per_second else None
        if limiter:
            limiter.attach(self.clients.source, self.clients.dest)
        try:
            with (
                ThreadPoolExecutor(spec.concurrency, thread_name_prefix="s3xacct-copy") as pool,
                ThreadPoolExecutor(spec.concurrency, thread_name_prefix="s3xacct-part") as parts,
            ):
                copier = ObjectCopier(spec, self.clients.source, self.clients.dest, parts)
                # The CRT client starts at the first small copy: a no-op sync never needs one.
                crt: CrtCopyClient | None = None
                in_flight = _InFlight()
                try:
                    plan = planner.plan(source, dest if spec.mode == "sync" else ())
                    for step in plan:
                        report.listed = source.count
                        if step.action is Action.DELETE:
                            deletes.add(step.key)
                            continue
                        assert step.source is not None
                        if step.action is Action.SKIP:
                            report.skipped += 1
                            log.write(step.key, step.source.size, "skip", step.reason)
                        elif spec.dry_run:
                            self._record_copy(report, log, step.source, dry_run=True)
                        else:
                            if len(in_flight) >= spec.concurrency:
                                self._collect(in_flight, report, log, block=True)
                            obj = step.source
                            small = obj.size <= spec.multipart_threshold
                            if small and spec.transport == "crt" and crt is None:
                                crt = self.clients.crt_copier(spec.destination.bucket)
                            # An overwrite with a backup prefix saves the old object first (botocore).
                            save_first = spec.backup_prefix is not None and step.reason not in (
                                "new",
                                "copy mode",
                            )
                            if small and crt is not None and not copier.replaces_metadata and not save_first:
                                if limiter:
                                    limiter.acquire()
                                future = crt.copy(obj, copier.single_copy_args(obj))
                            else:
                                future = pool.submit(copier.copy, obj, save_first)
                            in_flight.add(future, obj)
                            if len(in_flight) % 16 == 0:
                                self._collect(in_flight, report, log, block=False)
                    report.listed = source.count
                finally:
                    while in_flight:
                        self._collect(in_flight, report, log, block=True)
            self._delete(deletes, report, log, source.count, dest.count)
        finally:
            if limiter:
                limiter.detach(self.clients.source, self.clients.dest)
            deletes.close()
            report.elapsed_seconds = time.monotonic() - started
            report.report_uri = log.close(self.clients.dest)
        if self.progress:
            self.progress(report)
        return report

    def _resolve_source(self) -> CopySpec:
        """The spec with a source URI that names one object (no trailing '/') made a one-object copy.

        As ``aws s3 cp``: the object goes to DST/<its name> when DST ends with '/' (or is a bucket),
        else to the key DST names. A path that is no object stays a prefix, as before.
        """
        spec = self.spec
        if spec.source.object_key is not None or not spec.source.written:
            return spec
        try:
            key = find_object(self.clients.source, spec.source, spec.source_account_id, spec.payer_args())
        except ClientError as exc:
            diagnosis = self.diagnoser.explain_client_error("ListObjectsV2", "", exc)
            raise ListingFailedError(spec.source.uri, exc, diagnosis) from exc
        if key is None:
            return spec
        destination = spec.destination
        if destination.written:
            destination = destination.one_object(destination.written)
        return spec.model_copy(update={"source": spec.source.one_object(key), "destination": destination})

    def _key_list(self) -> frozenset[str] | None:
        """The keys of ``files_from`` (a local file or an S3 object read as the sync principal)."""
        ref = self.spec.files_from
        if ref is None:
            return None
        if not ref.startswith("s3://"):
            return parse_key_list(Path(ref).read_text(encoding="utf-8"))
        location = S3Location.parse(ref, "files_from")
        key = location.written or location.prefix
        try:
            body = self.clients.source.get_object(Bucket=location.bucket, Key=key, **self.spec.payer_args())
        except ClientError as exc:
            diagnosis = self.diagnoser.explain_client_error("GetObject", "", exc)
            raise ListingFailedError(ref, exc, diagnosis) from exc
        return parse_key_list(body["Body"].read().decode("utf-8"))

    def _listing(
        self,
        client: Any,
        location: S3Location,
        owner: str | None,
        key_filter: KeyFilter,
        extra: dict[str, Any] | None = None,
    ) -> _CountingListing:
        """One side's listing, restricted to the spec's shard, counted and diagnosed."""
        extra = {**(extra or {}), **self.spec.payer_args()}
        objects: Iterator[ListedObject]
        if self.spec.version_at is not None and location is self.spec.source:
            # The source as it was then; one object's name filters its parent's versions.
            name = (location.object_key or "").rpartition("/")[2]
            objects = list_versions_at(
                client,
                location,
                self.spec.version_at,
                key_filter=(lambda rel: rel == name) if location.object_key else key_filter.accepts,
                expected_owner=owner,
                extra=extra,
            )
        elif self.spec.source.object_key is not None:
            # One object: both sides list just its key, under the source object's name.
            name = self.spec.source.object_key.rpartition("/")[2]
            objects = list_one(client, location, name, expected_owner=owner, extra=extra)
        else:
            objects = list_objects(
                client,
                location,
                key_filter=key_filter.accepts,
                expected_owner=owner,
                start_after=self.spec.start_after,
                end_key=self.spec.end_key,
                extra=extra,
            )
        return _CountingListing(objects, location.uri, self.diagnoser)

    def _collect(
        self,
        in_flight: _InFlight,
        report: CopyReport,
        log: ObjectLog,
        *,
        block: bool,
    ) -> None:
        done = in_flight.finished(block=block)
        for future, obj in done:
            try:
                outcome = future.result()
            except CopyFailedError as exc:
                diagnosis = self.diagnoser.explain(
                    exc.operation, self.spec.source.prefix + obj.key, exc.code, exc.message
                )
                self._record_failure(report, log, obj, str(exc), diagnosis)
            except (ClientError, BotoCoreError) as exc:
                if isinstance(exc, ClientError):
                    diagnosis = self.diagnoser.explain_client_error(
                        str(exc.operation_name), self.spec.source.prefix + obj.key, exc
                    )
                else:
                    diagnosis = Diagnosis(f"network or client error: {exc}", "retry the run", permanent=False)
                self._record_failure(report, log, obj, str(exc), diagnosis)
            else:
                report.multipart_copies += outcome.multipart
                # The size copied: a multipart copy's HEAD may have seen a newer version than the listing.
                self._record_copy(report, log, replace(obj, size=outcome.size), dry_run=False)
        if done and self.progress:
            self.progress(report)

    def _record_copy(self, report: CopyReport, log: ObjectLog, obj: ListedObject, *, dry_run: bool) -> None:
        report.copied += 1
        report.bytes_copied += obj.size
        if dry_run and obj.size > self.spec.multipart_threshold:
            report.multipart_copies += 1
        log.write(obj.key, obj.size, "copy", "dry-run" if dry_run else "copied")

    def _record_failure(
        self, report: CopyReport, log: ObjectLog, obj: ListedObject, error: str, diagnosis: Diagnosis
    ) -> None:
        report.add_failure(obj.key, error, diagnosis)
        log.write(obj.key, obj.size, "copy", "failed", error, str(diagnosis))

    def _back_up(self, batch: list[str], report: CopyReport, log: ObjectLog) -> list[str]:
        """The keys of ``batch`` saved under the backup prefix; the others are not deleted."""
        saved = []
        for key in batch:
            try:
                back_up(self.spec, self.clients.dest, key)
            except CopyFailedError as exc:
                diagnosis = self.diagnoser.explain_client_error("CopyObject", "", exc.error)
                report.add_failure(key, f"backup before delete: {exc}", diagnosis)
                log.write(key, None, "delete", "failed", str(exc), str(diagnosis))
            else:
                saved.append(key)
        return saved

    def _delete(
        self, deletes: DeleteQueue, report: CopyReport, log: ObjectLog, source_listed: int, dest_listed: int
    ) -> None:
        spec = self.spec
        refusal = delete_refusal(
            deletes.count, source_listed, dest_listed, spec.max_delete, spec.max_delete_fraction
        )
        if refusal:
            report.delete_refused = refusal
            return
        owner = {"ExpectedBucketOwner": spec.dest_account_id} if spec.dest_account_id else {}
        for batch in deletes.batches():
            if spec.dry_run:
                report.deleted += len(batch)
                for key in batch:
                    log.write(key, None, "delete", "dry-run")
                continue
            if spec.backup_prefix is not None:
                batch = self._back_up(batch, report, log)
            keys = [{"Key": spec.destination.prefix + key} for key in batch]
            try:
                response = self.clients.dest.delete_objects(
                    Bucket=spec.destination.bucket,
                    Delete={"Objects": keys, "Quiet": True},
                    **owner,
                    **spec.payer_args(),
                )
            except ClientError as exc:
                diagnosis = self.diagnoser.explain_client_error("DeleteObjects", "", exc)
                for key in batch:
                    report.add_failure(key, f"DeleteObjects: {exc}", diagnosis)
                    log.write(key, None, "delete", "failed", str(exc), str(diagnosis))
                continue
            failed = {e["Key"][len(spec.destination.prefix) :]: e for e in response.get("Errors", [])}
            for key in batch:
                if key in failed:
                    error = failed[key]
                    diagnosis = self.diagnoser.explain(
                        "DeleteObject", "", error.get("Code", ""), error.get("Message", "")
                    )
                    report.add_failure(
                        key, f"DeleteObject: {error.get('Code')}: {error.get('Message')}", diagnosis
                    )
                    log.write(key, None, "delete", "failed", error.get("Code"), str(diagnosis))
                else:
                    report.deleted += 1
                    log.write(key, None, "delete", "deleted")


def nothing_transferred(spec: CopySpec, report: CopyReport) -> tuple[str, bool] | None:
    """A run that moved nothing: (message, whether it fails the run), or None.

    Listing nothing is always worth a warning (a mistyped prefix or filter looks like success
    otherwise); with ``error_on_no_transfer`` any run that copied and deleted nothing fails, as
    rclone's ``--error-on-no-transfer`` does (for a task that must not go green on an empty day).
    """
    if report.copied or report.deleted:
        return None
    if report.listed == 0:
        message = f"no object under {spec.source.uri} matched (check the source URI and filters)"
    elif spec.error_on_no_transfer:
        message = f"nothing was transferred: all {report.listed} listed objects were skipped"
    else:
        return None
    if spec.error_on_no_transfer:
        return message + "; failing (error_on_no_transfer)", True
    return message, False
