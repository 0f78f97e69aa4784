"""One boto3 client per (service, region), made on first use: the one client cache.

boto3 clients are thread-safe and costly to make (each loads its service model and opens its own
connection pool), so the KMS probes, the permission tools and the CLI ask for a client wherever
they need one and this cache makes it once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ClientCache:
    """One client per (service, region), made on first use by ``factory(service, region)``."""

    def __init__(self, factory: Callable[[str, str | None], Any]) -> None:
        self._factory = factory
        self._clients: dict[tuple[str, str | None], Any] = {}

    def __call__(self, service: str, region: str | None) -> Any:
        if (service, region) not in self._clients:
            self._clients[(service, region)] = self._factory(service, region)
        return self._clients[(service, region)]
