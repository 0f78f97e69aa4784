"""The error codes AWS answers with, and what they mean for a copy: one reading for every caller.

A denial is reported as ``AccessDenied`` (S3's XML error), ``AccessDeniedException`` (KMS's JSON
error), or, for a HEAD, which has no body, as the bare status (botocore gives ``403`` or
``Forbidden``). S3 passes a KMS failure through with a ``KMS.`` prefix on the KMS code
(S3 API Reference, "Error responses"; KMS API Reference, Decrypt/GenerateDataKey "Errors").
"""

from __future__ import annotations

from dataclasses import dataclass

# Answers that mean "too many requests now" or a passing server fault: retried with backoff, and
# reported as "retry later", never as a missing permission.
THROTTLING_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalError",
        "RequestTimeout",
        "503",
        "500",
    }
)
# An object that is not there: S3's NoSuchKey, or the bare 404 of a HEAD (it has no body).
OBJECT_GONE_CODES = frozenset({"NoSuchKey", "404"})
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "403", "Forbidden"})


def is_denial(code: str) -> bool:
    """True for every form in which S3 or KMS says "not allowed"."""
    return code in ACCESS_DENIED_CODES


def is_object_gone(code: str) -> bool:
    """True when S3 says the object does not exist (deleted after it was listed, or never was)."""
    return code in OBJECT_GONE_CODES


@dataclass(frozen=True)
class KeyStateProblem:
    """A KMS key that cannot be used as it is: ``cause`` and ``fix`` for a person; waiting never
    helps (the key's owner has to act), so callers treat it as permanent."""

    cause: str
    fix: str


def key_state_problem(
    code: str, message: str, *, account: str | None = None, region: str | None = None
) -> KeyStateProblem | None:
    """What a KMS error code (bare, or ``KMS.``-prefixed as S3 passes it on) says about the key,
    or None when the code is not about the key's state.

    :param account: the key's account, named in the fix when known.
    :param region: the bucket's region, where the key must be, named in the fix when known.
    """
    where = f"in account {account}" if account else "in its account"
    code = code.removeprefix("KMS.")
    if code == "DisabledException":
        return KeyStateProblem(f"the key is disabled ({message})", f"enable it (kms:EnableKey) {where}")
    if code == "KMSInvalidStateException":
        return KeyStateProblem(
            f"the key cannot be used ({message})",
            f"cancel its deletion (kms:CancelKeyDeletion) or import its key material {where}",
        )
    if code == "NotFoundException":
        in_region = f"in {region}" if region else "in the bucket's region"
        return KeyStateProblem(
            f"the key does not exist ({message})",
            f"use the full ARN of an existing key {in_region}",
        )
    return None


# DescribeKey's KeyState values in which waiting cannot help (KMS API Reference, KeyMetadata).
TERMINAL_KEY_STATES = {
    "Disabled": "the key is disabled: enable it (kms:EnableKey) in account {account}",
    "PendingDeletion": "the key is pending deletion: cancel the deletion (kms:CancelKeyDeletion) in account {account}",
    "PendingImport": "the key has no key material: import it in account {account}",
    "Unavailable": "the key's custom key store is disconnected: reconnect it in account {account}",
    "PendingReplicaDeletion": "the key is a replica pending deletion",
}
