"""The relay transport: copy through this process when no one principal may read and write.

Server-side copy (CopyObject/UploadPartCopy) needs one principal allowed to read the source and
write the destination. When the source account will only hand out its own role and the
destination will not let that role write, the bytes have to pass through the worker: GetObject
signed by the source principal, PutObject or a multipart upload signed by the destination
principal (README, "Relay copy (two principals)").

Memory is bounded for the whole run, not per object: every part (or whole small object) reserves
its size from one budget of ``spec.relay_buffers x spec.relay_part_size`` bytes before it is read
and returns it once written, so the object data in memory never exceeds the budget whatever the
object count and sizes (a 64 KiB object reserves 64 KiB, so small objects still run at the
engine's full concurrency). A part's reservation is made by the thread that schedules the parts,
in part order, before the part is queued: a part waiting for its predecessor never holds bytes
the predecessor needs. Without multipart (``spec.multipart`` false: the transfer grants no
multipart request) an object is one PutObject and one reservation of its whole size, so an object
larger than the budget (or than PutObject's 5 GiB) cannot be relayed and fails
(``RelayCopier.single_limit``).

Integrity: each part's checksum is computed as it is read and sent with UploadPart/PutObject, so S3
verifies what it stores; the whole object's checksum (combined from the parts' CRCs, or hashed in
order for MD5/SHA) is compared with the source's before the object is completed, so a corrupted
byte fails the object and nothing of it becomes visible in the destination.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from awscrt import checksums
from botocore.exceptions import ClientError, FlexibleChecksumError

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import owner_args
from airflow_provider_s3xacct.transfer.copier import _CHECKSUM_FIELDS, ObjectCopier, Route, Transport, back_up
from airflow_provider_s3xacct.transfer.listing import ListedObject
from airflow_provider_s3xacct.transfer.outcomes import (
    CopyFailedError,
    CopyInterruptedError,
    CopyOutcome,
    multipart_refused,
    s3_call,
)
from airflow_provider_s3xacct.transfer.spec import PUT_OBJECT_LIMIT

# CRC algorithms: (function(data, previous) -> int, combine(crc1, crc2, len2) -> int, bytes).
_CRCS: dict[str, tuple[Callable[[Any, int], int], Callable[[int, int, int], int], int]] = {
    "CRC32": (lambda data, crc: zlib.crc32(data, crc), checksums.combine_crc32, 4),
    "CRC32C": (checksums.crc32c, checksums.combine_crc32c, 4),
    "CRC64NVME": (checksums.crc64nvme, checksums.combine_crc64nvme, 8),
}
_HASHES = {"SHA1": "sha1", "SHA256": "sha256", "MD5": "md5"}
# Encryptions whose ETag is not the MD5 of the object (S3 API reference, "Common Response Headers").
_ETAG_NOT_MD5 = frozenset({"aws:kms", "aws:kms:dsse"})
_READ_CHUNK = 1024 * 1024
_SLOT_POLL_SECONDS = 0.5


def choose_transport(requested: str, *, two_principals: bool, single_principal: bool) -> Transport:
    """The transport a run uses: the one asked for, or for ``auto`` the rule below.

    ``auto`` picks the relay only when the caller gave two distinct principals (one for each side)
    and configured no single principal; any other ``auto`` is a server-side copy with the CRT. A
    server-side copy is never chosen with two principals: it can only be signed by one of them.
    """
    if requested == "auto":
        return "relay" if two_principals and not single_principal else "crt"
    if requested not in ("crt", "botocore", "relay"):
        raise ValueError(f"unknown transport {requested!r}")
    return requested  # type: ignore[return-value]


@dataclass(frozen=True)
class PrincipalArgs:
    """How a caller spells the principal settings, so a refusal names the caller's own argument.

    The CLI passes its flags (``--source-profile/--source-role-arn``, ``--transport``), the
    Airflow operator its arguments (``source_aws_conn_id``, ``transport``).
    """

    source: str
    dest: str
    single: str
    transport: str
    # How a message shows a transport value: ``--transport relay`` or ``transport="relay"``.
    transport_value: Callable[[str], str]


def transport_for_principals(
    requested: str,
    *,
    source: object | None,
    dest: object | None,
    single: str | None,
    names: PrincipalArgs,
) -> Transport:
    """The transport of a run given its principals, or :class:`InvalidInputError` for a bad combination.

    ``source``/``dest`` are the principals given for one side each (None: not given; equal values
    are one principal), ``single`` the name of the caller's argument that set the one principal of
    a server-side copy when it was given explicitly (None otherwise). One rule for the CLI and the
    Airflow operator; the transport itself is :func:`choose_transport`'s.
    """
    given = names.source if source is not None else names.dest
    if (source is not None or dest is not None) and requested in ("crt", "botocore"):
        raise InvalidInputError(
            given,
            f"a server-side copy ({names.transport_value(requested)}) is signed by one principal; "
            f"use {names.transport_value('relay')} to read and write as two, or drop {given}",
        )
    if source is not None and dest is not None and single:
        raise InvalidInputError(single, "is unused when both sides have their own principal; drop it")
    if requested == "auto" and (source is None) != (dest is None):
        raise InvalidInputError(
            given,
            f"auto picks the relay only with both {names.source} and {names.dest} and no "
            f"{names.single}; give both sides, or {names.transport_value('relay')} to use "
            f"{names.single} for the other side",
        )
    # Both sides naming the same principal is one principal: auto copies server side with it.
    two = source is not None and dest is not None and source != dest
    try:
        return choose_transport(requested, two_principals=two, single_principal=bool(single))
    except ValueError:
        raise InvalidInputError(
            names.transport, f"{requested!r} is not one of auto, crt, botocore, relay"
        ) from None


def check_transfer_topology(
    transfer_is_relay: bool, *, relay: bool, source_given: bool, dest_given: bool, names: PrincipalArgs
) -> None:
    """A run signs its requests as the principals its transfer spec names (those ``verify`` checked).

    ``transfer_is_relay``: the spec names ``source_principal_arn``/``dest_principal_arn``, so each
    side needs its own principal; ``relay``: the run reads and writes as two principals;
    ``source_given``/``dest_given``: the caller set that side's principal. Raises
    :class:`InvalidInputError` naming the argument to change.
    """
    if transfer_is_relay and not (relay and source_given and dest_given):
        raise InvalidInputError(
            names.dest if source_given else names.source,
            f"the transfer is a relay copy (source_principal_arn, dest_principal_arn): give {names.source} "
            f"and {names.dest}, the principals that read and write",
        )
    if relay and not transfer_is_relay:
        raise InvalidInputError(
            names.source if source_given else names.dest if dest_given else names.transport,
            f"the transfer is a server-side copy (principal_arn), signed by {names.single} alone: drop the "
            "relay settings, or make the transfer a relay copy (source_principal_arn, dest_principal_arn)",
        )


def _b64(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


@dataclass
class _Checks:
    """What to compute while streaming one object, and what the source says it must come to.

    ``algorithm`` is the checksum the destination is written with (and S3 verifies per part);
    ``expected`` maps an algorithm (``MD5`` for a plain ETag) to the source's full-object value.
    """

    algorithm: str
    full_object: bool
    expected: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_source(cls, head: dict[str, Any], wanted: str | None) -> _Checks:
        source = [name for name, fld in _CHECKSUM_FIELDS.items() if head.get(fld)]
        algorithm = wanted or (source[0] if source else "CRC32")
        expected: dict[str, str] = {}
        for name in source:
            value = str(head[_CHECKSUM_FIELDS[name]])
            # A composite checksum (of the parts, "...-N") depends on the source's part layout.
            if head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT" and "-" not in value:
                expected[name] = value
        etag = str(head.get("ETag", "")).strip('"')
        plain = head.get("ServerSideEncryption") not in _ETAG_NOT_MD5 and not head.get("SSECustomerAlgorithm")
        if etag and "-" not in etag and plain:
            expected["MD5"] = etag  # a single-part object's ETag is the MD5 of its bytes
        return cls(algorithm, full_object=algorithm in _CRCS, expected=expected)

    @property
    def ordered(self) -> list[str]:
        """The hashes that cannot be combined from parts: fed the object's bytes in order."""
        return [name for name in self.expected if name in _HASHES]

    @property
    def crcs(self) -> list[str]:
        """The CRCs computed per part and combined: the destination's and the comparable source's."""
        return list(dict.fromkeys([a for a in (self.algorithm, *self.expected) if a in _CRCS]))


