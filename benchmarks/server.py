"""A moto server whose every request waits a fixed delay, and that counts requests per operation.

A real S3 round trip takes tens of milliseconds; on loopback moto answers in well under one, so
without the delay moto's own throughput caps every tool and hides what concurrency buys
(DESIGN.md, "Performance method"). Served threaded, like S3, so concurrent requests overlap.
Run as ``python -m benchmarks.server --port P --delay 0.02``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

_counts: Counter[str] = Counter()
_lock = threading.Lock()


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
    return {"HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)


def build_app(delay: float) -> Callable[..., Iterable[bytes]]:
    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__bench__/"):
            with _lock:
                body = json.dumps(dict(_counts)).encode()
                if path.endswith("reset"):
                    _counts.clear()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if delay:
            time.sleep(delay)
        if "HTTP_AUTHORIZATION" in environ and "s3" in environ.get("HTTP_AUTHORIZATION", ""):
            with _lock:
                _counts[operation(environ)] += 1
        return moto_app(environ, start_response)  # type: ignore[no-any-return]

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
