"""boto3 clients tuned for the engine: standard retries and a pool sized to the concurrency."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.errors import InvalidInputError, error_code
from airflow_provider_s3xacct.aws.locations import owner_args
from airflow_provider_s3xacct.transfer.crt import CrtCopyClient
from airflow_provider_s3xacct.transfer.timestamps import use_fast_timestamps

# botocore's "standard" retry mode retries SlowDown/503, 500s and (since botocore 1.35.45) S3's
# 200-with-<Error> bodies with jittered exponential backoff: the library does it, not us.
DEFAULT_MAX_ATTEMPTS = 8


def engine_config(concurrency: int, *, max_attempts: int | None = None, base: Config | None = None) -> Config:
    """A client Config whose connection pool matches the number of requests in flight.

    ``max_attempts`` defaults to ``AWS_MAX_ATTEMPTS`` when set (the SDKs' standard setting, which a
    Config given in code would otherwise silently override), else 8.
    """
    if max_attempts is None:
        max_attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS)
    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        # A multipart copy runs its parts beside the object copies, hence the head room.
        max_pool_connections=concurrency * 2 + 4,
        tcp_keepalive=True,
        # Every request's parameters come from a validated CopySpec, so botocore's own validation
        # only costs CPU, and so do optional request checksums (none of our requests carries a body
        # that needs one). The saving is small: docs/benchmarks.md could not separate it from noise.
        parameter_validation=False,
        request_checksum_calculation="when_required",
    )
    return base.merge(config) if base is not None else config


class RequestRateLimiter:
    """At most ``rate`` requests per second across all threads, evenly paced (no burst).

    Registered on the clients' ``before-send`` event, so every botocore request (listings, HEADs,
    part copies, deletes, and botocore's own retries) waits its turn; the engine calls
    :meth:`acquire` before each CRT copy (whose internal retries are not paced).
    """

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(self._next, now) + self._interval
        if wait > 0:
            time.sleep(wait)

    def __call__(self, **_: Any) -> None:
        self.acquire()  # a before-send handler that returns None lets the request go

    def attach(self, *clients: Any) -> None:
        for client in {id(c): c for c in clients}.values():
            client.meta.events.register("before-send.s3", self, unique_id="s3xacct-rate")

    def detach(self, *clients: Any) -> None:
        for client in {id(c): c for c in clients}.values():
            client.meta.events.unregister("before-send.s3", self, unique_id="s3xacct-rate")


def bucket_region(client: Any, bucket: str, expected_owner: str | None = None) -> str | None:
    """The region ``bucket`` is in, as S3 says: HeadBucket's ``x-amz-bucket-region`` header.

    S3 sends that header even on a 301 or 403 answer, so it works from any region and without
    read access; GetBucketLocation is the fallback. None when S3 does not say (no such bucket:
    the listing then reports it with a diagnosis).
    """
    owner = owner_args(expected_owner)
    try:
        response = client.head_bucket(Bucket=bucket, **owner)
    except ClientError as exc:
        response = exc.response
    region = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    if region:
        return str(region)
    try:
        constraint = client.get_bucket_location(Bucket=bucket, **owner).get("LocationConstraint")
    except ClientError:
        return None
    # GetBucketLocation's legacy answers: none for us-east-1, "EU" for eu-west-1.
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)


def resolve_key_arn(kms_client: Any, key_id: str, field: str) -> str | None:
    """The key ARN that ``key_id`` (key id, alias name or alias ARN) names, as KMS's DescribeKey says.

    KMS resolves it in the client's account and region, as it does for S3's SSEKMSKeyId. A key
    that does not exist there is bad input (raises :class:`InvalidInputError` naming ``field``); None
    when KMS does not say (DescribeKey not permitted, no answer): S3 then resolves it as it copies.
    """
    try:
        return str(kms_client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
    except ClientError as exc:
        if error_code(exc) == "NotFoundException":
            region = kms_client.meta.region_name
            raise InvalidInputError(
                field, f"{key_id!r} names no KMS key in {region} of the sync principal's account"
            ) from None
        return None
    except BotoCoreError:
        return None


@dataclass(frozen=True)
class TransferClients:
    """The sync principal's S3 clients: one in the source bucket's region, one in the destination's."""

    source: Any
    dest: Any
    # The boto3 session behind them, for the CRT fast path of small copies (None: botocore only).
    session: Any = None
    # Makes a KMS client in the destination bucket's region, where a destination key given as a
    # key id or alias name is resolved (None: not resolved before the copy, S3 resolves it).
    dest_kms: Callable[[], Any] | None = None

    @property
    def crt_available(self) -> bool:
        """Whether copies may go through the CRT: only with the session behind the clients."""
        return self.session is not None

    def crt_copier(self, bucket: str) -> CrtCopyClient | None:
        """A CRT client for CopyObject into ``bucket``, or None without a session (botocore only)."""
        if not self.crt_available:
            return None
        return CrtCopyClient(self.session, self.dest, bucket)

    @classmethod
    def for_relay(
        cls,
        source_session: Any,
        dest_session: Any,
        *,
        concurrency: int,
        source_region: str | None = None,
        dest_region: str | None = None,
        endpoint_url: str | None = None,
        source_endpoint_url: str | None = None,
        dest_endpoint_url: str | None = None,
        verify: bool | str | None = None,
        base_config: Config | None = None,
    ) -> TransferClients:
        """The relay's clients: the source principal's in the source region, the destination's in its own.

        ``source_endpoint_url``/``dest_endpoint_url`` (default ``endpoint_url``) are each side's:
        two Airflow connections may name different endpoints.

        No CRT (the relay sends no CopyObject). botocore checks a GetObject's checksum only when the
        relay asks for it (a small object's whole GET); ranged reads carry none, and the relay
        compares each whole object with the source's checksums itself (transfer/relay.py).
        """
        config = Config(response_checksum_validation="when_required")
        if base_config is not None:
            config = base_config.merge(config)
        source, dest = (
            cls.from_session(
                session,
                concurrency=concurrency,
                source_region=region,
                dest_region=region,
                endpoint_url=url or endpoint_url,
                verify=verify,
                base_config=config,
            )
            for session, region, url in (
                (source_session, source_region, source_endpoint_url),
                (dest_session, dest_region, dest_endpoint_url),
            )
        )
        # The destination key is resolved as the destination principal (its account's KMS).
        return cls(source=source.source, dest=dest.dest, session=None, dest_kms=dest.dest_kms)

    @classmethod
    def from_session(
        cls,
        session: Any,
        *,
        concurrency: int,
        source_region: str | None = None,
        dest_region: str | None = None,
        endpoint_url: str | None = None,
        verify: bool | str | None = None,
        base_config: Config | None = None,
    ) -> TransferClients:
        use_fast_timestamps(session)  # listings: a LastModified per key (timestamps.py)
        config = engine_config(concurrency, base=base_config)
        kwargs: dict[str, Any] = {"config": config, "endpoint_url": endpoint_url}
        if verify is not None:
            kwargs["verify"] = verify
        # A custom CA bundle or verification off is botocore's to honour: no CRT then.
        crt_session = session if verify in (None, True) else None
        dest = session.client("s3", region_name=dest_region, **kwargs)
        verify_kwargs = {"verify": verify} if verify is not None else {}

        def dest_kms() -> Any:
            return session.client("kms", region_name=dest_region, **verify_kwargs)

        if source_region == dest_region:
            return cls(source=dest, dest=dest, session=crt_session, dest_kms=dest_kms)
        source = session.client("s3", region_name=source_region, **kwargs)
        return cls(source=source, dest=dest, session=crt_session, dest_kms=dest_kms)
