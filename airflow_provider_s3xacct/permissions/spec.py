"""``TransferSpec``: the one model behind plan/verify/apply, from operator arguments or a config file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from airflow_provider_s3xacct.transfer.errors import InvalidInputError
from airflow_provider_s3xacct.transfer.locations import (
    IAM_PRINCIPAL_RE,
    KmsKeyRef,
    normalise_prefix,
    validate_account_id,
    validate_bucket_name,
    validate_region,
)

_PRINCIPAL_RE = IAM_PRINCIPAL_RE
# In a policy's Resource and s3:prefix condition these are wildcards or a variable, not characters.
_POLICY_SPECIAL = (
    ("*", "matches any characters"),
    ("?", "matches any one character"),
    ("${", "starts a policy variable"),
)


def _key_arn(arn: str, field: str) -> str:
    if KmsKeyRef.parse(arn, field).is_alias:
        raise InvalidInputError(field, "policies grant keys, not aliases: give the key ARN")
    return arn


class _BucketSide(BaseModel):
    """Account, bucket, prefix and region of one side; ``side`` names it in error messages."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    side: ClassVar[str]

    account_id: str
    bucket: str
    prefix: str = ""
    region: str

    @field_validator("account_id", mode="before")
    @classmethod
    def _account(cls, v: Any) -> str:
        return validate_account_id(str(v), f"{cls.side}.account_id") or ""

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        return validate_bucket_name(v, f"{cls.side}.bucket")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        for token, meaning in _POLICY_SPECIAL:
            if token in v:
                raise InvalidInputError(
                    f"{cls.side}.prefix",
                    f"{v!r} contains {token!r}, which {meaning} in the generated policies, so they would "
                    "grant more than this prefix; rename the objects' prefix or give one without it",
                )
        return normalise_prefix(v)

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        return validate_region(v, f"{cls.side}.region") or ""


class SourceSpec(_BucketSide):
    side: ClassVar[str] = "source"
    kms_key_arns: tuple[str, ...] = ()

    @field_validator("kms_key_arns", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> tuple[str, ...]:
        keys = (v,) if isinstance(v, str) else tuple(v or ())
        return tuple(_key_arn(arn, f"source.kms_key_arns[{i}]") for i, arn in enumerate(keys))


class DestinationSpec(_BucketSide):
    side: ClassVar[str] = "destination"
    kms_key_arn: str | None = None

    @field_validator("kms_key_arn")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        return _key_arn(v, "destination.kms_key_arn") if v else None


class TransferOptions(BaseModel):
    # strict: `delete: "yes"` is an error, not True (YAML's unquoted yes/no/true/false are booleans).
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    mode: Literal["copy", "sync"] = "sync"
    copy_tags: bool = True
    delete: bool = False
    multipart: bool = True
    enforce_destination_kms: bool = True
    require_tls: bool = True


class TransferSpec(BaseModel):
    """Who copies what from where to where, and how: everything the policies depend on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: SourceSpec
    destination: DestinationSpec
    principal_arn: str
    options: TransferOptions = Field(default_factory=TransferOptions)

    @field_validator("principal_arn")
    @classmethod
    def _principal(cls, v: str) -> str:
        if not _PRINCIPAL_RE.match(v):
            raise InvalidInputError(
                "principal_arn",
                f"{v!r} is not an IAM user or role ARN (arn:aws:iam::<account>:user/<name> or :role/<name>); "
                "for an assumed-role session give the role's ARN",
            )
        return v

    @model_validator(mode="after")
    def _regions(self) -> TransferSpec:
        for i, arn in enumerate(self.source.kms_key_arns):
            ref = KmsKeyRef.parse(arn, f"source.kms_key_arns[{i}]")
            if ref.region != self.source.region:
                raise InvalidInputError(
                    f"source.kms_key_arns[{i}]",
                    f"the key is in {ref.region} but the source bucket is in {self.source.region}; "
                    "S3 only uses keys of the bucket's region",
                )
        if self.destination.kms_key_arn:
            ref = KmsKeyRef.parse(self.destination.kms_key_arn, "destination.kms_key_arn")
            if ref.region != self.destination.region:
                raise InvalidInputError(
                    "destination.kms_key_arn",
                    f"the key is in {ref.region} but the destination bucket is in {self.destination.region}; "
                    "S3 only uses keys of the bucket's region",
                )
        if self.source.bucket == self.destination.bucket and (
            self.source.prefix.startswith(self.destination.prefix)
            or self.destination.prefix.startswith(self.source.prefix)
        ):
            raise InvalidInputError(
                "destination", "overlaps the source; use another bucket or disjoint prefixes"
            )
        if self.options.delete and self.options.mode != "sync":
            raise InvalidInputError("options.delete", "delete is only used with mode: sync")
        return self

    @property
    def principal_account(self) -> str:
        match = _PRINCIPAL_RE.match(self.principal_arn)
        assert match
        return match.group(2)

    @property
    def principal_kind(self) -> str:
        match = _PRINCIPAL_RE.match(self.principal_arn)
        assert match
        return match.group(3)

    @property
    def principal_name(self) -> str:
        """The user or role name (the last path segment)."""
        return self.principal_arn.rsplit("/", 1)[-1]

    @classmethod
    def create(cls, data: dict[str, Any]) -> TransferSpec:
        """Validate ``data``; any problem raises :class:`InvalidInputError` naming the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInputError.from_validation(exc) from None

    @classmethod
    def from_file(cls, path: str | Path) -> TransferSpec:
        """Read a YAML or JSON config file."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise InvalidInputError("config", f"{path} is not valid YAML/JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInputError(
                "config", f"{path} must hold a mapping with source, destination, principal_arn"
            )
        return cls.create(data)
