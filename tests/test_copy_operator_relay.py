"""CrossAccountS3CopyOperator with two Airflow connections: the relay, seen on the wire.

moto does not enforce IAM, bucket or key policies, so "neither principal may do both sides" cannot
be staged as a denial. What is observed instead (demo.counting_server records each request with the
access key that signed it): every request on the source bucket is signed by the source
connection's key, every write to the destination by the destination connection's, and no
server-side copy request (CopyObject, UploadPartCopy) is ever sent.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_s3xacct.compat import AirflowFailException
from airflow_provider_s3xacct.operators import CrossAccountS3CopyOperator
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World, assume, aws_connection
from tests.wire import forget, seen

MIB = 1024 * 1024


class _TI:
    """The task instance's XCom push (Airflow 2 stores the extra link's fields through it)."""

    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:
        pass


def _connections(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Two connections, each with its own role's keys: the access key of each, by connection id."""
    keys = {}
    for conn_id, account, role in (
        ("vendor_reader", SOURCE_ACCOUNT, "vendor-reader"),
        ("ingest_writer", DEST_ACCOUNT, "ingest-writer"),
    ):
        session = assume(account, role=role, endpoint_url=world.endpoint_url)
        aws_connection(monkeypatch, conn_id, str(world.endpoint_url), session=session)
        keys[conn_id] = session.get_credentials().access_key
    # aws_conn_id is unused by a relay with both sides: a connection that cannot exist proves it.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "NOT-USED-BY-THE-RELAY")
    return keys


def _relay(world: World, **kwargs: Any) -> CrossAccountS3CopyOperator:
    kwargs.setdefault("source_uri", f"s3://{world.source_bucket}/data/")
    kwargs.setdefault("dest_uri", f"s3://{world.dest_bucket}/landing/")
    return CrossAccountS3CopyOperator(
        task_id="copy",
        source_aws_conn_id="vendor_reader",
        dest_aws_conn_id="ingest_writer",
        aws_conn_id=None,
        concurrency=4,
        **kwargs,
    )


