"""A moto server whose every request waits a set delay, and that counts S3 requests.

A real S3 round trip takes tens of milliseconds; on loopback moto answers in well under one, so
without the delay moto's own throughput caps every tool and hides what concurrency buys
(docs/design.md, "Performance method"). Served threaded, like S3, so concurrent requests overlap.
Run as ``python -m demo.counting_server --port P --delay 0.02``.

Used by the benchmarks (requests per object) and by the CeleryExecutor test (every object copied
once, by one shard). Its own endpoints, beside moto's:

- ``/__bench__/stats``: requests per S3 operation; ``/__bench__/reset`` returns them and clears all;
- ``/__bench__/copies``: CopyObject requests per destination ``/bucket/key``;
- ``/__bench__/requests``: every S3 request in order, as ``{op, path, agent, access_key, headers}``:
  which client sent it (botocore's User-Agent or the CRT's), with whose credentials and which
  ``x-amz-*`` headers, so tests can assert who did what on the wire;
- ``/__bench__/in-flight``: the most requests of each operation the server was handling at once
  (the witness of a concurrency bound);
- ``/__bench__/delay?seconds=S``: change the delay (seed fast, then copy at S3-like latency);
- ``/__bench__/fault?op=CopyObject&path=/bucket/key&status=503&code=SlowDown&times=2``: answer
  the next ``times`` such requests with that S3 error document instead of moto's answer (status
  200 gives S3's 200-with-<Error>). Tests drive every HTTP client through AWS's real error shapes
  this way, the CRT's included, which botocore's event hooks cannot reach.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

_counts: Counter[str] = Counter()
_copies: Counter[str] = Counter()
_faults: dict[tuple[str, str], list[tuple[int, bytes]]] = {}
_requests: list[dict[str, Any]] = []
_in_flight: Counter[str] = Counter()
_max_in_flight: Counter[str] = Counter()
_lock = threading.Lock()
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
# Per-request signing headers: noise in a request's recorded shape.
_UNRECORDED = {"HTTP_X_AMZ_DATE", "HTTP_X_AMZ_SECURITY_TOKEN", "HTTP_X_AMZ_CONTENT_SHA256"}

_ERROR = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{}</Code><Message>{}</Message><RequestId>fault</RequestId></Error>'


def _add_fault(query: dict[str, list[str]]) -> None:
    status = int(query["status"][0])
    body = _ERROR.format(escape(query["code"][0]), escape(query.get("message", [""])[0])).encode()
    key = (query["op"][0], query["path"][0])
    _faults.setdefault(key, []).extend([(status, body)] * int(query.get("times", ["1"])[0]))


def _take_fault(op: str, path: str) -> tuple[int, bytes] | None:
    with _lock:
        queued = _faults.get((op, path))
        return queued.pop(0) if queued else None


def operation(environ: dict[str, Any]) -> str:
    """The S3 operation of a request, from its method, query string and headers."""
    method, query = environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")
    copy = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if method == "PUT":
        if "partNumber=" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        if "tagging" in query:
            return "PutObjectTagging"
        return "CopyObject" if copy else "PutObject"
    if method == "GET":
        parts = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)
        if len(parts) == 1 or not parts[1]:  # a bucket-level GET (path-style addressing)
            return "ListObjects"
        return "GetObjectTagging" if "tagging" in query else "GetObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId=" in query:
            return "CompleteMultipartUpload"
        if "delete" in query:
            return "DeleteObjects"
        return "POST"
    if method == "HEAD":
        parts = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)
        return "HeadBucket" if len(parts) == 1 or not parts[1] else "HeadObject"
    return {"DELETE": "DeleteObject"}.get(method, method)


def _own_endpoint(path: str, query: str, settings: dict[str, float]) -> bytes:
    with _lock:
        if path.endswith("/copies"):
            return json.dumps(dict(_copies)).encode()
        if path.endswith("/requests"):
            return json.dumps(_requests).encode()
        if path.endswith("/in-flight"):
            return json.dumps(dict(_max_in_flight)).encode()
        if path.endswith("/fault"):
            _add_fault(parse_qs(query))
            return b"{}"
        if path.endswith("/delay"):
            settings["delay"] = float(parse_qs(query).get("seconds", ["0"])[0])
            return json.dumps(settings).encode()
        body = json.dumps(dict(_counts)).encode()
        if path.endswith("/reset"):
            _counts.clear()
            _copies.clear()
            _faults.clear()
            _requests.clear()
            _max_in_flight.clear()
        return body


def _amz_headers(environ: dict[str, Any]) -> dict[str, str]:
    return {
        name[5:].lower().replace("_", "-"): value
        for name, value in environ.items()
        if name.startswith("HTTP_X_AMZ_") and name not in _UNRECORDED
    }


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves which host.

    moto (5.2.5) finds the backend of every request anew: a directory scan of its own package
    (``list_of_moto_modules``, ~1.6 ms) and then a walk over hundreds of URL patterns, under one
    lock. That was a quarter of the server's CPU per CopyObject and paced every tool alike; the
    answer for a host never changes, so it is looked up once.
    """

    def __init__(self, create_app: Any) -> None:
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backends:
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]


def build_app(delay: float) -> Callable[..., Iterable[bytes]]:
    moto_app = _Dispatcher(create_backend_app)
    settings = {"delay": delay}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__bench__/"):
            body = _own_endpoint(path, environ.get("QUERY_STRING", ""), settings)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if "s3" not in authorization:
            if settings["delay"]:
                time.sleep(settings["delay"])
            return moto_app(environ, start_response)
        op = operation(environ)
        credential = _CREDENTIAL.search(authorization)
        with _lock:
            _counts[op] += 1
            if op == "CopyObject":
                _copies[path] += 1
            _requests.append(
                {
                    "op": op,
                    "path": path,
                    "agent": environ.get("HTTP_USER_AGENT", ""),
                    "access_key": credential.group(1) if credential else "",
                    "headers": _amz_headers(environ),
                }
            )
            _in_flight[op] += 1
            _max_in_flight[op] = max(_max_in_flight[op], _in_flight[op])
        try:
            if settings["delay"]:
                time.sleep(settings["delay"])
            fault = _take_fault(op, path)
            if fault is not None:
                status, body = fault
                start_response(f"{status} FAULT", [("Content-Type", "application/xml")])
                return [body]
            return moto_app(environ, start_response)
        finally:
            with _lock:
                _in_flight[op] -= 1

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request would drown the report
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.02)
    args = parser.parse_args()
    make_server(
        "127.0.0.1", args.port, build_app(args.delay), threaded=True, request_handler=_QuietHandler
    ).serve_forever()


if __name__ == "__main__":
    main()
