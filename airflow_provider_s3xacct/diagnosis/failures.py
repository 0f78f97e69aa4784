"""The one table of what the core's exceptions mean for a retry, read by the operators and the CLI.

Every exception the core lets escape to a caller (a task's ``execute``, a CLI command) has a row:
is a retry of the whole run worth it (a network error, throttling that outlasted every retry),
or is it permanent (bad input, a denial, a store that cannot be synced), and is it the caller's
bad input (the CLI's exit 2) or a failed run (exit 1). ``operators/errors.py`` turns a row into
``AirflowException`` (retried) or ``AirflowFailException`` (not retried); ``cli/common.py`` into
an exit code and a JSON error line. README, "Failures, retries and exit codes", shows the table.

Per-object failures (``CopyFailedError``, ``RetriesExhaustedError``, ``CopyInterruptedError``)
never escape: the engine records them in the report, whose ``only_retryable_failures`` decides.
An exception without a row is a bug and propagates as it is (a traceback).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ProfileNotFound,
)

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.kms.discovery import KeyDiscoveryError
from airflow_provider_s3xacct.permissions.apply import ConcurrentChangeError
from airflow_provider_s3xacct.transfer.check import CheckFailedError
from airflow_provider_s3xacct.transfer.engine import ListingFailedError
from airflow_provider_s3xacct.transfer.planner import ListingOrderError
from airflow_provider_s3xacct.transfer.retry import is_transient


def _never(_: BaseException) -> bool:
    return False


def _always(_: BaseException) -> bool:
    return True


def _not_permanent(exc: BaseException) -> bool:
    return not getattr(exc, "permanent", True)


def _diagnosis_not_permanent(exc: BaseException) -> bool:
    diagnosis = getattr(exc, "diagnosis", None)
    return diagnosis is not None and not diagnosis.permanent


@dataclass(frozen=True)
class FailureKind:
    """One row: the exception class(es), whether a retry may succeed, whether it is bad input."""

    errors: type[BaseException] | tuple[type[BaseException], ...]
    retryable: Callable[[BaseException], bool]
    bad_input: bool
    why: str


# First match wins: subclasses (ProfileNotFound is a BotoCoreError) come before their bases.
FAILURE_KINDS: tuple[FailureKind, ...] = (
    FailureKind(InvalidInputError, _never, True, "bad input, found before any AWS call: fix the named field"),
    FailureKind(ProfileNotFound, _never, True, "the AWS profile does not exist"),
    FailureKind(
        ListingOrderError,
        _never,
        False,
        "the store lists keys out of order: it is not S3-compatible enough for sync, a retry lists the same",
    ),
    FailureKind(
        ListingFailedError,
        _diagnosis_not_permanent,
        False,
        "a bucket could not be listed: as its diagnosis says",
    ),
    FailureKind(
        KeyDiscoveryError, _not_permanent, False, "the source prefix could not be sampled for its keys"
    ),
    FailureKind(CheckFailedError, _not_permanent, False, "a side of the check could not be listed or read"),
    FailureKind(
        ConcurrentChangeError,
        _never,
        False,
        "someone else changed a policy during apply: look at it before applying again",
    ),
    FailureKind(
        (NoCredentialsError, NoRegionError, ParamValidationError),
        _never,
        False,
        "the AWS configuration is incomplete (no credentials, no region) or a request is malformed",
    ),
    FailureKind(
        ClientError, is_transient, False, "an AWS answer: throttling and 5xx are retryable, others not"
    ),
    FailureKind(BotoCoreError, _always, False, "no answer from AWS (connection, timeout) after every retry"),
)


@dataclass(frozen=True)
class Failure:
    """What one escaped exception means: ``retryable`` and ``bad_input`` from its table row."""

    kind: FailureKind
    retryable: bool
    message: str

    @property
    def bad_input(self) -> bool:
        return self.kind.bad_input


def classify(exc: BaseException) -> Failure | None:
    """The table's verdict on ``exc``; None when no row matches (a bug: let it propagate)."""
    for kind in FAILURE_KINDS:
        if isinstance(exc, kind.errors):
            return Failure(kind, kind.retryable(exc), str(exc))
    return None