def test_two_connections_read_as_the_source_and_write_as_the_destination(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = _connections(world, monkeypatch)
    big = bytes(range(256)) * (48 * 1024)  # 12 MiB: three 5 MiB relay parts
    world.put("data/big.bin", big, kms=world.source_key_arn, Tagging="tier=gold", Metadata={"origin": "vendor"})
    world.put("data/small.csv", b"a,b\n" * 10, ContentType="text/csv", Tagging="team=data", Metadata={"n": "1"})
    forget(world)

    op = _relay(world, mode="sync", dest_kms_key_id=world.dest_key_arn, relay_part_size=5 * MIB)
    summary = op.execute({"ti": _TI()})  # type: ignore[arg-type]

    assert (summary["copied"], summary["failed"]) == (2, 0)
    wire = seen(world)
    ops = {r["op"] for r in wire}
    assert not ops & {"CopyObject", "UploadPartCopy"}
    assert {"GetObject", "PutObject", "UploadPart", "CompleteMultipartUpload"} <= ops
    signer = {world.source_bucket: keys["vendor_reader"], world.dest_bucket: keys["ingest_writer"]}
    for request in wire:
        bucket = request["path"].strip("/").split("/")[0]
        assert request["access_key"] == signer[bucket], request
    assert len([r for r in wire if r["op"] == "UploadPart"]) == 3  # relay_part_size reached the core

    dst = world.dst_s3
    for key, tags, metadata in (("landing/big.bin", {"tier": "gold"}, {"origin": "vendor"}), ("landing/small.csv", {"team": "data"}, {"n": "1"})):
        head = dst.head_object(Bucket=world.dest_bucket, Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", world.dest_key_arn)
        assert head["Metadata"] == metadata
        tag_set = dst.get_object_tagging(Bucket=world.dest_bucket, Key=key)["TagSet"]
        assert {t["Key"]: t["Value"] for t in tag_set} == tags
    assert dst.get_object(Bucket=world.dest_bucket, Key="landing/big.bin")["Body"].read() == big


def test_a_denied_read_names_the_source_principal(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _connections(world, monkeypatch)
    world.put("data/secret", b"s", kms=world.source_key_arn)
    forget(world)
    requests.get(
        f"{world.endpoint_url}/__bench__/fault",
        params={
            "op": "GetObject",
            "path": f"/{world.source_bucket}/data/secret",
            "status": 403,
            "code": "AccessDenied",
            "message": "Access Denied",
        },
        timeout=10,
    ).raise_for_status()

    with pytest.raises(AirflowFailException) as raised:
        _relay(world, dest_kms_key_id=world.dest_key_arn, do_xcom_push=False).execute({"ti": _TI()})  # type: ignore[arg-type]

    message = str(raised.value)
    assert "the source principal" in message and "vendor-reader" in message and "kms:Decrypt" in message


@pytest.mark.parametrize(
    ("arguments", "named", "fix"),
    [
        ({"source_aws_conn_id": "vendor_reader", "transport": "crt"}, "source_aws_conn_id", "transport='relay'"),
        ({"dest_aws_conn_id": "ingest_writer", "transport": "botocore"}, "dest_aws_conn_id", "transport='relay'"),
        ({"source_aws_conn_id": "vendor_reader"}, "source_aws_conn_id", "give both sides"),  # auto, one side
        (
            {"source_aws_conn_id": "vendor_reader", "dest_aws_conn_id": "ingest_writer", "transport": "fast"},
            "transport",
            "not one of auto, crt, botocore, relay",
        ),
        (
            {"source_aws_conn_id": "vendor_reader", "dest_aws_conn_id": "ingest_writer", "relay_buffers": 0},
            "relay_buffers",
            "",
        ),
    ],
)
def test_bad_combinations_fail_naming_the_argument_before_any_request(
    world: World, monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any], named: str, fix: str
) -> None:
    _connections(world, monkeypatch)
    forget(world)
    op = CrossAccountS3CopyOperator(
        task_id="copy",
        source_uri=f"s3://{world.source_bucket}/data/",
        dest_uri=f"s3://{world.dest_bucket}/landing/",
        aws_conn_id=None,
        **arguments,
    )
    with pytest.raises(AirflowFailException) as raised:
        op.execute({"ti": _TI()})  # type: ignore[arg-type]
    assert str(raised.value).startswith(f"invalid argument {named}: ") and fix in str(raised.value)
    assert seen(world) == []


def _transfer(world: World, **principals: str) -> dict[str, Any]:
    return {
        "source": {"bucket": world.source_bucket, "prefix": "data/", "account_id": SOURCE_ACCOUNT, "region": "us-east-1"},
        "destination": {
            "bucket": world.dest_bucket,
            "prefix": "landing/",
            "account_id": DEST_ACCOUNT,
            "region": "us-east-1",
            "kms_key_arn": world.dest_key_arn,
        },
        **principals,
    }


def test_the_transfer_s_topology_must_match_the_connections(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relay transfer (what verify checked) is not copied server side as aws_conn_id, nor the reverse."""
    _connections(world, monkeypatch)
    forget(world)
    relay_transfer = _transfer(
        world,
        source_principal_arn=f"arn:aws:iam::{SOURCE_ACCOUNT}:role/vendor-reader",
        dest_principal_arn=f"arn:aws:iam::{DEST_ACCOUNT}:role/ingest-writer",
    )
    one = CrossAccountS3CopyOperator(task_id="c1", transfer=relay_transfer, aws_conn_id=None)
    with pytest.raises(AirflowFailException, match=r"^invalid argument source_aws_conn_id: the transfer is a relay copy"):
        one.execute({"ti": _TI()})  # type: ignore[arg-type]
    # transport="relay" with one side's connection (the other as aws_conn_id) is not the transfer's pair.
    half = CrossAccountS3CopyOperator(
        task_id="c0", transfer=relay_transfer, transport="relay", source_aws_conn_id="vendor_reader", aws_conn_id=None
    )
    with pytest.raises(AirflowFailException, match=r"^invalid argument dest_aws_conn_id: the transfer is a relay"):
        half.execute({"ti": _TI()})  # type: ignore[arg-type]
    server_side = _transfer(world, principal_arn=f"arn:aws:iam::{DEST_ACCOUNT}:role/sync-role")
    two = CrossAccountS3CopyOperator(
        task_id="c2",
        transfer=server_side,
        source_aws_conn_id="vendor_reader",
        dest_aws_conn_id="ingest_writer",
        aws_conn_id=None,
    )
    with pytest.raises(AirflowFailException, match=r"^invalid argument source_aws_conn_id: the transfer is a server-side copy"):
        two.execute({"ti": _TI()})  # type: ignore[arg-type]
    assert seen(world) == []

    # The relay transfer with its two connections copies.
    world.put("data/a.txt", b"hello")
    forget(world)
    done = CrossAccountS3CopyOperator(
        task_id="c3",
        transfer=relay_transfer,
        source_aws_conn_id="vendor_reader",
        dest_aws_conn_id="ingest_writer",
        aws_conn_id=None,
    ).execute({"ti": _TI()})  # type: ignore[arg-type]
    assert done["copied"] == 1 and not {r["op"] for r in seen(world)} & {"CopyObject", "UploadPartCopy"}
