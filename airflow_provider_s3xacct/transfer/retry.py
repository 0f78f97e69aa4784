"""The engine's own, bounded retry of one object's copy after botocore or the CRT gave up.

Why one is needed beside botocore's: botocore's standard mode retries throttling and 5xx with
jittered backoff, but every retry draws on a client-wide quota (500 tokens, 5 per throttled
retry, 10 per timeout; botocore/retries/quota.py). Under heavy throttling the quota is spent in
seconds and from then on every failed request gets 0 retries. The quota cannot be switched off or
resized through ``Config``, and adaptive mode uses the same quota (it only adds client-side rate
limiting). S3's guidance for SlowDown/503 is to back off and retry (S3 User Guide, "Best practices
design patterns: optimizing Amazon S3 performance"). So when a copy failed with a transient error,
it is tried again as a whole, after an exponential backoff with full jitter
(t = rand(0, 1) * min(cap, base * 2**attempt), the rule botocore itself uses), until either
``max_attempts`` or the per-object time bound runs out. The wait is interruptible: a cancelled
run stops retrying at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import BotoCoreError

from airflow_provider_s3xacct.aws.codes import THROTTLING_CODES
from airflow_provider_s3xacct.aws.errors import error_code
from airflow_provider_s3xacct.transfer.outcomes import CopyFailedError

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx and network errors: the same request may well succeed later."""
    if isinstance(exc, CopyFailedError):
        return exc.network or exc.code in THROTTLING_CODES
    if isinstance(exc, BotoCoreError):
        return True
    return error_code(exc) in THROTTLING_CODES


class RetriesExhaustedError(Exception):
    """A transient failure that outlasted the engine's own retries; ``cause`` is the last error."""

    def __init__(self, cause: BaseException, attempts: int, seconds: float) -> None:
        self.cause = cause
        self.attempts = attempts
        self.seconds = seconds
        super().__init__(f"{cause} (after {attempts} attempts over {seconds:.1f}s)")


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often one object is tried again after a transient failure."""

    max_attempts: int = 5
    object_seconds: float = 120.0
    base_seconds: float = 0.5
    cap_seconds: float = 20.0

    def delay(self, attempt: int) -> float:
        """Full jitter backoff before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))

    def run(
        self,
        attempt: Callable[[], T],
        cancel: threading.Event,
        on_retry: Callable[[float], None] | None = None,
    ) -> T:
        """Call ``attempt`` until it succeeds, fails for good, or the bounds or ``cancel`` stop it."""
        started = time.monotonic()
        tries = 0
        while True:
            tries += 1
            try:
                return attempt()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                elapsed = time.monotonic() - started
                wait = self.delay(tries)
                if tries >= self.max_attempts or elapsed + wait > self.object_seconds or cancel.is_set():
                    raise RetriesExhaustedError(exc, tries, elapsed) from exc
                if on_retry is not None:
                    on_retry(wait)
                if cancel.wait(wait):
                    raise RetriesExhaustedError(exc, tries, time.monotonic() - started) from exc
