"""``ObjectCopier``: one server-side copy, single-request or multipart."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.transfer.listing import ListedObject
from airflow_provider_s3xacct.transfer.retry import RetryPolicy
from airflow_provider_s3xacct.transfer.spec import CopySpec
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


class CopyFailedError(Exception):
    """A copy failed; ``operation`` is the S3 operation that failed, ``error`` the ClientError."""

    def __init__(self, operation: str, error: ClientError) -> None:
        self.operation = operation
        self.error = error
        info = error.response.get("Error", {})
        self.code = str(info.get("Code", ""))
        self.message = str(info.get("Message", ""))
        super().__init__(f"{operation}: {self.code}: {self.message}")


class CopyInterruptedError(Exception):
    """The run was cancelled while this copy was under way; its multipart upload was aborted."""


@dataclass(frozen=True)
class CopyOutcome:
    key: str
    size: int
    multipart: bool


class ObjectCopier:
    """Copies one object from the source location to the destination location, server side.

    Every multipart upload it creates is registered with ``uploads`` until completed or aborted;
    ``cancel`` stops parts that have not started, and the upload is then aborted.
    """

    def __init__(
        self,
        spec: CopySpec,
        source_client: Any,
        dest_client: Any,
        part_executor: Executor,
        *,
        uploads: UploadTracker | None = None,
        cancel: threading.Event | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.spec = spec
        self.source_client = source_client
        self.dest_client = dest_client
        self.part_executor = part_executor
        self.uploads = uploads or UploadTracker(dest_client, spec.dest_account_id, spec.payer_args())
        self.cancel = cancel or threading.Event()
        self.retry = retry or RetryPolicy()
        self._write_args = self._destination_args()
        self._stats_lock = threading.Lock()
        self.retries = 0
        self.retry_wait_seconds = 0.0

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

    def copy(self, obj: ListedObject, back_up_first: bool = False) -> CopyOutcome:
        """Copy ``obj``; with ``back_up_first``, save the destination object it overwrites first.

        Transient failures are tried again within the retry policy's bounds.
        """
        return self.retry.run(lambda: self._copy_once(obj, back_up_first), self.cancel, self._count_retry)

    def _count_retry(self, wait: float) -> None:
        with self._stats_lock:
            self.retries += 1
            self.retry_wait_seconds += wait

    def _copy_once(self, obj: ListedObject, back_up_first: bool) -> CopyOutcome:
        if self.cancel.is_set():
            raise CopyInterruptedError(obj.key)
        if back_up_first:
            back_up(self.spec, self.dest_client, obj.key)
        if obj.size > self.spec.multipart_threshold:
            size = self._multipart_copy(obj)
            return CopyOutcome(obj.key, size, multipart=True)
        self._single_copy(obj)
        return CopyOutcome(obj.key, obj.size, multipart=False)

    def _copy_source(self, obj: ListedObject) -> dict[str, str]:
        source = {"Bucket": self.spec.source.bucket, "Key": self.source_key(obj.key)}
        return {**source, "VersionId": obj.version_id} if obj.version_id else source

    @staticmethod
    def _version(obj: ListedObject) -> dict[str, str]:
        return {"VersionId": obj.version_id} if obj.version_id else {}

    def _source_owner_args(self) -> dict[str, str]:
        return (
            {"ExpectedSourceBucketOwner": self.spec.source_account_id} if self.spec.source_account_id else {}
        )

    def _head(self, obj: ListedObject) -> dict[str, Any]:
        """The source object's HEAD, with its checksum (what a multipart copy must reproduce)."""
        owner = {"ExpectedBucketOwner": self.spec.source_account_id} if self.spec.source_account_id else {}
        try:
            return dict(
                self.source_client.head_object(
                    Bucket=self.spec.source.bucket,
                    Key=self.source_key(obj.key),
                    ChecksumMode="ENABLED",
                    **self._version(obj),
                    **owner,
                    **self.spec.payer_args(),
                    **self.spec.source_sse_c_args("SSECustomer"),
                )
            )
        except ClientError as exc:
            raise CopyFailedError("HeadObject", exc) from exc

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
        try:
            self.dest_client.copy_object(**self.single_copy_args(obj, head))
        except ClientError as exc:
            raise CopyFailedError("CopyObject", exc) from exc

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
        """Copy ``obj`` in parts; returns the size copied, the HEAD's (never the listing's)."""
        source_key = self.source_key(obj.key)
        owner = {"ExpectedBucketOwner": self.spec.source_account_id} if self.spec.source_account_id else {}
        head = self._head(obj)
        create: dict[str, Any] = {
            "Bucket": self.spec.destination.bucket,
            "Key": self.dest_key(obj.key),
            **self._metadata_args(head),
            **self._write_args,
            **self._storage_class(obj),
            **self._checksum_args(head),
        }
        if self.spec.copy_tags:
            try:
                tags = self.source_client.get_object_tagging(
                    Bucket=self.spec.source.bucket,
                    Key=source_key,
                    **owner,
                    **self.spec.payer_args(),
                    **self._version(obj),
                )["TagSet"]
            except ClientError as exc:
                raise CopyFailedError("GetObjectTagging", exc) from exc
            if tags:
                create["Tagging"] = urlencode([(t["Key"], t["Value"]) for t in tags])
        upload = self._create_upload(create)
        # The parts are cut from the size the HEAD saw and pinned to its ETag: every byte comes from
        # that one version. Ranges from the listing's size would pass the ETag check on an object
        # rewritten larger since the listing and silently copy its first old-size bytes.
        size = int(head["ContentLength"])
        try:
            parts = self._copy_parts(obj, size, upload.upload_id, head.get("ETag"))
            if self.cancel.is_set():
                raise CopyInterruptedError(obj.key)
            self.dest_client.complete_multipart_upload(
                Bucket=upload.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
                MultipartUpload={"Parts": parts},
                **({"ExpectedBucketOwner": self.spec.dest_account_id} if self.spec.dest_account_id else {}),
                **self.spec.payer_args(),
            )
        except BaseException as exc:
            # Never leave a half-written upload behind (it is invisible and billed until aborted).
            # An abort that fails is recorded with the upload id; it never replaces this error.
            self.uploads.abort(upload)
            if isinstance(exc, ClientError):
                raise CopyFailedError(_operation_of(exc, "CompleteMultipartUpload"), exc) from exc
            raise
        self.uploads.completed(upload)
        return size

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
            if isinstance(exc, ClientError):
                raise CopyFailedError("CreateMultipartUpload", exc) from exc
            raise
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
        if self.spec.dest_account_id:
            args["ExpectedBucketOwner"] = self.spec.dest_account_id
        args.update(self.spec.payer_args())
        result = self.dest_client.upload_part_copy(**args)["CopyPartResult"]
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
    if spec.dest_account_id:
        args["ExpectedBucketOwner"] = spec.dest_account_id
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
    owner = {"ExpectedSourceBucketOwner": spec.dest_account_id} if spec.dest_account_id else {}
    try:
        dest_client.copy_object(
            Bucket=bucket,
            Key=spec.backup_prefix.key_for(relative),
            CopySource={"Bucket": bucket, "Key": spec.destination.key_for(relative)},
            MetadataDirective="COPY",
            TaggingDirective="COPY",
            **destination_args(spec),
            **owner,
        )
    except ClientError as exc:
        raise CopyFailedError("CopyObject", exc) from exc


def _operation_of(error: ClientError, default: str) -> str:
    return str(getattr(error, "operation_name", None) or default)
