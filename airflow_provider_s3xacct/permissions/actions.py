"""The one table of "option -> actions": which requests each transfer option makes the copy send.

``required_requests`` (what ``verify`` checks) and ``plan_policies`` (what ``plan`` writes) both
read :data:`NEEDS`, so an option cannot make the copy send a request the plan does not grant, nor
make the plan grant an action no request uses. A new option or request is one row here.

Sources: S3 User Guide, "Required permissions for Amazon S3 API operations" (CopyObject,
UploadPartCopy, CreateMultipartUpload, ListObjectsV2, ListMultipartUploads, DeleteObjects); KMS
Developer Guide, "Amazon S3" (SSE-KMS needs kms:GenerateDataKey to write and kms:Decrypt to read
and to complete a multipart upload).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from airflow_provider_s3xacct.permissions.spec import TransferOptions

# The statement of the plan that grants a row's action (its Sid without the prefix).
Grant = Literal[
    "ListSource",
    "ReadSource",
    "ListDestination",
    "ListDestinationUploads",
    "WriteDestination",
    "DecryptSource",
    "EncryptDestination",
]

# Which request of the engine a row stands for: ``required_requests`` builds its context from this.
Request = Literal[
    "list-source",
    "read-source",
    "read-source-tags",
    "copy-object",
    "write-dest-tags",
    "start-multipart",
    "upload-part-copy",
    "complete-multipart",
    "abort-multipart",
    "list-uploads",
    "list-dest",
    "delete-dest",
    "decrypt-source",
    "encrypt-dest",
    "decrypt-dest",
]


def _always(_: TransferOptions) -> bool:
    return True


def _copy_tags(opts: TransferOptions) -> bool:
    return opts.copy_tags


def _multipart(opts: TransferOptions) -> bool:
    return opts.multipart


def _sync(opts: TransferOptions) -> bool:
    return opts.mode == "sync"


def _delete(opts: TransferOptions) -> bool:
    return opts.delete


@dataclass(frozen=True)
class Need:
    """One request the copy sends when ``when(options)`` holds, the action IAM checks for it, and
    the plan statement that grants it."""

    request: Request
    grant: Grant
    action: str
    purpose: str
    when: Callable[[TransferOptions], bool] = _always


# Order matters twice: it is the order of ``required_requests`` and, per grant, of the plan's
# Action lists (kept as the plan wrote them before the table, so applied policies do not change).
NEEDS: tuple[Need, ...] = (
    Need("list-source", "ListSource", "s3:ListBucket", "list the source prefix (ListObjectsV2)"),
    Need(
        "read-source",
        "ReadSource",
        "s3:GetObject",
        "read source objects (CopyObject/UploadPartCopy source, HeadObject)",
    ),
    Need("read-source-tags", "ReadSource", "s3:GetObjectTagging", "read source tags", _copy_tags),
    Need("copy-object", "WriteDestination", "s3:PutObject", "write destination objects (CopyObject)"),
    Need(
        "write-dest-tags",
        "WriteDestination",
        "s3:PutObjectTagging",
        "write tags on destination objects",
        _copy_tags,
    ),
    Need(
        "start-multipart",
        "WriteDestination",
        "s3:PutObject",
        "start multipart copies (CreateMultipartUpload)",
        _multipart,
    ),
    Need(
        "upload-part-copy",
        "WriteDestination",
        "s3:PutObject",
        "write parts of multipart copies (UploadPartCopy, no SSE headers)",
        _multipart,
    ),
    Need(
        "complete-multipart",
        "WriteDestination",
        "s3:PutObject",
        "finish multipart copies (CompleteMultipartUpload, no SSE headers)",
        _multipart,
    ),
    Need(
        "abort-multipart",
        "WriteDestination",
        "s3:AbortMultipartUpload",
        "abort a failed multipart copy",
        _multipart,
    ),
    # An upload whose CreateMultipartUpload answer was lost is found by key and start time, and
    # cleanup-uploads lists stale ones: both list the bucket's uploads.
    Need(
        "list-uploads",
        "ListDestinationUploads",
        "s3:ListBucketMultipartUploads",
        "find this run's uploads whose start was not answered, to abort them (ListMultipartUploads)",
        _multipart,
    ),
    Need(
        "list-dest",
        "ListDestination",
        "s3:ListBucket",
        "list the destination prefix (sync, ListObjectsV2)",
        _sync,
    ),
    Need(
        "delete-dest",
        "WriteDestination",
        "s3:DeleteObject",
        "delete keys gone from the source (sync --delete, DeleteObjects)",
        _delete,
    ),
    Need("decrypt-source", "DecryptSource", "kms:Decrypt", "decrypt source objects encrypted under this key"),
    Need("encrypt-dest", "EncryptDestination", "kms:GenerateDataKey", "encrypt destination objects"),
    Need(
        "decrypt-dest",
        "EncryptDestination",
        "kms:Decrypt",
        "multipart copies under the destination key",
        _multipart,
    ),
)


def needs(options: TransferOptions) -> list[Need]:
    """The rows that apply to ``options``, in table order."""
    return [need for need in NEEDS if need.when(options)]


def actions(grant: Grant, options: TransferOptions) -> list[str]:
    """The actions the plan's ``grant`` statement allows for ``options`` (each once, table order)."""
    return list(dict.fromkeys(need.action for need in needs(options) if need.grant == grant))
