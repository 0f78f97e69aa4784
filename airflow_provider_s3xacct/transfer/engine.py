"""``TransferEngine``: runs one copy/sync with bounded concurrency and explains every failure."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.arns import partition_of_region
from airflow_provider_s3xacct.aws.locations import S3Location
from airflow_provider_s3xacct.diagnosis.explain import WRITE_OPERATIONS, Diagnoser, Diagnosis, TransferContext
from airflow_provider_s3xacct.transfer.clients import RequestRateLimiter, TransferClients, resolve_key_arn
from airflow_provider_s3xacct.transfer.copier import ObjectCopier, destination_args
from airflow_provider_s3xacct.transfer.deletes import DeleteQueue, Deleter
from airflow_provider_s3xacct.transfer.filters import KeyFilter, ObjectFilter, parse_key_list
from airflow_provider_s3xacct.transfer.listing import (
    ListedObject,
    ListingCheck,
    find_object,
    list_objects,
    list_one,
    list_versions_at,
)
from airflow_provider_s3xacct.transfer.outcomes import (
    NETWORK_DIAGNOSIS,
    CopyFailedError,
    CopyInterruptedError,
    CopyOutcome,
)
from airflow_provider_s3xacct.transfer.planner import Action, PlannedAction, SyncPlanner
from airflow_provider_s3xacct.transfer.relay import RelayCopier
from airflow_provider_s3xacct.transfer.report import CopyReport, ObjectLog
from airflow_provider_s3xacct.transfer.retry import RetryPolicy
from airflow_provider_s3xacct.transfer.spec import CopySpec
from airflow_provider_s3xacct.transfer.uploads import UploadTracker, error_text

ProgressCallback = Callable[[CopyReport], None]


class ListingFailedError(RuntimeError):
    """A bucket could not be listed; nothing more can be planned. Carries the diagnosis."""

    def __init__(self, location: str, error: Exception, diagnosis: Diagnosis) -> None:
        self.diagnosis = diagnosis
        super().__init__(f"listing {location} failed: {error_text(error)}. {diagnosis}")


class _CountingListing:
    """Wraps a listing to count what it yields and to turn its errors into a diagnosis."""

    def __init__(
        self, objects: Iterator[ListedObject], location: str, diagnoser: Diagnoser, check: ListingCheck
    ) -> None:
        self._objects = objects
        self._location = location
        self._diagnoser = diagnoser
        self.check = check
        self.count = 0

    def __iter__(self) -> Iterator[ListedObject]:
        try:
            for obj in self._objects:
                self.count += 1
                yield obj
        except ClientError as exc:
            diagnosis = self._diagnoser.explain_client_error("ListObjectsV2", "", exc)
            raise ListingFailedError(self._location, exc, diagnosis) from exc
        except BotoCoreError as exc:
            # Connection reset, timeout, unreadable answer: botocore's retries ran out.
            raise ListingFailedError(self._location, exc, NETWORK_DIAGNOSIS) from exc


# How long a finished copy may wait to be picked up before the engine looks for it itself.
_POLL_SECONDS = 0.5
# After a cancel: how long in-flight copies may take to finish before the run ends without them.
DRAIN_SECONDS = 20.0


class _InFlight:
    """Copies started and not yet handled, and the order in which they finished.

    Every future puts itself on a queue when it is done, so the main thread picks up finished
    copies in O(1). ``concurrent.futures.wait`` locks and unlocks every pending future on each
    call: with 32 in flight it was the engine's biggest own cost in py-spy, and this queue cut the
    client CPU of a 3,000-object copy by 6% (docs/benchmarks.md). The standard library has no
    completion queue for futures, hence this.

    A hand-over can be lost: an exception (KeyboardInterrupt, a task timeout) raised in the main
    thread just after the queue gave a future up. So a wait never blocks for good: after
    ``_POLL_SECONDS`` without news it looks for finished futures itself. ``wake`` ends a wait at
    once; it only puts on a SimpleQueue, which is safe in a signal handler.
    """

    def __init__(self) -> None:
        self._objects: dict[Future[CopyOutcome], ListedObject] = {}
        self._done: queue.SimpleQueue[Future[CopyOutcome] | None] = queue.SimpleQueue()

    def __len__(self) -> int:
        return len(self._objects)

    def add(self, future: Future[CopyOutcome], obj: ListedObject) -> None:
        self._objects[future] = obj
        future.add_done_callback(self._done.put)  # runs at once if the future is already done

    def wake(self) -> None:
        self._done.put(None)

    def finished(
        self, *, block: bool, timeout: float = _POLL_SECONDS
    ) -> list[tuple[Future[CopyOutcome], ListedObject]]:
        """The copies done since the last call; with ``block``, wait up to ``timeout`` for one."""
        done: list[Future[CopyOutcome] | None] = []
        if block and self._objects:
            try:
                done.append(self._done.get(timeout=timeout))
            except queue.Empty:
                # Nothing arrived: pick up finished futures whose hand-over was lost.
                done += [future for future in self._objects if future.done()]
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                break
        handed = []
        for future in done:
            obj = self._objects.pop(future, None) if future is not None else None
            if future is not None and obj is not None:  # None: a wake-up, or handed over already
                handed.append((future, obj))
        return handed

    def abandon(self) -> list[ListedObject]:
        """Give up on the copies still running (the drain's time is up)."""
        left = list(self._objects.values())
        self._objects.clear()
        return left


class TransferEngine:
    """Copy or sync ``spec.source`` to ``spec.destination`` as one principal, server side.

    The main thread streams the plan and keeps at most ``concurrency`` copies in flight; results
    are handled on the main thread, so the report needs no locks and the pending work never
    exceeds the bound, whatever the size of the listing.

    ``cancel`` (from a signal handler, ``on_kill`` or another thread) stops the run cleanly: no
    new copy starts, multipart copies stop sending parts and abort their uploads, copies already
    sent get ``drain_seconds`` to finish, every upload this run created and did not complete is
    aborted, the report is written and ``run`` returns the summary with ``interrupted`` set.
    """

    def __init__(
        self,
        spec: CopySpec,
        clients: TransferClients,
        *,
        principal_arn: str | None = None,
        principal_lookup: Callable[[], str | None] | None = None,
        source_principal_arn: str | None = None,
        source_principal_lookup: Callable[[], str | None] | None = None,
        progress: ProgressCallback | None = None,
        report_target: str | None = None,
        retry: RetryPolicy | None = None,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.spec = spec
        self.clients = clients
        self.progress = progress
        self.report_target = report_target
        self.retry = retry or RetryPolicy()
        self.drain_seconds = drain_seconds
        context = TransferContext(
            source_bucket=spec.source.bucket,
            dest_bucket=spec.destination.bucket,
            dest_kms_key_arn=spec.dest_kms_key_id,
            principal_arn=principal_arn,
            principal_lookup=principal_lookup,
            source_account_id=spec.source_account_id,
            dest_account_id=spec.dest_account_id,
            partition=partition_of_region(spec.dest_region) if spec.dest_region else None,
        )
        self.diagnoser = self.dest_diagnoser = Diagnoser(context, clients.source)
        if spec.transport == "relay":
            # Two principals (``principal_arn`` writes, ``source_principal_arn`` reads): a denial
            # is explained for, and names, the one that signed the failing request.
            self.diagnoser = Diagnoser(
                replace(
                    context,
                    principal_arn=source_principal_arn,
                    principal_lookup=source_principal_lookup,
                    principal_role="source principal",
                ),
                clients.source,
            )
            self.dest_diagnoser = Diagnoser(
                replace(context, principal_role="destination principal"), clients.source
            )
        self._cancel = threading.Event()
        self._cancel_reason: str | None = None
        self._hurry = False
        self._in_flight = _InFlight()
        self.uploads = UploadTracker(clients.dest, spec.dest_account_id, spec.payer_args())

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the run (safe from a signal handler or another thread). A second call ends the drain."""
        if self._cancel.is_set():
            self._hurry = True
        else:
            self._cancel_reason = reason
            self._cancel.set()
        self._in_flight.wake()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def open_report(self) -> ObjectLog:
        """The per-object report, its target checked (raises InvalidInputError before any copy)."""
        log = ObjectLog(self.report_target, destination_args(self.spec))
        log.check(self.clients.dest)
        return log

    def run(self, log: ObjectLog | None = None) -> CopyReport:
        """Plan -> dispatch -> drain -> delete -> report; the report is written whatever ends the run."""
        log = log or self.open_report()
        self.spec = spec = self._resolve_dest_key(self._resolve_source())
        report = CopyReport(
            source=spec.source.uri, destination=spec.destination.uri, mode=spec.mode, dry_run=spec.dry_run
        )
        started = time.monotonic()
        source, dest, plan = self._plan()
        deletes = DeleteQueue()
        limiter = RequestRateLimiter(spec.max_requests_per_second) if spec.max_requests_per_second else None
        if limiter:
            limiter.attach(self.clients.source, self.clients.dest)
        copier = (RelayCopier if spec.transport == "relay" else ObjectCopier)(
            spec, self.clients, uploads=self.uploads, cancel=self._cancel, retry=self.retry, limiter=limiter
        )
        try:
            try:
                self._dispatch(plan, copier, deletes, report, log, source)
            except BaseException as exc:
                # KeyboardInterrupt, a task timeout, a listing failure: stop like a cancel does.
                self.cancel(type(exc).__name__)
                raise
            finally:
                self._drain(self._in_flight, report, log)
                copier.shutdown(wait=not self._cancel.is_set())
            if not self._cancel.is_set():
                if not source.check.complete:
                    report.listing_problem = source.check.problem or "it did not reach its end"
                Deleter(spec, self.clients, self.dest_diagnoser, report, log, self._cancel).run(
                    deletes, source_listed=source.count, dest_listed=dest.count
                )
        finally:
            if limiter:
                limiter.detach(self.clients.source, self.clients.dest)
            deletes.close()
            self.uploads.abort_all()
            report.uploads_aborted = self.uploads.aborted
            report.abort_failures = list(self.uploads.failures)
            report.retries = copier.retries
            report.retry_wait_seconds = copier.retry_wait_seconds
            report.interrupted = self._cancel_reason
            report.elapsed_seconds = time.monotonic() - started
            report.report_uri = log.close(self.clients.dest)
            report.report_error = log.error
        if self.progress:
            self.progress(report)
        return report

    def _plan(self) -> tuple[_CountingListing, _CountingListing, Iterator[PlannedAction]]:
        """Both listings (filtered, counted) and the streaming plan that merges them."""
        spec = self.spec
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
        dest = self._listing(
            self.clients.dest,
            spec.destination,
            spec.dest_account_id,
            key_filter,
            diagnoser=self.dest_diagnoser,
        )
        planner = SyncPlanner(
            spec.mode,
            delete=spec.delete,
            compare=spec.compare,
            rejects=object_filter.rejects if object_filter.active else None,
        )
        return source, dest, planner.plan(source, dest if spec.mode == "sync" else ())

    def _dispatch(
        self,
        plan: Iterator[PlannedAction],
        copier: ObjectCopier,
        deletes: DeleteQueue,
        report: CopyReport,
        log: ObjectLog,
        source: _CountingListing,
    ) -> None:
        """Walk the plan: skips are recorded, deletes queued, copies submitted (``concurrency`` at most)."""
        in_flight = self._in_flight
        concurrency = self.spec.concurrency
        for step in plan:
            if self._cancel.is_set():
                break
            report.listed = source.count
            if step.action is Action.DELETE:
                deletes.add(step.key)
                continue
            assert step.source is not None
            if step.action is Action.SKIP:
                report.skipped += 1
                log.write(step.key, step.source.size, "skip", step.reason)
                continue
            while len(in_flight) >= concurrency and not self._cancel.is_set():
                self._collect(in_flight, report, log, block=True)
            if self._cancel.is_set():
                break
            overwrites = step.reason not in ("new", "copy mode")
            in_flight.add(copier.submit(step.source, overwrites=overwrites), step.source)
            if len(in_flight) % 16 == 0:
                self._collect(in_flight, report, log, block=False)
        report.listed = source.count

    def _drain(self, in_flight: _InFlight, report: CopyReport, log: ObjectLog) -> None:
        """Wait for the copies in flight; after a cancel, for ``drain_seconds`` at most."""
        deadline: float | None = None
        while in_flight:
            if self._cancel.is_set():
                if deadline is None:
                    deadline = time.monotonic() + self.drain_seconds
                left = deadline - time.monotonic()
                if left <= 0 or self._hurry:
                    break
                self._collect(in_flight, report, log, block=True, timeout=min(left, _POLL_SECONDS))
            else:
                self._collect(in_flight, report, log, block=True)
        for obj in in_flight.abandon():
            report.interrupted_copies += 1
            log.write(obj.key, obj.size, "copy", "interrupted", "still in flight when the run stopped")

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

    def _resolve_dest_key(self, spec: CopySpec) -> CopySpec:
        """The spec with a destination key given as key id, alias name or alias ARN resolved to its
        key ARN (DescribeKey in the destination bucket's region), validated again (the key's
        region) and named by the diagnoses, so every copy is encrypted under the one key it named
        at the start. Unchanged when KMS does not say: S3 resolves the value as it copies."""
        key = spec.dest_kms_key_id
        if key is None or self.clients.dest_kms is None or (key.startswith("arn:") and ":key/" in key):
            return spec
        resolved = resolve_key_arn(self.clients.dest_kms(), key, "dest_kms_key_id")
        if resolved is None:
            return spec
        for diagnoser in {id(d): d for d in (self.diagnoser, self.dest_diagnoser)}.values():
            diagnoser.context = replace(diagnoser.context, dest_kms_key_arn=resolved)
        return CopySpec.create(**{**dict(spec), "dest_kms_key_id": resolved})

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
        *,
        diagnoser: Diagnoser | None = None,
    ) -> _CountingListing:
        """One side's listing, restricted to the spec's shard, counted, checked and diagnosed.

        Only the paged prefix listing is checked page by page; a one-object or point-in-time
        listing counts as complete (deletes are still confirmed by a HEAD of each candidate).
        """
        extra = {**(extra or {}), **self.spec.payer_args()}
        check = ListingCheck()
        objects: Iterator[ListedObject]
        if self.spec.version_at is not None and location is self.spec.source:
            # The source as it was then; one object's name filters its parent's versions.
            name = (location.object_key or "").rpartition("/")[2]
            check.finished = True
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
            check.finished = True
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
                check=check,
                concurrency=self.spec.list_concurrency,
            )
        return _CountingListing(objects, location.uri, diagnoser or self.diagnoser, check)

    def _collect(
        self,
        in_flight: _InFlight,
        report: CopyReport,
        log: ObjectLog,
        *,
        block: bool,
        timeout: float = _POLL_SECONDS,
    ) -> None:
        done = in_flight.finished(block=block, timeout=timeout)
        for future, obj in done:
            try:
                outcome = future.result()
            except CopyInterruptedError:
                report.interrupted_copies += 1
                log.write(obj.key, obj.size, "copy", "interrupted", "the run was stopped; upload aborted")
            except CopyFailedError as failure:
                self._record_failure(report, log, obj, failure)
            else:
                self._record_copy(report, log, replace(obj, size=outcome.size), outcome.multipart)
        if done and self.progress:
            self.progress(report)

    def _record_copy(self, report: CopyReport, log: ObjectLog, obj: ListedObject, multipart: bool) -> None:
        report.copied += 1
        report.bytes_copied += obj.size
        report.multipart_copies += multipart
        log.write(obj.key, obj.size, "copy", "dry-run" if self.spec.dry_run else "copied")

    def _record_failure(
        self, report: CopyReport, log: ObjectLog, obj: ListedObject, failure: CopyFailedError
    ) -> None:
        """A copy that failed: vanished from the source (a skip), or a failure with its diagnosis."""
        if failure.vanished:
            # Deleted from the source after it was listed: nothing to copy, nothing to fix.
            report.skipped += 1
            report.vanished += 1
            log.write(obj.key, obj.size, "skip", "vanished", f"{failure.operation}: {failure.code}")
            return
        diagnoser = self.dest_diagnoser if failure.operation in WRITE_OPERATIONS else self.diagnoser
        diagnosis = failure.diagnose(diagnoser, self.spec.source.prefix + obj.key)
        report.add_failure(obj.key, str(failure), diagnosis)
        log.write(obj.key, obj.size, "copy", "failed", str(failure), str(diagnosis))


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
