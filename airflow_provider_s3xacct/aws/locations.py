"""Parsing and validating S3 URIs, bucket names and KMS key ARNs (no AWS call needed)."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import botocore.loaders

from airflow_provider_s3xacct.aws.arns import Arn, Principal
from airflow_provider_s3xacct.aws.errors import InvalidInputError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Buckets created in us-east-1 before March 2018 may have legacy names: up to 255 characters of
# upper- and lowercase letters, digits, '.', '-' and '_' (S3 User Guide, "General purpose bucket
# naming rules", legacy rules). They still exist and S3 still serves them (path-style only).
_LEGACY_BUCKET_RE = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
# The resource of a KMS key or alias ARN (the rest of the ARN is aws/arns.py's).
_KMS_RESOURCE_RE = re.compile(r"^(?P<kind>key|alias)/(?P<name>[A-Za-z0-9/_+=,.@:-]+)$")
_PARTITION_RE = re.compile(r"^aws[a-z-]*$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
# The bare forms S3's SSEKMSKeyId and KMS's KeyId accept besides the two ARNs (KMS Developer
# Guide, "Key identifiers (KeyId)"): a key id (a UUID, or mrk-<32 hex> for a multi-Region key)
# and an alias name (alias/ then letters, digits, '/', '_', '-'; at most 256 characters in all).
_KEY_ID_RE = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
_ALIAS_NAME_RE = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$")  # sts:AssumeRole's ExternalId constraints


def validate_bucket_name(name: str, field: str) -> str:
    """Apply S3's general-purpose bucket naming rules, naming ``field`` on failure.

    A name that only the legacy us-east-1 rules allow (uppercase, underscores) is accepted: such
    buckets exist, and botocore addresses them path-style by itself.
    """
    problem = None
    name = name or ""
    if not _BUCKET_RE.match(name):
        legacy_only = name != name.lower() or "_" in name
        if legacy_only and _LEGACY_BUCKET_RE.match(name):
            return name
        problem = "3-63 characters of lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
    elif ".." in name or ".-" in name or "-." in name:
        problem = "no adjacent periods and no period next to a hyphen"
    elif name.startswith("xn--") or name.endswith("-s3alias") or name.endswith("--ol-s3"):
        problem = "the prefix 'xn--' and the suffixes '-s3alias'/'--ol-s3' are reserved"
    else:
        try:
            ipaddress.IPv4Address(name)
            problem = "a bucket name cannot look like an IP address"
        except ValueError:
            pass
    if problem:
        raise InvalidInputError(field, f"{name!r} is not a valid S3 bucket name ({problem})")
    return name


def validate_account_id(value: str | None, field: str) -> str | None:
    if value is not None and not _ACCOUNT_RE.match(value):
        raise InvalidInputError(field, f"{value!r} is not a 12-digit AWS account id (quote it in YAML)")
    return value


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's endpoint data (endpoints.json, partitions.json)."""
    loader = botocore.loaders.create_loader()
    regions: set[str] = set()
    for data in ("endpoints", "partitions"):
        for partition in loader.load_data(data)["partitions"]:
            regions.update(partition.get("regions", {}))
    return frozenset(r for r in regions if _REGION_RE.match(r))


def validate_region(value: str | None, field: str) -> str | None:
    """A region botocore knows; a typo (``us-east-7``) would otherwise fail only at the first request."""
    if value is None:
        return None
    if not isinstance(value, str) or not _REGION_RE.match(value):
        raise InvalidInputError(field, f"{value!r} is not an AWS region name such as 'us-east-1'")
    if value not in known_regions():
        raise InvalidInputError(
            field,
            f"{value!r} is not a region of any AWS partition botocore "
            f"{botocore.__version__} knows; check the spelling (a region opened since needs a newer botocore)",
        )
    return value


def validate_role_arn(value: Any, field: str) -> str:
    """An IAM role ARN, as sts:AssumeRole needs it."""
    principal = Principal.parse(value) if isinstance(value, str) else None
    if principal is None or principal.kind != "role" or principal.session is not None:
        raise InvalidInputError(
            field, f"{value!r} is not an IAM role ARN; write it as arn:aws:iam::<account-id>:role/<name>"
        )
    return str(value)


def validate_external_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _EXTERNAL_ID_RE.match(value):
        raise InvalidInputError(
            field, f"{value!r} is not an ExternalId (2-1224 characters: letters, digits and +=,.@:/-_)"
        )
    return value


