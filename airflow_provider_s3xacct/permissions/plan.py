"""``plan_policies``: the least-privilege statements each document needs, with stable Sids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args

from airflow_provider_s3xacct.aws.arns import account_of, partition_of_arn, root_arn, s3_arn
from airflow_provider_s3xacct.permissions.actions import Grant, actions
from airflow_provider_s3xacct.permissions.spec import TransferSpec

SID_PREFIX = "S3xacct"
# Every Sid plan_policies can write: the statements ``apply`` owns, by exact Sid. Another statement
# is never ours, whatever its Sid starts with (a person's ``S3xacctBreakGlassDeny`` stays).
# The Allow statements are the options table's grants; the Deny guard rails are the plan's own.
PLANNED_SIDS = frozenset(
    SID_PREFIX + name
    for name in (*get_args(Grant), "DenyOtherKmsKeys", "DenyOtherEncryption", "DenyInsecureTransport")
)
# The identity statements of the source side (the rest are the destination's): in a relay copy
# the source principal's identity policy holds these only.
_SOURCE_SIDS = frozenset(SID_PREFIX + name for name in ("ListSource", "ReadSource", "DecryptSource"))
IDENTITY_POLICY_NAME = "s3xacct-sync"  # the inline policy we own on the user or role

# File names of the offline layout (`plan --out`, `verify --policies-dir`).
IDENTITY_FILE = "identity.json"
# A relay copy has two principals, so two identity policies instead of identity.json.
SOURCE_IDENTITY_FILE = "source-identity.json"
DEST_IDENTITY_FILE = "dest-identity.json"
SOURCE_BUCKET_FILE = "source-bucket-policy.json"
SOURCE_KEYS_FILE = "source-key-policies.json"
DEST_BUCKET_FILE = "dest-bucket-policy.json"
DEST_KEY_FILE = "dest-key-policy.json"


def identity_file(spec: TransferSpec) -> str:
    """The offline file of ``spec.principal``'s identity policy (a relay view: its side's file)."""
    if not spec.relay:
        return IDENTITY_FILE
    assert spec.side, "a whole relay spec has two identity files: pass a view (spec.acting(side))"
    return SOURCE_IDENTITY_FILE if spec.side == "source" else DEST_IDENTITY_FILE


def default_key_policy(account_id: str, partition: str = "aws") -> dict[str, Any]:
    """KMS's default key policy: the owning account's root may do everything (delegation to IAM)."""
    return {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": root_arn(partition, account_id)},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def _prefix_condition(prefix: str) -> dict[str, Any]:
    return {"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else {}


def _one(granted: list[str]) -> str | list[str]:
    """A statement's Action as the plan has always written it: a string when it is one action."""
    return granted[0] if len(granted) == 1 else granted


def _with_condition(stmt: dict[str, Any], condition: dict[str, Any]) -> dict[str, Any]:
    if condition:
        stmt["Condition"] = condition
    return stmt


@dataclass
class PolicyPlan:
    """Our statements, per document. Key policies are keyed by key ARN.

    ``identity`` is the principal's identity policy; in a relay copy the source principal's, and
    ``dest_identity`` the destination principal's (empty for a server-side copy).
    """

    identity: list[dict[str, Any]] = field(default_factory=list)
    dest_identity: list[dict[str, Any]] = field(default_factory=list)
    source_bucket: list[dict[str, Any]] = field(default_factory=list)
    source_keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dest_bucket: list[dict[str, Any]] = field(default_factory=list)
    dest_key: list[dict[str, Any]] = field(default_factory=list)

    def files(self, spec: TransferSpec) -> dict[str, Any]:
        """Every document verify needs, in the offline file layout.

        Key policies keep the owner's root grant; a same-account key gets its default policy and a
        bucket that needs no statement an empty document, so ``verify --policies-dir`` on this
        folder checks every request instead of guessing what absent files hold.
        """
        identities = (
            {
                SOURCE_IDENTITY_FILE: _document(self.identity),
                DEST_IDENTITY_FILE: _document(self.dest_identity),
            }
            if spec.relay
            else {IDENTITY_FILE: _document(self.identity)}
        )
        out: dict[str, Any] = {
            **identities,
            SOURCE_BUCKET_FILE: _document(self.source_bucket),
            DEST_BUCKET_FILE: _document(self.dest_bucket),
        }
        if spec.source.kms_key_arns:
            out[SOURCE_KEYS_FILE] = {
                arn: _merged_key_policy(arn, self.source_keys.get(arn, []))
                for arn in spec.source.kms_key_arns
            }
        if spec.destination.kms_key_arn:
            out[DEST_KEY_FILE] = _merged_key_policy(spec.destination.kms_key_arn, self.dest_key)
        return out


