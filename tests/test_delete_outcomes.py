"""What a sync's deletes report is what happened in the destination bucket, key by key.

DeleteObjects answers 200 even when S3 refused some of its keys (each refusal is an ``Error``
entry of the response), and the whole request can fail too. A refused key must stay counted as a
failure with its diagnosis, never as deleted; the others are deleted and counted once each.
Observed in the destination bucket and in the server's request log, in process so mutation
testing (docs/mutation.md) sees it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from airflow_provider_s3xacct.transfer.clients import TransferClients, engine_config
from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.pages import ENTRIES
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.aws_world import DEST_ACCOUNT, SOURCE_ACCOUNT, World
from tests.faults.helpers import fault
from tests.wire import forget, seen


def _client(world: World) -> Any:
    return world.principal.client(
        "s3", config=engine_config(4, max_attempts=1), endpoint_url=world.endpoint_url
    )


def _sync(world: World, client: Any, report_target: str | None = None, **spec: Any) -> CopyReport:
    return TransferEngine(
        CopySpec.create(
            source=f"s3://{world.source_bucket}/data/",
            destination=f"s3://{world.dest_bucket}/copy/",
            mode="sync",
            delete=True,
            concurrency=4,
            transport="botocore",
            **{"max_delete": 100, **spec},
        ),
        TransferClients(source=client, dest=client),
        report_target=report_target,
    ).run()


def _copied_then_gone(world: World, keys: list[str], gone: list[str]) -> None:
    for key in keys:
        world.put(f"data/{key}", b"v")
    assert _sync(world, _client(world)).ok
    for key in gone:
        world.src_s3.delete_object(Bucket=world.source_bucket, Key=f"data/{key}")
    forget(world)


def _refuse_in_delete_objects(client: Any, refused: str) -> None:
    """S3 refuses ``refused`` inside an otherwise successful DeleteObjects, as with a per-key deny.

    moto enforces no policy, so the key is taken out of the request before it is sent (the
    object stays, as S3 would leave it) and the response gets the ``Error`` entry S3 returns.
    """

    def drop(params: dict[str, Any], **_: Any) -> None:
        params["Delete"]["Objects"] = [o for o in params["Delete"]["Objects"] if o["Key"] != refused]

    def report_error(parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Errors", []).append(
            {"Key": refused, "Code": "AccessDenied", "Message": "Access Denied"}
        )

    client.meta.events.register("before-parameter-build.s3.DeleteObjects", drop)
    client.meta.events.register("after-call.s3.DeleteObjects", report_error)


def _deletes_logged(path: Path) -> dict[str, tuple[str, str | None]]:
    """The per-object log's delete lines: key -> (status, error)."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["key"]: (r["status"], r["error"]) for r in lines if r["action"] == "delete"}


def test_a_key_refused_inside_delete_objects_stays_and_is_a_failure_not_a_delete(
    world: World, tmp_path: Path
) -> None:
    _copied_then_gone(world, ["01", "02", "03", "04"], gone=["01", "02", "03"])
    client = _client(world)
    _refuse_in_delete_objects(client, "copy/02")

    report = _sync(world, client, report_target=str(tmp_path / "r.jsonl"))

    assert world.dest_keys("copy/") == ["copy/02", "copy/04"]
    assert report.deleted == 2 and report.failed == 1 and not report.ok
    (failure,) = report.failures
    assert "lacks s3:DeleteObject on dst-bucket" in str(failure.diagnosis)
    assert failure.key == "02" and "AccessDenied" in failure.error and failure.diagnosis.permanent
    assert _deletes_logged(tmp_path / "r.jsonl") == {
        "01": ("deleted", None),
        "02": ("failed", "AccessDenied"),
        "03": ("deleted", None),
    }


def test_a_failed_delete_objects_request_deletes_nothing_and_fails_each_key(
    world: World, tmp_path: Path
) -> None:
    _copied_then_gone(world, ["01", "02", "03", "04"], gone=["01", "03"])
    fault(world, "DeleteObjects", "*", status=403, code="AccessDenied", message="Access Denied")

    report = _sync(
        world, _client(world), report_target=str(tmp_path / "r.jsonl"), dest_account_id=DEST_ACCOUNT
    )

    (request,) = seen(world, "DeleteObjects")
    assert request["headers"].get("x-amz-expected-bucket-owner") == DEST_ACCOUNT
    assert world.dest_keys("copy/") == ["copy/01", "copy/02", "copy/03", "copy/04"]
    assert report.deleted == 0 and report.failed == 2 and not report.ok
    assert sorted(f.key for f in report.failures) == ["01", "03"]
    assert all("lacks s3:DeleteObject on dst-bucket" in str(f.diagnosis) for f in report.failures)
    assert all("AccessDenied" in f.error and f.diagnosis.permanent for f in report.failures)
    logged = _deletes_logged(tmp_path / "r.jsonl")
    assert sorted(logged) == ["01", "03"] and all(
        s == "failed" and "AccessDenied" in str(e) for s, e in logged.values()
    )


