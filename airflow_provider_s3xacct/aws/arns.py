"""ARNs and partitions: the one place that knows ``arn:<partition>:`` and the principal ARN forms.

AWS ARNs start with the partition (``aws``, ``aws-cn``, ``aws-us-gov``); a policy written with
``arn:aws:`` never matches a request in China or GovCloud. The partition follows from the region
(AWS General Reference, "Amazon Resource Names": partitions), and service endpoints (hence
``kms:ViaService``) end in the partition's DNS suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# region prefix -> partition; every other region is in "aws".
_REGION_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"))
_DNS_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}
PARTITIONS = tuple(_DNS_SUFFIX)

_IAM_RE = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):(?P<kind>user|role)/(?P<path>[\w+=,.@/-]+)$"
)
_SESSION_RE = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[\w+=,.@-]+)/(?P<session>[\w+=,.@-]+)$"
)


def partition_of_region(region: str) -> str:
    """The partition a region belongs to."""
    return next((p for prefix, p in _REGION_PARTITIONS if region.startswith(prefix)), "aws")


@dataclass(frozen=True)
class Arn:
    """``arn:partition:service:region:account-id:resource``: the one parser and formatter of ARNs.

    The resource keeps its own colons (AWS General Reference, "Amazon Resource Names (ARNs)":
    "arn:partition:service:region:account-id:resource-type:resource-id"). Region and account are
    empty for global resources (``arn:aws:s3:::bucket``, IAM's region).
    """

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        """Split ``text``; ValueError when it does not have the six fields of an ARN."""
        fields = text.split(":", 5)
        if len(fields) != 6 or fields[0] != "arn" or not fields[1] or not fields[2]:
            raise ValueError(
                f"{text!r} is not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>)"
            )
        return cls(fields[1], fields[2], fields[3], fields[4], fields[5])

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def arn_fields(text: str) -> tuple[str, ...]:
    """The colon-separated fields of an ARN or ARN pattern, at most six (the resource keeps its
    colons); unlike :meth:`Arn.parse`, a pattern with fewer fields is returned as it is."""
    return tuple(text.split(":", 5))


def partition_of_arn(arn: str) -> str:
    return Arn.parse(arn).partition


def dns_suffix(partition: str) -> str:
    return _DNS_SUFFIX[partition]


def s3_arn(partition: str, bucket: str, key: str | None = None) -> str:
    """The bucket ARN, or an object ARN when ``key`` is given (``""`` gives ``bucket/``)."""
    return str(Arn(partition, "s3", "", "", bucket + ("" if key is None else f"/{key}")))


def root_arn(partition: str, account: str) -> str:
    return str(Arn(partition, "iam", "", account, "root"))


def account_of(arn: str) -> str:
    return Arn.parse(arn).account


def region_of(arn: str) -> str:
    return Arn.parse(arn).region


@dataclass(frozen=True)
class Principal:
    """The identity the copy runs as, in every form a policy can name it.

    ``kind`` is ``user`` or ``role``; a role always acts through a session (``session`` is its
    name when the spec gives a session ARN, else None: verify does not know it).
    """

    partition: str
    account: str
    kind: Literal["user", "role"]
    name: str  # user or role name, without path
    arn: str  # the user or role ARN (a role ARN derived from a session ARN has no path)
    session: str | None = None

    @classmethod
    def parse(cls, arn: str) -> Principal | None:
        """A user, role or assumed-role session ARN; None for anything else."""
        if match := _IAM_RE.match(arn):
            kind: Literal["user", "role"] = "user" if match["kind"] == "user" else "role"
            return cls(match["partition"], match["account"], kind, match["path"].rsplit("/", 1)[-1], arn)
        if match := _SESSION_RE.match(arn):
            role_arn = f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"
            return cls(
                match["partition"], match["account"], "role", match["role"], role_arn, match["session"]
            )
        return None

    @property
    def session_arn(self) -> str | None:
        if self.kind != "role" or self.session is None:
            return None
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.name}/{self.session}"

    @property
    def session_arn_prefix(self) -> str:
        """Every session ARN of this role starts with this."""
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.name}/"

    @property
    def root(self) -> str:
        return root_arn(self.partition, self.account)
