"""Progress for task logs: one line every few seconds with objects, bytes, rate and counts."""

from __future__ import annotations

import time
from typing import Any

from airflow_provider_s3xacct.transfer.report import CopyReport


class ProgressLogger:
    """Engine progress callback that logs at most once per ``interval`` seconds."""

    def __init__(self, log: Any, interval: float = 10.0) -> None:
        self.log = log
        self.interval = interval
        self._started = time.monotonic()
        self._last = self._started

    def __call__(self, report: CopyReport) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        elapsed = max(now - self._started, 1e-6)
        done = report.copied + report.skipped + report.failed
        self.log.info(
            "progress: %d/%d listed objects done (%d copied, %d skipped, %d failed), %.1f MiB copied, "
            "%.1f objects/s, %.1f MiB/s",
            done,
            report.listed,
            report.copied,
            report.skipped,
            report.failed,
            report.bytes_copied / 2**20,
            done / elapsed,
            report.bytes_copied / 2**20 / elapsed,
        )
