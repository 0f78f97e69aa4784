"""The delete guard's last check, in process: a destination-only key is deleted only when a HEAD
of its source key answers 404, right before the delete.

The fault suite (tests/faults/test_deletes.py) shows the same promise through the CLI; this file
observes it in the test process so mutation testing (docs/mutation.md), which cannot reach a
subprocess, sees it too. Every answer comes from the moto server behind demo/counting_server.py,
with S3 errors and dropped connections injected on the wire.
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from airflow_provider_s3xacct.aws.locations import S3Location
from airflow_provider_s3xacct.transfer.deletes import still_in_source
from tests.aws_world import World
from tests.faults.helpers import fault
from tests.wire import forget, max_in_flight, seen, server_delay


def _client(world: World) -> Any:
    # One attempt: a dropped connection is then the principal's last word on the key.
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return world.principal.client("s3", endpoint_url=world.endpoint_url, config=config)


def test_only_a_404_lets_a_key_go(world: World) -> None:
    world.put("data/present", b"1")
    world.put("data/denied", b"1")
    world.put("data/dropped", b"1")
    fault(world, "HeadObject", f"/{world.source_bucket}/data/denied", status=403, code="AccessDenied")
    fault(world, "HeadObject", f"/{world.source_bucket}/data/dropped", kind="reset-before", times=5)
    fault(world, "HeadObject", f"/{world.source_bucket}/data/broken", status=500, code="InternalError")
    source = S3Location.parse(f"s3://{world.source_bucket}/data/", "source")
    keys = ["gone", "present", "denied", "dropped", "broken"]

    kept = still_in_source(_client(world), source, keys, expected_owner=None, concurrency=4)

    assert sorted(kept) == ["broken", "denied", "dropped", "present"]  # "gone" alone may be deleted
    assert kept["present"].startswith("present in the source")
    # A HEAD answer has no body, so S3 (and botocore) give the status as the error code.
    assert kept["denied"] == "could not confirm it is gone from the source: HeadObject 403"
    assert kept["broken"] == "could not confirm it is gone from the source: HeadObject 500"
    assert kept["dropped"].startswith("could not confirm it is gone from the source: ")
    # Each candidate asked about under the source prefix, nothing else.
    heads = {r["path"] for r in seen(world, "HeadObject")}
    assert heads == {f"/{world.source_bucket}/data/{k}" for k in keys}


def test_the_heads_run_in_parallel_within_the_bound(world: World) -> None:
    source = S3Location.parse(f"s3://{world.source_bucket}/data/", "source")
    keys = [f"k{i:02d}" for i in range(12)]
    forget(world)
    with server_delay(world, 0.3):
        kept = still_in_source(_client(world), source, keys, expected_owner=None, concurrency=3)
    assert kept == {}
    assert max_in_flight(world).get("HeadObject") == 3
