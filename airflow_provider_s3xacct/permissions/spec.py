"""``TransferSpec``: the one model behind plan/verify/apply, from operator arguments or a config file."""

from __future__ import annotations

import ast
import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airflow_provider_s3xacct.aws.arns import PARTITIONS, Principal, partition_of_arn, partition_of_region
from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.aws.locations import (
    KmsKeyRef,
    normalise_prefix,
    prefixes_overlap,
    validate_account_id,
    validate_bucket_name,
    validate_region,
)

# In a policy's Resource and s3:prefix condition these are wildcards or a variable, not characters.
_POLICY_SPECIAL = (
    ("*", "matches any characters"),
    ("?", "matches any one character"),
    ("${", "starts a policy variable"),
)
_ORG_ID_RE = re.compile(r"^o-[a-z0-9]{10,32}$")
_ORG_PATH_RE = re.compile(r"^o-[a-z0-9]{10,32}/r-[0-9a-z]{4,32}/(?:ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}/)*$")
_VPCE_RE = re.compile(r"^vpce-[0-9a-f]{8,17}$")

# The side of the copy a request touches. In a relay copy each side has its own principal: the
# source principal makes every request on the source bucket and keys, the destination principal
# every request on the destination bucket and key.
Side = Literal["source", "destination"]
SIDES: tuple[Side, ...] = get_args(Side)
# The spec field naming each side's principal in a relay copy.
RELAY_PRINCIPAL_FIELDS: dict[Side, str] = {
    "source": "source_principal_arn",
    "destination": "dest_principal_arn",
}


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
    acl: str | None = None  # the canned ACL the copy sends (s3:x-amz-acl); None sends none
    delete: bool = False
    multipart: bool = True
    enforce_destination_kms: bool = True
    require_tls: bool = True


