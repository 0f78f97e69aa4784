from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import requests

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _leak in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(_leak, None)


@pytest.fixture
def moto() -> Iterator[None]:
    """moto in-process: fresh, empty accounts for each test."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on loopback in its own process, for subprocess and DAG tests.

    Behind demo.counting_server: requests are counted, and tests can queue real S3 error
    responses for any HTTP client (botocore's or the CRT's).
    """
    from demo.stack import moto_server as start

    with start(counting=True) as url:
        yield url


@pytest.fixture
def world(moto_server: str):  # type: ignore[no-untyped-def]
    """Fresh accounts on the moto server (its state is reset for each test).

    A server, not moto's in-process mock: botocore calls every before-send handler, so with the
    in-process mock an injected error would still let moto perform the request behind it.
    """
    from tests.aws_world import build_world

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    requests.get(f"{moto_server}/__bench__/reset", timeout=10)  # counts and queued faults
    return build_world(endpoint_url=moto_server)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # pytest tears fixtures down on KeyboardInterrupt: a CI timeout's SIGTERM then still stops the
    # servers and Airflow components that module fixtures started (they run in their own sessions).
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _stop_on_sigterm)
