"""``Diagnoser``: turns a failed S3 request into a cause and a fix a person can act on."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_s3xacct.aws.arns import account_of, partition_of_arn, s3_arn
from airflow_provider_s3xacct.aws.codes import THROTTLING_CODES, is_denial, is_object_gone, key_state_problem
from airflow_provider_s3xacct.aws.errors import error_code, error_message, http_status
from airflow_provider_s3xacct.aws.locations import owner_args
from airflow_provider_s3xacct.diagnosis.messages import DenialMessage, parse_denial

READ_OPERATIONS = frozenset({"CopyObject", "UploadPartCopy", "GetObject", "HeadObject", "GetObjectTagging"})
WRITE_OPERATIONS = frozenset({"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"})
# Not an AWS code: the copy's own refusal, before any request, of an object it could only copy in
# parts when the transfer's options.multipart is false (transfer/outcomes.py, multipart_refused).
MULTIPART_OFF = "MultipartOff"


@dataclass(frozen=True)
class Diagnosis:
    """Why a request failed and what fixes it. ``cause`` is stable text used to group failures."""

    cause: str
    fix: str
    permanent: bool = True
    action: str | None = None
    resource: str | None = None
    kms_key_arn: str | None = None
    confirmed_by_probe: bool = False  # a request (HEAD) established it, rather than the message alone

    def __str__(self) -> str:
        return f"{self.cause}. Fix: {self.fix}"


@dataclass(frozen=True)
class TransferContext:
    """What the failing request was part of, so a diagnosis can name the right document."""

    source_bucket: str
    dest_bucket: str
    dest_kms_key_arn: str | None = None
    principal_arn: str | None = None
    source_account_id: str | None = None
    dest_account_id: str | None = None
    # Asked only when a message names the principal: the CLI passes its caller-identity call here,
    # so a run that fails nothing makes no STS request. None from it reads "the sync principal".
    principal_lookup: Callable[[], str | None] | None = field(default=None, compare=False)
    # Which principal signed the failing request: the relay has two (the source and destination
    # principals), so a denial must say which of them lacks the permission.
    principal_role: str = "sync principal"
    partition: str | None = None  # of the ARNs a fix names; derived from the ARNs above when None

    @property
    def principal(self) -> str:
        found = self.principal_arn or (self.principal_lookup() if self.principal_lookup else None)
        if self.principal_role == "sync principal":
            return found or "the sync principal"
        return f"the {self.principal_role} {found}" if found else f"the {self.principal_role}"

    @property
    def arn_partition(self) -> str:
        """The partition a fix writes ARNs in: given, else the principal's or the key's, else
        ``aws`` (an ``arn:aws:`` policy never matches in China or GovCloud: aws/arns.py)."""
        if self.partition:
            return self.partition
        known = [a for a in (self.principal_arn, self.dest_kms_key_arn) if a and a.startswith("arn:")]
        return partition_of_arn(known[0]) if known else "aws"

    def s3_arn(self, bucket: str, key: str | None = None) -> str:
        return s3_arn(self.arn_partition, bucket, key)


class Diagnoser:
    """Explain failures, probing AWS at most ``max_probes`` times per distinct error.

    A plain ``Access Denied`` on a read does not say whether S3 or KMS refused; a HEAD of the
    source object does (HEAD needs s3:GetObject but no KMS permission, and reports the object's
    key). Probes are cached by error signature and capped, so a run with 100,000 identical failures
    costs a handful of extra requests, never one per object.
    """

    def __init__(
        self,
        context: TransferContext,
        source_client: Any | None = None,
        *,
        max_probes: int = 4,
    ) -> None:
        self.context = context
        self.source_client = source_client
        self.max_probes = max_probes
        self._probes: Counter[tuple[str, str, str]] = Counter()
        self._seen: dict[tuple[str, str, str], Counter[Diagnosis]] = {}
        self._lock = threading.Lock()

    def explain_client_error(self, operation: str, source_key: str, error: ClientError) -> Diagnosis:
        return self.explain(operation, source_key, error_code(error), error_message(error))

    def explain(self, operation: str, source_key: str, code: str, message: str) -> Diagnosis:
        """Explain one failure of ``operation`` on source object ``source_key``."""
        if not is_denial(code):
            return self._not_a_denial(operation, code, message)
        denial = parse_denial(message)
        if denial.enriched and not (
            denial.is_kms and denial.resource is None and operation in READ_OPERATIONS
        ):
            return self._from_enriched(denial)
        if operation in READ_OPERATIONS and self.source_client is not None:
            return self._probe_read(operation, source_key, code, message, denial)
        return self._guess(operation, denial)

    # -- denials ---------------------------------------------------------------------------------

    def _from_enriched(self, denial: DenialMessage) -> Diagnosis:
        action = denial.action or "?"
        resource = denial.resource
        where = denial.policy_type or "a policy"
        if denial.explicit_deny:
            cause = f"{self.context.principal} is denied {action} on {resource or 'the resource'} by an explicit Deny in {where}"
            arn = f" ({denial.policy_arn})" if denial.policy_arn else ""
            fix = f"remove or narrow the Deny statement in the {where}{arn}; an explicit Deny wins over any Allow"
        elif denial.is_kms:
            key = resource or "the KMS key"
            cause = f"{self.context.principal} lacks {action} on {key}"
            if where == "key policy":
                fix = (
                    f"allow {action} for the principal in the key policy of {key} (in the key's own "
                    "account); also check the key is in the bucket's region"
                )
            else:
                fix = f"add an Allow for {action} on {key} to the principal's {where}"
        else:
            cause = f"{self.context.principal} lacks {action} on {resource or 'the resource'}"
            fix = f"add an Allow for {action} to the {where}"
        return Diagnosis(
            cause, fix, action=action, resource=resource, kms_key_arn=resource if denial.is_kms else None
        )

    def _probe_read(
        self, operation: str, source_key: str, code: str, message: str, denial: DenialMessage
    ) -> Diagnosis:
        signature = (operation, code, message)
        with self._lock:
            budget_left = self._probes[signature] < self.max_probes
            if budget_left:
                self._probes[signature] += 1
            else:
                # The cap keeps diagnosis O(1) requests: reuse what the probes of this exact error found.
                seen = self._seen.get(signature)
                if seen:
                    return self._unprobed(seen)
        if not budget_left:
            return self._guess(operation, denial)
        diagnosis = self._head_source(source_key, operation, denial)
        with self._lock:
            self._seen.setdefault(signature, Counter())[diagnosis] += 1
        return diagnosis

    def _unprobed(self, seen: Counter[Diagnosis]) -> Diagnosis:
        """A diagnosis for an object that was not probed, from the probes of the same error."""
        if len(seen) == 1:
            return next(iter(seen))
        # Encryption is per object: the same bare error may hide different keys. Say so rather
        # than pin every object on the most frequent one.
        causes = "; or ".join(d.cause for d, _ in seen.most_common())
        return Diagnosis(
            cause=f"one of several causes seen for this error (probed {sum(seen.values())} objects): {causes}",
            fix=" / ".join(dict.fromkeys(d.fix for d, _ in seen.most_common())),
        )

    def _head_source(self, source_key: str, operation: str, denial: DenialMessage) -> Diagnosis:
        ctx = self.context
        kwargs: dict[str, Any] = {
            "Bucket": ctx.source_bucket,
            "Key": source_key,
            **owner_args(ctx.source_account_id),
        }
        assert self.source_client is not None
        try:
            head = self.source_client.head_object(**kwargs)
        except ClientError as exc:
            status = http_status(exc)
            if status == 403 or is_denial(error_code(exc)):
                return Diagnosis(
                    cause=f"{ctx.principal} lacks s3:GetObject on {ctx.s3_arn(ctx.source_bucket, source_key)}",
                    fix=(
                        "S3 refused even a HEAD, so this is an S3 permission, not KMS: allow s3:GetObject on "
                        f"{ctx.s3_arn(ctx.source_bucket, '<prefix>*')} in both the principal's identity policy "
                        "and the source bucket policy (cross-account needs both); if "
                        "ExpectedSourceBucketOwner is set, check the source account id"
                    ),
                    action="s3:GetObject",
                    resource=ctx.s3_arn(ctx.source_bucket, source_key),
                    confirmed_by_probe=True,
                )
            if status == 404:
                return Diagnosis(
                    "the source object was deleted after it was listed",
                    "nothing to fix; the next sync will not see it",
                    permanent=True,
                    confirmed_by_probe=True,
                )
            return self._guess(operation, denial)
        key_arn = head.get("SSEKMSKeyId")
        if head.get("ServerSideEncryption") == "aws:kms" and key_arn:
            return self._kms_decrypt(key_arn, confirmed=True)
        return self._write_side(head_ok=True)

    def _kms_decrypt(self, key_arn: str, *, confirmed: bool) -> Diagnosis:
        owner = account_of(key_arn) if key_arn.startswith("arn:") else "the key's"
        return Diagnosis(
            cause=f"{self.context.principal} lacks kms:Decrypt on {key_arn}",
            fix=(
                f"S3 reports a missing KMS permission as AccessDenied. Allow kms:Decrypt for the principal "
                f"in the key policy of {key_arn} (account {owner}) and in the principal's identity "
                "policy; if the key is the AWS managed aws/s3 key it cannot be shared across accounts: "
                "re-encrypt the source with a customer managed key"
            ),
            action="kms:Decrypt",
            resource=key_arn,
            kms_key_arn=key_arn,
            confirmed_by_probe=confirmed,
        )

    def _write_side(self, *, head_ok: bool) -> Diagnosis:
        ctx = self.context
        dest = ctx.s3_arn(ctx.dest_bucket, "<prefix>*")
        seen = (
            "the source is readable (HEAD succeeded) and not KMS-encrypted, so the write side refused: "
            if head_ok
            else ""
        )
        if ctx.dest_kms_key_arn:
            return Diagnosis(
                cause=f"{ctx.principal} may not write to {ctx.dest_bucket} under {ctx.dest_kms_key_arn}",
                fix=(
                    f"{seen}allow s3:PutObject on {dest} (identity policy, and the destination bucket policy "
                    f"when the bucket is in another account), kms:GenerateDataKey (and kms:Decrypt for "
                    f"multipart copies) on {ctx.dest_kms_key_arn} in its key policy and the identity "
                    "policy, and check the destination bucket policy's Deny conditions accept this key"
                ),
                action="kms:GenerateDataKey",
                resource=ctx.dest_kms_key_arn,
                kms_key_arn=ctx.dest_kms_key_arn,
                confirmed_by_probe=head_ok,
            )
        return Diagnosis(
            cause=f"{ctx.principal} lacks s3:PutObject on {dest}",
            fix=(
                f"{seen}allow s3:PutObject (and s3:PutObjectTagging when tags are copied) on {dest} in the "
                "identity policy and, cross-account, the destination bucket policy; check its Deny "
                "conditions (required encryption headers) and ExpectedBucketOwner"
            ),
            action="s3:PutObject",
            resource=dest,
            confirmed_by_probe=head_ok,
        )

    def _guess(self, operation: str, denial: DenialMessage) -> Diagnosis:
        ctx = self.context
        if denial.kms_masked:
            return self._kms_decrypt("the source object's KMS key", confirmed=False)
        if operation in WRITE_OPERATIONS:
            return self._write_side(head_ok=False)
        if operation.startswith("ListObjects"):
            return Diagnosis(
                cause=f"{ctx.principal} lacks s3:ListBucket on the bucket",
                fix=(
                    f"allow s3:ListBucket on the bucket ARN ({ctx.s3_arn('<bucket>')}, not <bucket>/*) in the "
                    "identity policy and, cross-account, the bucket policy"
                ),
                action="s3:ListBucket",
            )
        if operation == "DeleteObjects" or operation == "DeleteObject":
            return Diagnosis(
                cause=f"{ctx.principal} lacks s3:DeleteObject on {ctx.dest_bucket}",
                fix=f"allow s3:DeleteObject on {ctx.s3_arn(ctx.dest_bucket, '<prefix>*')}, or run without delete",
                action="s3:DeleteObject",
            )
        return Diagnosis(
            cause=f"{operation} was denied (S3 gave no detail)",
            fix=(
                "check s3:GetObject on the source (identity + source bucket policy), kms:Decrypt on the "
                "source object's key, s3:PutObject on the destination, and kms:GenerateDataKey on the "
                "destination key; `s3xacct verify` checks them all"
            ),
        )

    # -- everything that is not a denial ---------------------------------------------------------

    def _not_a_denial(self, operation: str, code: str, message: str) -> Diagnosis:
        if code in THROTTLING_CODES:
            return Diagnosis(
                cause=f"S3 kept answering {code} after every retry",
                fix="retry later or lower concurrency; S3 allows about 3,500 writes/s per prefix",
                permanent=False,
            )
        if is_object_gone(code):
            return Diagnosis(
                "the source object was deleted after it was listed",
                "nothing to fix; the next sync will not see it",
            )
        if code == "NoSuchBucket":
            return Diagnosis("a bucket does not exist", "check the bucket names and the region")
        if code in ("InvalidObjectState", "ObjectNotInActiveTierError"):
            return Diagnosis(
                "the source object is archived (GLACIER / DEEP_ARCHIVE) and not restored",
                "restore it (RestoreObject) before copying, or skip archived objects "
                "(--storage-class-skip GLACIER,DEEP_ARCHIVE)",
            )
        if code.startswith("KMS."):
            return self._kms_state(code, message)
        if code == "AccessControlListNotSupported":
            return Diagnosis(
                "the destination bucket has Object Ownership 'bucket owner enforced' and refuses ACLs",
                "run without acl (the default)",
            )
        if code == MULTIPART_OFF:
            fix = "set options.multipart: true in the transfer and re-run plan, verify and apply"
            if operation == "PutObject":  # the relay's one request; a server-side copy's is CopyObject
                fix += ", or raise relay_buffers x relay_part_size above the object's size (up to 5 GiB)"
            return Diagnosis(
                "the object cannot be copied in one request and the transfer's options.multipart is "
                "false, so it is not copied in parts",
                fix,
            )
        if code == "InvalidRequest" and "copy source is larger" in message:
            return Diagnosis(
                "CopyObject refuses sources above 5 GB",
                "lower multipart_threshold so the object is copied in parts",
            )
        if code == "EntityTooLarge":
            return Diagnosis("a part or object exceeds 5 GiB", "lower part_size")
        if code == "InvalidBucketOwnerAWSAccountID":
            return Diagnosis(
                "the expected bucket owner is not a valid account id",
                "pass 12-digit account ids for source_account_id / dest_account_id",
            )
        return Diagnosis(cause=f"{operation} failed with {code}: {message}", fix="see the AWS error above")

    def _kms_state(self, kms_code: str, message: str) -> Diagnosis:
        key = message.split(" is ")[0] if " is " in message else None
        problem = key_state_problem(kms_code, message)
        if problem is None:
            return Diagnosis(f"KMS refused: {kms_code}: {message}", "check the key's state and policy")
        return Diagnosis(
            f"KMS: {problem.cause}",
            f"{problem.fix}; waiting will not help",
            kms_key_arn=key,
        )
