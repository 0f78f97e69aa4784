"""A moto server whose every request waits a set delay, and that counts S3 requests.

A real S3 round trip takes tens of milliseconds; on loopback moto answers in well under one, so
without the delay moto's own throughput caps every tool and hides what concurrency buys
(docs/design.md, "Performance method"). Served threaded, like S3, so concurrent requests overlap.
Run as ``python -m demo.counting_server --port P --delay 0.02``.

Used by the benchmarks (requests per object) and by the CeleryExecutor test (every object copied
once, by one shard). Its own endpoints, beside moto's:

- ``/__bench__/stats``: requests per S3 operation, and per STS action as ``sts:AssumeRole`` etc.;
  ``/__bench__/reset`` returns them and clears all;
- ``/__bench__/copies``: CopyObject requests per destination ``/bucket/key``;
- ``/__bench__/requests``: every S3 request in order, as ``{op, path, agent, access_key, headers}``:
  which client sent it (botocore's User-Agent or the CRT's), with whose credentials and which
  ``x-amz-*`` headers, so tests can assert who did what on the wire;
- ``/__bench__/kms-requests``: every KMS request in order, as ``{op: "kms:Action", key, access_key}``;
- ``/__bench__/in-flight``: the most requests of each operation the server was handling at once
  (the witness of a concurrency bound);
- ``/__bench__/delay?seconds=S``: change the delay (seed fast, then copy at S3-like latency);
- ``/__bench__/fault?op=CopyObject&path=/bucket/key&status=503&code=SlowDown&times=2``: answer
  the next ``times`` such requests with that S3 error document instead of moto's answer (status
  200 gives S3's 200-with-<Error>). Tests drive every HTTP client through AWS's real error shapes
  this way, the CRT's included, which botocore's event hooks cannot reach. ``kind=`` queues a
  network or listing fault instead of an error document (``path`` may be ``*``):
  ``reset-before`` (the connection drops before moto sees the request), ``reset-after`` (moto
  performs it, the answer is lost), ``slow`` (``seconds=S`` before answering), and for listings
  ``drop-entry`` (one entry silently left out, KeyCount adjusted), ``keycount`` (one entry left
  out, KeyCount not adjusted), ``truncate`` (IsTruncated without a continuation token) and
  ``reorder`` (the first two entries swapped: keys out of S3's ascending order), and for any
  answer with a body ``corrupt`` (moto's answer with one byte of its body flipped);
- ``/__bench__/put-many`` (POST ``{"bucket": B, "keys": [...], "body_hex": H}``): put one body
  under many keys through moto's backend, without a request each (seeding 100,000s of objects);
- ``/__bench__/chaos?rate=0.2&seed=7&kinds=slowdown,internal,error200,reset-before,...``: from
  now on, fault that share of S3 requests at random with the given kinds (``rate=0`` stops);
  ``/__bench__/faults`` returns how many faults of each kind were injected.

``--indexed-listing`` (or ``S3XACCT_INDEXED_LISTING=1``) answers ListObjects and ListObjectsV2
from a sorted key index instead of moto's walk over the whole bucket per request
(demo/indexed_listing.py: the same answers, at a cost in the keys asked for); the benchmarks use it.

moto reports every multipart upload as initiated on 2010-11-10; S3 reports the real time, and
``cleanup-uploads`` and the search for uploads whose CreateMultipartUpload response was lost
depend on it, so this server puts the time moto created each upload into ListMultipartUploads.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

from demo import indexed_listing

_counts: Counter[str] = Counter()
_copies: Counter[str] = Counter()
_requests: list[dict[str, Any]] = []
_kms_requests: list[dict[str, Any]] = []  # KMS actions, apart: the S3 record stays S3's only
_in_flight: Counter[str] = Counter()
_max_in_flight: Counter[str] = Counter()
# A queued fault: (status, error document) or (kind, seconds) for network and listing faults.
_faults: dict[tuple[str, str], list[tuple[int | str, bytes | float]]] = {}
_injected: Counter[str] = Counter()
_chaos: dict[str, Any] = {"rate": 0.0, "kinds": [], "random": random.Random(0)}
_initiated: dict[str, str] = {}  # UploadId -> when moto created it (ISO 8601, S3's format)
_lock = threading.Lock()
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
# Per-request signing headers: noise in a request's recorded shape.
_UNRECORDED = {"HTTP_X_AMZ_DATE", "HTTP_X_AMZ_SECURITY_TOKEN", "HTTP_X_AMZ_CONTENT_SHA256"}

# Random faults, by kind: an S3 error document (status, code, message) or a network/listing fault.
_ERROR_KINDS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
    "error200": (200, "InternalError", "We encountered an internal error. Please try again."),
}
# botocore and the CRT read an <Error> in a 200 answer only for these operations, as S3 sends it.
_ERROR200_OPERATIONS = frozenset({"CopyObject", "UploadPartCopy", "CompleteMultipartUpload"})
_LISTING_KINDS = frozenset({"drop-entry", "keycount", "truncate", "reorder"})
_CONTENTS = re.compile(rb"<Contents>.*?</Contents>", re.S)

_ERROR = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{}</Code><Message>{}</Message><RequestId>fault</RequestId></Error>'


def _add_fault(query: dict[str, list[str]]) -> None:
    fault: tuple[int | str, bytes | float]
    if "kind" in query:
        fault = (query["kind"][0], float(query.get("seconds", ["0"])[0]))
    else:
        status = int(query["status"][0])
        fault = (
            status,
            _ERROR.format(escape(query["code"][0]), escape(query.get("message", [""])[0])).encode(),
        )
    key = (query["op"][0], query["path"][0])
    _faults.setdefault(key, []).extend([fault] * int(query.get("times", ["1"])[0]))


def _take_fault(op: str, path: str) -> tuple[int | str, bytes | float] | None:
    with _lock:
        for key in ((op, path), (op, "*")):
            queued = _faults.get(key)
            if queued:
                return queued.pop(0)
        chaos = _chaos
        if not chaos["rate"] or chaos["random"].random() >= chaos["rate"]:
            return None
        kinds = [
            kind
            for kind in chaos["kinds"]
            if (kind != "error200" or op in _ERROR200_OPERATIONS)
            and (kind not in _LISTING_KINDS or op == "ListObjects")
            # moto forgets a completed upload, where S3 answers a resent Complete with success.
            and not (kind == "reset-after" and op == "CompleteMultipartUpload")
        ]
        if not kinds:
            return None
        kind = chaos["random"].choice(kinds)
    if kind in _ERROR_KINDS:
        status, code, message = _ERROR_KINDS[kind]
        return status, _ERROR.format(code, message).encode()
    return kind, float(chaos.get("seconds", 1.0))


def _drop_connection(environ: dict[str, Any]) -> None:
    """Reset the client's connection (RST), as a broken network path does."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)