def test_keys_a_listing_left_out_are_each_kept_counted_and_confirmed_with_the_source_owner(
    world: World, tmp_path: Path
) -> None:
    """Two keys the source still has are missing from its listing; one key is really gone.

    The HEAD that confirms each candidate names the source account as the expected owner (a
    bucket of another owner must not answer 404 for ours), and each kept key is counted once.
    """
    _copied_then_gone(world, ["01", "02", "03", "04"], gone=["04"])
    client = _client(world)

    def leave_out(parsed: dict[str, Any], **_: Any) -> None:
        if ENTRIES in parsed:
            parsed[ENTRIES] = [e for e in parsed[ENTRIES] if e[0] not in ("data/01", "data/03")]
            parsed["KeyCount"] = len(parsed[ENTRIES])

    client.meta.events.register("after-call.s3.ListObjectsV2", leave_out)

    report = _sync(world, client, report_target=str(tmp_path / "r.jsonl"), source_account_id=SOURCE_ACCOUNT)

    assert world.dest_keys("copy/") == ["copy/01", "copy/02", "copy/03"]
    heads = [r for r in seen(world, "HeadObject") if r["path"].startswith(f"/{world.source_bucket}/")]
    assert sorted(r["path"] for r in heads) == [
        f"/{world.source_bucket}/data/{k}" for k in ("01", "03", "04")
    ]
    assert all(r["headers"].get("x-amz-expected-bucket-owner") == SOURCE_ACCOUNT for r in heads)
    assert (report.deleted, report.delete_skipped) == (1, 2) and report.ok
    assert sum(report.delete_skip_reasons.values()) == 2
    assert all("present in the source" in reason for reason in report.delete_skip_reasons)
    logged = _deletes_logged(tmp_path / "r.jsonl")
    assert sorted(logged) == ["01", "03", "04"] and logged["04"] == ("deleted", None)
    assert all(logged[k][0] == "kept" and "present in the source" in str(logged[k][1]) for k in ("01", "03"))


def _destination_only(world: World, count: int) -> None:
    """``count`` destination objects the source never had, put in one request (the server's put-many)."""
    world.put("data/kept", b"v")
    keys = [f"copy/gone-{i:05}" for i in range(count)]
    requests.post(
        f"{world.endpoint_url}/__bench__/put-many",
        json={"bucket": world.dest_bucket, "keys": keys, "body_hex": b"v".hex()},
        timeout=120,
    ).raise_for_status()
    forget(world)


def test_more_than_a_thousand_deletes_go_in_requests_of_at_most_a_thousand_keys(world: World) -> None:
    """S3 refuses a DeleteObjects of more than 1,000 keys (moto does not): 1,001 take two requests."""
    _destination_only(world, 1001)

    report = _sync(world, _client(world), max_delete=1001)

    assert world.dest_keys("copy/") == ["copy/kept"]
    batches = seen(world, "DeleteObjects")
    assert len(batches) == 2
    assert report.deleted == 1001 and report.ok


def test_a_dry_run_counts_every_delete_it_would_make_and_deletes_none(world: World) -> None:
    _destination_only(world, 1001)

    report = _sync(world, _client(world), max_delete=1001, dry_run=True)

    assert world.dest_keys("copy/") == [f"copy/gone-{i:05}" for i in range(1001)]  # nothing copied either
    assert seen(world, "DeleteObjects") == []
    assert report.deleted == 1001


def test_an_empty_source_never_wipes_even_a_destination_of_one_object(world: World) -> None:
    world.dst_s3.put_object(Bucket=world.dest_bucket, Key="copy/only", Body=b"v")
    forget(world)

    report = _sync(world, _client(world), max_delete=None)

    assert world.dest_keys("copy/") == ["copy/only"]
    assert seen(world, "DeleteObjects") == [] and seen(world, "HeadObject") == []
    assert report.deleted == 0 and not report.ok
    assert report.delete_refused is not None and "--max-delete 1" in report.delete_refused
