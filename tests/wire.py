"""What the moto server saw on the wire (demo.counting_server): who sent each request, and how many at once.

Tests assert on these instead of on our own return values: which HTTP client sent a copy (the
CRT's User-Agent or botocore's), with whose credentials, and how many copies were in flight.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import requests

from tests.aws_world import REGION, World


def forget(world: World) -> None:
    """Start the record afresh (after a test's setup requests)."""
    requests.get(f"{world.endpoint_url}/__bench__/reset", timeout=10).raise_for_status()


def seen(world: World, op: str | None = None) -> list[dict[str, Any]]:
    """Every S3 request since the test's reset, in arrival order (optionally of one operation)."""
    got = requests.get(f"{world.endpoint_url}/__bench__/requests", timeout=10).json()
    return [r for r in got if op is None or r["op"] == op]


def max_in_flight(world: World) -> dict[str, int]:
    """The most requests of each S3 operation the server was handling at the same time."""
    return dict(requests.get(f"{world.endpoint_url}/__bench__/in-flight", timeout=10).json())


def overlapped(world: World, first: str, second: str) -> bool:
    """Whether a request of ``first`` and one of ``second`` were in the server at the same time."""
    return any(
        (r["op"] == first and r["alongside"].get(second)) or (r["op"] == second and r["alongside"].get(first))
        for r in seen(world)
    )


@contextmanager
def server_delay(world: World, seconds: float) -> Iterator[None]:
    """Every request waits ``seconds`` in the server (an S3-like round trip), restored afterwards."""
    url = f"{world.endpoint_url}/__bench__/delay"
    requests.get(url, params={"seconds": seconds}, timeout=10).raise_for_status()
    try:
        yield
    finally:
        requests.get(url, params={"seconds": 0}, timeout=10)


def identity_of(world: World, access_key: str) -> str:
    """The ARN moto's STS gives for an access key: whose credentials signed a request.

    moto does not check signatures, so asking GetCallerIdentity with the key id alone is enough.
    """
    sts = boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=world.endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key="not-checked",
    )
    return str(sts.get_caller_identity()["Arn"])


def agents(requests_seen: list[dict[str, Any]]) -> set[str]:
    """The client family of each request: ``crt`` or ``botocore``."""
    return {"crt" if r["agent"].startswith("CRTS3NativeClient") else "botocore" for r in requests_seen}


def kms_seen(world: World, op: str | None = None) -> list[dict[str, Any]]:
    """Every KMS request since the test's reset, as ``{op: "kms:Action", key, access_key}`` (optionally one action)."""
    got = requests.get(f"{world.endpoint_url}/__bench__/kms-requests", timeout=10).json()
    return [r for r in got if op is None or r["op"] == op]
