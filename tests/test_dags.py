"""The example DAGs: import cleanly, validate their form, and run end to end against moto."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from demo import stack
from demo.airflow_env import (
    REPO,
    airflow_env,
    apply_permissions,
    latest_xcom,
    prepare_database,
    run,
    transfer,
)


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from airflow.models import DagBag  # the public name on 2.11 through 3.3

    # Without Airflow's example DAGs whatever the home says (2.11 has include_examples, 3.3 does not).
    with warnings.catch_warnings(record=True) as caught, pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        env.syspath_prepend(str(REPO / "dags"))  # as Airflow does for its DAGS_FOLDER
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(REPO / "dags"))
    ours = [
        w
        for w in caught
        if issubclass(w.category, DeprecationWarning)
        and ("/dags/" in w.filename or "airflow_provider_s3xacct" in w.filename)
    ]
    assert ours == [], [str(w.message) for w in ours]
    return bag


def test_dags_import_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        "s3xacct_nightly_sync",
        "s3xacct_manual_copy",
        "s3xacct_pipeline_with_sync",
        "s3xacct_pipeline_downstream",
        "s3xacct_sharded_sync",
        "s3xacct_relay_sync",
    }


def test_nightly_dag_is_safe_to_schedule(dagbag: Any) -> None:
    dag = dagbag.dags["s3xacct_nightly_sync"]
    assert not dag.catchup and dag.max_active_runs == 1
    assert [t.task_id for t in dag.topological_sort()] == [
        "sync.verify_permissions",
        "sync.kms_access",
        "sync.copy",
    ]
    copy = dag.get_task("sync.copy")
    assert copy.retries == 3 and copy.retry_exponential_backoff and copy.execution_timeout is not None
    # Airflow 3's Asset drops the trailing "/", 2.11's Dataset keeps it.
    assert [o.uri.rstrip("/") for o in copy.outlets] == ["s3://analytics-landing/vendor"]
    assert all(t.doc_md for t in dag.tasks)
    downstream = dagbag.dags["s3xacct_pipeline_downstream"]
    condition = (
        getattr(downstream.timetable, "asset_condition", None) or downstream.timetable.dataset_condition
    )
    assert "s3://analytics-landing/vendor" in repr(condition)


def test_relay_dag_acts_as_the_two_relay_connections_and_checks_after_the_copy(dagbag: Any) -> None:
    dag = dagbag.dags["s3xacct_relay_sync"]
    assert not dag.catchup and dag.max_active_runs == 1
    assert [t.task_id for t in dag.topological_sort()] == [
        "sync.verify_permissions",
        "sync.kms_access",
        "sync.copy",
        "sync.check",
    ]
    for task_id in ("sync.kms_access", "sync.copy", "sync.check"):
        task = dag.get_task(task_id)
        assert (task.source_aws_conn_id, task.dest_aws_conn_id) == (
            "s3xacct_vendor_reader",
            "s3xacct_ingest_writer",
        ), task_id
    # Every task renders the relay Variable, not the server-side one the other DAGs read.
    assert {t.transfer for t in dag.tasks} == {"{{ var.json.s3xacct_relay_transfer }}"}
    copy = dag.get_task("sync.copy")
    assert copy.retries == 3 and copy.retry_exponential_backoff and copy.execution_timeout is not None
    assert all(t.doc_md for t in dag.tasks)


def test_manual_dag_form_rejects_bad_input(dagbag: Any) -> None:
    dag = dagbag.dags["s3xacct_manual_copy"]
    ParamsDict = type(dag.params)  # airflow.sdk's on Airflow 3, airflow.models.param's on 2.11
    # No schedule: a NullTimetable (Airflow 2.11 has no DAG.schedule attribute, only the timetable).
    assert type(dag.timetable).__name__ == "NullTimetable" and not dag.render_template_as_native_obj
    good = ParamsDict(dag.params)
    good.validate()
    for name, value in (
        ("source_uri", "vendor-exports/exports"),
        ("dest_uri", "s3://Bad_Bucket/x"),
        ("kms_key_arn", "alias/mine"),
        ("mode", "move"),
    ):
        params = ParamsDict(dag.params)
        with pytest.raises(Exception, match=name):
            params[name] = value
            params.validate()
    assert dag.params["kms_key_arn"] is None  # a null key stays null, not "None"


# -- end to end, `airflow dags test` on a SQLite database against a moto server -------------------


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("airflow")
    # Behind demo.counting_server, so a test can read what each task sent on the wire.
    with stack.moto_server(counting=True) as endpoint:
        accounts = stack.seed(endpoint, objects=40)
        env = airflow_env(accounts, home)
        apply_permissions(accounts, env, home)
        prepare_database(env)
        yield {"home": home, "env": env, "accounts": accounts, "endpoint": endpoint}


def listing(endpoint: str, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    s3 = stack.session(endpoint, stack.DEST_ACCOUNT).client("s3", endpoint_url=endpoint)
    return {
        o["Key"][len(prefix) :]: o
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    }


def assert_copied(ctx: dict[str, Any], dest_prefix: str, *, key_arn: str | None) -> None:
    """Every source object is in the destination, same size, under the expected key."""
    src = listing(ctx["endpoint"], stack.SOURCE_BUCKET, "exports/")
    dst = listing(ctx["endpoint"], stack.DEST_BUCKET, dest_prefix)
    assert {k: o["Size"] for k, o in dst.items()} == {k: o["Size"] for k, o in src.items()}
    s3 = stack.session(ctx["endpoint"], stack.DEST_ACCOUNT).client("s3", endpoint_url=ctx["endpoint"])
    for key in dst:
        head = s3.head_object(Bucket=stack.DEST_BUCKET, Key=dest_prefix + key)
        assert head.get("SSEKMSKeyId") == key_arn, key


def dags_test(ctx: dict[str, Any], dag_id: str, conf: dict[str, Any] | None = None) -> None:
    args = ["airflow", "dags", "test", dag_id] + (["--conf", json.dumps(conf)] if conf else [])
    run(args, ctx["env"])


@pytest.mark.e2e
def test_nightly_sync_end_to_end_twice(local_stack: dict[str, Any]) -> None:
    dags_test(local_stack, "s3xacct_nightly_sync")
    first = latest_xcom(local_stack["home"], "s3xacct_nightly_sync", "sync.copy")
    assert first["copied"] == local_stack["accounts"].total_objects and first["failed"] == 0
    assert_copied(local_stack, "vendor/", key_arn=local_stack["accounts"].dest_key_arn)
    kms = latest_xcom(local_stack["home"], "s3xacct_nightly_sync", "sync.kms_access")
    assert {k["key_arn"] for k in kms} == {
        local_stack["accounts"].dest_key_arn,
        local_stack["accounts"].source_key_arn,
        local_stack["accounts"].source_key2_arn,
    }
    dags_test(local_stack, "s3xacct_nightly_sync")
    second = latest_xcom(local_stack["home"], "s3xacct_nightly_sync", "sync.copy")
    assert second["copied"] == 0 and second["skipped"] == local_stack["accounts"].total_objects


@pytest.mark.e2e
def test_manual_copy_from_the_form_values(local_stack: dict[str, Any]) -> None:
    conf = {
        "source_uri": f"s3://{stack.SOURCE_BUCKET}/exports/",
        "dest_uri": f"s3://{stack.DEST_BUCKET}/manual/",
        "kms_key_arn": local_stack["accounts"].dest_key_arn,
        "mode": "copy",
        "delete": False,
        "dry_run": False,
    }
    dags_test(local_stack, "s3xacct_manual_copy", conf)
    assert_copied(local_stack, "manual/", key_arn=local_stack["accounts"].dest_key_arn)

    dry = dict(conf, dest_uri=f"s3://{stack.DEST_BUCKET}/dry/", kms_key_arn=None, dry_run=True)
    dags_test(local_stack, "s3xacct_manual_copy", dry)
    summary = latest_xcom(local_stack["home"], "s3xacct_manual_copy", "copy")
    assert summary["dry_run"] and summary["copied"] == local_stack["accounts"].total_objects
    assert listing(local_stack["endpoint"], stack.DEST_BUCKET, "dry/") == {}


@pytest.mark.e2e
def test_pipeline_dags(local_stack: dict[str, Any]) -> None:
    dags_test(local_stack, "s3xacct_pipeline_with_sync")
    assert latest_xcom(local_stack["home"], "s3xacct_pipeline_with_sync", "load").startswith("loaded ")
    dags_test(local_stack, "s3xacct_pipeline_downstream")
    landed = latest_xcom(local_stack["home"], "s3xacct_pipeline_downstream", "count_landed")
    assert landed == local_stack["accounts"].total_objects


@pytest.mark.e2e
def test_sharded_sync_covers_every_key_once(local_stack: dict[str, Any]) -> None:
    env = dict(local_stack["env"])
    transfer = json.loads(env["AIRFLOW_VAR_S3XACCT_TRANSFER"])
    transfer["destination"]["prefix"] = "sharded/"
    env["AIRFLOW_VAR_S3XACCT_TRANSFER"] = json.dumps(transfer)
    run(["airflow", "dags", "test", "s3xacct_sharded_sync", "--conf", json.dumps({"shards": 4})], env)
    assert_copied(local_stack, "sharded/", key_arn=local_stack["accounts"].dest_key_arn)
    totals = latest_xcom(local_stack["home"], "s3xacct_sharded_sync", "aggregate")
    assert totals["shards"] == 4 and totals["copied"] == local_stack["accounts"].total_objects
    assert totals["listed"] == totals["copied"] and totals["failed"] == 0


def _wire(endpoint: str) -> list[dict[str, Any]]:
    """Every S3 request the server saw since the last reset, as demo.counting_server records it."""
    return list(requests.get(f"{endpoint}/__bench__/requests", timeout=10).json())


def _signer(endpoint: str, access_key: str) -> str:
    """Whose credentials signed a request (moto's STS answers for an access key id alone)."""
    sts = boto3.client(
        "sts",
        region_name=stack.REGION,
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key="not-checked",
    )
    return str(sts.get_caller_identity()["Arn"])


def _run_with_transfer(ctx: dict[str, Any], variable: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply ``variable``'s policies, set it as the Variable, run the nightly DAG once; the wire."""
    home = ctx["home"]
    (home / "variable.json").write_text(json.dumps(variable))
    run(
        [
            "s3xacct",
            "apply",
            "--config",
            str(home / "variable.json"),
            "--json",
            "--source-admin-role-arn",
            f"arn:aws:iam::{stack.SOURCE_ACCOUNT}:role/{stack.ADMIN_ROLE}",
            "--dest-admin-role-arn",
            f"arn:aws:iam::{stack.DEST_ACCOUNT}:role/{stack.ADMIN_ROLE}",
        ],
        ctx["env"],
    )
    requests.get(f"{ctx['endpoint']}/__bench__/reset", timeout=10).raise_for_status()
    env = dict(ctx["env"], AIRFLOW_VAR_S3XACCT_TRANSFER=json.dumps(variable))
    run(["airflow", "dags", "test", "s3xacct_nightly_sync"], env)
    return _wire(ctx["endpoint"])


@pytest.mark.e2e
def test_nightly_run_acts_on_the_variables_options(local_stack: dict[str, Any]) -> None:
    """Issue 18: verify, the KMS sensor and the copy of one run act on the one transfer the Variable
    holds, its options included (before, the copy took sync/no delete/tags at parse time).

    The Variable narrows the source to ``exports/00/``, lands under ``options/``, and says
    ``mode: sync``, ``delete: true``, ``copy_tags: false``. (``mode: copy`` with ``delete: true`` is
    refused by every task: a copy never deletes; see test_transfer_spec.py.)
    """
    accounts, endpoint = local_stack["accounts"], local_stack["endpoint"]
    variable = transfer(accounts)
    variable["source"]["prefix"] = "exports/00/"
    variable["destination"]["prefix"] = "options/"
    variable["options"].update(mode="sync", delete=True, copy_tags=False)
    src = stack.session(endpoint, stack.SOURCE_ACCOUNT).client("s3", endpoint_url=endpoint)
    dst = stack.session(endpoint, stack.DEST_ACCOUNT).client("s3", endpoint_url=endpoint)
    source_keys = sorted(listing(endpoint, stack.SOURCE_BUCKET, "exports/00/"))
    tagged = source_keys[0]
    src.put_object_tagging(
        Bucket=stack.SOURCE_BUCKET,
        Key="exports/00/" + tagged,
        Tagging={"TagSet": [{"Key": "owner", "Value": "vendor"}]},
    )
    dst.put_object(Bucket=stack.DEST_BUCKET, Key="options/stale.csv", Body=b"gone from the source")
    try:
        wire = _run_with_transfer(local_stack, variable)
    finally:  # the other tests' permissions (the demo transfer: tags, no delete) back in place
        apply_permissions(accounts, local_stack["env"], local_stack["home"])

    # verify evaluated the requests of this transfer: deletes, no tagging.
    verify = latest_xcom(local_stack["home"], "s3xacct_nightly_sync", "sync.verify_permissions")
    actions = {check["action"] for check in verify["checks"]}
    assert verify["verdict"] == "allowed"
    assert "s3:DeleteObject" in actions and not {a for a in actions if "Tagging" in a}
    assert {c["resource"] for c in verify["checks"] if c["action"] == "s3:GetObject"} == {
        f"arn:aws:s3:::{stack.SOURCE_BUCKET}/exports/00/*"
    }
    # The sensor discovered the keys under the Variable's source prefix (HEADs there only) and
    # probed the Variable's destination key.
    kms = latest_xcom(local_stack["home"], "s3xacct_nightly_sync", "sync.kms_access")
    assert {k["key_arn"] for k in kms} == {
        accounts.dest_key_arn,
        accounts.source_key_arn,
        accounts.source_key2_arn,
    }
    assert [k["operations"] for k in kms if k["key_arn"] == accounts.dest_key_arn] == [
        {"generate_data_key": True}
    ]
    heads = [r["path"] for r in wire if r["op"] == "HeadObject" and r["path"].startswith(f"/{stack.SOURCE_BUCKET}/")]
    assert heads and all(p.startswith(f"/{stack.SOURCE_BUCKET}/exports/00/") for p in heads)
    # The copy: every source object of the prefix, the stale one deleted, no tags read or written.
    summary = latest_xcom(local_stack["home"], "s3xacct_nightly_sync", "sync.copy")
    assert summary["copied"] == len(source_keys) and summary["deleted"] == 1 and summary["failed"] == 0
    assert sorted(listing(endpoint, stack.DEST_BUCKET, "options/")) == source_keys
    assert dst.get_object_tagging(Bucket=stack.DEST_BUCKET, Key="options/" + tagged)["TagSet"] == []
    ops = [r["op"] for r in wire]
    assert "GetObjectTagging" not in ops and "PutObjectTagging" not in ops
    copies = [r for r in wire if r["op"] == "CopyObject"]
    assert len(copies) == len(source_keys)
    assert all(r["headers"].get("x-amz-tagging-directive") == "REPLACE" for r in copies)
    assert "DeleteObjects" in ops or "DeleteObject" in ops
    # sync: verify required, and the copy made, the destination listing.
    assert f"arn:aws:s3:::{stack.DEST_BUCKET}" in _listing_checks(verify)
    assert _dest_listings_by_principal(endpoint, wire, accounts.principal_arn)


def _listing_checks(verify: dict[str, Any]) -> set[str]:
    """The buckets verify required s3:ListBucket on."""
    return {c["resource"] for c in verify["checks"] if c["action"] == "s3:ListBucket"}


def _dest_listings_by_principal(endpoint: str, wire: list[dict[str, Any]], principal_arn: str) -> list[str]:
    """Bucket-level GETs on the destination bucket signed by the sync principal (not the admins)."""
    role = principal_arn.split("/")[-1]
    return [
        r["path"]
        for r in wire
        if r["op"] == "ListObjects"
        and r["path"].rstrip("/") == f"/{stack.DEST_BUCKET}"
        and f"assumed-role/{role}/" in _signer(endpoint, r["access_key"])
    ]


@pytest.mark.e2e
def test_nightly_run_in_copy_mode_never_lists_the_destination(local_stack: dict[str, Any]) -> None:
    """``mode: copy`` in the Variable: verify requires no destination ListBucket and the copy
    sends none (before, the copy ran in sync mode and listed it whatever the Variable said)."""
    accounts, endpoint = local_stack["accounts"], local_stack["endpoint"]
    variable = transfer(accounts)
    variable["source"]["prefix"] = "exports/01/"
    variable["destination"]["prefix"] = "copymode/"
    variable["options"].update(mode="copy", delete=False, copy_tags=False)
    try:
        wire = _run_with_transfer(local_stack, variable)
    finally:
        apply_permissions(accounts, local_stack["env"], local_stack["home"])
    verify = latest_xcom(local_stack["home"], "s3xacct_nightly_sync", "sync.verify_permissions")
    assert verify["verdict"] == "allowed"
    assert _listing_checks(verify) == {f"arn:aws:s3:::{stack.SOURCE_BUCKET}"}
    summary = latest_xcom(local_stack["home"], "s3xacct_nightly_sync", "sync.copy")
    copied = listing(endpoint, stack.DEST_BUCKET, "copymode/")
    assert summary["copied"] == len(copied) > 0 and summary["failed"] == 0
    assert _dest_listings_by_principal(endpoint, wire, accounts.principal_arn) == []


def _relay_connection(endpoint: str, role_arn: str, external_id: str | None = None) -> str:
    """An ``aws`` connection assuming ``role_arn`` (with the vendor's external id, if any) on the local stack."""
    extra: dict[str, Any] = {"role_arn": role_arn, "endpoint_url": endpoint, "region_name": stack.REGION}
    if external_id:
        extra["assume_role_kwargs"] = {"ExternalId": external_id}
    return json.dumps({"conn_type": "aws", "login": "demo", "password": "demo", "extra": extra})


@pytest.mark.e2e
def test_relay_dag_end_to_end_as_the_vendor_s_reader_and_our_writer(local_stack: dict[str, Any]) -> None:
    """The relay DAG as deployed: its connections and Variable from the environment, its four tasks
    run by ``airflow dags test``. What shows on the server's request log: every source request
    signed by the vendor's read role, every destination request by our writer role, no server-side
    copy. moto enforces no policy: that neither role could do the other's side is AWS's to enforce."""
    accounts, endpoint, home = local_stack["accounts"], local_stack["endpoint"], local_stack["home"]
    reader = f"arn:aws:iam::{stack.SOURCE_ACCOUNT}:role/vendor-reader"
    writer = f"arn:aws:iam::{stack.DEST_ACCOUNT}:role/ingest-writer"
    for account, arn in ((stack.SOURCE_ACCOUNT, reader), (stack.DEST_ACCOUNT, writer)):
        iam = stack.session(endpoint, account).client("iam", endpoint_url=endpoint)
        iam.create_role(RoleName=arn.split("/")[-1], AssumeRolePolicyDocument="{}")
    variable = transfer(accounts)
    del variable["principal_arn"]
    variable.update(source_principal_arn=reader, dest_principal_arn=writer)
    variable["destination"]["prefix"] = "relay/"
    (home / "relay.json").write_text(json.dumps(variable))
    admins = [
        "--source-admin-role-arn",
        f"arn:aws:iam::{stack.SOURCE_ACCOUNT}:role/{stack.ADMIN_ROLE}",
        "--dest-admin-role-arn",
        f"arn:aws:iam::{stack.DEST_ACCOUNT}:role/{stack.ADMIN_ROLE}",
    ]
    env = dict(
        local_stack["env"],
        AIRFLOW_VAR_S3XACCT_RELAY_TRANSFER=json.dumps(variable),
        AIRFLOW_CONN_S3XACCT_VENDOR_READER=_relay_connection(endpoint, reader, external_id="vendor-ext-id"),
        AIRFLOW_CONN_S3XACCT_INGEST_WRITER=_relay_connection(endpoint, writer),
    )
    try:
        run(["s3xacct", "apply", "--config", str(home / "relay.json"), "--json", *admins], env)
        requests.get(f"{endpoint}/__bench__/reset", timeout=10).raise_for_status()
        run(["airflow", "dags", "test", "s3xacct_relay_sync"], env)
        wire = _wire(endpoint)
    finally:  # the other tests' permissions (the server-side demo transfer) back in place
        apply_permissions(accounts, local_stack["env"], home)

    verify = latest_xcom(home, "s3xacct_relay_sync", "sync.verify_permissions")
    assert verify["verdict"] == "allowed"
    assert {c["principal"] for c in verify["checks"]} == {reader, writer}
    summary = latest_xcom(home, "s3xacct_relay_sync", "sync.copy")
    assert summary["copied"] == accounts.total_objects and summary["failed"] == 0
    assert_copied(local_stack, "relay/", key_arn=accounts.dest_key_arn)
    checked = latest_xcom(home, "s3xacct_relay_sync", "sync.check")
    assert checked["identical"] is True and sum(checked["counts"].values()) == accounts.total_objects
    ops = {r["op"] for r in wire}
    assert "GetObject" in ops and "PutObject" in ops and not ops & {"CopyObject", "UploadPartCopy"}
    # Who signed each bucket's requests; the admins' are verify's policy reads, bucket-level only.
    role_of = {key: _signer(endpoint, key).split("/")[1] for key in {r["access_key"] for r in wire}}
    roles: dict[str, set[str]] = {}
    for request in wire:
        bucket, _, key = request["path"].lstrip("/").partition("/")
        role = role_of[request["access_key"]]
        if role == stack.ADMIN_ROLE:
            assert not key, request
        else:
            roles.setdefault(bucket, set()).add(role)
    assert roles == {stack.SOURCE_BUCKET: {"vendor-reader"}, stack.DEST_BUCKET: {"ingest-writer"}}


def test_demo_module_is_runnable() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import demo.run, demo.ui"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
