"""``required_requests``: every authorisation the copy engine will need, with the context AWS builds.

Each request carries a :class:`Context`: the keys whose value verify knows (from the spec, the
principal and the options), the keys it knows AWS does not set for that request (``absent``),
and, by omission, everything else as unknown. Object requests stand for every key under the
prefix (``resource_prefix``), not one sample key: a statement that names only part of the prefix
is seen as such by the evaluator.

Sources: IAM User Guide, "AWS global condition context keys"; S3 User Guide, "Actions, resources,
and condition keys for Amazon S3" and "Bucket policy examples"; KMS Developer Guide,
"kms:ViaService", "kms:CallerAccount", "Encryption context" (S3 uses the object ARN, or the bucket
ARN with S3 Bucket Keys).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from airflow_provider_s3xacct.aws.arns import account_of, dns_suffix, s3_arn
from airflow_provider_s3xacct.permissions.actions import Need, needs
from airflow_provider_s3xacct.permissions.conditions import Context
from airflow_provider_s3xacct.permissions.spec import SIDES, DestinationSpec, Side, SourceSpec, TransferSpec

# The object that stands for "any key under the prefix" where a context value must be one string
# (the encryption context of the KMS calls); the Resource itself is evaluated as the whole prefix.
SAMPLE_OBJECT = "s3xacct-any-object"

ResourceKind = Literal["source-bucket", "dest-bucket", "source-key", "dest-key"]

# Headers only a server-side copy sends (CopyObject, UploadPartCopy): absent from every relay write.
_COPY_HEADERS = frozenset({"s3:x-amz-copy-source", "s3:x-amz-metadata-directive"})
# What the relay's requests are, where they differ from the server-side copy's (the same actions).
_RELAY_PURPOSES = {
    "read-source": "read source objects (GetObject, ranged for large objects; HeadObject)",
    "copy-object": "write destination objects (PutObject)",
    "upload-part-copy": "write parts of multipart uploads (UploadPart, no SSE headers)",
}

# S3 caps one ListObjectsV2 page at 1,000 keys; the engine asks for pages of that size.
_LIST_PAGE_SIZE = "1000"


@dataclass(frozen=True)
class RequiredRequest:
    """One (action, resource, context) the principal must be allowed, and why the copy needs it.

    ``contexts`` has one entry per possible source network (one per egress range of the spec):
    the request must be allowed from each.
    """

    action: str
    resource: str
    resource_kind: ResourceKind
    resource_account: str
    purpose: str
    contexts: tuple[Context, ...] = field(default_factory=lambda: (Context({}),))
    key_arn: str | None = None  # for source-key / dest-key: which key policy document applies
    resource_prefix: bool = False  # the resource is every object ARN starting with ``resource``
    # Context keys whose value (a stand-in object) stands for every value with this prefix.
    value_prefixes: Mapping[str, str] = field(default_factory=dict)

    @property
    def context(self) -> Context:
        return self.contexts[0]

    @property
    def side(self) -> Side:
        """The side whose resource this request touches: in a relay copy, whose principal makes it."""
        return "source" if self.resource_kind.startswith("source") else "destination"

    @property
    def sample_resource(self) -> str:
        """One resource the request stands for (an object under the prefix for prefix requests)."""
        return f"{self.resource}{SAMPLE_OBJECT}" if self.resource_prefix else self.resource

    @property
    def shown_resource(self) -> str:
        return f"{self.resource}*" if self.resource_prefix else self.resource

    def describe(self) -> str:
        return f"{self.action} on {self.shown_resource} ({self.purpose})"


@dataclass(frozen=True)
class ObservedPrincipal:
    """What an admin identity read about the principal online (spec fields, when given, win).

    ``tags_complete``: a user's IAM tags are all its tags; a role session may add session tags
    (or override the role's), so for a role only the tags read are known and others stay unknown.
    """

    organization_id: str | None = None
    tags: Mapping[str, str] | None = None
    tags_complete: bool = False
    unique_id: str | None = None  # the user's or role's id (AIDA... / AROA...)


def _principal_keys(
    spec: TransferSpec, observed: ObservedPrincipal
) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    """Global keys about the principal (IAM User Guide, "Properties of the principal")."""
    principal, known = spec.principal, spec.request_context
    values: dict[str, tuple[str, ...]] = {
        "aws:PrincipalArn": (principal.arn,),
        "aws:PrincipalAccount": (principal.account,),
        "aws:PrincipalType": ("User" if principal.kind == "user" else "AssumedRole",),
        "aws:PrincipalIsAWSService": ("false",),
    }
    absent = {"aws:PrincipalServiceName", "aws:PrincipalServiceNamesList", "aws:SourceOwner", "aws:SourceArn"}
    if principal.kind == "user":
        values["aws:username"] = (principal.name,)
    else:
        absent.add("aws:username")  # not present for roles (IAM User Guide, aws:username)
    # aws:userid: the user's id, or "<role id>:<session name>" for a role session (IAM User Guide,
    # "aws:userid"); unknown while the id or the session name is.
    if observed.unique_id and principal.kind == "user":
        values["aws:userid"] = (observed.unique_id,)
    elif observed.unique_id and principal.session:
        values["aws:userid"] = (f"{observed.unique_id}:{principal.session}",)
    organization_id = known.organization_id or observed.organization_id
    if organization_id:
        values["aws:PrincipalOrgID"] = (organization_id,)
    if known.org_paths:
        values["aws:PrincipalOrgPaths"] = known.org_paths
    tags, complete = (
        (known.principal_tags, True)
        if known.principal_tags is not None
        else (
            observed.tags,
            observed.tags_complete,
        )
    )
    if tags is not None:
        values |= {f"aws:PrincipalTag/{k}": (v,) for k, v in tags.items()}
        if complete:
            absent.add("aws:PrincipalTag/*")
    return values, absent


def _network_variants(spec: TransferSpec) -> list[tuple[dict[str, tuple[str, ...]], set[str]]]:
    """The source network of S3 requests: one variant per egress range; unknown when not given."""
    known = spec.request_context
    # A single address (a NAT gateway's IP, /32 or /128) is the request's aws:SourceIp; a wider range
    # stays a range, which IpAddress conditions cannot decide (some of its addresses may match).
    cidrs: list[str | None] = [
        str(net.network_address) if net.num_addresses == 1 else str(net)
        for net in map(ipaddress.ip_network, known.egress_cidrs or ())
    ] or [None]
    variants = []
    for cidr in cidrs:
        values: dict[str, tuple[str, ...]] = {}
        absent: set[str] = set()
        if known.vpc_endpoint_id:
            # Through a VPC endpoint, aws:SourceIp is not available; aws:VpcSourceIp is the private IP.
            values["aws:SourceVpce"] = (known.vpc_endpoint_id,)
            absent.add("aws:SourceIp")
            if cidr:
                values["aws:VpcSourceIp"] = (cidr,)
        elif cidr:
            values["aws:SourceIp"] = (cidr,)
            absent |= {"aws:SourceVpce", "aws:SourceVpc", "aws:VpcSourceIp"}
        variants.append((values, absent))
    return variants


def required_requests(
    spec: TransferSpec, now: datetime | None = None, observed: ObservedPrincipal | None = None
) -> list[RequiredRequest]:
    """The requests ``s3xacct copy`` makes for ``spec``, as IAM sees them.

    ``now`` is the time the contexts carry (default: now); ``observed`` what was read online
    about ``spec.principal``. A relay copy's requests are each side's, made by that side's
    principal: a relay view (``spec.acting(side)``) lists its side's only, a whole relay spec
    both (then ``observed`` must be None: it describes one principal).
    """
    if spec.relay and spec.side is None:
        assert observed is None, "observed describes one principal: pass a relay view"
        return [r for side in SIDES for r in required_requests(spec.acting(side), now)]
    reqs = _requests(spec, now or datetime.now(UTC), observed)
    return [r for r in reqs if r.side == spec.side] if spec.side else reqs


def _requests(spec: TransferSpec, now: datetime, observed: ObservedPrincipal | None) -> list[RequiredRequest]:
    """Every request of the copy, as made by ``spec.principal`` (relay shapes for a relay spec)."""
    src, dst, opts = spec.source, spec.destination, spec.options
    partition = spec.arn_partition
    principal_values, principal_absent = _principal_keys(spec, observed or ObservedPrincipal())
    time_values = {
        "aws:CurrentTime": (now.strftime("%Y-%m-%dT%H:%M:%SZ"),),
        "aws:EpochTime": (str(int(now.timestamp())),),
    }
    s3_common = {
        **principal_values,
        **time_values,
        "aws:SecureTransport": ("true",),  # the engine only speaks HTTPS
        "aws:ViaAWSService": ("false",),
        "s3:signatureversion": ("AWS4-HMAC-SHA256",),
        "s3:authType": ("REST-HEADER",),
    }
    s3_absent = principal_absent | {
        "aws:CalledVia",
        "aws:CalledViaFirst",
        "aws:CalledViaLast",
        "s3:DataAccessPointArn",
        "s3:DataAccessPointAccount",
        "s3:AccessPointNetworkOrigin",
        "s3:prefix",  # ListBucket's keys: absent on every other request
        "s3:delimiter",
        "s3:max-keys",
    }
    networks = _network_variants(spec)

    def s3_contexts(
        region: str, account: str, values: Mapping[str, tuple[str, ...]], absent: set[str]
    ) -> tuple[Context, ...]:
        own = {
            "aws:RequestedRegion": (region,),
            "aws:ResourceAccount": (account,),
            "s3:ResourceAccount": (account,),
        }
        contexts = []
        for net, net_absent in networks:
            present = {**s3_common, **own, **net, **values}
            gone = {k for k in s3_absent | net_absent | absent if k not in present}
            contexts.append(Context(present, frozenset(gone)))
        return tuple(contexts)

    src_bucket, dst_bucket = s3_arn(partition, src.bucket), s3_arn(partition, dst.bucket)
    src_objects, dst_objects = (
        s3_arn(partition, src.bucket, src.prefix),
        s3_arn(partition, dst.bucket, dst.prefix),
    )
    read_ctx = s3_contexts(
        src.region, src.account_id, {}, {"s3:RequestObjectTag/*", "s3:RequestObjectTagKeys"}
    )
    # Headers the write requests carry (S3 User Guide, condition keys for PutObject).
    sse: dict[str, tuple[str, ...]] = {}
    sse_absent = {"s3:x-amz-server-side-encryption-customer-algorithm"}
    if dst.kms_key_arn:
        sse = {
            "s3:x-amz-server-side-encryption": ("aws:kms",),
            "s3:x-amz-server-side-encryption-aws-kms-key-id": (dst.kms_key_arn,),
        }
    else:
        sse_absent |= {"s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"}
    no_sse = {"s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"}
    acl: dict[str, tuple[str, ...]] = {"s3:x-amz-acl": (opts.acl,)} if opts.acl else {}
    acl_absent = set() if opts.acl else {"s3:x-amz-acl"}
    acl_absent |= {"s3:x-amz-grant-read", "s3:x-amz-grant-write", "s3:x-amz-grant-read-acp",
                   "s3:x-amz-grant-write-acp", "s3:x-amz-grant-full-control"}  # fmt: skip
    copy_source = {"s3:x-amz-copy-source": (f"{src.bucket}/{src.prefix}{SAMPLE_OBJECT}",)}
    # CopyObject sends no x-amz-tagging values (TaggingDirective COPY, or REPLACE with no tags);
    # CreateMultipartUpload does when copying tags (see start_upload).
    no_tags = {"s3:RequestObjectTag/*", "s3:RequestObjectTagKeys"}

    def write(
        extra: Mapping[str, tuple[str, ...]], absent: set[str], tagged: bool = False
    ) -> tuple[Context, ...]:
        return s3_contexts(dst.region, dst.account_id, extra, absent if tagged else absent | no_tags)

    def listing(
        need: Need, bucket_arn: str, kind: ResourceKind, side: SourceSpec | DestinationSpec
    ) -> RequiredRequest:
        keys = {"s3:prefix": (side.prefix,), "s3:max-keys": (_LIST_PAGE_SIZE,)}
        ctx = s3_contexts(side.region, side.account_id, keys, set())
        return RequiredRequest(need.action, bucket_arn, kind, side.account_id, need.purpose, ctx)

    def source_objects(action: str, purpose: str) -> RequiredRequest:
        return RequiredRequest(
            action, src_objects, "source-bucket", src.account_id, purpose, read_ctx, resource_prefix=True
        )

    def dest_objects(
        action: str, purpose: str, contexts: tuple[Context, ...], copies: bool = False
    ) -> RequiredRequest:
        ranges = {"s3:x-amz-copy-source": f"{src.bucket}/{src.prefix}"} if copies else {}
        return RequiredRequest(
            action,
            dst_objects,
            "dest-bucket",
            dst.account_id,
            purpose,
            contexts,
            resource_prefix=True,
            value_prefixes=ranges,
        )

    relay = spec.relay
    copy_headers = {**sse, **acl, **copy_source, "s3:x-amz-metadata-directive": ("COPY",)}
    # UploadPart(Copy) and CompleteMultipartUpload carry no encryption or ACL headers: a bucket-policy
    # Deny that requires them must not catch these requests.
    bare = no_sse | sse_absent | acl_absent | {"s3:x-amz-acl"}
    plain_dest = s3_contexts(dst.region, dst.account_id, {}, set())
    # The context of each destination object request, by the table's request name, and whether it
    # carries x-amz-copy-source. The relay uploads the bytes it read: no x-amz-copy-source, no
    # metadata directive; with copy_tags the object's tags travel as x-amz-tagging (unknown here).
    dest_contexts: dict[str, tuple[tuple[Context, ...], bool]] = {
        "copy-object": (
            (write({**sse, **acl}, sse_absent | acl_absent | _COPY_HEADERS, opts.copy_tags), False)
            if relay
            else (write(copy_headers, sse_absent | acl_absent), True)
        ),
        # With copy_tags the engine sends the source object's tags here (x-amz-tagging): their keys
        # and values are the objects', unknown to verify.
        "start-multipart": (
            write({**sse, **acl}, sse_absent | acl_absent | {"s3:x-amz-copy-source"}, opts.copy_tags),
            False,
        ),
        "upload-part-copy": (write({}, bare | _COPY_HEADERS), False)
        if relay
        else (write(copy_source, bare), True),
        "complete-multipart": (write({}, bare | {"s3:x-amz-copy-source"}), False),
        "abort-multipart": (write({}, set()), False),
        "write-dest-tags": (plain_dest, False),
        "delete-dest": (plain_dest, False),
    }

    def kms_context(region: str, key_arn: str, object_arn: str) -> tuple[Context, ...]:
        # S3 calls KMS with the principal's credentials in a forward access session (IAM User Guide,
        # "Forward access sessions"): aws:ViaAWSService is true and aws:CalledVia names S3's service
        # principal (known in the aws partition); the network is S3's, so source IP / endpoint stay unknown.
        fas = {"aws:ViaAWSService": ("true",)}
        if partition == "aws":
            fas |= {
                k: ("s3.amazonaws.com",) for k in ("aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast")
            }
        values = {
            **fas,
            **principal_values,
            **time_values,
            "aws:RequestedRegion": (region,),
            "aws:ResourceAccount": (account_of(key_arn),),
            "kms:CallerAccount": (spec.principal_account,),
            "kms:ViaService": (f"s3.{region}.{dns_suffix(partition)}",),
            "kms:EncryptionContext:aws:s3:arn": (object_arn,),
            "kms:EncryptionContextKeys": ("aws:s3:arn",),
        }
        return (Context(values, frozenset(principal_absent | {"kms:GrantIsForAWSResource"})),)

    def key_request(
        action: str, arn: str, kind: ResourceKind, purpose: str, side: SourceSpec | DestinationSpec
    ) -> RequiredRequest:
        sample = s3_arn(partition, side.bucket, side.prefix + SAMPLE_OBJECT)
        ctx = kms_context(side.region, arn, sample)
        objects = {"kms:EncryptionContext:aws:s3:arn": s3_arn(partition, side.bucket, side.prefix)}
        return RequiredRequest(
            action, arn, kind, account_of(arn), purpose, ctx, key_arn=arn, value_prefixes=objects
        )

    reqs: list[RequiredRequest] = []
    for need in needs(opts):
        purpose = _RELAY_PURPOSES.get(need.request, need.purpose) if relay else need.purpose
        if need.request == "list-source":
            reqs.append(listing(need, src_bucket, "source-bucket", src))
        elif need.request == "list-dest":
            reqs.append(listing(need, dst_bucket, "dest-bucket", dst))
        elif need.request in ("read-source", "read-source-tags"):
            reqs.append(source_objects(need.action, purpose))
        elif need.request in dest_contexts:
            contexts, copies = dest_contexts[need.request]
            reqs.append(dest_objects(need.action, purpose, contexts, copies=copies))
        elif need.request == "list-uploads":
            reqs.append(
                RequiredRequest(need.action, dst_bucket, "dest-bucket", dst.account_id, purpose, plain_dest)
            )
        elif need.request == "decrypt-source":
            reqs += [key_request(need.action, arn, "source-key", purpose, src) for arn in src.kms_key_arns]
        elif need.request in ("encrypt-dest", "decrypt-dest") and dst.kms_key_arn:
            reqs.append(key_request(need.action, dst.kms_key_arn, "dest-key", purpose, dst))
    return reqs
