"""Throttling beyond botocore's retries, vanished sources, listing network errors, the report target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_s3xacct.transfer.clients import TransferClients, engine_config
from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.retry import RetryPolicy
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.aws_world import DEST_ACCOUNT, World
from tests.faults.helpers import bench, cli, fault, finish, last_json, open_uploads

SLOWDOWN = {"status": 503, "code": "SlowDown", "message": "Please reduce your request rate."}


def _copy(world: World, retry: RetryPolicy, max_attempts: int = 2) -> CopyReport:
    client = world.principal.client(
        "s3", config=engine_config(2, max_attempts=max_attempts), endpoint_url=world.endpoint_url
    )
    spec = CopySpec.create(
        source=f"s3://{world.source_bucket}/data/",
        destination=f"s3://{world.dest_bucket}/copy/",
        transport="botocore",
        concurrency=2,
    )
    return TransferEngine(spec, TransferClients(client, client), retry=retry).run()


def test_throttling_that_outlasts_botocore_is_retried_by_the_engine_with_backoff(world: World) -> None:
    world.put("data/a", b"1")
    world.put("data/b", b"2")
    # botocore gives up after 2 attempts (as it does at once when its retry quota is spent).
    fault(world, "CopyObject", f"/{world.dest_bucket}/copy/a", times=3, **SLOWDOWN)
    report = _copy(world, RetryPolicy(base_seconds=0.05))
    assert report.ok and report.copied == 2
    assert report.retries == 1 and report.retry_wait_seconds > 0
    assert "1 own retries" in report.summary_line()
    assert sorted(world.dest_keys()) == ["copy/a", "copy/b"]


def test_endless_throttling_gives_up_within_the_time_bound_and_says_what_was_tried(world: World) -> None:
    world.put("data/a", b"1")
    fault(world, "CopyObject", f"/{world.dest_bucket}/copy/a", times=1000, **SLOWDOWN)
    # The bound leaves room for several attempts however slow one answer is: on a cold server
    # (the MWAA 2.11 venv in CI) one throttled CopyObject took about a second, and a 2 s bound
    # allowed a single retry.
    policy = RetryPolicy(max_attempts=100, object_seconds=6.0, base_seconds=0.05, cap_seconds=0.5)
    report = _copy(world, policy, max_attempts=1)
    assert report.failed == 1 and report.only_retryable_failures
    failure = report.failures[0]
    assert "SlowDown" in failure.error and "attempts over" in failure.error
    assert "the engine's own retries" in failure.diagnosis.cause
    assert report.elapsed_seconds < 15 and report.retries >= 2


def test_a_source_object_deleted_after_listing_is_skipped_and_the_run_exits_0(world: World) -> None:
    world.put("data/a", b"1")
    world.put("data/b", b"2")
    # The CRT sends this CopyObject; S3 answers that the source key is gone.
    fault(world, "CopyObject", f"/{world.dest_bucket}/copy/a", status=404, code="NoSuchKey", message="gone")
    code, out, err = finish(
        cli(world, "copy", f"s3://{world.source_bucket}/data/", f"s3://{world.dest_bucket}/copy/", "--json")
    )
    assert code == 0, err
    summary = last_json(out)
    assert (summary["copied"], summary["skipped"], summary["vanished"], summary["failed"]) == (1, 1, 1, 0)


def test_a_network_error_while_listing_gets_the_listing_diagnosis_and_a_json_line(world: World) -> None:
    world.put("data/a", b"1")
    fault(world, "ListObjects", f"/{world.source_bucket}", kind="reset-before", times=50)
    # Two attempts, not eight: the same failure without a minute of botocore's backoff.
    code, out, err = finish(
        cli(
            world,
            "copy",
            f"s3://{world.source_bucket}/data/",
            f"s3://{world.dest_bucket}/copy/",
            "--json",
            env={"AWS_MAX_ATTEMPTS": "2"},
        )
    )
    assert code == 1 and "Traceback" not in err
    assert f"listing s3://{world.source_bucket}/data/ failed" in err
    line = last_json(out)
    assert "connection to S3 failed" in line["diagnosis"] and "retry the run" in line["diagnosis"]


def test_an_unwritable_report_target_stops_the_run_before_any_copy(world: World, tmp_path: Path) -> None:
    world.put("data/a", b"1")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target in (
        "s3://no-such-report-bucket/r.jsonl",
        str(blocker / "r.jsonl"),
        f"s3://{world.dest_bucket}/dir/",
    ):
        bench(world, "reset")
        code, out, err = finish(
            cli(
                world,
                "copy",
                f"s3://{world.source_bucket}/data/",
                f"s3://{world.dest_bucket}/copy/",
                "--json",
                "--report",
                target,
            )
        )
        assert code == 2, (target, err)
        assert "report" in last_json(out)["error"]
        assert bench(world, "stats").get("CopyObject", 0) == 0
    assert world.dest_keys() == []


def test_the_s3_report_is_encrypted_like_the_data_and_pinned_to_the_destination_owner(world: World) -> None:
    world.put("data/a", b"1")
    client = world.principal.client("s3", endpoint_url=world.endpoint_url)
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: calls.append(dict(params))
    )
    spec = CopySpec.create(
        source=f"s3://{world.source_bucket}/data/",
        destination=f"s3://{world.dest_bucket}/copy/",
        dest_kms_key_id=world.dest_key_arn,
        dest_account_id=DEST_ACCOUNT,
    )
    report = TransferEngine(
        spec, TransferClients(client, client), report_target=f"s3://{world.dest_bucket}/reports/r.jsonl"
    ).run()
    assert report.ok and report.report_uri == f"s3://{world.dest_bucket}/reports/r.jsonl"
    head = world.dst_s3.head_object(Bucket=world.dest_bucket, Key="reports/r.jsonl")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == world.dest_key_arn
    assert calls and calls[-1]["ExpectedBucketOwner"] == DEST_ACCOUNT
    assert open_uploads(world) == []  # the write check's upload was aborted


def test_a_report_upload_that_fails_at_the_end_keeps_the_lines_and_says_where(world: World) -> None:
    world.put("data/a", b"1")
    client = world.principal.client("s3", endpoint_url=world.endpoint_url)
    fault(
        world,
        "PutObject",
        f"/{world.dest_bucket}/reports/r.jsonl",
        status=403,
        code="AccessDenied",
        message="no",
    )
    spec = CopySpec.create(
        source=f"s3://{world.source_bucket}/data/", destination=f"s3://{world.dest_bucket}/copy/"
    )
    report = TransferEngine(
        spec, TransferClients(client, client), report_target=f"s3://{world.dest_bucket}/reports/r.jsonl"
    ).run()
    assert report.copied == 1 and not report.ok
    assert report.report_error and "AccessDenied" in report.report_error
    assert report.report_uri and Path(report.report_uri).read_text().count('"status":"copied"') == 1
    assert report.report_uri in report.failure_summary()
    Path(report.report_uri).unlink()
