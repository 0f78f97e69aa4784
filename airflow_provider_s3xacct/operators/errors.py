"""Turning core outcomes into Airflow's retry semantics: the one place the operators decide.

Whether a failure is retried comes from the core's table (``diagnosis/failures.py``): a retryable
one raises ``AirflowException`` (Airflow spends a retry), any other ``AirflowFailException``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.compat import AirflowException, AirflowFailException
from airflow_provider_s3xacct.diagnosis.failures import classify


def invalid_input(exc: InvalidInputError) -> AirflowFailException:
    """Bad input cannot be fixed by a retry: fail the task without spending its retries."""
    return AirflowFailException(f"invalid argument {exc}")


def failure(message: str, *, retryable: bool) -> AirflowException:
    """A retryable failure (throttling, network) lets Airflow retry; any other fails for good."""
    return AirflowException(message) if retryable else AirflowFailException(message)


@contextmanager
def task_failures() -> Iterator[None]:
    """Wrap a task's work: any core exception leaving it becomes the table's Airflow failure.

    Exceptions already translated (``AirflowException``, Airflow's deferral and timeouts) and
    those without a row (bugs) pass through unchanged.
    """
    try:
        yield
    except InvalidInputError as exc:
        raise invalid_input(exc) from None
    except Exception as exc:
        verdict = classify(exc)
        if verdict is None:
            raise
        raise failure(verdict.message, retryable=verdict.retryable) from exc
