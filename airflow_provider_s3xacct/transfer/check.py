"""``check``: do two prefixes hold the same objects? Each verdict says what it rests on.

The question auditors and downstream owners ask after a nightly copy ("is the destination
complete and identical?"), answered from what S3 can prove, never assumed:

- a key on one side only is ``missing`` (source only) or ``extra`` (destination only);
- a size difference, a differing full-object checksum, differing MD5 ETags, or (on request)
  differing metadata or tags make a pair ``differs``;
- equal ETags, an equal full-object checksum (CRC64NVME, CRC32, CRC32C, SHA1, SHA256), or bytes
  read and compared (``sample``) make it ``identical``;
- an equal size with nothing comparable left (an SSE-KMS or multipart ETag is not an MD5 of the
  bytes, and no common full-object checksum) is ``unverified``: not claimed identical.

Both listings are walked together in key order (``planner.merged``), so memory stays flat in the
number of keys; HEADs (only for pairs whose ETags differ, or for ``metadata``) run ``concurrency``
at a time, in order; a ``sample`` keeps N pairs by reservoir sampling and reads them at the end.
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_s3xacct.aws.errors import InvalidInputError, code_and_message
from airflow_provider_s3xacct.aws.locations import S3Location, owner_args
from airflow_provider_s3xacct.diagnosis.explain import Diagnoser, Diagnosis, TransferContext
from airflow_provider_s3xacct.transfer.listing import ListedObject, list_objects
from airflow_provider_s3xacct.transfer.planner import merged
from airflow_provider_s3xacct.transfer.report import ObjectLog

MAX_LISTED_DIFFERENCES = 100
# Full-object checksums S3 can return on HEAD (ChecksumMode=ENABLED), strongest first.
_CHECKSUMS = ("ChecksumSHA256", "ChecksumSHA1", "ChecksumCRC64NVME", "ChecksumCRC32C", "ChecksumCRC32")
# Headers a copy carries over; ``metadata=True`` compares them and the user metadata.
_METADATA_FIELDS = ("ContentType", "ContentEncoding", "ContentLanguage", "ContentDisposition", "CacheControl")
_READ_CHUNK = 1024 * 1024

T = TypeVar("T")
R = TypeVar("R")


class Verdict(enum.StrEnum):
    IDENTICAL = "identical"
    MISSING = "missing"
    EXTRA = "extra"
    DIFFERS = "differs"
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class CheckOptions:
    """What to compare beyond presence and size.

    :param metadata: also compare content headers and user metadata (one HEAD per side and key).
    :param tags: also compare object tags (one GetObjectTagging per side and key).
    :param size_only: accept an equal size as identical, as rclone's ``--size-only`` does.
    :param sample: read this many pairs (chosen at random among those not found different) from
        both sides and compare their bytes.
    :param concurrency: HEAD/GET requests in flight.
    """

    metadata: bool = False
    tags: bool = False
    size_only: bool = False
    sample: int = 0
    concurrency: int = 16
    seed: int | None = None

    def __post_init__(self) -> None:
        """Bad values are refused here, before any request, for the CLI and the operator alike."""
        for name in ("metadata", "tags", "size_only"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(name, f"{getattr(self, name)!r} is not true or false")
        if isinstance(self.sample, bool) or not isinstance(self.sample, int) or self.sample < 0:
            raise InvalidInputError("sample", f"{self.sample!r} must be a whole number, 0 or more")
        if (
            isinstance(self.concurrency, bool)
            or not isinstance(self.concurrency, int)
            or not 1 <= self.concurrency <= 256
        ):
            raise InvalidInputError(
                "concurrency", f"{self.concurrency!r} must be a whole number from 1 to 256"
            )


class CheckFailedError(RuntimeError):
    """A side could not be listed or read, so nothing can be said. ``permanent``: a retry cannot help."""

    def __init__(self, message: str, diagnosis: Diagnosis | None) -> None:
        self.diagnosis = diagnosis
        # No diagnosis means no answer from AWS (a network error): worth another try.
        self.permanent = diagnosis.permanent if diagnosis is not None else False
        super().__init__(f"check failed: {message}" + (f". {diagnosis}" if diagnosis else ""))


@dataclass
class CheckReport:
    """Totals of one check; ``differences`` keeps the first 100 keys that are not identical."""

    source: str
    destination: str
    counts: Counter[str] = field(default_factory=Counter)
    differences: list[dict[str, str]] = field(default_factory=list)
    sampled: int = 0
    report_uri: str | None = None

    def record(self, key: str, verdict: Verdict, reason: str) -> None:
        self.counts[verdict.value] += 1
        if verdict is not Verdict.IDENTICAL and len(self.differences) < MAX_LISTED_DIFFERENCES:
            self.differences.append({"key": key, "verdict": verdict.value, "reason": reason})

    def revise(self, key: str, old: Verdict, new: Verdict, reason: str) -> None:
        """A sampled pair's verdict after its bytes were read."""
        self.counts[old.value] -= 1
        self.differences = [d for d in self.differences if d["key"] != key]
        self.record(key, new, reason)

    @property
    def different(self) -> int:
        return sum(self.counts[v] for v in (Verdict.MISSING, Verdict.EXTRA, Verdict.DIFFERS))

    @property
    def identical(self) -> bool:
        """True only when every key is on both sides and proven identical."""
        return self.different == 0 and self.counts[Verdict.UNVERIFIED] == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "identical": self.identical,
            "counts": {verdict.value: self.counts[verdict.value] for verdict in Verdict},
            "sampled": self.sampled,
            "differences": self.differences,
            "report_uri": self.report_uri,
        }

    def summary_line(self) -> str:
        counts = ", ".join(f"{self.counts[v.value]} {v.value}" for v in Verdict)
        sampled = f" ({self.sampled} read and compared)" if self.sampled else ""
        return f"check {self.source} -> {self.destination}: {counts}{sampled}"


