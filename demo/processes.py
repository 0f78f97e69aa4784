"""Long-running processes of the local stacks: each in its own process group, stopped as a group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import IO


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
