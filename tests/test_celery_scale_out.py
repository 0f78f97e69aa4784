"""The sharded sync on a real distributed Airflow: CeleryExecutor, PostgreSQL, Redis, two workers.

``demo.celery_stack`` starts the topology of ``docker-compose.yaml`` from Debian's packages on
loopback (``scripts/system-deps.sh`` installs them). The moto server counts every CopyObject per
destination key, so "each object copied once, by one shard" is read off the server, not inferred.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from demo import stack
from demo.celery_stack import CeleryStack, celery_stack

pytestmark = pytest.mark.e2e

DAG = "s3xacct_sharded_sync"
OBJECTS = 600  # plus the demo stack's three larger objects
WORKERS = ("worker-1", "worker-2")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryStack]:
    with celery_stack(tmp_path_factory.mktemp("celery"), WORKERS, objects=OBJECTS) as running:
        api = running.api()
        api.patch(f"{running.url}/api/v2/dags/{DAG}", json={"is_paused": False}).raise_for_status()
        yield running


def trigger(cluster: CeleryStack, conf: dict[str, Any]) -> str:
    response = cluster.api().post(
        f"{cluster.url}/api/v2/dags/{DAG}/dagRuns", json={"logical_date": None, "conf": conf}
    )
    response.raise_for_status()
    return str(response.json()["dag_run_id"])


def run_url(cluster: CeleryStack, run_id: str) -> str:
    return f"{cluster.url}/api/v2/dags/{DAG}/dagRuns/{quote(run_id, safe='')}"


def task_instances(cluster: CeleryStack, run_id: str, task_id: str) -> list[dict[str, Any]]:
    response = cluster.api().get(f"{run_url(cluster, run_id)}/taskInstances", params={"task_id": task_id})
    response.raise_for_status()
    return [t for t in response.json()["task_instances"] if t["task_id"] == task_id]


def wait_for_run(cluster: CeleryStack, run_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = cluster.api().get(run_url(cluster, run_id)).json()["state"]
        if state in ("success", "failed"):
            return str(state)
        time.sleep(2)
    raise AssertionError(f"{run_id} still running after {timeout:.0f} s")


def xcom(cluster: CeleryStack, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
    response = cluster.api().get(
        f"{run_url(cluster, run_id)}/taskInstances/{task_id}/xcomEntries/return_value",
        params={"map_index": map_index, "deserialize": True, "stringify": False},
    )
    response.raise_for_status()
    value = response.json()["value"]
    assert isinstance(value, dict), value  # deserialize=True, stringify=False: the report itself
    return value


def source_keys(cluster: CeleryStack) -> set[str]:
    s3 = stack.session(cluster.accounts.endpoint_url, stack.SOURCE_ACCOUNT).client(
        "s3", endpoint_url=cluster.accounts.endpoint_url
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack.SOURCE_BUCKET, Prefix="exports/")
    return {o["Key"][len("exports/") :] for p in pages for o in p.get("Contents", [])}


def dest_client(cluster: CeleryStack) -> Any:
    return stack.session(cluster.accounts.endpoint_url, stack.DEST_ACCOUNT).client(
        "s3", endpoint_url=cluster.accounts.endpoint_url
    )


def dest_keys(cluster: CeleryStack) -> list[str]:
    """Every destination key under vendor/, as a list: a key listed twice would show."""
    pages = (
        dest_client(cluster)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=stack.DEST_BUCKET, Prefix="vendor/")
    )
    return [o["Key"][len("vendor/") :] for p in pages for o in p.get("Contents", [])]


def copies(cluster: CeleryStack) -> dict[str, int]:
    """CopyObject requests per destination key since the last reset, from the server's log."""
    prefix = f"/{stack.DEST_BUCKET}/vendor/"
    return {k[len(prefix) :]: n for k, n in cluster.counts("copies").items() if k.startswith(prefix)}