def _bounded_map(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    """``fn`` over ``items`` on ``pool``, results in order, at most ``window`` in flight.

    ``Executor.map`` submits the whole iterable at once (memory grows with the bucket); this keeps
    a fixed window, so a million-key check holds ``window`` pending results.
    """
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class Checker:
    """Compares ``source`` with ``destination`` through the given S3 clients (one per side)."""

    def __init__(
        self,
        source_client: Any,
        dest_client: Any,
        source: S3Location,
        destination: S3Location,
        options: CheckOptions | None = None,
        *,
        source_owner: str | None = None,
        dest_owner: str | None = None,
    ) -> None:
        self.sides = {
            "source": (source_client, source, owner_args(source_owner)),
            "destination": (dest_client, destination, owner_args(dest_owner)),
        }
        self.options = options or CheckOptions()
        self._random = random.Random(self.options.seed)

    def run(self, report_target: str | None = None) -> CheckReport:
        """Compare the two sides; raises ``CheckFailedError`` when a side cannot be listed or read."""
        try:
            return self._run(report_target)
        except ClientError as exc:
            source, destination = self.sides["source"][1], self.sides["destination"][1]
            context = TransferContext(source.bucket, destination.bucket)
            diagnosis = Diagnoser(context).explain_client_error(
                exc.operation_name or "ListObjectsV2", "", exc
            )
            raise CheckFailedError(code_and_message(exc), diagnosis) from exc
        except BotoCoreError as exc:
            raise CheckFailedError(f"no answer from S3 ({exc})", None) from exc

    def _run(self, report_target: str | None) -> CheckReport:
        src_client, source, src_owner = self.sides["source"]
        dst_client, destination, dst_owner = self.sides["destination"]
        report = CheckReport(source=source.uri, destination=destination.uri)
        log = ObjectLog(report_target)
        reservoir: list[tuple[str, Verdict]] = []
        seen_for_sample = 0
        pairs = merged(
            list_objects(src_client, source, expected_owner=src_owner.get("ExpectedBucketOwner")),
            list_objects(dst_client, destination, expected_owner=dst_owner.get("ExpectedBucketOwner")),
        )
        try:
            with ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="s3xacct-check") as pool:
                for key, size, verdict, reason in _bounded_map(
                    pool, self._judge, pairs, self.options.concurrency * 2
                ):
                    report.record(key, verdict, reason)
                    log.write(
                        key,
                        size,
                        "check",
                        verdict.value,
                        reason if verdict is not Verdict.IDENTICAL else None,
                    )
                    if self.options.sample and verdict in (Verdict.IDENTICAL, Verdict.UNVERIFIED):
                        seen_for_sample += 1
                        self._keep(reservoir, (key, verdict), seen_for_sample)
                for key, verdict, same in _bounded_map(
                    pool, self._read_both, reservoir, self.options.concurrency
                ):
                    report.sampled += 1
                    new = Verdict.IDENTICAL if same else Verdict.DIFFERS
                    reason = "bytes read and compared" + ("" if same else ": they differ")
                    report.revise(key, verdict, new, reason)
                    log.write(key, None, "sample", new.value, None if same else reason)
        finally:
            report.report_uri = log.close(dst_client)
        return report

    def _keep(self, reservoir: list[tuple[str, Verdict]], item: tuple[str, Verdict], seen: int) -> None:
        """Reservoir sampling (Algorithm R): every eligible pair is kept with equal probability."""
        if len(reservoir) < self.options.sample:
            reservoir.append(item)
            return
        slot = self._random.randrange(seen)
        if slot < self.options.sample:
            reservoir[slot] = item

    def _judge(
        self, pair: tuple[ListedObject | None, ListedObject | None]
    ) -> tuple[str, int | None, Verdict, str]:
        src, dst = pair
        if dst is None:
            assert src is not None
            return src.key, src.size, Verdict.MISSING, "not in the destination"
        if src is None:
            return dst.key, dst.size, Verdict.EXTRA, "not in the source"
        verdict, reason = self._compare(src, dst)
        return src.key, src.size, verdict, reason

    def _compare(self, src: ListedObject, dst: ListedObject) -> tuple[Verdict, str]:
        if src.size != dst.size:
            return Verdict.DIFFERS, f"size {src.size} in the source, {dst.size} in the destination"
        same_etag = src.etag == dst.etag
        heads = None
        if self.options.metadata or not (same_etag or self.options.size_only):
            heads = (self._head("source", src.key), self._head("destination", dst.key))
        if self.options.metadata:
            assert heads is not None
            changed = _metadata_difference(*heads)
            if changed:
                return Verdict.DIFFERS, changed
        if self.options.tags and self._tags("source", src.key) != self._tags("destination", dst.key):
            return Verdict.DIFFERS, "tags differ"
        if same_etag:
            return Verdict.IDENTICAL, "same size and ETag"
        if self.options.size_only:
            return Verdict.IDENTICAL, "same size (size only)"
        assert heads is not None
        return _content_verdict(src, dst, *heads)

    def _head(self, side: str, key: str) -> dict[str, Any]:
        client, location, owner = self.sides[side]
        return dict(
            client.head_object(
                Bucket=location.bucket, Key=location.prefix + key, ChecksumMode="ENABLED", **owner
            )
        )

    def _tags(self, side: str, key: str) -> dict[str, str]:
        client, location, owner = self.sides[side]
        tags = client.get_object_tagging(Bucket=location.bucket, Key=location.prefix + key, **owner)["TagSet"]
        return {t["Key"]: t["Value"] for t in tags}

    def _read_both(self, item: tuple[str, Verdict]) -> tuple[str, Verdict, bool]:
        key, verdict = item
        return key, verdict, self._digest("source", key) == self._digest("destination", key)

    def _digest(self, side: str, key: str) -> bytes:
        """SHA-256 of the object's bytes, read in 1 MiB chunks (memory bounded whatever the size)."""
        client, location, owner = self.sides[side]
        body = client.get_object(Bucket=location.bucket, Key=location.prefix + key, **owner)["Body"]
        digest = hashlib.sha256()
        try:
            for chunk in iter(lambda: body.read(_READ_CHUNK), b""):
                digest.update(chunk)
        finally:
            body.close()
        return digest.digest()


