"""CrossAccountS3CopyOperator: argument handling, Airflow failure semantics, lineage and links."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_s3xacct.compat import AirflowException, AirflowFailException
from airflow_provider_s3xacct.operators import CrossAccountS3CopyOperator
from airflow_provider_s3xacct.transfer.report import CopyReport
from tests.aws_world import World, act_as


class _TI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:  # Airflow 2 also passes execution_date
        self.pushed[key] = value


def _operator(world: World, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> CrossAccountS3CopyOperator:
    """An operator whose connection is the sync principal on the moto server (via env credentials)."""
    act_as(monkeypatch, world.principal, world.endpoint_url)
    kwargs.setdefault("source_uri", f"s3://{world.source_bucket}/data/")
    kwargs.setdefault("dest_uri", f"s3://{world.dest_bucket}/copy/")
    return CrossAccountS3CopyOperator(
        task_id="copy", aws_conn_id=None, region_name="us-east-1", concurrency=4, **kwargs
    )


def test_execute_copies_and_returns_the_summary(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.put("data/a", b"12345", kms=world.source_key_arn)
    ti = _TI()
    op = _operator(world, monkeypatch, mode="sync", dest_kms_key_id=world.dest_key_arn)
    summary = op.execute({"ti": ti})  # type: ignore[arg-type]
    assert summary["copied"] == 1 and summary["bytes_copied"] == 5 and summary["failed"] == 0
    head = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="copy/a")
    assert head["SSEKMSKeyId"] == world.dest_key_arn


def test_the_destination_link_is_stored_once_by_airflow_s_task_runner(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow 3 stores each extra link itself after execute (task_runner.finalize); execute pushes none."""
    task_runner = pytest.importorskip(
        "airflow.sdk.execution_time.task_runner", reason="Airflow 3's task runner (2.x persists links in execute)"
    )
    import structlog
    from airflow.utils.state import TaskInstanceState

    world.put("data/a", b"12345", kms=world.source_key_arn)
    ti = _TI()
    op = _operator(world, monkeypatch, dest_kms_key_id=world.dest_key_arn)
    op.execute({"ti": ti})  # type: ignore[arg-type]
    assert ti.pushed == {}  # no link fields beside the link Airflow stores
    stored: list[tuple[str, Any]] = []
    monkeypatch.setattr(task_runner, "_xcom_push_to_db", lambda ti, key, value: stored.append((key, value)))
    runtime_ti = SimpleNamespace(task=op, start_date=None, end_date=None, dag_id="d", task_id="copy", run_id="r")
    task_runner.finalize(runtime_ti, TaskInstanceState.SUCCESS, {}, structlog.get_logger())  # type: ignore[arg-type]
    assert stored == [
        (
            "_link_S3DestinationLink",
            "https://console.aws.amazon.com/s3/buckets/dst-bucket?region=us-east-1&prefix=copy/&showversions=false",
        )
    ]


