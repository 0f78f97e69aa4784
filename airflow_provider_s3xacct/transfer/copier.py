"""``ObjectCopier``: one server-side copy, single-request or multipart."""

from __future__ import annotations

import contextlib
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from airflow_provider_s3xacct.transfer.listing import ListedObject
from airflow_provider_s3xacct.transfer.spec import CopySpec

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


class CopyFailedError(Exception):
    """A copy failed; ``operation`` is the S3 operation that failed, ``error`` the ClientError."""

    def __init__(self, operation: str, error: ClientError) -> None:
        self.operation = operation
        self.error = error
        info = error.response.get("Error", {})
        self.code = str(info.get("Code", ""))
        self.message = str(info.get("Message", ""))
        super().__init__(f"{operation}: {self.code}: {self.message}")


@dataclass(frozen=True)
class CopyOutcome:
    key: str
    size: int
    multipart: bool


class ObjectCopier:
    """Copies one object from the source location to the destination location, server side."""

    def __init__(self, spec: CopySpec, source_client: Any, dest_client: Any, part_executor: Executor) -> None:
        self.spec = spec
        self.source_client = source_client
        self.dest_client = dest_client
        self.part_executor = part_executor
        self._write_args = self._destination_args()

    def source_key(self, relative: str) -> str:
        return self.spec.source.prefix + relative

    def dest_key(self, relative: str) -> str:
        return self.spec.destination.prefix + relative

    def _destination_args(self) -> dict[str, Any]:
        spec = self.spec
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
        return args

    def copy(self, obj: ListedObject) -> CopyOutcome:
        if obj.size > self.spec.multipart_threshold:
            self._multipart_copy(obj)
            return CopyOutcome(obj.key, obj.size, multipart=True)
        self._single_copy(obj)
        return CopyOutcome(obj.key, obj.size, multipart=False)

    def _copy_source(self, obj: ListedObject) -> dict[str, str]:
        return {"Bucket": self.spec.source.bucket, "Key": self.source_key(obj.key)}

    def _source_owner_args(self) -> dict[str, str]:
        return (
            {"ExpectedSourceBucketOwner": self.spec.source_account_id} if self.spec.source_account_id else {}
        )

    def single_copy_args(self, obj: ListedObject) -> dict[str, Any]:
        """CopyObject's parameters for ``obj`` (whichever HTTP client sends them)."""
        args = {
            "Bucket": self.spec.destination.bucket,
            "Key": self.dest_key(obj.key),
            "CopySource": self._copy_source(obj),
            "MetadataDirective": "COPY",
            **self._write_args,
            **self._source_owner_args(),
        }
        if self.spec.copy_tags:
            args["TaggingDirective"] = "COPY"
        else:
            args["TaggingDirective"] = "REPLACE"
            args["Tagging"] = ""
        return args

    def _single_copy(self, obj: ListedObject) -> None:
        try:
            self.dest_client.copy_object(**self.single_copy_args(obj))
        except ClientError as exc:
            raise CopyFailedError("CopyObject", exc) from exc

    def _multipart_copy(self, obj: ListedObject) -> None:
        source_key = self.source_key(obj.key)
        owner = {"ExpectedBucketOwner": self.spec.source_account_id} if self.spec.source_account_id else {}
        try:
            head = self.source_client.head_object(Bucket=self.spec.source.bucket, Key=source_key, **owner)
        except ClientError as exc:
            raise CopyFailedError("HeadObject", exc) from exc
        create: dict[str, Any] = {
            "Bucket": self.spec.destination.bucket,
            "Key": self.dest_key(obj.key),
            "Metadata": head.get("Metadata", {}),
            **{name: head[name] for name in _CARRIED_HEADERS if head.get(name)},
            **self._write_args,
        }
        if self.spec.copy_tags:
            try:
                tags = self.source_client.get_object_tagging(
                    Bucket=self.spec.source.bucket, Key=source_key, **owner
                )["TagSet"]
            except ClientError as exc:
                raise CopyFailedError("GetObjectTagging", exc) from exc
            if tags:
                create["Tagging"] = urlencode([(t["Key"], t["Value"]) for t in tags])
        try:
            upload_id = self.dest_client.create_multipart_upload(**create)["UploadId"]
        except ClientError as exc:
            raise CopyFailedError("CreateMultipartUpload", exc) from exc
        try:
            parts = self._copy_parts(obj, upload_id, head.get("ETag"))
            self.dest_client.complete_multipart_upload(
                Bucket=create["Bucket"],
                Key=create["Key"],
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **({"ExpectedBucketOwner": self.spec.dest_account_id} if self.spec.dest_account_id else {}),
            )
        except BaseException as exc:
            # Never leave a half-written upload behind (it is invisible and billed until aborted).
            with contextlib.suppress(ClientError):
                self.dest_client.abort_multipart_upload(
                    Bucket=create["Bucket"], Key=create["Key"], UploadId=upload_id
                )
            if isinstance(exc, ClientError):
                raise CopyFailedError(_operation_of(exc, "CompleteMultipartUpload"), exc) from exc
            raise

    def _copy_parts(self, obj: ListedObject, upload_id: str, etag: str | None) -> list[dict[str, Any]]:
        part_size = self.spec.effective_part_size(obj.size)
        ranges = [(start, min(start + part_size, obj.size) - 1) for start in range(0, obj.size, part_size)]
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
        args: dict[str, Any] = {
            "Bucket": self.spec.destination.bucket,
            "Key": self.dest_key(obj.key),
            "UploadId": upload_id,
            "PartNumber": number,
            "CopySource": self._copy_source(obj),
            "CopySourceRange": f"bytes={first}-{last}",
            **self._source_owner_args(),
        }
        if etag:
            # Every part must come from the same version of the source object.
            args["CopySourceIfMatch"] = etag
        if self.spec.dest_account_id:
            args["ExpectedBucketOwner"] = self.spec.dest_account_id
        response = self.dest_client.upload_part_copy(**args)
        return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}


def _operation_of(error: ClientError, default: str) -> str:
    return str(getattr(error, "operation_name", None) or default)
