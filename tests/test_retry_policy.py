"""The engine's own retry of one object, as README ("Retries") states it.

"When botocore (or the CRT) gives up on an object, the engine tries that object again, up to 5
times or 120 s per object, with full-jitter exponential backoff" and only for transient errors
(throttling, 5xx, no answer). Observed here: how many times the copy is attempted, and the waits
between attempts, with a clock and a jitter this test controls (the engine's and the fault
suite's tests see the same on the wire, but with real waits and too slowly for every bound).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from airflow_provider_s3xacct.transfer import retry
from airflow_provider_s3xacct.transfer.outcomes import CopyFailedError
from airflow_provider_s3xacct.transfer.retry import RetriesExhaustedError, RetryPolicy


class Clock:
    """``time.monotonic`` for the policy: moves only when an attempt or a wait takes time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Cancel(threading.Event):
    """The run's cancel event; a wait records its length and passes at once on the fake clock."""

    def __init__(self, clock: Clock, cancel_during_wait: bool = False) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []
        self.cancel_during_wait = cancel_during_wait

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.clock.now += timeout
        return self.cancel_during_wait


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(retry.time, "monotonic", fake)
    return fake


def jitter(monkeypatch: pytest.MonkeyPatch, fraction: float) -> None:
    """Full jitter drawing at ``fraction`` of its range (0: no wait, 1: the whole backoff)."""
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: low + (high - low) * fraction)


def client_error(code: str, status: int, operation: str) -> ClientError:
    """What botocore raises for an S3 error answer (a 200 with an error body included)."""
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


def slowdown() -> Exception:
    return client_error("SlowDown", 503, "CopyObject")


def attempts_of(
    errors: Iterator[Exception], clock: Clock, seconds: float = 0.0
) -> tuple[Callable[[], str], list[int]]:
    """A copy that takes ``seconds`` and raises the next of ``errors`` (``"copied"`` when none left)."""
    made: list[int] = []

    def attempt() -> str:
        made.append(1)
        clock.now += seconds
        error = next(errors, None)
        if error is not None:
            raise error
        return "copied"

    return attempt, made


def endless(make: Callable[[], Exception]) -> Iterator[Exception]:
    while True:
        yield make()


def test_endless_throttling_is_tried_five_times_with_doubling_waits(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    jitter(monkeypatch, 1.0)
    attempt, made = attempts_of(endless(slowdown), clock)
    cancel, counted = Cancel(clock), list[float]()
    with pytest.raises(RetriesExhaustedError) as raised:
        RetryPolicy().run(attempt, cancel, counted.append)
    assert len(made) == 5
    assert cancel.waits == [0.5, 1.0, 2.0, 4.0] == counted  # what the summary adds up
    assert raised.value.attempts == 5 and "after 5 attempts over 7.5s" in str(raised.value)
    assert "SlowDown" in str(raised.value.cause)


def test_the_backoff_is_capped_and_full_jitter_may_not_wait_at_all(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    jitter(monkeypatch, 1.0)
    attempt, made = attempts_of(endless(slowdown), clock)
    cancel = Cancel(clock)
    with pytest.raises(RetriesExhaustedError):
        RetryPolicy(max_attempts=6, base_seconds=1.0, cap_seconds=3.0).run(attempt, cancel)
    assert cancel.waits == [1.0, 2.0, 3.0, 3.0, 3.0] and len(made) == 6

    jitter(monkeypatch, 0.0)
    attempt, made = attempts_of(endless(slowdown), clock)
    cancel = Cancel(clock)
    with pytest.raises(RetriesExhaustedError):
        RetryPolicy().run(attempt, cancel)
    assert cancel.waits == [0.0, 0.0, 0.0, 0.0] and len(made) == 5


def test_a_transient_failure_that_clears_is_copied_after_its_retries(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    jitter(monkeypatch, 1.0)
    errors = iter([slowdown(), EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")])
    attempt, made = attempts_of(errors, clock)
    cancel = Cancel(clock)
    assert RetryPolicy().run(attempt, cancel) == "copied"
    assert len(made) == 3 and cancel.waits == [0.5, 1.0]


def test_the_time_bound_counts_the_attempts_and_the_next_wait(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry whose wait ends exactly at the bound still runs; one that would end after it does not."""
    jitter(monkeypatch, 1.0)
    attempt, made = attempts_of(endless(slowdown), clock, seconds=40.0)
    cancel = Cancel(clock)
    with pytest.raises(RetriesExhaustedError) as raised:
        RetryPolicy(object_seconds=40.5).run(attempt, cancel)
    # Attempt 1 ends at 40 s, its 0.5 s wait at exactly 40.5 s; attempt 2 ends at 80.5 s.
    assert len(made) == 2 and cancel.waits == [0.5]
    assert raised.value.attempts == 2 and raised.value.seconds == 80.5

    attempt, made = attempts_of(endless(slowdown), clock, seconds=40.0)
    with pytest.raises(RetriesExhaustedError):
        RetryPolicy().run(attempt, Cancel(clock))  # 120 s: attempts end at 40, 80.5, 121.5 s
    assert len(made) == 3


def test_a_cancelled_run_stops_retrying_at_once(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    jitter(monkeypatch, 1.0)
    attempt, made = attempts_of(endless(slowdown), clock)
    cancel = Cancel(clock)
    cancel.set()
    with pytest.raises(RetriesExhaustedError):
        RetryPolicy().run(attempt, cancel)
    assert len(made) == 1 and cancel.waits == []

    attempt, made = attempts_of(endless(slowdown), clock, seconds=2.0)
    cancel = Cancel(clock, cancel_during_wait=True)
    with pytest.raises(RetriesExhaustedError) as raised:
        RetryPolicy().run(attempt, cancel)
    assert len(made) == 1 and cancel.waits == [0.5]
    # The copy's own error, the attempts and the time (the attempt and the interrupted wait).
    assert "SlowDown" in str(raised.value.cause) and raised.value.attempts == 1
    assert raised.value.seconds == 2.5


def network_copy_failure() -> Exception:
    return CopyFailedError("CopyObject", EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"))


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (lambda: client_error("SlowDown", 503, "CopyObject"), True),
        (lambda: client_error("InternalError", 200, "CopyObject"), True),
        (lambda: EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), True),
        (network_copy_failure, True),
        (lambda: CopyFailedError("UploadPartCopy", client_error("SlowDown", 503, "UploadPartCopy")), True),
        (lambda: CopyFailedError("CopyObject", client_error("AccessDenied", 403, "CopyObject")), False),
        (lambda: client_error("AccessDenied", 403, "CopyObject"), False),
        (lambda: client_error("NoSuchKey", 404, "CopyObject"), False),
        (lambda: ClientError({"ResponseMetadata": {"HTTPStatusCode": 400}}, "CopyObject"), False),
        (lambda: ValueError("a bug"), False),
    ],
    ids=[
        "slowdown", "200-internal-error", "no-answer", "copy-no-answer", "copy-slowdown",
        "copy-denied", "denied", "no-such-key", "no-error-code", "bug",
    ],
)
def test_only_transient_failures_are_tried_again(
    error: Callable[[], Exception], retried: bool, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    jitter(monkeypatch, 1.0)
    attempt, made = attempts_of(iter([error()]), clock)
    if retried:
        assert RetryPolicy().run(attempt, Cancel(clock)) == "copied"
        assert len(made) == 2
    else:
        with pytest.raises(type(error())):
            RetryPolicy().run(attempt, Cancel(clock))
        assert len(made) == 1  # a permanent failure is raised as it is, never retried