def test_on_airflow_2_the_link_fields_are_pushed_once_for_the_webserver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow 2 has no task-runner push: its webserver formats the link from one XCom."""
    from airflow_provider_s3xacct.links import s3

    monkeypatch.setattr(s3, "AIRFLOW_V_3_0_PLUS", False)
    ti = _TI()
    op = CrossAccountS3CopyOperator(task_id="copy", source_uri="s3://a/x", dest_uri="s3://b/y/", aws_conn_id=None)
    s3.S3DestinationLink.record({"ti": ti}, op, "eu-west-1", "aws", bucket="b", prefix="y/")  # type: ignore[arg-type]
    assert list(ti.pushed) == ["s3xacct_destination"]
    url = op.operator_extra_links[0].format_link(**ti.pushed["s3xacct_destination"])
    assert url.startswith("https://console.aws.amazon.com/s3/buckets/b?region=eu-west-1&prefix=y/")


def test_bad_input_fails_without_retry_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    op = CrossAccountS3CopyOperator(
        task_id="copy", source_uri="s3://src-bucket/x", dest_uri="dst-bucket/x", aws_conn_id=None
    )
    monkeypatch.setattr(type(op), "hook", property(lambda self: pytest.fail("no AWS client may be made")))
    with pytest.raises(AirflowFailException, match="dest_uri: 'dst-bucket/x' is not an S3 URI"):
        op.execute({})  # type: ignore[arg-type]


def test_both_uri_and_bucket_is_refused() -> None:
    with pytest.warns(DeprecationWarning, match="pass source_uri="):  # the pair is deprecated
        op = CrossAccountS3CopyOperator(
            task_id="copy",
            source_uri="s3://src-bucket/x",
            source_bucket="src-bucket",
            dest_uri="s3://dst-bucket/",
            aws_conn_id=None,
        )
    with pytest.raises(AirflowFailException, match="source_uri: give either"):
        op.execute({})  # type: ignore[arg-type]


def test_rendered_none_key_means_no_key() -> None:
    op = CrossAccountS3CopyOperator(
        task_id="copy",
        source_uri="s3://src-bucket/x",
        dest_uri="s3://dst-bucket/",
        dest_kms_key_id="None",
        aws_conn_id=None,
    )
    assert op.build_spec().dest_kms_key_id is None


def _report(**kwargs: Any) -> CopyReport:
    return CopyReport(source="s3://a/", destination="s3://b/", mode="copy", dry_run=False, **kwargs)


def test_permanent_failures_fail_without_retry_and_push_the_report() -> None:
    from airflow_provider_s3xacct.diagnosis.explain import Diagnosis

    op = CrossAccountS3CopyOperator(
        task_id="copy", source_uri="s3://src-bucket/x", dest_uri="s3://dst-bucket/", aws_conn_id=None
    )
    report = _report(listed=2, copied=1)
    report.add_failure(
        "k",
        "CopyObject: AccessDenied: Access Denied",
        Diagnosis("principal lacks kms:Decrypt on K", "grant it"),
    )
    ti = _TI()
    with pytest.raises(AirflowFailException, match="1 objects: principal lacks kms:Decrypt on K"):
        op._finish({"ti": ti}, report)  # type: ignore[arg-type]
    assert ti.pushed["report"]["failed"] == 1


def test_throttling_only_failures_are_retryable() -> None:
    from airflow_provider_s3xacct.diagnosis.explain import Diagnosis

    op = CrossAccountS3CopyOperator(
        task_id="copy", source_uri="s3://src-bucket/x", dest_uri="s3://dst-bucket/", aws_conn_id=None
    )
    report = _report(listed=1)
    report.add_failure(
        "k", "SlowDown", Diagnosis("S3 kept answering SlowDown", "retry later", permanent=False)
    )
    with pytest.raises(AirflowException) as raised:
        op._finish({"ti": _TI()}, report)  # type: ignore[arg-type]
    assert not isinstance(raised.value, AirflowFailException)


def test_openlineage_names_source_and_destination_prefixes() -> None:
    op = CrossAccountS3CopyOperator(
        task_id="copy", source_uri="s3://src-bucket/data", dest_uri="s3://dst-bucket/", aws_conn_id=None
    )
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("s3://src-bucket", "data/")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("s3://dst-bucket", "/")]


def test_openlineage_start_event_carries_the_datasets_without_any_aws_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the OpenLineage provider's extractor hands to the START event (the provider is installed)."""
    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    op = CrossAccountS3CopyOperator(
        task_id="copy",
        source_uri="s3://src-bucket/data",
        dest_uri="s3://dst-bucket/copy/",
        sse_c_copy_source_key_variable="secret-key",  # START must not read it
        aws_conn_id=None,
    )
    monkeypatch.setattr(type(op), "hook", property(lambda self: pytest.fail("no AWS client on START")))
    monkeypatch.setattr(type(op), "_sse_c_key", lambda self: pytest.fail("no Variable read on START"))
    extractor = ExtractorManager().get_extractor_class(op)
    assert extractor is not None
    lineage = extractor(op).extract()  # the START path: get_openlineage_facets_on_start
    assert lineage is not None
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("s3://src-bucket", "data/")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("s3://dst-bucket", "copy/")]