class _Budget:
    """Bytes of object data the run may hold in memory at once; ``take`` waits for room."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self._room = threading.Condition()

    def take(self, size: int, cancel: threading.Event, key: str) -> int:
        """Reserve ``size`` bytes (a part larger than the budget reserves all of it); returns the amount."""
        amount = min(size, self.capacity)
        with self._room:
            while self._used + amount > self.capacity:
                self._room.wait(_SLOT_POLL_SECONDS)
                if cancel.is_set():
                    raise CopyInterruptedError(key)
            self._used += amount
        return amount

    def give(self, amount: int) -> None:
        with self._room:
            self._used -= amount
            self._room.notify_all()


class _InOrder:
    """Feeds parts to the ordered hashes (MD5, SHA) in part order, from whichever thread read them.

    A part waits for its predecessor; the predecessor was queued first on the same FIFO pool, so it
    is running or done, never waiting behind its successor. A failure wakes every waiter.
    """

    def __init__(self, names: list[str]) -> None:
        self.hashes = {name: hashlib.new(_HASHES[name]) for name in names}
        self._next = 1
        self._failed = False
        self._turn = threading.Condition()

    def feed(self, number: int, data: Any, cancel: threading.Event) -> None:
        if not self.hashes:
            return
        with self._turn:
            while self._next != number and not self._failed:
                self._turn.wait(_SLOT_POLL_SECONDS)
                if cancel.is_set():
                    raise CopyInterruptedError("cancelled")
            if self._failed:
                raise CopyInterruptedError("another part failed")
            for digest in self.hashes.values():
                digest.update(data)
            self._next += 1
            self._turn.notify_all()

    def fail(self) -> None:
        with self._turn:
            self._failed = True
            self._turn.notify_all()

    def values(self) -> dict[str, str]:
        return {
            name: digest.hexdigest() if name == "MD5" else base64.b64encode(digest.digest()).decode()
            for name, digest in self.hashes.items()
        }


def _mismatch(key: str, what: list[str]) -> CopyFailedError:
    """A copy whose bytes do not match the source's checksum: S3's BadDigest, on the read."""
    message = (
        f"the bytes read from the source do not match its {', '.join(what)}; "
        "nothing was written to the destination"
    )
    error = ClientError({"Error": {"Code": "BadDigest", "Message": message}}, "GetObject")
    return CopyFailedError("GetObject", error)


class RelayCopier(ObjectCopier):
    """Copies one object by reading it as the source principal and writing it as the destination's.

    The ``relay`` transport of :class:`ObjectCopier` (docs/design.md, "Adding a transport"): every
    object is routed to it, runs on the copier's object pool with the engine's retries, its parts
    on the part pool; errors are ``CopyFailedError`` naming the S3 operation, uploads are tracked
    in ``uploads``. The engine picks it for ``spec.transport == "relay"``; ``clients.source`` and
    ``clients.dest`` are the two principals' clients (``TransferClients.for_relay``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._budget = _Budget(self.spec.relay_buffers * self.spec.relay_part_size)
        self._transports["relay"] = self._start_botocore  # the object pool and retries, our _copy_once

    def route(self, obj: ListedObject, *, overwrites: bool = False) -> Route:
        """Every object goes by the relay, in parts above :meth:`single_limit`."""
        back_up_first = overwrites and self.spec.backup_prefix is not None
        multipart, refused = self.in_parts(obj.size)
        return Route("relay", multipart, back_up_first, refused)

    def single_limit(self) -> int:
        """The relay part size; without multipart, what one PutObject can take (5 GiB) and the
        memory budget can hold at once (the whole object is one reservation)."""
        if self.spec.multipart:
            return self.spec.relay_part_size
        return min(PUT_OBJECT_LIMIT, self._budget.capacity)

    def multipart_refusal(self, key: str, size: int) -> CopyFailedError:
        if size > PUT_OBJECT_LIMIT:
            why = f"above PutObject's limit of {PUT_OBJECT_LIMIT} bytes"
        else:
            why = (
                f"above the relay's memory budget relay_buffers x relay_part_size = {self.spec.relay_buffers} "
                f"x {self.spec.relay_part_size} = {self._budget.capacity} bytes"
            )
        return multipart_refused("PutObject", f"{key} is {size} bytes, {why}")

    def _copy_once(self, obj: ListedObject, route: Route) -> CopyOutcome:
        if self.cancel.is_set():
            raise CopyInterruptedError(obj.key)
        if route.back_up_first:
            back_up(self.spec, self.dest_client, obj.key)
        if obj.size <= self.spec.relay_part_size:
            outcome = self._small(obj)
            if outcome is not None:
                return outcome
        head = self._head(obj)
        size = int(head["ContentLength"])
        # Routed again by the size the HEAD saw: the object may have grown since it was listed.
        multipart, refused = self.in_parts(size)
        if refused:
            raise self.multipart_refusal(obj.key, size)
        checks = _Checks.for_source(head, self.spec.checksum_algorithm)
        write = self._write(obj, head)
        if not multipart:
            # Within the budget (single_limit): the reservation is the whole object, never capped.
            reserved = self._budget.take(size, self.cancel, obj.key)
            try:
                self._put(obj, checks, write, self._fill(self._get(obj, head, 0, size)["Body"], size, obj))
            finally:
                self._budget.give(reserved)
            return CopyOutcome(obj.key, size, multipart=False)
        self._upload(obj, head, checks, write, size, self.spec.effective_part_size(size))
        return CopyOutcome(obj.key, size, multipart=True)

    def _write(self, obj: ListedObject, head: dict[str, Any]) -> dict[str, Any]:
        """What the destination object is written with: headers, metadata, encryption, class, tags."""
        return {
            "Bucket": self.spec.destination.bucket,
            "Key": self.dest_key(obj.key),
            **self._metadata_args(head),
            **self._write_args,
            **self._storage_class(obj),
            **self._tagging(obj),
        }

    def _tagging(self, obj: ListedObject) -> dict[str, str]:
        """``Tagging`` restating the source's tags (a PutObject or upload must be given them)."""
        tags = self._tags(obj) if self.spec.copy_tags else []
        return {"Tagging": urlencode([(t["Key"], t["Value"]) for t in tags])} if tags else {}

    def _small(self, obj: ListedObject) -> CopyOutcome | None:
        """A small object in one GetObject (its headers stand in for a HEAD) and one PutObject.

        None when the object has grown past the part size since it was listed: the caller then
        copies it the ranged way.
        """
        reserved = self._budget.take(obj.size, self.cancel, obj.key)
        try:
            response = self._get(obj, None, 0, None)
            size = int(response["ContentLength"])
            if size > self.spec.relay_part_size:
                response["Body"].close()
                return None
            if size > reserved:
                reserved += self._budget.take(size - reserved, self.cancel, obj.key)
            data = self._fill(response["Body"], size, obj)
            checks = _Checks.for_source(response, self.spec.checksum_algorithm)
            self._put(obj, checks, self._write(obj, response), data)
        finally:
            self._budget.give(reserved)
        return CopyOutcome(obj.key, size, multipart=False)

    # -- reading ---------------------------------------------------------------------------------

    def _get(
        self, obj: ListedObject, head: dict[str, Any] | None, first: int, length: int | None
    ) -> dict[str, Any]:
        """GetObject of the source: ``length`` bytes from ``first`` of the version the HEAD saw, or,
        without a HEAD, the whole object with its checksum (``ChecksumMode``)."""
        args: dict[str, Any] = {
            "Bucket": self.spec.source.bucket,
            "Key": self.source_key(obj.key),
            **self._version(obj),
            **self.spec.payer_args(),
            **self.spec.source_sse_c_args("SSECustomer"),
        }
        if head is None:
            args["ChecksumMode"] = "ENABLED"
        elif head.get("ETag"):
            args["IfMatch"] = head["ETag"]  # every range from the one version the HEAD saw
        args.update(owner_args(self.spec.source_account_id))
        if head is not None and length != int(head["ContentLength"]):
            args["Range"] = f"bytes={first}-{first + (length or 0) - 1}"
        return dict(s3_call("GetObject", self.source_client.get_object, **args))

    @staticmethod
    def _fill(body: Any, length: int, obj: ListedObject) -> bytearray:
        """The body's ``length`` bytes in one buffer of that size (chunks are copied into it).

        botocore checks a whole GetObject's checksum as it reads when one was asked for
        (``_small``); its mismatch is reported as ours is, as BadDigest.
        """
        buffer = bytearray(length)
        view = memoryview(buffer)
        got = 0
        try:
            for chunk in body.iter_chunks(_READ_CHUNK):
                if got + len(chunk) > length:
                    raise _mismatch(obj.key, ["size (more bytes than the HEAD said)"])
                view[got : got + len(chunk)] = chunk
                got += len(chunk)
        except FlexibleChecksumError as exc:
            raise _mismatch(obj.key, [f"checksum ({exc})"]) from exc
        finally:
            view.release()
            body.close()
        if got != length:
            raise _mismatch(obj.key, [f"size ({got} bytes read of {length})"])
        return buffer

    @staticmethod
    def _verify(obj: ListedObject, checks: _Checks, computed: dict[str, str]) -> None:
        wrong = [name for name, value in checks.expected.items() if computed.get(name) != value]
        if wrong:
            raise _mismatch(obj.key, [f"{name} {checks.expected[name]}" for name in wrong])

    # -- one request -----------------------------------------------------------------------------

    def _put(self, obj: ListedObject, checks: _Checks, write: dict[str, Any], data: bytearray) -> None:
        """Verify ``data`` against the source's checksums, then PutObject it with its own checksum."""
        crcs = {name: _CRCS[name][0](data, 0) for name in checks.crcs}
        hashes = _InOrder(checks.ordered)
        hashes.feed(1, data, self.cancel)
        computed = {name: _b64(crcs[name], _CRCS[name][2]) for name in crcs} | hashes.values()
        self._verify(obj, checks, computed)
        if self.cancel.is_set():
            raise CopyInterruptedError(obj.key)
        value = (
            computed.get(checks.algorithm)
            or base64.b64encode(hashlib.new(_HASHES[checks.algorithm], data).digest()).decode()
        )
        s3_call(
            "PutObject",
            self.dest_client.put_object,
            **write,
            Body=data,
            ChecksumAlgorithm=checks.algorithm,
            **{_CHECKSUM_FIELDS[checks.algorithm]: value},
        )

    # -- multipart -------------------------------------------------------------------------------

    def _upload(
        self,
        obj: ListedObject,
        head: dict[str, Any],
        checks: _Checks,
        write: dict[str, Any],
        size: int,
        part_size: int,
    ) -> None:
        create = {
            **write,
            "ChecksumAlgorithm": checks.algorithm,
            "ChecksumType": "FULL_OBJECT" if checks.full_object else "COMPOSITE",
        }
        upload = self._create_upload(create)
        hashes = _InOrder(checks.ordered)
        futures: list[Future[tuple[dict[str, Any], dict[str, int]]]] = []
        reservations: dict[Future[tuple[dict[str, Any], dict[str, int]]], int] = {}
        failed = threading.Event()
        try:
            for number, first in enumerate(range(0, size, part_size), start=1):
                if failed.is_set():
                    break
                length = min(part_size, size - first)
                # Reserved in part order, before queueing: see the module docstring.
                reserved = self._budget.take(length, self.cancel, obj.key)
                try:
                    future = self.part_executor.submit(
                        self._part,
                        obj,
                        head,
                        checks,
                        hashes,
                        upload.upload_id,
                        number,
                        first,
                        length,
                        reserved,
                    )
                except BaseException:
                    self._budget.give(reserved)
                    raise
                future.add_done_callback(lambda f: failed.set() if f.cancelled() or f.exception() else None)
                futures.append(future)
                reservations[future] = reserved
            results = [future.result() for future in futures]
            parts = [part for part, _ in results]
            computed = {
                name: _b64(
                    self._combined(name, [crcs[name] for _, crcs in results], size, part_size), _CRCS[name][2]
                )
                for name in checks.crcs
            } | hashes.values()
            self._verify(obj, checks, computed)
            if self.cancel.is_set():
                raise CopyInterruptedError(obj.key)
            complete: dict[str, str] = {}
            if checks.full_object:
                complete = {
                    _CHECKSUM_FIELDS[checks.algorithm]: computed[checks.algorithm],
                    "ChecksumType": "FULL_OBJECT",
                }
            self._complete_upload(upload, parts, **complete)
        except BaseException:
            # Parts not started are dropped, waiters woken; the upload is aborted (never half-written).
            hashes.fail()
            for future in futures:
                if future.cancel():
                    self._budget.give(reservations[future])  # never ran: its finally never will
            for future in futures:
                if not future.cancelled():
                    future.exception()  # wait: no part may still be uploading after the abort
            self.uploads.abort(upload)
            raise
        self.uploads.completed(upload)

    @staticmethod
    def _combined(name: str, crcs: list[int], size: int, part_size: int) -> int:
        combine = _CRCS[name][1]
        total = crcs[0]
        for index, crc in enumerate(crcs[1:], start=1):
            total = combine(total, crc, min(part_size, size - index * part_size))
        return total

    def _part(
        self,
        obj: ListedObject,
        head: dict[str, Any],
        checks: _Checks,
        hashes: _InOrder,
        upload_id: str,
        number: int,
        first: int,
        length: int,
        reserved: int,
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """Read one range, checksum it, feed the ordered hashes, upload it; returns its reservation."""
        try:
            if self.cancel.is_set():
                raise CopyInterruptedError(obj.key)
            data = self._fill(self._get(obj, head, first, length)["Body"], length, obj)
            crcs = {name: _CRCS[name][0](data, 0) for name in checks.crcs}
            hashes.feed(number, data, self.cancel)
            if checks.algorithm in crcs:
                value = _b64(crcs[checks.algorithm], _CRCS[checks.algorithm][2])
            else:
                value = base64.b64encode(hashlib.new(_HASHES[checks.algorithm], data).digest()).decode()
            checksum = {_CHECKSUM_FIELDS[checks.algorithm]: value}
            if self.cancel.is_set():
                raise CopyInterruptedError(obj.key)
            result = s3_call(
                "UploadPart",
                self.dest_client.upload_part,
                Bucket=self.spec.destination.bucket,
                Key=self.dest_key(obj.key),
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ChecksumAlgorithm=checks.algorithm,
                **checksum,
                **owner_args(self.spec.dest_account_id),
                **self.spec.payer_args(),
            )
            # CompleteMultipartUpload lists each part's checksum; S3 checks them against the parts.
            return {"PartNumber": number, "ETag": result["ETag"], **checksum}, crcs
        finally:
            self._budget.give(reserved)