def normalise_prefix(prefix: str) -> str:
    """Give a prefix directory semantics, as ``aws s3 cp --recursive`` does.

    ``data`` becomes ``data/`` so that a copy of ``data`` never picks up ``database/``.
    """
    prefix = prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix with directory semantics ('' means the whole bucket)."""

    bucket: str
    prefix: str = ""
    # The path as written, when it did not end with '/': it may name one object (``aws s3 cp``).
    written: str = ""
    # Set once resolved: this location is exactly that one object (the source, or a renamed copy).
    object_key: str | None = None

    @classmethod
    def parse(cls, uri: str, field: str) -> S3Location:
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise InvalidInputError(field, f"{uri!r} is not an S3 URI; write it as s3://bucket/prefix")
        rest = uri[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        validate_bucket_name(bucket, field)
        if "//" in prefix or prefix.startswith("/"):
            raise InvalidInputError(field, f"{uri!r} has an empty path segment ('//'); remove it")
        written = prefix if prefix and not prefix.endswith("/") else ""
        return cls(bucket=bucket, prefix=normalise_prefix(prefix), written=written)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.object_key if self.object_key is not None else self.prefix}"

    def key_for(self, relative: str) -> str:
        """The full key of ``relative``: the one object this location names, or prefix + relative."""
        return self.object_key if self.object_key is not None else self.prefix + relative

    def one_object(self, key: str) -> S3Location:
        """This bucket, naming exactly ``key`` (what ``aws s3 cp`` does with a path that is an object)."""
        parent = key.rpartition("/")[0]
        return S3Location(self.bucket, prefix=parent + "/" if parent else "", object_key=key)

    def within(self, bucket: str, prefix: str) -> bool:
        """True when this location lies inside ``bucket``/``prefix`` (a narrowing of it)."""
        return self.bucket == bucket and self.prefix.startswith(prefix)

    def overlaps(self, other: S3Location) -> bool:
        """True when one location contains the other (a copy would read its own output)."""
        return prefixes_overlap(self.bucket, self.prefix, other.bucket, other.prefix)


def prefixes_overlap(bucket: str, prefix: str, other_bucket: str, other_prefix: str) -> bool:
    """True when one of two bucket prefixes contains the other: a copy between them would read
    its own output (and a sync with delete would delete what it wrote)."""
    return bucket == other_bucket and (prefix.startswith(other_prefix) or other_prefix.startswith(prefix))


def owner_args(account_id: str | None, *, copy_source: bool = False) -> dict[str, str]:
    """``ExpectedBucketOwner`` for a request to a bucket of ``account_id`` (with ``copy_source``:
    ``ExpectedSourceBucketOwner``, for the bucket a copy reads), or nothing when the account is not
    known. S3 then refuses (403) a bucket that someone else owns, so a mistyped or recreated bucket
    name never receives or gives data (S3 User Guide, "Verifying bucket ownership with bucket
    owner condition")."""
    if not account_id:
        return {}
    return {"ExpectedSourceBucketOwner" if copy_source else "ExpectedBucketOwner": account_id}


def _kms_arn(value: Any) -> tuple[Arn, re.Match[str]] | None:
    """The fields of a KMS key or alias ARN (the region's form only, not that botocore knows it),
    or None when ``value`` is not one."""
    try:
        parsed = Arn.parse(value) if isinstance(value, str) else None
    except ValueError:
        return None
    resource = _KMS_RESOURCE_RE.match(parsed.resource) if parsed else None
    if (
        parsed
        and resource
        and parsed.service == "kms"
        and _PARTITION_RE.match(parsed.partition)
        and _REGION_RE.match(parsed.region)
        and _ACCOUNT_RE.match(parsed.account)
    ):
        return parsed, resource
    return None


@dataclass(frozen=True)
class KmsKeyRef:
    """A parsed KMS key or alias ARN."""

    arn: str
    partition: str
    region: str
    account_id: str
    is_alias: bool
    name: str

    @classmethod
    def parse(cls, arn: Any, field: str) -> KmsKeyRef:
        fields = _kms_arn(arn)
        if fields is None:
            raise InvalidInputError(
                field,
                f"{arn!r} is not a KMS key ARN; give the full ARN "
                "arn:aws:kms:<region>:<account-id>:key/<key-id> (a bare key id or alias name would "
                "resolve in the caller's account, not the key owner's)",
            )
        parsed, resource = fields
        validate_region(parsed.region, field)
        return cls(
            arn=arn,
            partition=parsed.partition,
            region=parsed.region,
            account_id=parsed.account,
            is_alias=resource["kind"] == "alias",
            name=resource["name"],
        )

    def region_problem(self, bucket_region: str, bucket: str = "bucket") -> str | None:
        """Why S3 cannot use this key for a bucket in ``bucket_region``, or None when it can: S3
        only encrypts and decrypts with a key of the bucket's own region (S3 User Guide, "Using
        server-side encryption with AWS KMS keys": the key must be in the bucket's Region)."""
        if self.region == bucket_region:
            return None
        return (
            f"the key is in {self.region} but the {bucket} is in {bucket_region}; S3 only uses keys "
            "of the bucket's own region: use (or create) a key in that region"
        )

    @property
    def key_id(self) -> str:
        """The id KMS APIs accept (the key id for a key ARN, the full ARN for an alias)."""
        return self.arn if self.is_alias else self.name


def validate_kms_key_id(value: Any, field: str) -> str:
    """A KMS key as S3's SSEKMSKeyId accepts it: key ARN, alias ARN, key id or alias name.

    The ARNs name the key's account and region; a key id or alias name is resolved by KMS in the
    requester's account and the bucket's region (the sync principal's account for the copy).
    """
    if _kms_arn(value) is not None:
        KmsKeyRef.parse(value, field)  # the region inside must be one botocore knows
        return value
    if isinstance(value, str) and (_KEY_ID_RE.match(value) or _ALIAS_NAME_RE.match(value)):
        return value
    raise InvalidInputError(
        field,
        f"{value!r} is not a KMS key: give a key ARN (arn:aws:kms:<region>:<account-id>:key/<key-id>), "
        "an alias ARN (arn:aws:kms:<region>:<account-id>:alias/<name>), a key id "
        "(1234abcd-12ab-34cd-56ef-1234567890ab) or an alias name (alias/<name>)",
    )
