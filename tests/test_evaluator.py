"""Evaluator vectors from AWS's documented policy evaluation logic."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_s3xacct.permissions.conditions import condition_matches
from airflow_provider_s3xacct.permissions.evaluator import Document, Request, evaluate

ALICE = "arn:aws:iam::222222222222:role/sync"
OBJ = "arn:aws:s3:::src-bucket/data/file.csv"
KEY = "arn:aws:kms:us-east-1:111111111111:key/k1"


def req(
    action: str = "s3:GetObject", resource: str = OBJ, owner: str = "111111111111", **context: str
) -> Request:
    return Request(ALICE, "222222222222", action, resource, owner, context, is_kms=action.startswith("kms:"))


def doc(*statements: dict[str, Any], name: str = "doc") -> Document:
    return Document(name, {"Version": "2012-10-17", "Statement": list(statements)})


def allow(
    action: Any = "s3:GetObject", resource: Any = "arn:aws:s3:::src-bucket/data/*", **extra: Any
) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_cross_account_needs_identity_and_resource_policy() -> None:
    identity = doc(allow(Sid="Id"))
    bucket = doc(allow(Sid="Bucket", Principal={"AWS": ALICE}))
    assert evaluate(req(), [identity], bucket).allowed
    only_identity = evaluate(req(), [identity], None)
    assert not only_identity.allowed and only_identity.missing == ("resource",)
    only_bucket = evaluate(req(), [], bucket)
    assert not only_bucket.allowed and only_bucket.missing == ("identity",)


def test_same_account_needs_either_policy() -> None:
    same = req(owner="222222222222")
    assert evaluate(same, [doc(allow())], None).allowed
    assert evaluate(same, [], doc(allow(Principal={"AWS": ALICE}))).allowed
    # Naming the account root in a bucket policy delegates to IAM: not a grant by itself.
    assert not evaluate(same, [], doc(allow(Principal={"AWS": "arn:aws:iam::222222222222:root"}))).allowed


def test_explicit_deny_wins_over_any_allow() -> None:
    deny = {"Sid": "NoReads", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}
    decision = evaluate(req(), [doc(allow())], doc(allow(Principal={"AWS": ALICE}), deny, name="bucket"))
    assert not decision.allowed and decision.denied_by is not None and decision.denied_by.sid == "NoReads"
    assert "bucket" in decision.reason


def test_wildcards_in_actions_and_resources() -> None:
    assert evaluate(req(owner="222222222222"), [doc(allow("s3:Get*", "arn:aws:s3:::src-*/*"))], None).allowed
    assert evaluate(
        req(owner="222222222222"), [doc(allow("S3:GETOBJECT", "arn:aws:s3:::src-bucket/data/file.???"))], None
    ).allowed
    # Resources are case-sensitive.
    assert not evaluate(
        req(owner="222222222222"), [doc(allow(resource="arn:aws:s3:::SRC-bucket/*"))], None
    ).allowed
    # ListBucket granted on the object ARN (the blog's defect) does not cover the bucket ARN.
    listing = req("s3:ListBucket", "arn:aws:s3:::src-bucket", owner="222222222222")
    assert not evaluate(listing, [doc(allow("s3:ListBucket", "arn:aws:s3:::src-bucket/*"))], None).allowed
    # An action with a space matches nothing.
    put = req("s3:PutObject", "arn:aws:s3:::dst/x", owner="222222222222")
    assert not evaluate(put, [doc(allow("s3: PutObject", "arn:aws:s3:::dst/*"))], None).allowed


def test_not_action_not_resource_not_principal() -> None:
    everything_but_delete = {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}
    same = req(owner="222222222222")
    assert evaluate(same, [doc(everything_but_delete)], None).allowed
    assert not evaluate(
        req("s3:DeleteObject", owner="222222222222"), [doc(everything_but_delete)], None
    ).allowed
    outside_secret = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "NotResource": "arn:aws:s3:::src-bucket/secret/*",
    }
    assert evaluate(same, [doc(outside_secret)], None).allowed
    # IAM User Guide, NotPrincipal: the role ARN alone does not exempt the role's sessions (the
    # copy runs as one), so this Deny applies; listing the session, its role and account does not.
    deny_others = {"Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "s3:*", "Resource": "*"}
    assert (
        evaluate(req(), [doc(allow())], doc(allow(Principal={"AWS": ALICE}), deny_others)).verdict == "denied"
    )
    session = "arn:aws:sts::222222222222:assumed-role/sync/nightly"
    exempt = dict(deny_others, NotPrincipal={"AWS": [session, ALICE, "arn:aws:iam::222222222222:root"]})
    as_session = Request(session, "222222222222", "s3:GetObject", OBJ, "111111111111", {})
    assert evaluate(as_session, [doc(allow())], doc(allow(Principal={"AWS": ALICE}), exempt)).allowed
    bob = Request(
        "arn:aws:iam::222222222222:role/bob", "222222222222", "s3:GetObject", OBJ, "111111111111", {}
    )
    assert not evaluate(bob, [doc(allow())], doc(allow(Principal="*"), deny_others)).allowed


def test_kms_needs_the_key_policy() -> None:
    identity = doc(allow("kms:Decrypt", KEY))
    naming = doc(allow("kms:Decrypt", "*", Principal={"AWS": ALICE}))
    # Cross-account key: key policy AND identity policy.
    assert evaluate(req("kms:Decrypt", KEY), [identity], naming).allowed
    assert not evaluate(req("kms:Decrypt", KEY), [], naming).allowed
    assert evaluate(req("kms:Decrypt", KEY), [identity], None).missing == ("resource",)
    # Key policy delegating to the principal's account root + identity policy: allowed.
    to_account = doc(allow("kms:*", "*", Principal={"AWS": "arn:aws:iam::222222222222:root"}))
    assert evaluate(req("kms:Decrypt", KEY), [identity], to_account).allowed


def test_same_account_kms_delegation() -> None:
    own_key = "arn:aws:kms:us-east-1:222222222222:key/k2"
    default = doc(allow("kms:*", "*", Principal={"AWS": "arn:aws:iam::222222222222:root"}))
    request = req("kms:GenerateDataKey", own_key, owner="222222222222")
    assert evaluate(request, [doc(allow("kms:GenerateDataKey", own_key))], default).allowed
    # Without delegation the identity policy alone is not enough...
    no_delegation = doc(allow("kms:*", "*", Principal={"AWS": "arn:aws:iam::222222222222:role/admin"}))
    decision = evaluate(request, [doc(allow("kms:GenerateDataKey", own_key))], no_delegation)
    assert not decision.allowed and decision.missing == ("resource",)
    # ...while a key policy naming the principal suffices in the same account.
    assert evaluate(request, [], doc(allow("kms:GenerateDataKey", "*", Principal={"AWS": ALICE}))).allowed


@pytest.mark.parametrize(
    ("block", "context", "expected"),
    [
        ({"StringEquals": {"s3:prefix": ["a/", "b/"]}}, {"s3:prefix": "b/"}, True),
        ({"StringEquals": {"s3:prefix": "a/"}}, {}, False),
        ({"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}, {}, True),
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "b"}, False),
        ({"StringNotEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringLike": {"s3:prefix": "data/*"}}, {"s3:prefix": "data/2024/"}, True),
        ({"StringNotLike": {"k": "arn:aws:kms:*:1:key/*"}}, {"k": "arn:aws:kms:us-east-1:1:key/x"}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        ({"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": "false"}, True),
        ({"Null": {"k": "true"}}, {}, True),
        ({"Null": {"k": "false"}}, {}, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/sync"}}, {"aws:PrincipalArn": ALICE}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["c", "b"]}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "c"]}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {}, False),
        ({"StringEquals": {"S3:Prefix": "a/"}}, {"s3:prefix": "a/"}, True),
        ({"StringEquals": {"a": "1"}, "Bool": {"b": "true"}}, {"a": "1", "b": "false"}, False),
    ],
)
def test_condition_vectors(block: dict[str, Any], context: dict[str, Any], expected: bool) -> None:
    assert condition_matches(block, context) is expected
