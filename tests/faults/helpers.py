"""Driving the fault-injecting server (demo/counting_server.py) and the CLI as a user runs it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.aws_world import World, credential_env

MIB = 1024 * 1024
ALL_KINDS = "slowdown,internal,error200,reset-before,reset-after,slow,drop-entry,keycount,truncate"


def bench(world: World, what: str, **params: Any) -> Any:
    """Call one of the server's ``/__bench__/`` endpoints."""
    return requests.get(f"{world.endpoint_url}/__bench__/{what}", params=params, timeout=10).json()


def fault(world: World, op: str, path: str, *, times: int = 1, **params: Any) -> None:
    """Queue ``times`` faults for ``op`` on ``path`` (``*``: any path); see the server's docstring."""
    bench(world, "fault", op=op, path=path, times=times, **params)


def cli(world: World, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``s3xacct`` as the sync principal against the fault server."""
    env = {**os.environ, **credential_env(world.principal, world.endpoint_url), **(env or {})}
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("s3xacct")), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    """Wait for the CLI; a hang fails the test instead of blocking the suite."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"s3xacct hung for {timeout}s; stderr:\n{err[-3000:]}") from None
    return proc.returncode, out, err


def last_json(stdout: str) -> dict[str, Any]:
    return dict(json.loads(stdout.strip().splitlines()[-1]))


def wait_for(world: World, operation: str, at_least: int = 1, timeout: float = 60) -> None:
    """Block until the server has seen ``operation`` at least ``at_least`` times."""
    deadline = time.monotonic() + timeout
    while bench(world, "stats").get(operation, 0) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"{operation} was never sent")
        time.sleep(0.05)


def contents(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """Relative key -> SHA-256 of the bytes, for every object under ``prefix``."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", ()):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            found[entry["Key"][len(prefix) :]] = hashlib.sha256(body).hexdigest()
    return found


def open_uploads(world: World) -> list[dict[str, Any]]:
    return list(world.dst_s3.list_multipart_uploads(Bucket=world.dest_bucket).get("Uploads", []))


def seed(world: World, small: int, large: int, *, prefix: str = "data/", large_size: int = 6 * MIB) -> None:
    """``small`` objects of a few bytes and ``large`` objects above a 5 MiB multipart threshold."""
    for i in range(small):
        world.put(f"{prefix}s{i:04}", f"small {i}".encode() * (i % 7 + 1))
    for i in range(large):
        world.put(f"{prefix}L{i:03}", bytes([i % 251]) * large_size + f"{i}".encode())
