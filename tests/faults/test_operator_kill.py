"""The operator's ``on_kill``, called as Airflow 3 calls it: from the task's SIGTERM handler."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

from airflow_provider_s3xacct.compat import AirflowException, AirflowFailException
from airflow_provider_s3xacct.operators import CrossAccountS3CopyOperator
from tests.aws_world import World
from tests.faults.helpers import MIB, bench, open_uploads, seed, wait_for


class _TI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_sigterm_in_a_task_aborts_the_uploads_and_fails_retryably(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = world.principal.get_credentials()
    for name, value in (
        ("AWS_ACCESS_KEY_ID", creds.access_key),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_key),
        ("AWS_SESSION_TOKEN", creds.token),
        ("AWS_ENDPOINT_URL", world.endpoint_url or ""),
    ):
        monkeypatch.setenv(name, value)
    seed(world, small=4, large=6)
    op = CrossAccountS3CopyOperator(
        task_id="copy",
        aws_conn_id=None,
        region_name="us-east-1",
        source_uri=f"s3://{world.source_bucket}/data/",
        dest_uri=f"s3://{world.dest_bucket}/copy/",
        concurrency=4,
        multipart_threshold=5 * MIB,
        part_size=5 * MIB,
    )

    # Airflow's task runner (airflow.sdk.execution_time.task_runner) installs exactly this.
    def on_term(signum: int, frame: Any) -> None:
        op.on_kill()

    previous = signal.signal(signal.SIGTERM, on_term)
    bench(world, "delay", seconds=0.25)

    def kill_when_parts_are_in_flight() -> None:
        wait_for(world, "UploadPartCopy")
        os.kill(os.getpid(), signal.SIGTERM)

    ti = _TI()
    killer = threading.Thread(target=kill_when_parts_are_in_flight)
    killer.start()
    try:
        with pytest.raises(AirflowException, match="interrupted") as raised:
            op.execute({"ti": ti})  # type: ignore[arg-type]
    finally:
        killer.join()
        signal.signal(signal.SIGTERM, previous)
        bench(world, "delay", seconds=0)
    assert not isinstance(raised.value, AirflowFailException)  # a retry finishes the work
    assert open_uploads(world) == []
    assert ti.pushed["report"]["interrupted"] == "on_kill" and ti.pushed["report"]["uploads_aborted"] >= 1


def test_include_and_exclude_given_as_one_string_are_one_pattern(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("a.csv", "b.json", "c.csv"):
        world.put(f"data/{key}", b"1")
    creds = world.principal.get_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds.token)
    monkeypatch.setenv("AWS_ENDPOINT_URL", world.endpoint_url or "")
    common = {
        "aws_conn_id": None,
        "region_name": "us-east-1",
        "source_uri": f"s3://{world.source_bucket}/data/",
    }
    CrossAccountS3CopyOperator(
        task_id="inc", dest_uri=f"s3://{world.dest_bucket}/inc/", include="*.csv", **common
    ).execute(
        {"ti": _TI()}  # type: ignore[arg-type]
    )
    CrossAccountS3CopyOperator(
        task_id="exc", dest_uri=f"s3://{world.dest_bucket}/exc/", exclude="*.json", **common
    ).execute(
        {"ti": _TI()}  # type: ignore[arg-type]
    )
    assert sorted(world.dest_keys("inc/")) == ["inc/a.csv", "inc/c.csv"]
    assert sorted(world.dest_keys("exc/")) == ["exc/a.csv", "exc/c.csv"]


def test_cleanup_uploads_older_than_aborts_stale_uploads_under_the_prefix_only(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.put("data/a", b"1")
    creds = world.principal.get_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds.token)
    monkeypatch.setenv("AWS_ENDPOINT_URL", world.endpoint_url or "")
    for key in ("copy/left-by-a-crash", "elsewhere/not-ours"):
        world.dst_s3.create_multipart_upload(Bucket=world.dest_bucket, Key=key)
    CrossAccountS3CopyOperator(
        task_id="copy",
        aws_conn_id=None,
        region_name="us-east-1",
        source_uri=f"s3://{world.source_bucket}/data/",
        dest_uri=f"s3://{world.dest_bucket}/copy/",
        cleanup_uploads_older_than="0s",
    ).execute({"ti": _TI()})  # type: ignore[arg-type]
    assert [u["Key"] for u in open_uploads(world)] == ["elsewhere/not-ours"]
    with pytest.raises(AirflowFailException, match="cleanup_uploads_older_than"):
        CrossAccountS3CopyOperator(
            task_id="bad",
            source_uri="s3://a-bucket/x",
            dest_uri="s3://b-bucket/y",
            cleanup_uploads_older_than="soon",
        ).execute({})  # type: ignore[arg-type]
