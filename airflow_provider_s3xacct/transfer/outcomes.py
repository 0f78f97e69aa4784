"""What a copy ends in, whichever transport ran it: a ``CopyOutcome`` or one ``CopyFailedError``.

Both transports (botocore in ``copier.py``, the CRT in ``crt.py``) and the engine import these,
so a failure has one shape and one diagnosis entry point (:meth:`CopyFailedError.diagnose`),
whether S3 answered with an error or never answered at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.codes import is_object_gone
from airflow_provider_s3xacct.aws.errors import error_code, error_message
from airflow_provider_s3xacct.diagnosis.explain import MULTIPART_OFF, READ_OPERATIONS, Diagnoser, Diagnosis

T = TypeVar("T")

# A request that failed without an answer from S3, after every retry.
NETWORK_DIAGNOSIS = Diagnosis(
    "the connection to S3 failed (reset, timeout or unreadable answer) after every retry",
    "retry the run; if it persists, check the network path (proxy, VPC endpoint, DNS) to S3",
    permanent=False,
)


@dataclass(frozen=True)
class CopyOutcome:
    """One object copied (or, in a dry run, what its copy would have been)."""

    key: str
    # The size copied: a multipart copy's HEAD may have seen a newer version than the listing.
    size: int
    multipart: bool


class CopyInterruptedError(Exception):
    """The run was cancelled while this copy was under way; its multipart upload was aborted."""


class CopyFailedError(Exception):
    """A copy failed: ``operation`` is the S3 request that failed, ``error`` what botocore raised.

    ``error`` is a ``ClientError`` (S3 answered with an error) or a ``BotoCoreError`` (no usable
    answer: connection reset, timeout; ``network`` is then true and ``code`` empty). ``retried``
    says, when the engine's own retries ran out, what they were (it goes into the diagnosis).
    """

    def __init__(
        self,
        operation: str,
        error: ClientError | BotoCoreError,
        *,
        retried: str | None = None,
        attempts: int = 1,
        seconds: float = 0.0,
    ) -> None:
        self.operation = operation
        self.error = error
        self.retried = retried
        self.attempts = attempts
        self.seconds = seconds
        self.network = isinstance(error, BotoCoreError)
        if isinstance(error, ClientError):
            self.code = error_code(error)
            self.message = error_message(error)
            text = f"{operation}: {self.code}: {self.message}"
        else:
            self.code, self.message = "", str(error)
            text = f"{operation}: {type(error).__name__}: {error}"
        if retried is not None:
            text += f" (after {attempts} attempts over {seconds:.1f}s)"
        super().__init__(text)

    def after_retries(self, note: str, attempts: int, seconds: float) -> CopyFailedError:
        """This failure as the last of ``attempts`` tries of the engine's retry policy (``note``)."""
        return CopyFailedError(self.operation, self.error, retried=note, attempts=attempts, seconds=seconds)

    @property
    def vanished(self) -> bool:
        """The source object was deleted after it was listed: nothing to copy, nothing to fix."""
        return is_object_gone(self.code) and self.operation in READ_OPERATIONS

    def diagnose(self, diagnoser: Diagnoser, source_key: str) -> Diagnosis:
        """Why it failed and what fixes it: the one place a copy or delete failure is explained."""
        if self.network:
            diagnosis = NETWORK_DIAGNOSIS
        else:
            diagnosis = diagnoser.explain(self.operation, source_key, self.code, self.message)
        if self.retried is not None:
            diagnosis = replace(diagnosis, cause=f"{diagnosis.cause}, and {self.retried}")
        return diagnosis


def s3_call(operation: str, call: Callable[..., T], /, **params: Any) -> T:
    """``call(**params)``, an S3 request; any failure of it raised as ``CopyFailedError(operation)``."""
    try:
        return call(**params)
    except (ClientError, BotoCoreError) as exc:
        raise CopyFailedError(operation, exc) from exc


def multipart_refused(operation: str, reason: str) -> CopyFailedError:
    """An object that only parts could copy while the transfer's ``options.multipart`` is false.

    ``operation`` is the one request the copy would have sent (CopyObject, or the relay's
    PutObject), which nothing sent; ``reason`` says why it does not fit. A permanent failure of
    that object alone (never retried), explained by the diagnosis of ``MULTIPART_OFF``.
    """
    message = f"{reason}; options.multipart is false, so no multipart upload is sent"
    error = ClientError({"Error": {"Code": MULTIPART_OFF, "Message": message}}, operation)
    return CopyFailedError(operation, error)
