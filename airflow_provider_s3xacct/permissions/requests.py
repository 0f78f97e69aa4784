"""``required_requests``: every authorisation the copy engine will need, with its request context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from airflow_provider_s3xacct.permissions.spec import TransferSpec

# A stand-in object under the prefix: a grant must cover any key there, so it is checked on one
# that no policy could name specifically.
SAMPLE_OBJECT = "s3xacct-any-object"

ResourceKind = Literal["source-bucket", "dest-bucket", "source-key", "dest-key"]


@dataclass(frozen=True)
class RequiredRequest:
    """One (action, resource, context) the principal must be allowed, and why the copy needs it."""

    action: str
    resource: str
    resource_kind: ResourceKind
    resource_account: str
    purpose: str
    context: dict[str, str] = field(default_factory=dict)
    key_arn: str | None = None  # for source-key / dest-key: which key policy document applies

    def describe(self) -> str:
        return f"{self.action} on {self.resource} ({self.purpose})"


def _key_account(arn: str) -> str:
    return arn.split(":")[4]


def required_requests(spec: TransferSpec) -> list[RequiredRequest]:
    """The requests ``s3xacct copy`` makes for ``spec``, as IAM sees them."""
    src, dst, opts = spec.source, spec.destination, spec.options
    tls = {"aws:SecureTransport": "true"}
    src_object = f"arn:aws:s3:::{src.bucket}/{src.prefix}{SAMPLE_OBJECT}"
    dst_object = f"arn:aws:s3:::{dst.bucket}/{dst.prefix}{SAMPLE_OBJECT}"
    reqs = [
        RequiredRequest(
            "s3:ListBucket",
            f"arn:aws:s3:::{src.bucket}",
            "source-bucket",
            src.account_id,
            "list the source prefix",
            {**tls, "s3:prefix": src.prefix},
        ),
        RequiredRequest(
            "s3:GetObject",
            src_object,
            "source-bucket",
            src.account_id,
            "read source objects (CopyObject/UploadPartCopy source)",
            tls,
        ),
    ]
    if opts.copy_tags:
        reqs.append(
            RequiredRequest(
                "s3:GetObjectTagging", src_object, "source-bucket", src.account_id, "read source tags", tls
            )
        )
    put_context = dict(tls)
    if dst.kms_key_arn:
        put_context |= {
            "s3:x-amz-server-side-encryption": "aws:kms",
            "s3:x-amz-server-side-encryption-aws-kms-key-id": dst.kms_key_arn,
        }
    reqs.append(
        RequiredRequest(
            "s3:PutObject",
            dst_object,
            "dest-bucket",
            dst.account_id,
            "write destination objects (CopyObject/CreateMultipartUpload)",
            put_context,
        )
    )
    if opts.multipart:
        # UploadPartCopy and CompleteMultipartUpload carry no encryption headers: a bucket-policy Deny
        # that requires them must not catch these requests.
        reqs.append(
            RequiredRequest(
                "s3:PutObject",
                dst_object,
                "dest-bucket",
                dst.account_id,
                "write parts of multipart copies (UploadPartCopy, no SSE headers)",
                dict(tls),
            )
        )
        reqs.append(
            RequiredRequest(
                "s3:AbortMultipartUpload",
                dst_object,
                "dest-bucket",
                dst.account_id,
                "abort a failed multipart copy",
                tls,
            )
        )
    if opts.copy_tags:
        reqs.append(
            RequiredRequest(
                "s3:PutObjectTagging",
                dst_object,
                "dest-bucket",
                dst.account_id,
                "write tags on destination objects",
                tls,
            )
        )
    if opts.mode == "sync":
        reqs.append(
            RequiredRequest(
                "s3:ListBucket",
                f"arn:aws:s3:::{dst.bucket}",
                "dest-bucket",
                dst.account_id,
                "list the destination prefix (sync)",
                {**tls, "s3:prefix": dst.prefix},
            )
        )
    if opts.delete:
        reqs.append(
            RequiredRequest(
                "s3:DeleteObject",
                dst_object,
                "dest-bucket",
                dst.account_id,
                "delete keys gone from the source (sync --delete)",
                tls,
            )
        )
    via_s3 = {"kms:ViaService": f"s3.{src.region}.amazonaws.com"}
    for arn in src.kms_key_arns:
        reqs.append(
            RequiredRequest(
                "kms:Decrypt",
                arn,
                "source-key",
                _key_account(arn),
                "decrypt source objects encrypted under this key",
                via_s3,
                key_arn=arn,
            )
        )
    if dst.kms_key_arn:
        via = {"kms:ViaService": f"s3.{dst.region}.amazonaws.com"}
        reqs.append(
            RequiredRequest(
                "kms:GenerateDataKey",
                dst.kms_key_arn,
                "dest-key",
                _key_account(dst.kms_key_arn),
                "encrypt destination objects",
                via,
                key_arn=dst.kms_key_arn,
            )
        )
        if opts.multipart:
            reqs.append(
                RequiredRequest(
                    "kms:Decrypt",
                    dst.kms_key_arn,
                    "dest-key",
                    _key_account(dst.kms_key_arn),
                    "multipart copies under the destination key",
                    via,
                    key_arn=dst.kms_key_arn,
                )
            )
    return reqs
