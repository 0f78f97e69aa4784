"""``ObjectCopier``: how each object is copied (one decision) and the botocore copy itself.

Split as s3transfer splits submission from tasks: :meth:`ObjectCopier.submit` decides, once per
object, which transport sends it and whether it goes in parts (:meth:`ObjectCopier.route`), then
hands it to that transport, which returns a ``Future[CopyOutcome]``. The engine and the dry run
both go through ``submit``, so nothing else decides again. Every failure a future holds is one
``CopyFailedError`` (outcomes.py), network errors included.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.locations import owner_args
from airflow_provider_s3xacct.transfer.clients import RequestRateLimiter, TransferClients
from airflow_provider_s3xacct.transfer.crt import CrtCopyClient
from airflow_provider_s3xacct.transfer.listing import ListedObject
from airflow_provider_s3xacct.transfer.outcomes import (
    CopyFailedError,
    CopyInterruptedError,
    CopyOutcome,
    multipart_refused,
    s3_call,
)
from airflow_provider_s3xacct.transfer.retry import RetriesExhaustedError, RetryPolicy, is_transient
from airflow_provider_s3xacct.transfer.spec import COPY_OBJECT_LIMIT, CopySpec
from airflow_provider_s3xacct.transfer.uploads import CLOCK_MARGIN, OpenUpload, UploadTracker, server_time

# Headers a multipart upload must be given explicitly: UploadPartCopy copies bytes only, so a
# plain multipart copy silently drops them (CopyObject keeps them with MetadataDirective=COPY).
_CARRIED_HEADERS = (
    "ContentType",
    "CacheControl",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "Expires",
    "WebsiteRedirectLocation",
)


# Where HeadObject (with ChecksumMode=ENABLED) reports each checksum algorithm.
_CHECKSUM_FIELDS = {
    "CRC64NVME": "ChecksumCRC64NVME",
    "CRC32": "ChecksumCRC32",
    "CRC32C": "ChecksumCRC32C",
    "SHA1": "ChecksumSHA1",
    "SHA256": "ChecksumSHA256",
}


# The transports a copy can go by. A new one (say, a relay that reads as one principal and writes
# as another) is a name here, a branch in ``route`` and a ``_start_*`` method (docs/design.md).
Transport = Literal["crt", "botocore", "relay"]  # relay: transfer/relay.py (RelayCopier)


@dataclass(frozen=True)
class Route:
    """How one object is copied: made once, by :meth:`ObjectCopier.route`."""

    transport: Transport
    # Above the multipart threshold: CreateMultipartUpload, UploadPartCopy, CompleteMultipartUpload.
    multipart: bool
    # An overwrite with a backup prefix: the destination object is saved first (botocore).
    back_up_first: bool = False
    # Only parts could copy it and the transfer has options.multipart: false: nothing is sent, the
    # object fails (multipart_refusal).
    refused: bool = False


class ObjectCopier:
    """Copies objects from the source location to the destination location, server side.

    Owns the thread pools of the botocore transport (object copies and parts, ``concurrency``
    each) and the CRT client (started at the first copy routed to it: a no-op sync needs none).
    Every multipart upload it creates is registered with ``uploads`` until completed or aborted;
    ``cancel`` stops parts that have not started, and the upload is then aborted.
    """

    def __init__(
        self,
        spec: CopySpec,
        clients: TransferClients,
        *,
        uploads: UploadTracker | None = None,
        cancel: threading.Event | None = None,
        retry: RetryPolicy | None = None,
        limiter: RequestRateLimiter | None = None,
    ) -> None:
        self.spec = spec
        self.clients = clients
        self.source_client = clients.source
        self.dest_client = clients.dest
        self.uploads = uploads or UploadTracker(clients.dest, spec.dest_account_id, spec.payer_args())
        self.cancel = cancel or threading.Event()
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self._write_args = self._destination_args()
        self._stats_lock = threading.Lock()
        self.retries = 0
        self.retry_wait_seconds = 0.0
        self._pool = ThreadPoolExecutor(spec.concurrency, thread_name_prefix="s3xacct-copy")
        self.part_executor = ThreadPoolExecutor(spec.concurrency, thread_name_prefix="s3xacct-part")
        self._crt: CrtCopyClient | None = None
        self._transports: dict[Transport, Callable[[ListedObject, Route], Future[CopyOutcome]]] = {
            "crt": self._start_crt,
            "botocore": self._start_botocore,
        }

    def route(self, obj: ListedObject, *, overwrites: bool = False) -> Route:
        """Which transport copies ``obj``, and whether in parts or (``spec.multipart`` false, too
        large for one request) not at all: the one place this is decided (:meth:`in_parts`).

        The CRT sends single CopyObjects only, and only when nothing must happen before them on
        the client (a HEAD for replaced metadata, a backup of the object overwritten).
        """
        multipart, refused = self.in_parts(obj.size)
        back_up_first = overwrites and self.spec.backup_prefix is not None
        crt = (
            self.spec.transport == "crt"
            and self.clients.crt_available
            and not multipart
            and not back_up_first
            and not self.replaces_metadata
        )
        return Route("crt" if crt else "botocore", multipart, back_up_first, refused)

    def in_parts(self, size: int) -> tuple[bool, bool]:
        """Whether an object of ``size`` bytes is copied in parts, and whether it is refused.

        Above :meth:`single_limit`, an object goes in parts; with ``spec.multipart`` false (the
        transfer grants no multipart request) it is refused instead: ``(False, True)``.
        """
        above = size > self.single_limit()
        return above and self.spec.multipart, above and not self.spec.multipart

    def single_limit(self) -> int:
        """The largest object copied in one request: the multipart threshold, or without multipart
        CopyObject's own limit (5 GiB) whatever the threshold says."""
        return self.spec.multipart_threshold if self.spec.multipart else COPY_OBJECT_LIMIT

    def multipart_refusal(self, key: str, size: int) -> CopyFailedError:
        """The failure of an object :meth:`in_parts` refused (its size: the listing's or a HEAD's)."""
        return multipart_refused(
            "CopyObject", f"{key} is {size} bytes, above CopyObject's limit of {COPY_OBJECT_LIMIT} bytes"
        )

    def submit(self, obj: ListedObject, *, overwrites: bool = False) -> Future[CopyOutcome]:
        """Start copying ``obj`` (``overwrites``: a destination object is replaced).

        The future holds the ``CopyOutcome``, or raises ``CopyFailedError`` (every failure, after
        the transport's and the engine's retries) or ``CopyInterruptedError`` (the run stopped).
        A dry run sends nothing: its future is done at once with the outcome the route implies.
        An object the route refused fails at once, in a dry run too.
        """
        route = self.route(obj, overwrites=overwrites)
        if route.refused:  # a dry run reports it as the copy would
            refused: Future[CopyOutcome] = Future()
            refused.set_exception(self.multipart_refusal(obj.key, obj.size))
            return refused
        if self.spec.dry_run:
            planned: Future[CopyOutcome] = Future()
            planned.set_result(CopyOutcome(obj.key, obj.size, route.multipart))
            return planned
        return self._transports[route.transport](obj, route)

    def shutdown(self, *, wait: bool) -> None:
        """Stop the pools; copies not started are cancelled (the engine drained what it waits for)."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self.part_executor.shutdown(wait=wait, cancel_futures=True)

    def _start_crt(self, obj: ListedObject, route: Route) -> Future[CopyOutcome]:
        """One CopyObject through the CRT; when its own retries run out, botocore takes over."""
        if self._crt is None:
            self._crt = self.clients.crt_copier(self.spec.destination.bucket)
        assert self._crt is not None  # route() sends copies here only when the CRT is available
        if self.limiter is not None:  # the CRT's requests bypass botocore's before-send pacing
            self.limiter.acquire()
        result: Future[CopyOutcome] = Future()
        result.set_running_or_notify_cancel()

        def settle(sent: Future[CopyOutcome]) -> None:
            failure = sent.exception()
            if failure is None:
                result.set_result(sent.result())
            elif is_transient(failure) and not self.cancel.is_set():
                # Throttling or network trouble outlasted the CRT's retries: go on with botocore
                # and the engine's own bounded retries, as any other copy.
                _pass_on(self._start_botocore(obj, replace(route, transport="botocore")), result)
            else:
                result.set_exception(failure)

        self._crt.copy(obj, self.single_copy_args(obj)).add_done_callback(settle)
        return result

    def _start_botocore(self, obj: ListedObject, route: Route) -> Future[CopyOutcome]:
        try:
            return self._pool.submit(self._copy, obj, route)
        except RuntimeError:  # the pool is shut down: the run stopped
            stopped: Future[CopyOutcome] = Future()
            stopped.set_exception(CopyInterruptedError(obj.key))
            return stopped

    def source_key(self, relative: str) -> str:
        return self.spec.source.key_for(relative)

    def dest_key(self, relative: str) -> str:
        return self.spec.destination.key_for(relative)

    @property
    def replaces_metadata(self) -> bool:
        """Whether copies set metadata (content type, user metadata): each then needs a source HEAD."""
        return self.spec.content_type is not None or self.spec.metadata is not None

    def _destination_args(self) -> dict[str, Any]:
        return destination_args(self.spec)

    def _storage_class(self, obj: ListedObject) -> dict[str, str]:
        wanted = self.spec.storage_class
        if wanted is None:
            return {}
        return {"StorageClass": obj.storage_class if wanted == "keep" else wanted}

    def _copy(self, obj: ListedObject, route: Route) -> CopyOutcome:
        """Copy ``obj`` with botocore as ``route`` says; transient failures are tried again."""
        try:
            return self.retry.run(lambda: self._copy_once(obj, route), self.cancel, self._count_retry)
        except RetriesExhaustedError as exc:
            if not isinstance(exc.cause, CopyFailedError):
                raise
            policy = self.retry
            note = (
                f"the engine's own retries (up to {policy.max_attempts} tries or "
                f"{policy.object_seconds:.0f}s per object, backoff with jitter)"
            )
            raise exc.cause.after_retries(note, exc.attempts, exc.seconds) from exc.cause

    def _count_retry(self, wait: float) -> None:
        with self._stats_lock:
            self.retries += 1
            self.retry_wait_seconds += wait

    def _copy_once(self, obj: ListedObject, route: Route) -> CopyOutcome:
        if self.cancel.is_set():
            raise CopyInterruptedError(obj.key)
        if route.back_up_first:
            back_up(self.spec, self.dest_client, obj.key)
        if route.multipart:
            return CopyOutcome(obj.key, self._multipart_copy(obj), multipart=True)
        self._single_copy(obj)
        return CopyOutcome(obj.key, obj.size, multipart=False)

    def _copy_source(self, obj: ListedObject) -> dict[str, str]:
        source = {"Bucket": self.spec.source.bucket, "Key": self.source_key(obj.key)}
        return {**source, "VersionId": obj.version_id} if obj.version_id else source

    @staticmethod
    def _version(obj: ListedObject) -> dict[str, str]:
        return {"VersionId": obj.version_id} if obj.version_id else {}

    def _source_owner_args(self) -> dict[str, str]:
        return owner_args(self.spec.source_account_id, copy_source=True)

    def _head(self, obj: ListedObject) -> dict[str, Any]:
        """The source object's HEAD, with its checksum (what a multipart copy must reproduce)."""
        owner = owner_args(self.spec.source_account_id)
        return dict(
            s3_call(
                "HeadObject",
                self.source_client.head_object,
                Bucket=self.spec.source.bucket,
                Key=self.source_key(obj.key),
                ChecksumMode="ENABLED",
                **self._version(obj),
                **owner,
                **self.spec.payer_args(),
                **self.spec.source_sse_c_args("SSECustomer"),
            )
        )

    def _tags(self, obj: ListedObject) -> list[dict[str, str]]:
        """The source object's tags (a multipart upload must be given them; CopyObject copies them)."""
        owner = owner_args(self.spec.source_account_id)
        response = s3_call(
            "GetObjectTagging",
            self.source_client.get_object_tagging,
            Bucket=self.spec.source.bucket,
            Key=self.source_key(obj.key),
            **owner,
            **self.spec.payer_args(),
            **self._version(obj),
        )
        return list(response["TagSet"])

    def _metadata_args(self, head: dict[str, Any]) -> dict[str, Any]:
        """The headers and user metadata the destination gets, with the spec's overrides."""
        args: dict[str, Any] = {
            "Metadata": head.get("Metadata", {}) if self.spec.metadata is None else dict(self.spec.metadata),
            **{name: head[name] for name in _CARRIED_HEADERS if head.get(name)},
        }
        if self.spec.content_type is not None:
            args["ContentType"] = self.spec.content_type
        return args

    def single_copy_args(self, obj: ListedObject, head: dict[str, Any] | None = None) -> dict[str, Any]:
        """CopyObject's parameters for ``obj`` (whichever HTTP client sends them).

        With metadata overrides, ``head`` (the source's HEAD) supplies what REPLACE must restate.
        """
        args = {
            "Bucket": self.spec.destination.bucket,
            "Key": self.dest_key(obj.key),
            "CopySource": self._copy_source(obj),
            "MetadataDirective": "COPY",
            **self._write_args,
            **self._source_owner_args(),
            **self._storage_class(obj),
            **self.spec.source_sse_c_args(),
        }
        if head is not None:
            args.update(MetadataDirective="REPLACE", **self._metadata_args(head))
        if self.spec.checksum_algorithm:
            args["ChecksumAlgorithm"] = self.spec.checksum_algorithm
        if self.spec.copy_tags:
            args["TaggingDirective"] = "COPY"
        else:
            args["TaggingDirective"] = "REPLACE"
            args["Tagging"] = ""
        return args

    def _single_copy(self, obj: ListedObject) -> None:
        head = self._head(obj) if self.replaces_metadata else None
        s3_call("CopyObject", self.dest_client.copy_object, **self.single_copy_args(obj, head))

    def _checksum_args(self, head: dict[str, Any]) -> dict[str, str]:
        """CreateMultipartUpload's checksum: the spec's algorithm, else the source's.

        UploadPartCopy copies bytes only, so without this a source's SHA256/CRC32 checksum is
        lost. CRC64NVME is full-object only; CRC32/CRC32C stay full-object when the source's was;
        SHA checksums of multipart objects can only be composite (checksums of the parts).
        """
        source = [name for name, field in _CHECKSUM_FIELDS.items() if head.get(field)]
        algorithm = self.spec.checksum_algorithm or (source[0] if source else None)
        if algorithm is None:
            return {}
        full = algorithm == "CRC64NVME" or (
            algorithm in ("CRC32", "CRC32C") and head.get("ChecksumType") == "FULL_OBJECT"
        )
        return {"ChecksumAlgorithm": algorithm, "ChecksumType": "FULL_OBJECT" if full else "COMPOSITE"}

    def _multipart_copy(self, obj: ListedObject) -> int:
        """Copy ``obj`` in parts; returns the size copied, the HEAD's (never the listing's).

        The tags are asked for while the HEAD is in flight (two round trips of start-up become one).
        """
        tags = self.part_executor.submit(self._tags, obj) if self.spec.copy_tags else None
        head = self._head(obj)
        create: dict[str, Any] = {
            "Bucket": self.spec.destination.bucket,
            "Key": self.dest_key(obj.key),
            **self._metadata_args(head),
            **self._write_args,
            **self._storage_class(obj),
            **self._checksum_args(head),
        }
        tag_set = tags.result() if tags is not None else []
        if tag_set:
            create["Tagging"] = urlencode([(t["Key"], t["Value"]) for t in tag_set])
        upload = self._create_upload(create)
        # The parts are cut from the size the HEAD saw and pinned to its ETag: every byte comes from
        # that one version. Ranges from the listing's size would pass the ETag check on an object
        # rewritten larger since the listing and silently copy its first old-size bytes.
        size = int(head["ContentLength"])
        try:
            parts = self._copy_parts(obj, size, upload.upload_id, head.get("ETag"))
            if self.cancel.is_set():
                raise CopyInterruptedError(obj.key)
            self._complete_upload(upload, parts)
        except BaseException:
            # Never leave a half-written upload behind (it is invisible and billed until aborted).
            # An abort that fails is recorded with the upload id; it never replaces this error.
            self.uploads.abort(upload)
            raise
        self.uploads.completed(upload)
        return size

    def _complete_upload(self, upload: OpenUpload, parts: list[dict[str, Any]], **checksum: str) -> None:
        """CompleteMultipartUpload of ``parts`` (both transports: copied parts and relayed ones).

        ``checksum`` is the full-object checksum the relay computed, which S3 checks against the
        object it assembles; a server-side copy sends none (S3 keeps the source's).
        """
        s3_call(
            "CompleteMultipartUpload",
            self.dest_client.complete_multipart_upload,
            Bucket=upload.bucket,
            Key=upload.key,
            UploadId=upload.upload_id,
            MultipartUpload={"Parts": parts},
            **checksum,
            **owner_args(self.spec.dest_account_id),
            **self.spec.payer_args(),
        )

    def _create_upload(self, create: dict[str, Any]) -> OpenUpload:
        """CreateMultipartUpload, registered at once; uploads of lost responses are aborted.

        botocore resends a request whose response never arrived (connection reset, timeout), so
        S3 may hold uploads we never learned the id of. When a resend happened (RetryAttempts) or
        the create failed for good, uploads of this key initiated while we were sending are ours:
        they are looked up and aborted. S3's own clock (Date header) bounds the window when known.
        """
        bucket, key = create["Bucket"], create["Key"]
        sent = datetime.now(UTC)
        started = time.monotonic()
        try:
            response = self.dest_client.create_multipart_upload(**create)
        except (ClientError, BotoCoreError) as exc:
            self.uploads.abort_lost(bucket, key, None, sent - CLOCK_MARGIN, datetime.now(UTC) + CLOCK_MARGIN)
            raise CopyFailedError("CreateMultipartUpload", exc) from exc
        upload = OpenUpload(bucket, key, response["UploadId"])
        self.uploads.opened(upload)
        if response.get("ResponseMetadata", {}).get("RetryAttempts"):
            answered = server_time(response)
            if answered is None:
                since, until = sent - CLOCK_MARGIN, datetime.now(UTC) + CLOCK_MARGIN
            else:  # the Date header has one-second resolution
                since = answered - timedelta(seconds=time.monotonic() - started + 1)
                until = answered + timedelta(seconds=1)
            self.uploads.abort_lost(bucket, key, upload.upload_id, since, until)
        return upload

    def _copy_parts(
        self, obj: ListedObject, size: int, upload_id: str, etag: str | None
    ) -> list[dict[str, Any]]:
        part_size = self.spec.effective_part_size(size)
        ranges = [(start, min(start + part_size, size) - 1) for start in range(0, size, part_size)]
        futures = [
            self.part_executor.submit(self._copy_part, obj, upload_id, number, first, last, etag)
            for number, (first, last) in enumerate(ranges, start=1)
        ]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def _copy_part(
        self, obj: ListedObject, upload_id: str, number: int, first: int, last: int, etag: str | None
    ) -> dict[str, Any]:
        if self.cancel.is_set():  # parts not yet started are not sent; the upload is aborted
            raise CopyInterruptedError(obj.key)
        args: dict[str, Any] = {
            "Bucket": self.spec.destination.bucket,
            "Key": self.dest_key(obj.key),
            "UploadId": upload_id,
            "PartNumber": number,
            "CopySource": self._copy_source(obj),
            "CopySourceRange": f"bytes={first}-{last}",
            **self._source_owner_args(),
            **self.spec.source_sse_c_args(),
        }
        if etag:
            # Every part must come from the same version of the source object.
            args["CopySourceIfMatch"] = etag
        args.update(owner_args(self.spec.dest_account_id))
        args.update(self.spec.payer_args())
        result = s3_call("UploadPartCopy", self.dest_client.upload_part_copy, **args)["CopyPartResult"]
        # With a checksum algorithm on the upload, S3 returns each part's checksum and
        # CompleteMultipartUpload must list it.
        checksums = {field: result[field] for field in _CHECKSUM_FIELDS.values() if result.get(field)}
        return {"PartNumber": number, "ETag": result["ETag"], **checksums}


