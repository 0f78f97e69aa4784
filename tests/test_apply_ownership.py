"""``apply`` owns exactly the statements it writes and keeps everyone else's text as it was.

Observed in the documents moto stores: moto keeps bucket policies, key policies and IAM inline
policies as the text it was given (IAM returns it URL-encoded, as AWS does), so the text read back
is the text ``apply`` sent. Real S3 may return a bucket policy with its whitespace removed; what
``apply`` keeps is what the service returned, which moto cannot show.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from airflow_provider_s3xacct.cli import main, permissions_command
from airflow_provider_s3xacct.permissions.apply import ConcurrentChangeError, apply_changes, plan_changes
from airflow_provider_s3xacct.permissions.documents import AccountAdmins
from airflow_provider_s3xacct.permissions.plan import PLANNED_SIDS, plan_policies
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.permissions.verify import verify_policies
from tests.test_permissions import DST, SRC, USER, accounts  # noqa: F401 (accounts: a fixture)

# A person's statements, written by hand: pretty-printed, keys in their own order, a non-ASCII
# character, a number written as 1.0, and a Sid that merely starts with our prefix.
FOREIGN_AUDIT = """{
      "Resource": "arn:aws:s3:::src-bucket/café/*",
      "Sid": "AuditorsRead",
      "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Condition": {"NumericLessThan": {"s3:max-keys": 1.0}}
    }"""
BREAK_GLASS = """{"Sid": "S3xacctBreakGlassDeny", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::src-bucket/*"}"""
# A statement we wrote earlier, now stale (apply must replace it, not keep it beside the new one).
STALE_OURS = json.dumps(
    {
        "Sid": "S3xacctReadSource",
        "Effect": "Allow",
        "Principal": {"AWS": USER},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::src-bucket/old/*",
    }
)
SOURCE_POLICY = (
    '{\n  "Version": "2012-10-17",\n  "Id": "hand-written",\n  "Statement": [\n    '
    + FOREIGN_AUDIT
    + ",\n    "
    + STALE_OURS
    + ",\n    "
    + BREAK_GLASS
    + "\n  ]\n}"
)


@pytest.fixture
def hand_written(accounts: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """test_permissions' two moto accounts, the source bucket policy replaced by SOURCE_POLICY."""
    accounts["src"].client("s3").put_bucket_policy(Bucket="src-bucket", Policy=SOURCE_POLICY)
    return dict(accounts, data=accounts["spec"].model_dump(mode="json"))


def _stored_bucket_policy(session: Any, bucket: str) -> str:
    return str(session.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])


def _stored_inline_policy(session: Any) -> str:
    """The inline policy text as IAM returns it on the wire (before botocore parses it)."""
    iam = session.client("iam")
    raw: list[str] = []
    iam.meta.events.register_first(
        "after-call.iam.GetUserPolicy", lambda parsed, **_: raw.append(parsed["PolicyDocument"])
    )
    iam.get_user_policy(UserName="sync_user", PolicyName="s3xacct-sync")
    return unquote(raw[0])


def test_foreign_statements_keep_their_text_and_a_persons_s3xacct_sid_survives(
    hand_written: dict[str, Any],
) -> None:
    s, admins = hand_written["spec"], hand_written["admins"]
    applied = apply_changes(plan_changes(s, admins))
    assert "bucket policy of src-bucket" in applied.written

    text = _stored_bucket_policy(hand_written["src"], "src-bucket")
    # Byte for byte: the document's head, the hand-written statement (café, 1.0, key order), the
    # person's S3xacct-prefixed Deny.
    assert text.startswith('{\n  "Version": "2012-10-17",\n  "Id": "hand-written",\n  "Statement": [\n    ')
    assert FOREIGN_AUDIT in text and BREAK_GLASS in text
    assert "\\u00e9" not in text
    statements = json.loads(text)["Statement"]
    sids = [st.get("Sid") for st in statements]
    assert sids.count("S3xacctReadSource") == 1 and "S3xacctBreakGlassDeny" in sids
    read = next(st for st in statements if st["Sid"] == "S3xacctReadSource")
    assert read["Resource"] == "arn:aws:s3:::src-bucket/data/*"  # the stale one was replaced
    assert verify_policies(s, admins.read_all()).ok

    assert apply_changes(plan_changes(s, admins)).written == []  # idempotent, text untouched
    assert _stored_bucket_policy(hand_written["src"], "src-bucket") == text


def test_key_policy_and_inline_policy_keep_foreign_text(hand_written: dict[str, Any]) -> None:
    s, admins, src, dst = (
        hand_written["spec"],
        hand_written["admins"],
        hand_written["src"],
        hand_written["dst"],
    )
    key_arn = s.source.kms_key_arns[0]
    key_policy = (
        '{\n  "Version" : "2012-10-17",\n  "Id" : "key-consolepolicy-3",\n  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions, équipe",\n    "Effect" : "Allow",\n'
        f'    "Principal" : {{\n      "AWS" : "arn:aws:iam::{SRC}:root"\n    }},\n'
        '    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}'
    )
    src.client("kms").put_key_policy(
        KeyId=key_arn.rsplit("/", 1)[-1], PolicyName="default", Policy=key_policy
    )
    inline = (
        '{"Version": "2012-10-17", "Statement": [{"Sid": "S3xacctBreakGlass", "Effect": "Allow", '
        '"Action": "s3:GetObject", "Resource": "arn:aws:s3:::naïve-notes/*"}]}'
    )
    dst.client("iam").put_user_policy(UserName="sync_user", PolicyName="s3xacct-sync", PolicyDocument=inline)

    apply_changes(plan_changes(s, admins))

    stored_key = src.client("kms").get_key_policy(KeyId=key_arn.rsplit("/", 1)[-1], PolicyName="default")[
        "Policy"
    ]
    head = key_policy[: key_policy.index("} ]")] + "}"
    assert stored_key.startswith(head)  # the console's layout and the é, untouched
    assert "S3xacctDecryptSource" in stored_key
    stored_inline = _stored_inline_policy(dst)
    assert stored_inline.startswith(inline[:-2])  # the person's statement, verbatim, first
    assert "naïve" in stored_inline
    assert {st["Sid"] for st in json.loads(stored_inline)["Statement"]} >= {
        "S3xacctBreakGlass",
        "S3xacctReadSource",
    }


def test_every_sid_the_plan_can_write_is_owned() -> None:
    """PLANNED_SIDS is the ownership record: a Sid missing from it would be kept as foreign."""
    seen: set[str] = set()
    for mode, tags, delete, multipart, enforce, tls, principal_account in itertools.product(
        ("copy", "sync"), *[(True, False)] * 5, (SRC, DST, "333333333333")
    ):
        if delete and mode != "sync":
            continue
        s = TransferSpec.create(
            {
                "source": {
                    "account_id": SRC,
                    "bucket": "src-bucket",
                    "region": "us-east-1",
                    "kms_key_arns": [f"arn:aws:kms:us-east-1:{SRC}:key/k1"],
                },
                "destination": {
                    "account_id": DST,
                    "bucket": "dst-bucket",
                    "region": "us-east-1",
                    "kms_key_arn": f"arn:aws:kms:us-east-1:{DST}:key/k2",
                },
                "principal_arn": f"arn:aws:iam::{principal_account}:role/sync",
                "options": {
                    "mode": mode,
                    "copy_tags": tags,
                    "delete": delete,
                    "multipart": multipart,
                    "enforce_destination_kms": enforce,
                    "require_tls": tls,
                },
            }
        )
        plan = plan_policies(s)
        documents = [plan.identity, plan.source_bucket, plan.dest_bucket, plan.dest_key]
        documents += list(plan.source_keys.values())
        seen |= {st["Sid"] for doc in documents for st in doc}
    assert seen == PLANNED_SIDS


def test_a_change_landing_right_after_our_write_is_reported_exit_1(
    hand_written: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another writer's PutBucketPolicy lands just after ours: apply reads it back and says so."""
    admins, src = hand_written["admins"], hand_written["src"]
    theirs = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TheirEdit",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::src-bucket/theirs/*",
                }
            ],
        }
    )
    other_writer = src.client("s3")

    def concurrent_edit(**_: Any) -> None:
        other_writer.put_bucket_policy(Bucket="src-bucket", Policy=theirs)

    admins.client(SRC, "s3", "us-east-1").meta.events.register(
        "after-call.s3.PutBucketPolicy", concurrent_edit
    )
    monkeypatch.setattr(permissions_command, "_admins", lambda args, spec: admins)
    config = tmp_path / "transfer.yaml"
    config.write_text(yaml.safe_dump(hand_written["data"]))

    code = main(["apply", "--config", str(config), "--json"])

    out, err = capsys.readouterr()
    assert code == 1
    line = json.loads(out.splitlines()[-1])
    assert (
        line["kind"] == "ConcurrentChangeError"
        and line["retryable"] is False
        and "bucket policy of src-bucket is not what apply wrote" in line["error"]
    )
    assert "bucket policy of src-bucket is not what apply wrote" in err
    assert (
        _stored_bucket_policy(src, "src-bucket") == theirs
    )  # their edit stands; apply did not retry over it


def test_apply_changes_reports_a_stale_read_after_write_only_after_settling(
    hand_written: dict[str, Any],
) -> None:
    """A re-read that still shows the previous version is retried (eventual consistency), then reported."""
    changes = [
        c
        for c in plan_changes(hand_written["spec"], hand_written["admins"])
        if c.name == "bucket policy of src-bucket"
    ]
    change = changes[0]
    reads: list[int] = []
    real_read = change.read

    def lagging_read() -> str | None:
        reads.append(1)
        return change.before_text if len(reads) <= 2 else real_read()  # the check, then one stale read

    change.read = lagging_read
    assert apply_changes(changes, settle=(0.0, 0.0)).written == ["bucket policy of src-bucket"]
    assert len(reads) == 3

    change.read = lambda: change.before_text  # the previous version never goes away
    with pytest.raises(ConcurrentChangeError, match="still shows the previous version"):
        apply_changes(changes, settle=(0.0, 0.0))


OURS = {
    "Sid": "S3xacctListSource",
    "Effect": "Allow",
    "Action": "s3:ListBucket",
    "Resource": "arn:aws:s3:::b",
}
FOREIGN = '{"Sid":"Keep","Effect":"Deny","Action":"s3:*","Resource":"*","Principal":"*"}'


@pytest.mark.parametrize(
    ("before", "expected_prefix"),
    [
        # A single statement object (the grammar allows it) stays, and becomes the array's first item.
        (
            '{"Version":"2012-10-17","Statement":' + FOREIGN + "}",
            '{"Version":"2012-10-17","Statement":[' + FOREIGN,
        ),
        # Our own single statement object is replaced.
        (
            '{"Version":"2012-10-17","Statement":' + json.dumps(OURS) + "}",
            '{"Version":"2012-10-17","Statement":[{',
        ),
        # No Statement member: one is added after the last member, nothing else moves.
        ('{ "Version" : "2012-10-17" }', '{ "Version" : "2012-10-17", "Statement": [{'),
        ('{"Version":"2012-10-17","Statement":[]}', '{"Version":"2012-10-17","Statement":[{'),
        # Ours in the middle of three: the neighbours and their separators stay.
        (
            '{"Statement": [\n  '
            + FOREIGN
            + ",\n  "
            + json.dumps(OURS)
            + ",\n  "
            + FOREIGN.replace("Keep", "K2")
            + "\n]}",
            '{"Statement": [\n  ' + FOREIGN + ",\n  " + FOREIGN.replace("Keep", "K2") + ",\n  {\n",
        ),
    ],
)
def test_splice_statements_shapes(before: str, expected_prefix: str) -> None:
    from airflow_provider_s3xacct.permissions.apply import merged_text

    new = dict(OURS, Resource="arn:aws:s3:::new")
    after = merged_text(before, [new])
    assert after is not None and after.startswith(expected_prefix), after
    statements = json.loads(after)["Statement"]
    assert statements[-1] == new and [st["Sid"] for st in statements].count("S3xacctListSource") == 1
    assert merged_text(after, [new]) == after  # applying again changes nothing, not even whitespace


def test_our_statements_are_ascii_the_foreign_text_is_not_touched() -> None:
    """Policy text may only hold characters up to U+00FF (IAM User Guide, "IAM and AWS STS
    quotas"): a prefix beyond that is written escaped; a foreign é stays an é."""
    from airflow_provider_s3xacct.permissions.apply import merged_text

    before = (
        '{"Version":"2012-10-17","Statement":[{"Sid":"Café","Effect":"Deny","Action":"s3:*","Resource":"*"}]}'
    )
    ours = dict(OURS, Resource="arn:aws:s3:::b/数据/*")
    after = merged_text(before, [ours]) or ""
    assert after.startswith(before[:-2]) and "数据" not in after and "\\u6570\\u636e" in after
    assert all(ord(c) <= 0xFF for c in after)
    assert json.loads(after)["Statement"][-1] == ours


def test_an_aws_error_is_a_json_line_and_exit_1(
    hand_written: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hand_written["dst"].client("s3").delete_bucket(Bucket="dst-bucket")
    monkeypatch.setattr(permissions_command, "_admins", lambda args, spec: hand_written["admins"])
    config = tmp_path / "transfer.yaml"
    config.write_text(yaml.safe_dump(hand_written["data"]))

    code = main(["apply", "--config", str(config), "--json"])

    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "NoSuchBucket" in json.loads(out.splitlines()[-1])["error"]


def test_a_document_left_without_statements_is_deleted_not_emptied(
    accounts: dict[str, Any],  # noqa: F811
) -> None:
    """S3 refuses a bucket policy without statements ("Statement is empty"); when only our
    statements were in it and the spec needs none there now, apply deletes the policy."""
    data = accounts["spec"].model_dump(mode="json")
    data["options"].update(enforce_destination_kms=False, require_tls=False)  # the principal is in DST
    s = TransferSpec.create(data)
    assert plan_policies(s).dest_bucket == []
    dst_s3 = accounts["dst"].client("s3")
    stale = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "S3xacctDenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::dst-bucket", "arn:aws:s3:::dst-bucket/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    dst_s3.put_bucket_policy(Bucket="dst-bucket", Policy=json.dumps(stale))

    applied = apply_changes(plan_changes(s, AccountAdmins.from_sessions(s, accounts["src"], accounts["dst"])))

    assert "bucket policy of dst-bucket" in applied.written
    with pytest.raises(dst_s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        dst_s3.get_bucket_policy(Bucket="dst-bucket")
