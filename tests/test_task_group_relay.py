"""cross_account_sync with two connections (a relay copy) and its optional check task."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.compat import DAG, AirflowFailException
from airflow_provider_s3xacct.task_groups import cross_account_sync
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World, aws_connection
from tests.test_copy_operator_relay import _TI, _connections, _transfer
from tests.wire import forget, seen

RELAY = {
    "source_principal_arn": f"arn:aws:iam::{SOURCE_ACCOUNT}:role/vendor-reader",
    "dest_principal_arn": f"arn:aws:iam::{DEST_ACCOUNT}:role/ingest-writer",
}


def _group(transfer: dict[str, Any], **kwargs: Any) -> Any:
    kwargs.setdefault("source_conn_id", "vendor_reader")
    kwargs.setdefault("dest_conn_id", "ingest_writer")
    kwargs.setdefault("source_admin_conn_id", "a")
    kwargs.setdefault("dest_admin_conn_id", "b")
    with DAG(f"sync_{id(kwargs)}", schedule=None):
        return cross_account_sync(group_id="sync", transfer=transfer, **kwargs)


def test_check_true_builds_verify_kms_copy_check_each_acting_as_the_relay_s_principals() -> None:
    transfer = {
        "source": {"account_id": SOURCE_ACCOUNT, "bucket": "src-bucket", "region": "us-east-1"},
        "destination": {"account_id": DEST_ACCOUNT, "bucket": "dst-bucket", "region": "us-east-1"},
        **RELAY,
    }
    group = _group(transfer, check=True, check_kwargs={"metadata": True}, concurrency=8)
    tasks = {task_id.split(".", 1)[1]: task for task_id, task in group.children.items()}
    assert set(tasks) == {"verify_permissions", "kms_access", "copy", "check"}
    assert tasks["verify_permissions"].downstream_task_ids == {"sync.kms_access"}
    assert tasks["kms_access"].downstream_task_ids == {"sync.copy"}
    assert tasks["copy"].downstream_task_ids == {"sync.check"}
    assert tasks["check"].downstream_task_ids == set()
    for name in ("kms_access", "copy", "check"):
        task = tasks[name]
        assert (task.source_aws_conn_id, task.dest_aws_conn_id) == ("vendor_reader", "ingest_writer"), name
    assert tasks["check"].metadata is True and tasks["copy"].concurrency == 8
    # Without check the group ends at the copy, as before.
    plain = _group(transfer)
    assert {t.split(".", 1)[1] for t in plain.children} == {"verify_permissions", "kms_access", "copy"}


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"dest_conn_id": None}, "dest_conn_id"),
        ({"source_conn_id": None}, "source_conn_id"),
        ({"sync_conn_id": "s"}, "sync_conn_id"),
        ({"source_conn_id": None, "dest_conn_id": None}, "sync_conn_id"),
        ({"check_kwargs": {"sample": 3}}, "check_kwargs"),
    ],
)
def test_bad_connection_combinations_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"^{named}: "):
        _group({"source": {}, "destination": {}}, **kwargs)


def test_the_group_runs_verify_kms_copy_check_as_the_two_principals_and_the_check_fails_on_a_difference(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each task of the group executed in order, as the group built it. verify's verdict is our
    evaluator's on the deployed policies (none here; tests/test_relay_permissions.py covers the
    verdicts): what shows is that it checks each relay principal's own requests. Applying the
    policies is left out: moto would then deny every write by the guard rails' aws:SecureTransport
    Deny (the local server is plain HTTP)."""
    keys = _connections(world, monkeypatch)
    aws_connection(monkeypatch, "src_admin", str(world.endpoint_url), session=world.source)
    aws_connection(monkeypatch, "dst_admin", str(world.endpoint_url), session=world.dest)
    for session, role in ((world.source, "vendor-reader"), (world.dest, "ingest-writer")):
        session.client("iam", endpoint_url=world.endpoint_url).create_role(
            RoleName=role, AssumeRolePolicyDocument="{}"
        )
    world.put("data/a.csv", b"1,2\n", kms=world.source_key_arn)
    world.put("data/b.csv", b"3,4\n")
    transfer = _transfer(world, **RELAY)
    group = _group(transfer, check=True, source_admin_conn_id="src_admin", dest_admin_conn_id="dst_admin")
    tasks = {task_id.split(".", 1)[1]: task for task_id, task in group.children.items()}

    # No policy is deployed: verify denies, naming what each relay principal lacks (its reads, its writes).
    with pytest.raises(AirflowFailException) as denied:
        tasks["verify_permissions"].execute({"ti": _TI()})
    reads = f"s3:GetObject on arn:aws:s3:::{world.source_bucket}/data/* by {RELAY['source_principal_arn']}"
    writes = f"s3:PutObject on arn:aws:s3:::{world.dest_bucket}/landing/* by {RELAY['dest_principal_arn']}"
    assert reads in str(denied.value) and writes in str(denied.value)
    assert tasks["kms_access"].poke({}).is_done
    forget(world)

    assert tasks["copy"].execute({"ti": _TI()})["copied"] == 2
    checked = tasks["check"].execute({"ti": _TI()})
    assert checked["identical"] is True and sum(checked["counts"].values()) == 2

    readers = {r["access_key"] for r in seen(world) if r["path"].startswith(f"/{world.source_bucket}")}
    writers = {r["access_key"] for r in seen(world) if r["path"].startswith(f"/{world.dest_bucket}")}
    assert (readers, writers) == ({keys["vendor_reader"]}, {keys["ingest_writer"]})

    world.dst_s3.put_object(Bucket=world.dest_bucket, Key="landing/b.csv", Body=b"changed")
    with pytest.raises(AirflowFailException, match=r": b\.csv: "):
        tasks["check"].execute({"ti": _TI()})
