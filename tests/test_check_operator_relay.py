"""CrossAccountCheckOperator on its own: its side connections must be the transfer's topology.

The rule is the copy's and the sensor's (relay.check_transfer_topology): a relay transfer (one
naming source_principal_arn and dest_principal_arn, what verify checked) is read as those two
principals, never by ``aws_conn_id`` alone or with one side's connection; a server-side transfer
is read as its one principal, never as two side connections. A refusal names the argument and
the fix, before any request (the counting server's log stays empty).
"""

from __future__ import annotations

import pytest

from airflow_provider_s3xacct.compat import AirflowFailException
from airflow_provider_s3xacct.operators import CrossAccountCheckOperator
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World
from tests.test_copy_operator_relay import _TI, _connections, _transfer
from tests.wire import forget, kms_seen, seen

RELAY = {
    "source_principal_arn": f"arn:aws:iam::{SOURCE_ACCOUNT}:role/vendor-reader",
    "dest_principal_arn": f"arn:aws:iam::{DEST_ACCOUNT}:role/ingest-writer",
}
SERVER_SIDE = {"principal_arn": f"arn:aws:iam::{DEST_ACCOUNT}:role/sync-role"}
RELAY_FIX = "give source_aws_conn_id and dest_aws_conn_id"
SERVER_SIDE_FIX = "drop the relay settings"


@pytest.mark.parametrize(
    ("principals", "connections", "named", "fix"),
    [
        pytest.param(RELAY, {}, "source_aws_conn_id", RELAY_FIX, id="relay-as-aws_conn_id"),
        pytest.param(
            RELAY, {"source_aws_conn_id": "vendor_reader"}, "dest_aws_conn_id", RELAY_FIX, id="relay-source-only"
        ),
        pytest.param(
            RELAY, {"dest_aws_conn_id": "ingest_writer"}, "source_aws_conn_id", RELAY_FIX, id="relay-dest-only"
        ),
        pytest.param(
            SERVER_SIDE,
            {"source_aws_conn_id": "vendor_reader", "dest_aws_conn_id": "ingest_writer"},
            "source_aws_conn_id",
            SERVER_SIDE_FIX,
            id="server-side-with-both",
        ),
        pytest.param(
            SERVER_SIDE, {"dest_aws_conn_id": "ingest_writer"}, "dest_aws_conn_id", SERVER_SIDE_FIX, id="server-side-with-one"
        ),
    ],
)
def test_connections_not_matching_the_transfer_fail_naming_the_argument_before_any_request(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    principals: dict[str, str],
    connections: dict[str, str],
    named: str,
    fix: str,
) -> None:
    """Checking a relay copy as another principal would vouch for reads the copy never made."""
    _connections(world, monkeypatch)
    # aws_conn_id=None is boto3's chain: pointed at the local server, a request it sends is on the log.
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(world.endpoint_url))
    forget(world)
    check = CrossAccountCheckOperator(
        task_id="check", transfer=_transfer(world, **principals), aws_conn_id=None, **connections
    )
    with pytest.raises(AirflowFailException) as raised:
        check.execute({"ti": _TI()})  # type: ignore[arg-type]
    message = str(raised.value)
    assert message.startswith(f"invalid argument {named}: ") and fix in message, message
    assert seen(world) == [] and kms_seen(world) == []


def test_a_relay_transfer_with_both_connections_is_checked_as_the_two_principals(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = _connections(world, monkeypatch)
    for key in ("a.csv", "b.csv"):
        world.put(f"data/{key}", b"1,2\n")
        world.dst_s3.put_object(Bucket=world.dest_bucket, Key=f"landing/{key}", Body=b"1,2\n")
    forget(world)

    checked = CrossAccountCheckOperator(
        task_id="check",
        transfer=_transfer(world, **RELAY),
        source_aws_conn_id="vendor_reader",
        dest_aws_conn_id="ingest_writer",
        aws_conn_id=None,
    ).execute({"ti": _TI()})  # type: ignore[arg-type]

    assert checked["identical"] is True
    signer = {world.source_bucket: keys["vendor_reader"], world.dest_bucket: keys["ingest_writer"]}
    wire = seen(world)
    assert {r["path"].strip("/").split("/")[0] for r in wire} == set(signer)
    for request in wire:
        assert request["access_key"] == signer[request["path"].strip("/").split("/")[0]], request
