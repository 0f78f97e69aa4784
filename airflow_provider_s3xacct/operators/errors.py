"""Turning core outcomes into Airflow's retry semantics."""

from __future__ import annotations

from airflow_provider_s3xacct.compat import AirflowException, AirflowFailException
from airflow_provider_s3xacct.transfer.errors import InvalidInputError


def invalid_input(exc: InvalidInputError) -> AirflowFailException:
    """Bad input cannot be fixed by a retry: fail the task without spending its retries."""
    return AirflowFailException(f"invalid argument {exc}")


def failure(message: str, *, retryable: bool) -> AirflowException:
    """A retryable failure (throttling, network) lets Airflow retry; any other fails for good."""
    return AirflowException(message) if retryable else AirflowFailException(message)