def _metadata_difference(src: dict[str, Any], dst: dict[str, Any]) -> str | None:
    for name in _METADATA_FIELDS:
        if src.get(name) != dst.get(name):
            return f"{name} {src.get(name)!r} in the source, {dst.get(name)!r} in the destination"
    if src.get("Metadata", {}) != dst.get("Metadata", {}):
        return f"user metadata {src.get('Metadata', {})!r} in the source, {dst.get('Metadata', {})!r} in the destination"
    return None


def _full_object_checksums(head: dict[str, Any]) -> dict[str, str]:
    """Checksums of the whole object (a composite multipart checksum ends in ``-N`` and is not one)."""
    if head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return {}
    return {name: head[name] for name in _CHECKSUMS if name in head and "-" not in str(head[name])}


def _is_md5_etag(etag: str, head: dict[str, Any]) -> bool:
    """S3's ETag is the MD5 of the bytes only for single-part objects without SSE-KMS or SSE-C."""
    return (
        "-" not in etag
        and head.get("ServerSideEncryption") in (None, "AES256")
        and not head.get("SSECustomerAlgorithm")
    )


def _content_verdict(
    src: ListedObject, dst: ListedObject, src_head: dict[str, Any], dst_head: dict[str, Any]
) -> tuple[Verdict, str]:
    src_sums, dst_sums = _full_object_checksums(src_head), _full_object_checksums(dst_head)
    for name in _CHECKSUMS:
        if name in src_sums and name in dst_sums:
            algorithm = name.removeprefix("Checksum")
            if src_sums[name] == dst_sums[name]:
                return Verdict.IDENTICAL, f"same size and {algorithm} checksum"
            return Verdict.DIFFERS, f"{algorithm} checksum differs"
    if _is_md5_etag(src.etag, src_head) and _is_md5_etag(dst.etag, dst_head):
        return (
            Verdict.DIFFERS,
            f"content differs (MD5 ETag {src.etag} in the source, {dst.etag} in the destination)",
        )
    return (
        Verdict.UNVERIFIED,
        "same size; the ETags are not MD5s of the bytes (SSE-KMS or multipart) and there is no common "
        "full-object checksum: read the bytes with --sample, or copy with a checksum algorithm",
    )
