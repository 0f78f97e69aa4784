"""Inject AWS's real error responses into a botocore client through its ``before-send`` event.

The bodies and codes come from docs/aws-errors.md. Going through the HTTP layer
(not Stubber) keeps botocore's retry and 200-with-error handling in play, as against real S3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def s3_error_body(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        "<RequestId>4442587FB7D0A2F9</RequestId><HostId>host</HostId></Error>"
    ).encode()


class Injector:
    """Answers matching requests with a canned response, ``times`` times (None: always)."""

    def __init__(
        self,
        client: Any,
        operation: str,
        status: int,
        body: bytes,
        when: Callable[[Any], bool] | None = None,
        times: int | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.when = when or (lambda request: True)
        self.remaining = times
        self.hits = 0
        self.event = f"before-send.s3.{operation}"
        # Registered on the generic event, first: botocore runs handlers of a less specific event
        # name before more specific ones, and moto's own before-send handler must not run first.
        client.meta.events.register_first("before-send", self)

    def __call__(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        if event_name != self.event or not self.when(request) or self.remaining == 0:
            return None
        if self.remaining is not None:
            self.remaining -= 1
        self.hits += 1
        return AWSResponse(request.url, self.status, {"content-type": "application/xml"}, _Raw(self.body))


def s3_error(
    client: Any,
    operation: str,
    code: str,
    message: str,
    status: int,
    *,
    key: str | None = None,
    times: int | None = None,
) -> Injector:
    """Make ``operation`` fail like AWS does; ``key`` limits it to requests for that key."""

    def when(request: Any) -> bool:
        return key is None or request.url.split("?")[0].endswith("/" + key)

    return Injector(client, operation, status, s3_error_body(code, message), when, times)


class RequestLog:
    """Counts the requests a client sends, per operation, and keeps their parameters."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.s3.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]
