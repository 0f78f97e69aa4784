"""``--delete`` removes only what is really gone from the source, whatever the listings said."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_s3xacct.transfer.clients import TransferClients, engine_config
from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.pages import ENTRIES
from airflow_provider_s3xacct.transfer.report import CopyReport
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.aws_world import World
from tests.faults.helpers import fault


def _sync(
    world: World, clients: TransferClients | None = None, report_target: str | None = None, **spec: Any
) -> CopyReport:
    if clients is None:
        client = world.principal.client("s3", config=engine_config(4), endpoint_url=world.endpoint_url)
        clients = TransferClients(source=client, dest=client)
    return TransferEngine(
        CopySpec.create(
            source=f"s3://{world.source_bucket}/data/",
            destination=f"s3://{world.dest_bucket}/copy/",
            mode="sync",
            delete=True,
            max_delete=100,
            concurrency=4,
            transport="botocore",
            **spec,
        ),
        clients,
        report_target=report_target,
    ).run()


def _filled(world: World, n: int = 20) -> None:
    for i in range(n):
        world.put(f"data/{i:02}", b"v")
    _sync(world)


def test_a_key_written_between_the_two_listings_is_not_deleted(world: World) -> None:
    """The source listing passes "10b" before it exists; it is written to both sides before the
    destination listing reaches it, so the destination has a key the source listing lacked."""
    _filled(world)
    source = world.principal.client("s3", config=engine_config(4), endpoint_url=world.endpoint_url)
    dest = world.principal.client("s3", config=engine_config(4), endpoint_url=world.endpoint_url)
    written: list[str] = []

    def write_after_source_listing(parsed: dict[str, Any], **_: Any) -> None:
        # A page of the key listing, not the parallel listing's first (delimiter) probe, whose
        # entries are not used: only once the source listing has passed "10b" does it matter.
        if not written and ENTRIES in parsed:
            written.append("10b")
            world.put("data/10b", b"new")
            world.dst_s3.put_object(Bucket=world.dest_bucket, Key="copy/10b", Body=b"new")

    source.meta.events.register("after-call.s3.ListObjectsV2", write_after_source_listing)
    world.src_s3.delete_object(Bucket=world.source_bucket, Key="data/03")  # really gone

    report = _sync(world, TransferClients(source=source, dest=dest))

    assert written == ["10b"]
    assert "copy/10b" in world.dest_keys()
    assert "copy/03" not in world.dest_keys()
    assert (report.deleted, report.delete_skipped) == (1, 1) and report.ok
    assert "present in the source" in next(iter(report.delete_skip_reasons))


def test_a_listing_page_that_silently_drops_entries_deletes_nothing_the_source_has(world: World) -> None:
    _filled(world)
    # The next source listing page leaves one entry out and adjusts KeyCount: undetectable in it.
    # (times=2: the parallel listing's delimiter probe comes first; its entries are not used.)
    fault(world, "ListObjects", f"/{world.source_bucket}", kind="drop-entry", times=2)
    report = _sync(world)
    assert len(world.dest_keys()) == 20
    assert (report.deleted, report.delete_skipped) == (0, 1)


def test_a_page_whose_count_disagrees_or_that_ends_truncated_refuses_every_delete(world: World) -> None:
    _filled(world)
    world.src_s3.delete_object(Bucket=world.source_bucket, Key="data/05")
    for kind in ("keycount", "truncate"):
        fault(world, "ListObjects", f"/{world.source_bucket}", kind=kind, times=2)  # probe + page
        report = _sync(world)
        assert report.deleted == 0 and not report.ok and report.only_retryable_failures
        assert report.listing_problem and "may be incomplete" in report.failure_summary(), kind
        # Every candidate (05, and what the faulty page left out) is counted as skipped, for that reason.
        assert report.delete_skipped >= 1, kind
        assert dict(report.delete_skip_reasons) == {
            "the source listing may be incomplete": report.delete_skipped
        }
        assert "copy/05" in world.dest_keys()
    assert _sync(world).deleted == 1 and "copy/05" not in world.dest_keys()


def test_a_backup_whose_connection_drops_keeps_the_object_and_names_the_network(
    world: World, tmp_path: Path
) -> None:
    """The backup before a delete is a request like any other: a dropped connection (after
    botocore's retries) is a failure with the network diagnosis, and the object is not deleted."""
    _filled(world, 6)
    world.src_s3.delete_object(Bucket=world.source_bucket, Key="data/03")
    client = world.principal.client(
        "s3", config=engine_config(4, max_attempts=1), endpoint_url=world.endpoint_url
    )
    # With max_attempts=1 the server still saw the request twice (a resend below botocore): enough
    # resets for every send.
    fault(world, "CopyObject", f"/{world.dest_bucket}/backup/03", kind="reset-before", times=4)

    report = _sync(
        world,
        TransferClients(source=client, dest=client),
        report_target=str(tmp_path / "r.jsonl"),
        backup_prefix=f"s3://{world.dest_bucket}/backup/",
    )

    assert report.deleted == 0 and report.failed == 1
    assert "copy/03" in world.dest_keys() and "backup/03" not in world.dest_keys()
    assert report.failures[0].key == "03" and "connection to S3 failed" in str(report.failures[0].diagnosis)
    # The per-object log says the same of the key: failed, with the error and the diagnosis.
    (logged,) = [
        r for r in map(json.loads, (tmp_path / "r.jsonl").read_text().splitlines()) if r["action"] == "delete"
    ]
    assert (logged["key"], logged["status"]) == ("03", "failed")
    assert "backup/03" in logged["error"] and "connection to S3 failed" in logged["diagnosis"]