class RequestContextSpec(BaseModel):
    """What only the user knows about the copy's requests; each unset field stays unknown to verify.

    A policy condition on a key whose value is unknown makes the check undetermined, never allowed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    organization_id: str | None = None  # aws:PrincipalOrgID
    org_paths: tuple[str, ...] | None = None  # aws:PrincipalOrgPaths
    # aws:PrincipalTag/*: the complete set of the principal's tags (others are then known absent)
    principal_tags: dict[str, str] | None = None
    # aws:SourceVpce: the copy's S3 requests go through this VPC endpoint
    vpc_endpoint_id: str | None = None
    egress_cidrs: tuple[str, ...] | None = None  # aws:SourceIp (or aws:VpcSourceIp behind an endpoint)

    @field_validator("organization_id")
    @classmethod
    def _org(cls, v: str | None) -> str | None:
        if v is not None and not _ORG_ID_RE.match(v):
            raise InvalidInputError(
                "request_context.organization_id", f"{v!r} is not an organization id (o-...)"
            )
        return v

    @field_validator("org_paths", mode="before")
    @classmethod
    def _paths(cls, v: Any) -> tuple[str, ...] | None:
        if v is None:
            return None
        paths = (v,) if isinstance(v, str) else tuple(v)
        for i, path in enumerate(paths):
            if not _ORG_PATH_RE.match(str(path)):
                raise InvalidInputError(
                    f"request_context.org_paths[{i}]",
                    f"{path!r} is not an organization path such as 'o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/'",
                )
        return tuple(str(p) for p in paths)

    @field_validator("vpc_endpoint_id")
    @classmethod
    def _vpce(cls, v: str | None) -> str | None:
        if v is not None and not _VPCE_RE.match(v):
            raise InvalidInputError(
                "request_context.vpc_endpoint_id", f"{v!r} is not a VPC endpoint id (vpce-...)"
            )
        return v

    @field_validator("egress_cidrs", mode="before")
    @classmethod
    def _cidrs(cls, v: Any) -> tuple[str, ...] | None:
        if v is None:
            return None
        cidrs = (v,) if isinstance(v, str) else tuple(v)
        out = []
        for i, cidr in enumerate(cidrs):
            try:
                out.append(str(ipaddress.ip_network(str(cidr), strict=False)))
            except ValueError:
                raise InvalidInputError(
                    f"request_context.egress_cidrs[{i}]",
                    f"{cidr!r} is not an IPv4/IPv6 address or CIDR range such as '203.0.113.0/24'",
                ) from None
        if not out:
            raise InvalidInputError(
                "request_context.egress_cidrs", "give at least one range, or leave it out"
            )
        return tuple(out)


class TransferSpec(BaseModel):
    """Who copies what from where to where, and how: everything the policies depend on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: SourceSpec
    destination: DestinationSpec
    # Server-side copy: the one principal that reads the source and writes the destination.
    principal_arn: str | None = None
    # Relay copy: the source principal reads (e.g. a role in the source account), the destination
    # principal writes; both given instead of principal_arn.
    source_principal_arn: str | None = None
    dest_principal_arn: str | None = None
    options: TransferOptions = Field(default_factory=TransferOptions)
    request_context: RequestContextSpec = Field(default_factory=RequestContextSpec)
    partition: str | None = None  # derived from the principal ARN and the regions when not given
    # Set on a relay view (``acting``): the side whose principal this view is.
    _side: Side | None = PrivateAttr(default=None)

    @field_validator("principal_arn", "source_principal_arn", "dest_principal_arn")
    @classmethod
    def _principal(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and Principal.parse(v) is None:
            raise InvalidInputError(
                str(info.field_name),
                f"{v!r} is not an IAM user, role or assumed-role session ARN "
                "(arn:aws:iam::<account>:user/<name>, :role/<name>, "
                "or arn:aws:sts::<account>:assumed-role/<role>/<session>)",
            )
        return v

    @field_validator("partition")
    @classmethod
    def _partition(cls, v: str | None) -> str | None:
        if v is not None and v not in PARTITIONS:
            raise InvalidInputError("partition", f"{v!r} is not one of {', '.join(PARTITIONS)}")
        return v

    @model_validator(mode="after")
    def _regions(self) -> TransferSpec:
        self._check_topology()
        self._check_partitions()
        for i, arn in enumerate(self.source.kms_key_arns):
            problem = KmsKeyRef.parse(arn, f"source.kms_key_arns[{i}]").region_problem(
                self.source.region, "source bucket"
            )
            if problem:
                raise InvalidInputError(f"source.kms_key_arns[{i}]", problem)
        if self.destination.kms_key_arn:
            problem = KmsKeyRef.parse(self.destination.kms_key_arn, "destination.kms_key_arn").region_problem(
                self.destination.region, "destination bucket"
            )
            if problem:
                raise InvalidInputError("destination.kms_key_arn", problem)
        src, dst = self.source, self.destination
        if prefixes_overlap(src.bucket, src.prefix, dst.bucket, dst.prefix):
            raise InvalidInputError(
                "destination", "overlaps the source; use another bucket or disjoint prefixes"
            )
        if self.options.delete and self.options.mode != "sync":
            raise InvalidInputError("options.delete", "delete is only used with mode: sync")
        return self

    def _check_topology(self) -> None:
        """Exactly one topology: ``principal_arn`` (server-side) or both relay principals."""
        relay = {side: getattr(self, name) for side, name in RELAY_PRINCIPAL_FIELDS.items()}
        given = [RELAY_PRINCIPAL_FIELDS[side] for side, arn in relay.items() if arn]
        if given and self.principal_arn:
            raise InvalidInputError(
                "principal_arn",
                f"names the one principal of a server-side copy, but {' and '.join(given)} make this a "
                "relay copy; give principal_arn alone, or source_principal_arn and dest_principal_arn",
            )
        if len(given) == 1:
            missing = next(n for n in RELAY_PRINCIPAL_FIELDS.values() if n not in given)
            raise InvalidInputError(
                missing,
                f"a relay copy needs both principals and only {given[0]} is given: the source principal "
                "reads the source, the destination principal writes the destination; add "
                f"{missing}, or give principal_arn alone for a server-side copy",
            )
        if not given and not self.principal_arn:
            raise InvalidInputError(
                "principal_arn",
                "required: the principal of a server-side copy (or, for a relay copy, "
                "source_principal_arn and dest_principal_arn)",
            )

    @property
    def relay(self) -> bool:
        """Two principals, one per side (a relay copy), rather than one server-side principal."""
        return self.source_principal_arn is not None

    @property
    def side(self) -> Side | None:
        """The side a relay view (:meth:`acting`) stands for; None for a whole spec."""
        return self._side

    def acting(self, side: Side) -> TransferSpec:
        """This transfer as seen by the principal of ``side``: ``principal_arn`` is that principal.

        A server-side spec is its own view of either side. A relay view stays a relay spec (its
        requests are the relay's) whose ``side`` says which requests and statements are its own:
        everything that works on one principal (its requests, statements, guardrails) runs on it.
        """
        if not self.relay:
            return self
        view = self.model_copy(update={"principal_arn": getattr(self, RELAY_PRINCIPAL_FIELDS[side])})
        view._side = side
        return view

    def _check_partitions(self) -> None:
        """Every ARN and region of the spec must be in one partition; ``partition`` defaults to it."""
        found = [
            (name, Principal.parse(arn).partition)  # type: ignore[union-attr]  # validated above
            for name in ("principal_arn", *RELAY_PRINCIPAL_FIELDS.values())
            if (arn := getattr(self, name))
        ]
        found += [("source.region", partition_of_region(self.source.region))]
        found += [("destination.region", partition_of_region(self.destination.region))]
        found += [
            (f"source.kms_key_arns[{i}]", partition_of_arn(a)) for i, a in enumerate(self.source.kms_key_arns)
        ]
        if self.destination.kms_key_arn:
            found.append(("destination.kms_key_arn", partition_of_arn(self.destination.kms_key_arn)))
        expected = self.partition or found[0][1]
        for field, partition in found:
            if partition != expected:
                raise InvalidInputError(
                    field,
                    f"is in partition {partition!r} but the transfer is in {expected!r}; "
                    "ARNs and regions of one transfer must share a partition (aws, aws-cn, aws-us-gov)",
                )
        if self.partition is None:
            object.__setattr__(self, "partition", expected)

    @property
    def acting_principal_arn(self) -> str:
        """``principal_arn`` as given, of a server-side copy or a relay view (:meth:`acting`)."""
        if self.principal_arn is None:
            raise ValueError("a relay spec has two principals: use spec.acting(side)")
        return self.principal_arn

    @property
    def principal(self) -> Principal:
        """The one principal of a server-side copy (or of a relay view, :meth:`acting`)."""
        principal = Principal.parse(self.acting_principal_arn)
        assert principal
        return principal

    @property
    def arn_partition(self) -> str:
        """The partition every ARN of this transfer uses."""
        return self.partition or self.principal.partition

    @property
    def principal_account(self) -> str:
        return self.principal.account

    @property
    def principal_kind(self) -> str:
        return self.principal.kind

    @property
    def principal_name(self) -> str:
        """The user or role name (the last path segment; a session's role)."""
        return self.principal.name

    @classmethod
    def create(cls, data: dict[str, Any]) -> TransferSpec:
        """Validate ``data``; any problem raises :class:`InvalidInputError` naming the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInputError.from_validation(exc) from None

    @classmethod
    def parse(cls, value: Any, field: str = "transfer") -> TransferSpec:
        """The transfer from what an operator argument rendered to: a mapping or its text.

        Airflow renders templates to text unless the DAG sets ``render_template_as_native_obj``:
        ``"{{ var.json.s3xacct_transfer }}"`` then arrives as the mapping's Python repr (single
        quotes, ``True``/``None``), ``"{{ var.value.s3xacct_transfer }}"`` as JSON. Both are read
        here (``ast.literal_eval`` reads literals only, never code), so the argument works on every
        Airflow without native rendering.
        """
        if isinstance(value, TransferSpec):
            return value
        if isinstance(value, str):
            value = _mapping_from_text(value, field)
        if not isinstance(value, Mapping):
            raise InvalidInputError(
                field,
                f"must be the transfer as a mapping (or its JSON) with source, destination, "
                f"principal_arn; got {type(value).__name__}",
            )
        try:
            return cls.create(dict(value))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{field}.{exc.field}", str(exc)[len(exc.field) + 2 :]) from None

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
                "config",
                f"{path} must hold a mapping with source, destination, principal_arn "
                "(or source_principal_arn and dest_principal_arn)",
            )
        return cls.create(data)


def _mapping_from_text(text: str, field: str) -> Any:
    """A JSON object, or the Python literal of a dict (what Jinja renders a mapping to)."""
    stripped = text.strip()
    if not stripped or stripped in ("None", "null"):
        raise InvalidInputError(
            field, "is empty: set the Airflow Variable (or pass the transfer mapping) it refers to"
        )
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as json_error:
        try:
            return ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise InvalidInputError(
                field,
                f"rendered to text that is neither JSON nor a Python mapping ({json_error.msg} at "
                f"line {json_error.lineno} column {json_error.colno}): {stripped[:80]!r}",
            ) from None