def test_templated_fields_cover_locations_and_key() -> None:
    fields = set(CrossAccountS3CopyOperator.template_fields)
    assert {
        "source_uri",
        "dest_uri",
        "source_bucket",
        "dest_prefix",
        "dest_kms_key_id",
        "aws_conn_id",
        "region_name",
    } <= fields


def test_copy_semantics_options_reach_the_engine(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14's options on the operator: ordered filters, size/age/class filters, storage class,
    metadata, the delete fraction and error_on_no_transfer, as a DAG author writes them."""
    for key in ("a.csv", "b.json", "sub/c.csv"):
        world.put(f"data/{key}", b"12345")
    world.put("data/tiny.csv", b"1")
    world.put("data/cold.csv", b"12345", StorageClass="GLACIER")
    op = _operator(
        world,
        monkeypatch,
        mode="sync",
        filters=[["exclude", "*"], ["include", "*.csv"], ["exclude", "sub/*"]],
        min_size="2",
        min_age=0,
        storage_class_skip=["GLACIER"],
        storage_class="STANDARD_IA",
        content_type="text/csv",
    )
    summary = op.execute({"ti": _TI()})  # type: ignore[arg-type]
    assert summary["copied"] == 1 and world.dest_keys() == ["copy/a.csv"]
    head = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="copy/a.csv")
    assert head["StorageClass"] == "STANDARD_IA" and head["ContentType"] == "text/csv"

    nothing = _operator(
        world, monkeypatch, mode="sync", error_on_no_transfer=True, filters=[["exclude", "*"]]
    )
    with pytest.raises(AirflowFailException, match=r"no object under .* matched"):
        nothing.execute({"ti": _TI()})  # type: ignore[arg-type]
    for i in range(6):
        world.put(f"data/n{i}", b"1")
    archived = {"storage_class_skip": ["GLACIER"]}
    _operator(world, monkeypatch, mode="sync", **archived).execute({"ti": _TI()})  # type: ignore[arg-type]
    for i in range(6):
        world.src_s3.delete_object(Bucket=world.source_bucket, Key=f"data/n{i}")
    deleting = _operator(world, monkeypatch, mode="sync", delete=True, max_delete_fraction=0.7, **archived)
    assert deleting.execute({"ti": _TI()})["deleted"] == 6  # type: ignore[arg-type]
    with pytest.raises(AirflowFailException, match="min_age"):
        _operator(world, monkeypatch, min_age="soon").execute({"ti": _TI()})  # type: ignore[arg-type]


def test_regions_come_from_the_buckets_not_the_connection(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection says us-east-1; the destination bucket is in eu-west-1, so its key must be too."""
    world.dst_s3.create_bucket(Bucket="eu-dst", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    world.put("data/a", b"1")
    wrong = _operator(world, monkeypatch, dest_uri="s3://eu-dst/x/", dest_kms_key_id=world.dest_key_arn)
    with pytest.raises(
        AirflowFailException, match=r"dest_kms_key_id: the key is in us-east-1 but .* eu-west-1"
    ):
        wrong.execute({"ti": _TI()})  # type: ignore[arg-type]
    eu_key = "arn:aws:kms:eu-west-1:222222222222:key/11111111-2222-3333-4444-555555555555"
    right = _operator(world, monkeypatch, dest_uri="s3://eu-dst/x/", dest_kms_key_id=eu_key, dry_run=True)
    assert right.execute({"ti": _TI()})["copied"] == 1  # type: ignore[arg-type]