def _merged_key_policy(key_arn: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    policy = default_key_policy(account_of(key_arn), partition_of_arn(key_arn))
    policy["Statement"].extend(statements)
    return policy


def plan_policies(spec: TransferSpec) -> PolicyPlan:
    """Statements that allow exactly what ``required_requests(spec)`` lists, and nothing more.

    A relay copy: the source principal's identity policy and, only when it lives in another
    account, the grants of the source bucket and keys; the same for the destination principal
    and the destination's documents. When each principal lives in its side's account, no document
    names a principal of another account.
    """
    if spec.relay and spec.side is None:
        source, dest = plan_policies(spec.acting("source")), plan_policies(spec.acting("destination"))
        return PolicyPlan(
            identity=source.identity,
            dest_identity=dest.identity,
            source_bucket=source.source_bucket,
            source_keys=source.source_keys,
            dest_bucket=dest.dest_bucket,
            dest_key=dest.dest_key,
        )
    full = _statements(spec)
    if spec.side is None:
        return full
    if spec.side == "source":
        return PolicyPlan(
            identity=[st for st in full.identity if st["Sid"] in _SOURCE_SIDS],
            source_bucket=full.source_bucket,
            source_keys=full.source_keys,
        )
    return PolicyPlan(
        identity=[st for st in full.identity if st["Sid"] not in _SOURCE_SIDS],
        dest_bucket=full.dest_bucket,
        dest_key=full.dest_key,
    )


def cross_account_grants(spec: TransferSpec, plan: PolicyPlan) -> list[str]:
    """Each planned bucket or key statement that allows a principal of another account, described."""
    found = []
    documents = [
        (f"source bucket policy of {spec.source.bucket}", spec.source.account_id, plan.source_bucket)
    ]
    documents += [(f"key policy of {arn}", account_of(arn), st) for arn, st in plan.source_keys.items()]
    documents += [
        (
            f"destination bucket policy of {spec.destination.bucket}",
            spec.destination.account_id,
            plan.dest_bucket,
        )
    ]
    if spec.destination.kms_key_arn:
        documents.append(
            (
                f"key policy of {spec.destination.kms_key_arn}",
                account_of(spec.destination.kms_key_arn),
                plan.dest_key,
            )
        )
    for name, owner, statements in documents:
        for stmt in statements:
            principal = stmt.get("Principal")
            arns = principal.get("AWS", []) if isinstance(principal, dict) else []
            foreign = [a for a in ([arns] if isinstance(arns, str) else arns) if account_of(a) != owner]
            if stmt["Effect"] == "Allow" and foreign:
                found.append(f"{name}: {stmt['Sid']} allows {', '.join(foreign)}")
    return found


def _statements(spec: TransferSpec) -> PolicyPlan:
    """Every statement the copy needs when ``spec.principal`` makes all of its requests."""
    src, dst, opts = spec.source, spec.destination, spec.options
    principal = {"AWS": spec.principal.arn}  # a session ARN names its role: sessions come and go
    partition = spec.arn_partition
    src_bucket, dst_bucket = s3_arn(partition, src.bucket), s3_arn(partition, dst.bucket)
    src_objects, dst_objects = f"{src_bucket}/{src.prefix}*", f"{dst_bucket}/{dst.prefix}*"
    # Every Action below comes from the options table that required_requests reads too.
    read_actions, write_actions = actions("ReadSource", opts), actions("WriteDestination", opts)
    dest_key_actions = actions("EncryptDestination", opts)
    (list_action,) = actions("ListSource", opts)
    (decrypt_action,) = actions("DecryptSource", opts)
    # Statements that only some options need: present when the table gives them an action.
    list_dest, list_uploads = actions("ListDestination", opts), actions("ListDestinationUploads", opts)
    plan = PolicyPlan()

    # Identity policy of the principal: every request, same- or cross-account.
    plan.identity.append(
        _with_condition(
            {
                "Sid": f"{SID_PREFIX}ListSource",
                "Effect": "Allow",
                "Action": list_action,
                "Resource": src_bucket,
            },
            _prefix_condition(src.prefix),
        )
    )
    plan.identity.append(
        {"Sid": f"{SID_PREFIX}ReadSource", "Effect": "Allow", "Action": read_actions, "Resource": src_objects}
    )
    if list_dest:
        plan.identity.append(
            _with_condition(
                {
                    "Sid": f"{SID_PREFIX}ListDestination",
                    "Effect": "Allow",
                    "Action": _one(list_dest),
                    "Resource": dst_bucket,
                },
                _prefix_condition(dst.prefix),
            )
        )
    uploads = {
        "Sid": f"{SID_PREFIX}ListDestinationUploads",
        "Effect": "Allow",
        "Action": _one(list_uploads),
        "Resource": dst_bucket,
    }
    if list_uploads:
        plan.identity.append(dict(uploads))
    plan.identity.append(
        {
            "Sid": f"{SID_PREFIX}WriteDestination",
            "Effect": "Allow",
            "Action": write_actions,
            "Resource": dst_objects,
        }
    )
    if src.kms_key_arns:
        plan.identity.append(
            {
                "Sid": f"{SID_PREFIX}DecryptSource",
                "Effect": "Allow",
                "Action": decrypt_action,
                "Resource": list(src.kms_key_arns),
            }
        )
    if dst.kms_key_arn:
        plan.identity.append(
            {
                "Sid": f"{SID_PREFIX}EncryptDestination",
                "Effect": "Allow",
                "Action": dest_key_actions,
                "Resource": dst.kms_key_arn,
            }
        )

    # Source bucket policy: only needed when the principal is in another account.
    if src.account_id != spec.principal_account:
        plan.source_bucket.append(
            _with_condition(
                {
                    "Sid": f"{SID_PREFIX}ListSource",
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": list_action,
                    "Resource": src_bucket,
                },
                _prefix_condition(src.prefix),
            )
        )
        plan.source_bucket.append(
            {
                "Sid": f"{SID_PREFIX}ReadSource",
                "Effect": "Allow",
                "Principal": principal,
                "Action": read_actions,
                "Resource": src_objects,
            }
        )

    # Key policies: a cross-account key must name the principal; a same-account key's default
    # policy already delegates to IAM, so the identity statement above is enough.
    for arn in src.kms_key_arns:
        if account_of(arn) != spec.principal_account:
            plan.source_keys[arn] = [
                {
                    "Sid": f"{SID_PREFIX}DecryptSource",
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": decrypt_action,
                    "Resource": "*",
                }
            ]
    if dst.kms_key_arn and account_of(dst.kms_key_arn) != spec.principal_account:
        plan.dest_key.append(
            {
                "Sid": f"{SID_PREFIX}EncryptDestination",
                "Effect": "Allow",
                "Principal": principal,
                "Action": dest_key_actions,
                "Resource": "*",
            }
        )

    # Destination bucket policy: the cross-account Allow, then the optional guard rails.
    if dst.account_id != spec.principal_account:
        if list_dest:
            plan.dest_bucket.append(
                _with_condition(
                    {
                        "Sid": f"{SID_PREFIX}ListDestination",
                        "Effect": "Allow",
                        "Principal": principal,
                        "Action": _one(list_dest),
                        "Resource": dst_bucket,
                    },
                    _prefix_condition(dst.prefix),
                )
            )
        if list_uploads:
            plan.dest_bucket.append({**uploads, "Principal": principal})
        plan.dest_bucket.append(
            {
                "Sid": f"{SID_PREFIX}WriteDestination",
                "Effect": "Allow",
                "Principal": principal,
                "Action": write_actions,
                "Resource": dst_objects,
            }
        )
    if opts.enforce_destination_kms and dst.kms_key_arn:
        # Deny only when a request names another key: the Null test keeps UploadPart/UploadPartCopy
        # (which carry no encryption headers) working, unlike the blog's StringNotLike alone.
        plan.dest_bucket.append(
            {
                "Sid": f"{SID_PREFIX}DenyOtherKmsKeys",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": dst_objects,
                "Condition": {
                    "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"},
                    "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": dst.kms_key_arn},
                },
            }
        )
        plan.dest_bucket.append(
            {
                "Sid": f"{SID_PREFIX}DenyOtherEncryption",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": dst_objects,
                "Condition": {
                    "Null": {"s3:x-amz-server-side-encryption": "false"},
                    "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                },
            }
        )
    if opts.require_tls:
        plan.dest_bucket.append(
            {
                "Sid": f"{SID_PREFIX}DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [dst_bucket, f"{dst_bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        )
    return plan