def destination_args(spec: CopySpec) -> dict[str, Any]:
    """What every write into the destination bucket carries: encryption, ACL, owner, payer."""
    args: dict[str, Any] = {}
    if spec.dest_kms_key_id:
        args["ServerSideEncryption"] = "aws:kms"
        args["SSEKMSKeyId"] = spec.dest_kms_key_id
        if spec.bucket_key_enabled is not None:
            args["BucketKeyEnabled"] = spec.bucket_key_enabled
    if spec.acl:
        args["ACL"] = spec.acl
    args.update(owner_args(spec.dest_account_id))
    args.update(spec.payer_args())
    return args


def back_up(spec: CopySpec, dest_client: Any, relative: str) -> None:
    """Copy the destination object ``relative`` to ``spec.backup_prefix`` before it is replaced.

    One CopyObject inside the destination bucket, encrypted as the copies are; raises
    ``CopyFailedError`` so the overwrite or delete that needed it does not happen (a destination
    object above 5 GB, CopyObject's limit, cannot be backed up this way and is left alone).
    """
    assert spec.backup_prefix is not None
    bucket = spec.destination.bucket
    owner = owner_args(spec.dest_account_id, copy_source=True)
    s3_call(
        "CopyObject",
        dest_client.copy_object,
        Bucket=bucket,
        Key=spec.backup_prefix.key_for(relative),
        CopySource={"Bucket": bucket, "Key": spec.destination.key_for(relative)},
        MetadataDirective="COPY",
        TaggingDirective="COPY",
        **destination_args(spec),
        **owner,
    )


def _pass_on(source: Future[CopyOutcome], target: Future[CopyOutcome]) -> None:
    """When ``source`` is done, ``target`` gets its outcome or failure (a cancel: interrupted)."""

    def done(finished: Future[CopyOutcome]) -> None:
        if finished.cancelled():
            target.set_exception(CopyInterruptedError("cancelled before it started"))
        elif (failure := finished.exception()) is not None:
            target.set_exception(failure)
        else:
            target.set_result(finished.result())

    source.add_done_callback(done)
