"""``CopySpec``: everything one copy or sync run needs, validated before any AWS call."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import (
    KmsKeyRef,
    S3Location,
    validate_account_id,
    validate_kms_key_id,
    validate_region,
)
from airflow_provider_s3xacct.transfer.filters import (
    FilterRule,
    parse_duration,
    parse_size,
    rules_from,
)

MIB = 1024**2
GIB = 1024**3
# CopyObject refuses sources above 5 GB; UploadPartCopy parts must be 5 MiB..5 GiB, at most 10,000.
COPY_OBJECT_LIMIT = 5 * GIB
PUT_OBJECT_LIMIT = 5 * GIB  # PutObject's largest object (the relay's one request without parts)
MIN_PART_SIZE = 5 * MIB
MAX_PARTS = 10_000
# The largest part chosen on its own: above 256 MiB x concurrency an object has more parts than
# copies in flight anyway (the former fixed part size, so no object gets more requests than before).
AUTO_MAX_PART_SIZE = 256 * MIB
StorageClass = Literal[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
]
ChecksumAlgorithm = Literal["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]


# The listing's default requests in flight per side (CLI, operator, spec). Parsing a page of 1,000
# keys costs about 14 ms of CPU under the GIL and S3 answers in 30-100 ms, so 8 a side (16 in
# flight) keep a core busy parsing; 16 a side were no faster on the 100,000-key no-op sync and
# held 5 MiB more while planning 1M keys (docs/benchmarks.md, "Listing concurrency").
LIST_CONCURRENCY = 8


class CopySpec(BaseModel):
    """A validated copy/sync request. Build it with :meth:`create` to get field-named errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    source: S3Location
    destination: S3Location
    mode: Literal["copy", "sync"] = "copy"
    dest_kms_key_id: str | None = None
    bucket_key_enabled: bool | None = None
    delete: bool = False
    max_delete: int | None = Field(default=None, ge=0)
    max_delete_fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    dry_run: bool = False
    concurrency: int = Field(default=32, ge=1, le=1024)
    # ListObjectsV2 requests in flight per side: each side is listed as that many key ranges at
    # once, merged back into key order (transfer/ranges.py); 1 lists page after page.
    list_concurrency: int = Field(default=LIST_CONCURRENCY, ge=1, le=256)
    multipart_threshold: int = Field(default=COPY_OBJECT_LIMIT, ge=MIN_PART_SIZE, le=COPY_OBJECT_LIMIT)
    # False (the transfer's options.multipart: false, whose policies grant no multipart action): no
    # multipart request is ever sent. Each object goes in one request or fails as that object's
    # failure when it cannot (ObjectCopier.route decides; multipart_threshold and part_size unused).
    multipart: bool = True
    # None: chosen per object from its size and the concurrency (effective_part_size).
    part_size: int | None = Field(default=None, ge=MIN_PART_SIZE, le=COPY_OBJECT_LIMIT)
    copy_tags: bool = True
    acl: Literal["bucket-owner-full-control"] | None = None
    # The operator's unordered lists (a key must match an include, if any, and no exclude) ...
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # ... and the aws CLI's ordered rules (last match wins), applied after them.
    filters: tuple[FilterRule, ...] = ()
    # Relative keys, one per line, in a local file or an S3 object: only these are considered.
    files_from: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    min_age: float | None = None  # seconds since LastModified
    max_age: float | None = None
    # Source storage classes to skip (unless restored), e.g. ("GLACIER", "DEEP_ARCHIVE").
    storage_class_skip: tuple[StorageClass, ...] = ()
    compare: Literal["size-mtime", "etag", "size"] = "size-mtime"
    # The destination's storage class; "keep" takes each source object's. None: S3's default.
    storage_class: StorageClass | Literal["keep"] | None = None
    request_payer: Literal["requester"] | None = None
    checksum_algorithm: ChecksumAlgorithm | None = None
    content_type: str | None = None
    metadata: dict[str, str] | None = None  # replaces the source's user metadata
    error_on_no_transfer: bool = False
    max_requests_per_second: float | None = Field(default=None, gt=0)
    # sync: destination objects about to be overwritten or deleted are first copied here
    # (rclone's --backup-dir), in the destination bucket, outside the synced prefix.
    backup_prefix: S3Location | None = None
    # Copy the source as it was at this time (a versioned source bucket): ListObjectVersions.
    version_at: datetime | None = None
    # The source objects' SSE-C key (AES256), base64; a SecretStr so no repr or log shows it.
    sse_c_copy_source_key: SecretStr | None = None
    # Who sends the CopyObject of objects below the multipart threshold: the AWS CRT (C, about a
    # sixth of botocore's CPU per request; transfer/crt.py), or botocore. "relay" copies through
    # this process instead (transfer/relay.py): GetObject as the source principal, PutObject or a
    # multipart upload as the destination principal, for when no one principal may do both.
    transport: Literal["crt", "botocore", "relay"] = "crt"
    # relay: objects above this size are read in ranges and written as parts of this size; the
    # parts and small objects held at once in the whole run reserve their sizes from a budget of
    # relay_buffers x relay_part_size bytes, so the object data in memory stays within it.
    relay_part_size: int = Field(default=16 * MIB, ge=MIN_PART_SIZE, le=COPY_OBJECT_LIMIT)
    relay_buffers: int = Field(default=8, ge=1, le=1024)
    source_account_id: str | None = None
    dest_account_id: str | None = None
    source_region: str | None = None
    dest_region: str | None = None
    # A shard: only relative keys in (start_after, end_key] are listed, on both sides.
    start_after: str | None = None
    end_key: str | None = None

    @field_validator("source", "destination", "backup_prefix", mode="before")
    @classmethod
    def _parse_location(cls, value: Any, info: Any) -> S3Location | None:
        if value is None or value == "":
            return None
        if isinstance(value, S3Location):
            return value
        return S3Location.parse(value, info.field_name)

    @field_validator("min_age", "max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any, info: Any) -> float | None:
        return parse_duration(value, info.field_name)

    @field_validator("min_size", "max_size", mode="before")
    @classmethod
    def _size(cls, value: Any, info: Any) -> int | None:
        return parse_size(value, info.field_name)

    @field_validator("version_at", mode="before")
    @classmethod
    def _version_at(cls, value: Any) -> datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidInputError(
                    "version_at", f"{value!r} is not an ISO 8601 time such as 2026-01-31T00:00:00Z"
                ) from None
        if not isinstance(value, datetime):
            raise InvalidInputError("version_at", f"{value!r} is not a time")
        return value if value.tzinfo else value.replace(tzinfo=UTC)  # a naive time means UTC

    @field_validator("sse_c_copy_source_key", mode="before")
    @classmethod
    def _sse_c_key(cls, value: Any) -> SecretStr | None:
        """A 32-byte AES256 key, given raw or base64, kept as base64 (never echoed in errors)."""
        if value is None or value == "":
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        raw = text.encode("utf-8")
        if len(raw) != 32:
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
        if len(raw) != 32:
            raise InvalidInputError(
                "sse_c_copy_source_key",
                "must be a 256-bit AES key: 32 bytes, or their base64 (the key is not shown)",
            )
        return SecretStr(base64.b64encode(raw).decode())

    @field_validator("source_account_id", "dest_account_id")
    @classmethod
    def _account(cls, value: str | None, info: Any) -> str | None:
        return validate_account_id(value, info.field_name)

    @field_validator("source_region", "dest_region")
    @classmethod
    def _region(cls, value: str | None, info: Any) -> str | None:
        return validate_region(value, info.field_name)

    @field_validator("dest_kms_key_id", mode="before")
    @classmethod
    def _kms(cls, value: Any) -> str | None:
        # Templated operator arguments render a missing key as '' or 'None'; both mean "no key".
        if value in (None, "", "None", "null"):
            return None
        return validate_kms_key_id(value, "dest_kms_key_id")

    @model_validator(mode="after")
    def _consistent(self) -> CopySpec:
        if self.source.overlaps(self.destination):
            raise InvalidInputError(
                "destination",
                f"{self.destination.uri} overlaps the source {self.source.uri}; a copy would read "
                "its own output. Use another bucket or disjoint prefixes",
            )
        if self.delete and self.mode != "sync":
            raise InvalidInputError("delete", "delete=True is only allowed with mode='sync'")
        if self.dest_kms_key_id and self.dest_kms_key_id.startswith("arn:") and self.dest_region:
            # A key id or alias name has no region of its own: KMS looks it up in the bucket's.
            key = KmsKeyRef.parse(self.dest_kms_key_id, "dest_kms_key_id")
            if problem := key.region_problem(self.dest_region, "destination bucket"):
                raise InvalidInputError("dest_kms_key_id", problem)
        if self.start_after is not None and self.end_key is not None and self.end_key <= self.start_after:
            raise InvalidInputError(
                "end_key", f"{self.end_key!r} must sort after start_after {self.start_after!r}"
            )
        for low, high in (("min_size", "max_size"), ("min_age", "max_age")):
            lowest, highest = getattr(self, low), getattr(self, high)
            if lowest is not None and highest is not None and lowest > highest:
                raise InvalidInputError(high, f"{high} must not be below {low}: no object could match")
        if self.backup_prefix is not None:
            backup = self.backup_prefix
            if self.mode != "sync" or backup.bucket != self.destination.bucket:
                raise InvalidInputError(
                    "backup_prefix", "needs mode='sync' and a prefix in the destination bucket"
                )
            if backup.overlaps(self.destination) or backup.overlaps(self.source):
                raise InvalidInputError(
                    "backup_prefix",
                    f"{backup.uri} overlaps the source or destination; use a prefix beside them",
                )
        if self.version_at is not None and (self.start_after is not None or self.end_key is not None):
            raise InvalidInputError("version_at", "cannot be combined with a shard (start_after/end_key)")
        if self.bucket_key_enabled is not None and not self.dest_kms_key_id:
            raise InvalidInputError("bucket_key_enabled", "only meaningful with dest_kms_key_id")
        return self

    @classmethod
    def create(cls, **kwargs: Any) -> CopySpec:
        """Validate ``kwargs``; any problem raises :class:`InvalidInputError` naming the field."""
        for name in ("include", "exclude", "storage_class_skip"):
            if isinstance(kwargs.get(name), list):
                kwargs[name] = tuple(kwargs[name])
        if isinstance(kwargs.get("filters"), list):
            kwargs["filters"] = tuple(tuple(rule) for rule in kwargs["filters"])
        try:
            return cls(**kwargs)
        except ValidationError as exc:
            raise InvalidInputError.from_validation(exc) from None

    @classmethod
    def from_transfer(cls, transfer: Any, field: str = "transfer", **overrides: Any) -> CopySpec:
        """The copy of a transfer spec (the ``s3xacct`` config format): the one translation.

        ``transfer`` is a ``permissions.spec.TransferSpec`` (``TransferSpec.parse`` reads a
        rendered mapping or its text). Locations, accounts, regions, the destination key and the
        options ``mode``, ``delete``, ``copy_tags``, ``acl`` and ``multipart`` come from it, so the
        copy does what ``verify`` checked. ``overrides`` are :meth:`create`'s arguments (None means
        "not given"): they may narrow the transfer, never widen it beyond what its policies grant —
        a prefix inside the transfer's, ``copy`` instead of ``sync``, no tags, delete or multipart
        where the transfer has them. Anything else (another bucket, account, region, key or ACL;
        tags, delete, sync or multipart the transfer does not have, which includes a
        ``multipart_threshold`` or ``part_size`` with ``options.multipart: false``) raises
        :class:`InvalidInputError` naming the argument and the transfer's field.
        """
        spec = transfer  # parsed by the caller: permissions/ sits above transfer/ in the layers
        given = {name: value for name, value in overrides.items() if value is not None}
        fields: dict[str, Any] = {**transfer_copy_fields(spec), **given}
        if given.get("mode") == "copy" and "delete" not in given:
            fields["delete"] = False  # narrowed to a copy: the transfer's sync delete has nothing to do
        _check_same(given, spec, field)  # first: a region or key elsewhere is the conflict, not the symptom
        copy = cls.create(**fields)
        _check_within(copy, spec, set(given), field)
        return copy

    def with_regions(self, source_region: str | None, dest_region: str | None) -> CopySpec:
        """This spec with the buckets' regions filled in where not given, validated again
        (the destination key must be in the destination bucket's region)."""
        fields = dict(self)
        fields["source_region"] = self.source_region or source_region
        fields["dest_region"] = self.dest_region or dest_region
        return CopySpec.create(**fields)

    def filter_rules(self) -> tuple[FilterRule, ...]:
        """The include/exclude lists as ordered rules, then the ordered ``filters``."""
        return rules_from(self.include, self.exclude) + self.filters

    def source_sse_c_args(self, prefix: str = "CopySourceSSECustomer") -> dict[str, str]:
        """The source's SSE-C headers: ``CopySourceSSECustomer*`` for copies, ``SSECustomer*`` for HEAD.

        The key's MD5 is computed here, so botocore and the CRT path (which bypasses botocore's
        handlers) send the same three headers.
        """
        if self.sse_c_copy_source_key is None:
            return {}
        key = self.sse_c_copy_source_key.get_secret_value()
        md5 = base64.b64encode(hashlib.md5(base64.b64decode(key), usedforsecurity=False).digest()).decode()
        return {f"{prefix}Algorithm": "AES256", f"{prefix}Key": key, f"{prefix}KeyMD5": md5}

    def payer_args(self) -> dict[str, str]:
        """``RequestPayer`` for every request on either bucket (Requester Pays buckets)."""
        return {"RequestPayer": self.request_payer} if self.request_payer else {}

    def effective_part_size(self, size: int) -> int:
        """The part size for an object of ``size`` bytes: the one place it is decided.

        Without a ``part_size``, parts are cut so one object alone fills the concurrency
        (``size / concurrency``, in whole MiB): fixed 256 MiB parts gave a 1 GiB object 4 parts in
        flight out of 32 allowed. Within S3's limits (UploadPartCopy: 5 MiB..5 GiB a part, at most
        10,000 parts), and at most ``AUTO_MAX_PART_SIZE`` so a very large object is not cut into a
        few parts that each take minutes and must be redone whole when one fails. A ``part_size``
        given is kept, grown only to stay within 10,000 parts.
        """
        needed = -(-size // MAX_PARTS)
        if self.transport == "relay":
            # Bytes pass through the worker: parts of relay_part_size (memory: transfer/relay.py).
            return max(self.relay_part_size, needed)
        if self.part_size is not None:
            return max(self.part_size, needed)
        even = -(-size // self.concurrency)
        whole_mib = -(-even // MIB) * MIB
        return min(COPY_OBJECT_LIMIT, max(MIN_PART_SIZE, needed, min(whole_mib, AUTO_MAX_PART_SIZE)))


def transfer_copy_fields(spec: Any) -> dict[str, Any]:
    """:meth:`CopySpec.create`'s arguments for what a transfer spec says about the copy."""
    return {
        "source": f"s3://{spec.source.bucket}/{spec.source.prefix}",
        "destination": f"s3://{spec.destination.bucket}/{spec.destination.prefix}",
        "source_account_id": spec.source.account_id,
        "dest_account_id": spec.destination.account_id,
        "source_region": spec.source.region,
        "dest_region": spec.destination.region,
        "dest_kms_key_id": spec.destination.kms_key_arn,
        "mode": spec.options.mode,
        "delete": spec.options.delete,
        "copy_tags": spec.options.copy_tags,
        "acl": spec.options.acl,
        "multipart": spec.options.multipart,
    }


def _conflict(name: str, what: str, field: str) -> InvalidInputError:
    return InvalidInputError(
        name,
        f"{what}: the copy may narrow the transfer ``{field}`` (what verify checked and its policies "
        f"grant), never widen it; drop {name} or change the transfer",
    )


def _check_same(given: dict[str, Any], spec: Any, field: str) -> None:
    """Accounts, regions, the destination key and the ACL: an explicit one must be the transfer's."""
    same = {
        "source_account_id": ("source.account_id", spec.source.account_id),
        "dest_account_id": ("destination.account_id", spec.destination.account_id),
        "source_region": ("source.region", spec.source.region),
        "dest_region": ("destination.region", spec.destination.region),
        "dest_kms_key_id": ("destination.kms_key_arn", spec.destination.kms_key_arn),
        "acl": ("options.acl", spec.options.acl),
    }
    for name, (where, expected) in same.items():
        # str(): native rendering turns a 12-digit account id into an int.
        if name in given and str(given[name]) != str(expected):
            raise _conflict(name, f"{given[name]!r} differs from the transfer's {where} {expected!r}", field)


def _check_within(copy: CopySpec, spec: Any, given: set[str], field: str) -> None:
    """Refuse an explicit argument that makes the copy do what the transfer's policies do not grant."""

    def conflict(name: str, what: str) -> InvalidInputError:
        return _conflict(name, what, field)

    for name, location, side in (
        ("source", copy.source, spec.source),
        ("destination", copy.destination, spec.destination),
    ):
        if name in given and not location.within(side.bucket, side.prefix):
            raise conflict(
                f"{'source' if name == 'source' else 'dest'}_uri",
                f"{location.uri} is outside the transfer's {name} s3://{side.bucket}/{side.prefix}",
            )
    widening = (
        ("mode", copy.mode == "sync" and spec.options.mode == "copy", "options.mode: copy"),
        ("delete", copy.delete and not spec.options.delete, "options.delete: false"),
        ("copy_tags", copy.copy_tags and not spec.options.copy_tags, "options.copy_tags: false"),
        ("multipart", copy.multipart and not spec.options.multipart, "options.multipart: false"),
    )
    for name, widens, where in widening:
        if name in given and widens:
            raise conflict(name, f"{getattr(copy, name)!r} needs more than the transfer's {where}")
    for name in ("multipart_threshold", "part_size"):
        # Without the multipart permissions verify checked, all these can do is ask for parts.
        if name in given and not spec.options.multipart:
            what = f"{getattr(copy, name)!r} sets multipart copies; the transfer has options.multipart: false"
            raise conflict(name, what)
