"""Client CPU per listed key: botocore's pages (dateutil or fast timestamps) against cheap pages.

A canned-response server in another process answers ListObjectsV2 with pages of 1,000 keys (S3's
format, continuation tokens), so this process's own CPU (getrusage) divided by the keys listed is
the client's cost of a listing alone, the work a no-op sync repeats every night.
"botocore" rows list the way s3xacct did before transfer/pages.py (botocore's paginator, a
dictionary per key, S3's second parse of every 200 body); "cheap pages" rows are ``list_objects``
today, sequential and with 16 ranges in flight.
Run as ``python -m benchmarks.listing_cpu [--keys 100000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3

from airflow_provider_s3xacct.aws.locations import S3Location
from airflow_provider_s3xacct.transfer.clients import engine_config
from airflow_provider_s3xacct.transfer.listing import ListedObject, list_objects
from airflow_provider_s3xacct.transfer.timestamps import use_fast_timestamps
from demo.stack import free_port

# The server: stdlib only. Keys are data/000000000 ..; a page holds 1,000 keys from the first
# after StartAfter (keys parsed back to numbers), or from the continuation token (a key number).
_SERVER = """
import sys
import time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlsplit, parse_qs
TOTAL = int(sys.argv[2])
DELAY = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
def page(first):
    last = min(TOTAL, first + 1000)
    more = last < TOTAL
    rows = "".join(
        f"<Contents><Key>data/{i:09d}</Key><LastModified>2026-11-28T00:41:03.{i % 1000:03d}Z</LastModified>"
        f"<ETag>&quot;5ebe2294ecd0e0f08eab7690d2a6ee69&quot;</ETag><Size>{i}</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>" for i in range(first, last))
    token = f"<NextContinuationToken>{last}</NextContinuationToken>" if more else ""
    return ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>b</Name><Prefix>data/</Prefix><KeyCount>{max(0, last - first)}</KeyCount><MaxKeys>1000</MaxKeys>"
            f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>{token}{rows}</ListBucketResult>").encode()
def first_after(key):
    digits = "".join(c for c in key[5:14] if c.isdigit()).ljust(9, "0")
    number = int(digits)
    return number + 1 if key[5:] >= f"{number:09d}" else number
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        query = parse_qs(urlsplit(self.path).query)
        if "continuation-token" in query:
            first = int(query["continuation-token"][0])
        elif "start-after" in query:
            first = first_after(query["start-after"][0])
        else:
            first = 0
        body = page(first)
        if DELAY:
            time.sleep(DELAY)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _botocore_listing(client: Any, location: S3Location) -> Iterator[ListedObject]:
    """The listing before cheap pages: botocore's paginator and its dictionaries."""
    cut = len(location.prefix)
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.prefix
    ):
        for entry in page.get("Contents", ()):
            yield ListedObject(
                entry["Key"][cut:], entry["Size"], entry["LastModified"], entry["ETag"], entry["StorageClass"]
            )


def _round(kind: str, endpoint: str, keys: int) -> float:
    """Microseconds of client CPU per listed key, with a fresh session and client."""
    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1")
    if kind != "botocore (dateutil)":
        use_fast_timestamps(session)
    client = session.client("s3", endpoint_url=endpoint, config=engine_config(16))
    location = S3Location("b", "data/")
    cpu = _cpu()
    if kind.startswith("botocore"):
        listed = sum(1 for _ in _botocore_listing(client, location))
    else:
        listed = sum(1 for _ in list_objects(client, location, concurrency=16 if "16" in kind else 1))
    assert listed == keys, listed
    return 1e6 * (_cpu() - cpu) / keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port), str(args.keys)])
    endpoint = f"http://127.0.0.1:{port}"
    try:
        time.sleep(1)
        kinds = ("botocore (dateutil)", "botocore, fast timestamps", "cheap pages", "cheap pages, 16 ranges")
        for kind in kinds:
            _round(kind, endpoint, args.keys)  # warm: imports, connections
        runs: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.rounds):  # alternate, so drift in the machine hits all alike
            for kind in kinds:
                runs[kind].append(_round(kind, endpoint, args.keys))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"ListObjectsV2 of {args.keys} keys, {args.rounds} rounds (medians)")
    print("| parser | client CPU µs / listed key |\n|---|---|")
    for name, values in runs.items():
        print(f"| {name} | {statistics.median(values):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
