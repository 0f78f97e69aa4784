"""Long-running processes of the local stacks: each in its own process group, stopped as a group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

import requests


def start(
    command: Sequence[str], env: dict[str, str] | None = None, output: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session, so one signal later reaches every process it forks."""
    return subprocess.Popen(
        list(command),
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):  # stragglers of the group, also after a clean exit
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def wait_until(
    what: str,
    not_ready: Callable[[], str | None],
    watched: Mapping[str, subprocess.Popen[bytes]],
    timeout: float,
) -> None:
    """Poll ``not_ready`` (what is missing, or None once ready) until ready, a watched process
    exits, or ``timeout`` seconds pass; the error then says what was still missing."""
    deadline = time.monotonic() + timeout
    problem = "no answer yet"
    while time.monotonic() < deadline:
        for name, process in watched.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} while waiting for {what}")
        try:
            problem = not_ready() or ""
            if not problem:
                return
        except (requests.RequestException, OSError, ValueError, KeyError, StopIteration) as exc:
            problem = f"no answer yet ({type(exc).__name__})"
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s: {problem}")
