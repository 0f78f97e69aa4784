"""Client CPU per CopyObject: botocore against the AWS CRT path of transfer/crt.py.

The moto server paces every tool in ``benchmarks.run`` (it saturates one core), so this measures
the client alone: a canned-response HTTP server in another process answers every PUT at once
with a CopyObject result, and this process's own CPU (getrusage) is divided by the requests sent.
Run as ``python -m benchmarks.client_cpu [--requests 2000] [--rounds 3] [--in-flight 32]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import boto3

from airflow_provider_s3xacct.transfer.clients import engine_config
from airflow_provider_s3xacct.transfer.crt import CrtCopyClient
from airflow_provider_s3xacct.transfer.listing import ListedObject
from demo.stack import free_port

# The server: stdlib only, so it starts in a blink; it answers every PUT with a copy result.
_SERVER = """
import sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
BODY = b'<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult><ETag>"e"</ETag></CopyObjectResult>'
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _params(i: int) -> dict[str, object]:
    return {
        "Bucket": "dst",
        "Key": f"data/{i:07}",
        "CopySource": {"Bucket": "src", "Key": f"data/{i:07}"},
        "MetadataDirective": "COPY",
        "TaggingDirective": "COPY",
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "arn:aws:kms:us-east-1:222222222222:key/00000000-0000-0000-0000-000000000000",
    }


def botocore_round(client: object, requests: int, in_flight: int) -> None:
    def copy(i: int) -> None:
        client.copy_object(**_params(i))  # type: ignore[attr-defined]

    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(copy, range(requests)))


def crt_round(crt: CrtCopyClient, requests: int, in_flight: int) -> None:
    slots = threading.Semaphore(in_flight)
    futures = []
    for i in range(requests):
        slots.acquire()
        future = crt.copy(ListedObject(f"{i:07}", 1024, None, ""), _params(i))  # type: ignore[arg-type]
        future.add_done_callback(lambda _: slots.release())
        futures.append(future)
    for future in futures:
        future.result()


def measure(run: Callable[[], None], requests: int) -> tuple[float, float]:
    cpu, start = _cpu(), time.perf_counter()
    run()
    return 1000 * (_cpu() - cpu) / requests, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=32)
    args = parser.parse_args(argv)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)])
    try:
        time.sleep(1)
        session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1")
        client = session.client(
            "s3", endpoint_url=f"http://127.0.0.1:{port}", config=engine_config(args.in_flight)
        )
        crt = CrtCopyClient(session, client, "dst")
        runs: dict[str, list[tuple[float, float]]] = {"botocore": [], "crt": []}
        botocore_round(client, 50, args.in_flight)  # warm both: connections, caches
        crt_round(crt, 50, args.in_flight)
        for _ in range(args.rounds):  # alternate, so drift in the machine hits both alike
            runs["botocore"].append(
                measure(lambda: botocore_round(client, args.requests, args.in_flight), args.requests)
            )
            runs["crt"].append(measure(lambda: crt_round(crt, args.requests, args.in_flight), args.requests))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{args.requests} CopyObject requests, {args.in_flight} in flight, {args.rounds} rounds (medians)")
    print("| client | CPU ms / request | wall s |\n|---|---|---|")
    for name, results in runs.items():
        cpu = statistics.median(r[0] for r in results)
        wall = statistics.median(r[1] for r in results)
        print(f"| {name} | {cpu:.2f} | {wall:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
