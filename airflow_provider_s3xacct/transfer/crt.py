"""CopyObject through the AWS Common Runtime's S3 client: the fast path for small objects.

Why not botocore for these: botocore spends 2.5-4 ms of Python CPU on every request (serialise,
sign, send, parse; docs/benchmarks.md), which on a few cores caps a copy of many small objects.
The CRT (``awscrt``, AWS's C library behind the aws CLI v2 and s3transfer's fast path) signs,
sends, pools connections and retries throttling and 5xx in C: about 0.4 ms of CPU per copy.

What stays with botocore, so nothing is written by hand that a library does: the request is
serialised from the same CopyObject parameters by botocore's own serializer, the endpoint (host,
path or virtual-host style) comes from a botocore presigned URL, credentials come from the boto3
session (refreshing assumed-role credentials included), and an error response is parsed by
botocore's parser into the usual ``ClientError``, so diagnosis sees one shape whichever client
sent the request. Multipart copies, listings, HEADs and deletes stay on botocore.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any
from urllib.parse import urlsplit

from awscrt import auth, http, io, s3
from botocore.exceptions import ClientError, HTTPClientError
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.utils import percent_encode

from airflow_provider_s3xacct.transfer.listing import ListedObject
from airflow_provider_s3xacct.transfer.outcomes import CopyFailedError, CopyOutcome

# What the CRT reports, without a response, when its own retries of these errors ran out: the
# error S3 sent each time, as botocore would have raised it.
_EXHAUSTED = {
    "AWS_ERROR_S3_SLOW_DOWN": (503, "SlowDown", "Please reduce your request rate."),
    "AWS_ERROR_S3_INTERNAL_ERROR": (
        500,
        "InternalError",
        "We encountered an internal error. Please try again.",
    ),
}

# S3's own gigabits target sizes the CRT's connection pool; it is only an upper bound here, the
# engine keeps at most `concurrency` copies in flight.
_THROUGHPUT_TARGET_GBPS = 20.0


class CrtCopyClient:
    """Sends CopyObject requests for one destination bucket through ``awscrt.s3.S3Client``."""

    def __init__(self, session: Any, dest_client: Any, bucket: str) -> None:
        operation = dest_client.meta.service_model.operation_model("CopyObject")
        self._operation = operation
        self._serializer = create_serializer("rest-xml", include_validation=False)
        self._parser = create_parser("rest-xml")
        region = dest_client.meta.region_name or "us-east-1"
        # Where botocore would send a CopyObject for this bucket (its endpoint rules: region,
        # FIPS, path or virtual-host style, custom endpoint), read once from a presigned URL.
        url = urlsplit(
            dest_client.generate_presigned_url(
                "copy_object", Params={"Bucket": bucket, "Key": "k", "CopySource": f"{bucket}/k"}
            )
        )
        self.endpoint = f"{url.scheme}://{url.netloc}"
        self._host = url.netloc
        # Path style puts "/<bucket>" before the key (botocore's serializer leaves the bucket to
        # the endpoint rules); virtual-host style has the bucket in the host already.
        self._path_prefix = url.path[: -len("/k")]
        credentials = session.get_credentials()
        if credentials is None:
            raise ValueError("no AWS credentials for the CRT client")

        def current() -> Any:
            frozen = credentials.get_frozen_credentials()  # botocore refreshes them when due
            return auth.AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

        elg = io.EventLoopGroup()
        bootstrap = io.ClientBootstrap(elg, io.DefaultHostResolver(elg))
        tls = s3.S3RequestTlsMode.ENABLED if url.scheme == "https" else s3.S3RequestTlsMode.DISABLED
        self._client = s3.S3Client(
            bootstrap=bootstrap,
            region=region,
            tls_mode=tls,
            credential_provider=auth.AwsCredentialsProvider.new_delegate(current),
            throughput_target_gbps=_THROUGHPUT_TARGET_GBPS,
        )

    def _request(self, params: dict[str, Any]) -> Any:
        source = params["CopySource"]
        copy_source = percent_encode(f"{source['Bucket']}/{source['Key']}", safe="-._~/")
        if source.get("VersionId"):  # as botocore's handle_copy_source_param writes it
            copy_source += f"?versionId={source['VersionId']}"
        params = {**params, "CopySource": copy_source}
        serialized = self._serializer.serialize_to_request(params, self._operation)
        path = self._path_prefix + serialized["url_path"]
        headers = [("Host", self._host), ("Content-Length", "0")]
        headers += [(k, str(v)) for k, v in serialized["headers"].items()]
        return http.HttpRequest("PUT", path, http.HttpHeaders(headers))

    def copy(self, obj: ListedObject, params: dict[str, Any]) -> Future[CopyOutcome]:
        """Start one CopyObject; the future holds the outcome or raises ``CopyFailedError`` (any failure)."""
        future: Future[CopyOutcome] = Future()
        future.set_running_or_notify_cancel()

        def on_done(
            error: BaseException | None = None,
            status_code: int | None = None,
            error_headers: list[tuple[str, str]] | None = None,
            error_body: bytes | None = None,
            **_: Any,
        ) -> None:
            if error is None:
                future.set_result(CopyOutcome(obj.key, obj.size, multipart=False))
            elif status_code:
                future.set_exception(self._client_error(status_code, error_headers or [], error_body or b""))
            elif (exhausted := _EXHAUSTED.get(str(getattr(error, "name", "")))) is not None:
                status, code, message = exhausted
                response: Any = {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                }
                future.set_exception(CopyFailedError("CopyObject", ClientError(response, "CopyObject")))
            else:  # no HTTP response at all: connection, DNS or TLS trouble (retried by the CRT already)
                future.set_exception(CopyFailedError("CopyObject", HTTPClientError(error=error)))

        self._client.make_request(
            type=s3.S3RequestType.DEFAULT,
            operation_name="CopyObject",  # also makes the CRT check a 200 response for an <Error>
            request=self._request(params),
            on_done=on_done,
        )
        return future

    def _client_error(self, status: int, headers: list[tuple[str, str]], body: bytes) -> CopyFailedError:
        # A 200 whose body is an <Error> (S3 may answer a copy so) parses as the error it is.
        code = status if status >= 300 else 500
        parsed = self._parser.parse(
            {"status_code": code, "headers": dict(headers), "body": body}, self._operation.output_shape
        )
        error = ClientError(parsed, "CopyObject")
        return CopyFailedError("CopyObject", error)
