"""KmsAccessSensor with two connections (a relay copy): each key probed by the principal that uses it.

The relay's source principal decrypts the source objects (its GetObject) and its destination
principal generates the destination key's data keys (its PutObject/UploadPart), so the sensor
probes each as that principal. moto does not enforce key policies, so what is observed is who
signed each probe on the wire (demo.counting_server records S3 and KMS requests with their
access keys). moto cannot share a key across accounts, so each principal lives in its key's account.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_s3xacct.compat import AirflowFailException, TaskDeferred
from airflow_provider_s3xacct.sensors import KmsAccessSensor
from airflow_provider_s3xacct.triggers.kms import KmsAccessTrigger
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World
from tests.test_copy_operator_relay import _connections, _transfer
from tests.wire import forget, kms_seen, seen


def _sensor(world: World, **kwargs: Any) -> KmsAccessSensor:
    return KmsAccessSensor(
        task_id="kms",
        transfer=_transfer(
            world,
            source_principal_arn=f"arn:aws:iam::{SOURCE_ACCOUNT}:role/vendor-reader",
            dest_principal_arn=f"arn:aws:iam::{DEST_ACCOUNT}:role/ingest-writer",
        ),
        source_aws_conn_id="vendor_reader",
        dest_aws_conn_id="ingest_writer",
        aws_conn_id=None,
        poke_interval=0,
        timeout=5,
        **kwargs,
    )


def _signers(world: World, keys: dict[str, str]) -> dict[tuple[str, str], set[str]]:
    """(KMS action, key probed) -> the connections whose access keys signed it."""
    by_access_key = {access: conn for conn, access in keys.items()}
    found: dict[tuple[str, str], set[str]] = {}
    for request in kms_seen(world):
        found.setdefault((request["op"], request["key"]), set()).add(by_access_key[request["access_key"]])
    return found


def _assert_each_key_probed_by_its_principal(world: World, keys: dict[str, str]) -> None:
    signers = _signers(world, keys)
    assert signers[("kms:GenerateDataKey", world.dest_key_arn)] == {"ingest_writer"}
    assert signers[("kms:DescribeKey", world.dest_key_arn)] == {"ingest_writer"}
    assert signers[("kms:DescribeKey", world.source_key_arn)] == {"vendor_reader"}
    assert not any(op == "kms:GenerateDataKey" and key == world.source_key_arn for op, key in signers)
    # The decrypt probe (a ranged GET of a source object) as the reader, and nothing on the destination.
    wire = seen(world)
    assert "GetObject" in {r["op"] for r in wire}
    assert {r["access_key"] for r in wire} == {keys["vendor_reader"]}
    assert {r["path"].split("/")[1] for r in wire} == {world.source_bucket}


def test_poke_probes_the_source_key_as_the_reader_and_the_dest_key_as_the_writer(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = _connections(world, monkeypatch)
    world.put("data/a", b"1", kms=world.source_key_arn)
    forget(world)

    result = _sensor(world).poke({})  # type: ignore[arg-type]

    assert result.is_done
    by_key = {(r["key_arn"], tuple(r["operations"])): r["ok"] for r in result.xcom_value}
    assert by_key == {(world.dest_key_arn, ("generate_data_key",)): True, (world.source_key_arn, ("decrypt",)): True}
    _assert_each_key_probed_by_its_principal(world, keys)
    assert "HeadObject" in {r["op"] for r in seen(world)}  # discovery, as the reader too


def test_the_deferred_probes_use_each_side_s_connection_too(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = _connections(world, monkeypatch)
    world.put("data/a", b"1", kms=world.source_key_arn)
    sensor = _sensor(world, deferrable=True, check_before_defer=False)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # type: ignore[arg-type]
    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["source_aws_conn_id"], kwargs["dest_aws_conn_id"]) == ("vendor_reader", "ingest_writer")
    assert kwargs["principal_accounts"] == {"source": SOURCE_ACCOUNT, "destination": DEST_ACCOUNT}
    forget(world)

    async def run() -> list[Any]:
        return [event async for event in KmsAccessTrigger(**kwargs).run()]

    (event,) = asyncio.run(run())

    assert event.payload["status"] == "success", event.payload
    _assert_each_key_probed_by_its_principal(world, keys)


def test_a_relay_transfer_without_its_connections_fails_before_any_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probing as aws_conn_id would vouch for a principal the relay copy does not use."""
    _connections(world, monkeypatch)
    forget(world)
    sensor = _sensor(world)
    sensor.source_aws_conn_id = sensor.dest_aws_conn_id = None
    with pytest.raises(AirflowFailException, match=r"^invalid argument source_aws_conn_id: the transfer is a relay"):
        sensor.poke({})  # type: ignore[arg-type]
    assert seen(world) == [] and kms_seen(world) == []