def start_fresh(cluster: CeleryStack, delay: float) -> None:
    """Empty the destination prefix, zero the server's counters, set the per-request latency."""
    s3 = dest_client(cluster)
    keys = dest_keys(cluster)
    for i in range(0, len(keys), 1000):
        batch = [{"Key": f"vendor/{k}"} for k in keys[i : i + 1000]]
        s3.delete_objects(Bucket=stack.DEST_BUCKET, Delete={"Objects": batch})
    cluster.counts("reset")
    cluster.set_s3_delay(delay)


def test_sharded_sync_runs_on_both_workers_and_copies_every_object_exactly_once(cluster: CeleryStack) -> None:
    start_fresh(cluster, delay=0.03)
    run_id = trigger(cluster, {"shards": 4, "concurrency": 4})
    assert wait_for_run(cluster, run_id) == "success"

    shards = task_instances(cluster, run_id, "copy_shard")
    assert len(shards) == 4 and {t["state"] for t in shards} == {"success"}
    assert {t["hostname"] for t in shards} == set(WORKERS), [(t["map_index"], t["hostname"]) for t in shards]

    want = source_keys(cluster)
    assert len(want) == OBJECTS + 3
    got = dest_keys(cluster)
    assert len(got) == len(want) and set(got) == want
    # The server saw one CopyObject per object: no key was copied by two shards.
    assert copies(cluster) == dict.fromkeys(want, 1)

    reports = [xcom(cluster, run_id, "copy_shard", t["map_index"]) for t in shards]
    totals = xcom(cluster, run_id, "aggregate")
    for field in ("listed", "copied", "skipped", "failed", "deleted", "bytes_copied"):
        assert totals[field] == sum(int(r[field]) for r in reports), field
    assert totals["shards"] == 4 and totals["copied"] == len(want) and totals["failed"] == 0
    # Count-balanced shards: each holds a quarter of the keys, give or take one.
    assert max(int(r["listed"]) for r in reports) - min(int(r["listed"]) for r in reports) <= 1


def test_a_worker_killed_mid_shard_is_retried_without_recopying_and_nothing_is_lost(
    cluster: CeleryStack,
) -> None:
    concurrency = 2
    start_fresh(cluster, delay=0.05)  # ~300 keys a shard at 2 in flight: several seconds a shard
    run_id = trigger(cluster, {"shards": 2, "concurrency": concurrency})

    # Wait until a shard is copying on some worker, and has copied part of its keys: kill that worker.
    deadline = time.monotonic() + 300
    victim = None
    while victim is None:
        assert time.monotonic() < deadline, "no shard started copying"
        running = [t for t in task_instances(cluster, run_id, "copy_shard") if t["state"] == "running"]
        if running and sum(copies(cluster).values()) >= 40:
            victim = running[0]["hostname"]
        else:
            time.sleep(0.2)
    killed_at = sum(copies(cluster).values())
    cluster.kill_worker(victim)

    assert wait_for_run(cluster, run_id) == "success"
    shards = task_instances(cluster, run_id, "copy_shard")
    retried = [t for t in shards if t["try_number"] > 1]
    assert retried, "the killed worker's shard was not retried"
    assert all(t["hostname"] != victim for t in retried)  # the surviving worker finished it

    # Nothing lost, nothing doubled in the destination.
    want = source_keys(cluster)
    got = dest_keys(cluster)
    assert len(got) == len(want) and set(got) == want

    # The retry copied only what the killed attempt had not: its report skips the identical objects,
    # and the only keys copied twice are the few that were in flight when the worker died.
    for t in retried:
        report = xcom(cluster, run_id, "copy_shard", t["map_index"])
        assert int(report["skipped"]) > 0 and int(report["copied"]) < int(report["listed"]), report
        assert int(report["copied"]) + int(report["skipped"]) == int(report["listed"])
    per_key = copies(cluster)
    assert set(per_key) == want
    twice = [k for k, n in per_key.items() if n > 1]
    assert all(n <= 2 for n in per_key.values())
    assert len(twice) <= concurrency * len(retried), (len(twice), killed_at)