def _damage_listing(kind: str, body: bytes) -> bytes:
    entries = _CONTENTS.findall(body)
    if kind == "truncate":
        body = re.sub(rb"<NextContinuationToken>.*?</NextContinuationToken>", b"", body)
        return body.replace(b"<IsTruncated>false</IsTruncated>", b"<IsTruncated>true</IsTruncated>")
    if not entries:
        return body
    if kind == "reorder":
        if len(entries) < 2:
            return body
        one, two = list(_CONTENTS.finditer(body))[:2]
        return body[: one.start()] + two[0] + body[one.end() : two.start()] + one[0] + body[two.end() :]
    body = body.replace(entries[len(entries) // 2], b"", 1)
    if kind == "drop-entry":
        body = re.sub(
            rb"<KeyCount>(\d+)</KeyCount>", lambda m: b"<KeyCount>%d</KeyCount>" % (int(m[1]) - 1), body
        )
    return body


def _with_initiated(body: bytes) -> bytes:
    """Put the real initiation time of each upload into a ListMultipartUploads answer."""

    def upload(match: re.Match[bytes]) -> bytes:
        entry = match[0]
        found = re.search(rb"<UploadId>(.*?)</UploadId>", entry)
        when = _initiated.get(found[1].decode()) if found else None
        if when is None:
            return entry
        return re.sub(rb"<Initiated>.*?</Initiated>", f"<Initiated>{when}</Initiated>".encode(), entry)

    return re.sub(rb"<Upload>.*?</Upload>", upload, body, flags=re.S)


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
            return "ListMultipartUploads" if "uploads" in query else "ListObjects"
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
    if method == "DELETE" and "uploadId=" in query:
        return "AbortMultipartUpload"
    return {"DELETE": "DeleteObject"}.get(method, method)


def sts_action(environ: dict[str, Any]) -> str:
    """``sts:<Action>`` of an STS query-protocol request; the form body stays readable for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    fields = parse_qs(body.decode("utf-8", "replace")) or parse_qs(environ.get("QUERY_STRING", ""))
    return "sts:" + fields.get("Action", ["?"])[0]


def _record_kms(environ: dict[str, Any], authorization: str) -> None:
    """Record a KMS request: its action, the key it names and the access key that signed it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)  # still readable for moto
    try:
        key = str(json.loads(body or b"{}").get("KeyId", ""))
    except ValueError:
        key = ""
    credential = _CREDENTIAL.search(authorization)
    action = "kms:" + environ.get("HTTP_X_AMZ_TARGET", "?").rsplit(".", 1)[-1]
    with _lock:
        _kms_requests.append({"op": action, "key": key, "access_key": credential.group(1) if credential else ""})


def _own_endpoint(path: str, query: str, settings: dict[str, float]) -> bytes:
    with _lock:
        if path.endswith("/copies"):
            return json.dumps(dict(_copies)).encode()
        if path.endswith("/kms-requests"):
            return json.dumps(_kms_requests).encode()
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
        if path.endswith("/chaos"):
            params = parse_qs(query)
            _chaos["rate"] = float(params.get("rate", ["0"])[0])
            _chaos["kinds"] = [k for k in params.get("kinds", [""])[0].split(",") if k]
            _chaos["seconds"] = float(params.get("seconds", ["1"])[0])
            _chaos["random"] = random.Random(int(params.get("seed", ["0"])[0]))
            return json.dumps({"rate": _chaos["rate"], "kinds": _chaos["kinds"]}).encode()
        if path.endswith("/chaos-state"):  # the current settings, to pause and resume them
            return json.dumps(
                {
                    "rate": _chaos["rate"],
                    "kinds": ",".join(_chaos["kinds"]),
                    "seconds": _chaos.get("seconds", 1.0),
                    "seed": _chaos["random"].randrange(1 << 30),
                }
            ).encode()
        if path.endswith("/faults"):
            return json.dumps(dict(_injected)).encode()
        body = json.dumps(dict(_counts)).encode()
        if path.endswith("/reset"):
            _counts.clear()
            _copies.clear()
            _faults.clear()
            _requests.clear()
            _kms_requests.clear()
            _max_in_flight.clear()
            _injected.clear()
            _chaos["rate"] = 0.0
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
        if path == "/__bench__/put-many":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            order = json.loads(environ["wsgi.input"].read(length))
            put = indexed_listing.put_many(order["bucket"], order["keys"], bytes.fromhex(order["body_hex"]))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"put": put}).encode()]
        if path.startswith("/__bench__/"):
            body = _own_endpoint(path, environ.get("QUERY_STRING", ""), settings)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if "s3" not in authorization:
            if "/sts/aws4_request" in authorization:
                action = sts_action(environ)
                with _lock:
                    _counts[action] += 1
            if "/kms/aws4_request" in authorization:
                _record_kms(environ, authorization)
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
                    # What the server was already handling when this arrived: which requests a
                    # client had in flight together (e.g. a HEAD beside a GetObjectTagging).
                    "alongside": {other: n for other, n in _in_flight.items() if n},
                }
            )
            _in_flight[op] += 1
            _max_in_flight[op] = max(_max_in_flight[op], _in_flight[op])
        try:
            if settings["delay"]:
                time.sleep(settings["delay"])
            fault = _take_fault(op, path)
            if fault is not None:
                return _faulted(environ, start_response, op, fault)
            if op in ("CreateMultipartUpload", "ListMultipartUploads"):
                return _rewritten(environ, start_response, op, None)
            return moto_app(environ, start_response)
        finally:
            with _lock:
                _in_flight[op] -= 1

    def _moto(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """moto's whole answer, so it can be changed or dropped."""
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            seen.update(status=status, headers=headers)

        body = b"".join(moto_app(environ, capture))
        return seen["status"], seen["headers"], body

    def _rewritten(
        environ: dict[str, Any], start_response: Callable[..., Any], op: str, damage: str | None
    ) -> Iterable[bytes]:
        status, headers, body = _moto(environ)
        if op == "CreateMultipartUpload" and (found := re.search(rb"<UploadId>(.*?)</UploadId>", body)):
            _initiated[found[1].decode()] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        elif op == "ListMultipartUploads":
            body = _with_initiated(body)
        elif damage is not None:
            body = _damage_listing(damage, body)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _faulted(
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        op: str,
        fault: tuple[int | str, bytes | float],
    ) -> Iterable[bytes]:
        what, detail = fault
        kind = what if isinstance(what, str) else f"{what}"
        with _lock:
            _injected[f"{op}:{kind}"] += 1
        if isinstance(what, int):
            assert isinstance(detail, bytes)
            start_response(f"{what} FAULT", [("Content-Type", "application/xml")])
            return [detail]
        if what in ("reset-before", "reset-after"):
            if what == "reset-after":
                _rewritten(environ, lambda *a: None, op, None)  # performed (and recorded), answer lost
            _drop_connection(environ)
            # werkzeug's write to the reset socket fails as a dropped connection, which it expects.
            start_response("500 RESET", [])
            return []
        if what == "slow":
            time.sleep(float(detail))
            return _rewritten(environ, start_response, op, None)
        if what in _LISTING_KINDS:
            return _rewritten(environ, start_response, op, what)
        if what == "corrupt":
            status, headers, body = _moto(environ)
            if body:
                middle = len(body) // 2
                body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]
            start_response(status, headers)
            return [body]
        raise ValueError(f"unknown fault kind {what!r}")

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request would drown the report
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument(
        "--indexed-listing",
        action="store_true",
        default=os.environ.get("S3XACCT_INDEXED_LISTING") == "1",
        help="answer object listings from a sorted key index (benchmarks at 100,000s of keys)",
    )
    args = parser.parse_args()
    if args.indexed_listing:
        indexed_listing.install()
    make_server(
        "127.0.0.1", args.port, build_app(args.delay), threaded=True, request_handler=_QuietHandler
    ).serve_forever()


if __name__ == "__main__":
    main()
