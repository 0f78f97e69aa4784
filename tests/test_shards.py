"""Shard planning: disjoint, complete, balanced, and flat in memory."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_s3xacct.transfer.listing import ListedObject
from airflow_provider_s3xacct.transfer.shards import SAMPLES, plan_shards

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def objects(keys: list[str]) -> list[ListedObject]:
    # S3 lists in UTF-8 byte order, which for str is code point order.
    return [ListedObject(k, 1, WHEN, "") for k in sorted(set(keys))]


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.text(min_size=1, max_size=12), max_size=300), shards=st.integers(1, 40))
def test_shards_are_disjoint_and_cover_every_key_once(keys: list[str], shards: int) -> None:
    listed = objects(keys)
    plan = plan_shards(lambda: iter(listed), shards)
    for obj in listed:
        assert sum(s.contains(obj.key) for s in plan) == 1, obj.key
    assert sum(s.objects for s in plan) == len(listed)
    assert plan[0].start_after is None and plan[-1].end_key is None  # open ends: late keys still land
    if listed:
        counts = [s.objects for s in plan]
        assert max(counts) - min(counts) <= 1  # balanced by count


def test_a_hot_prefix_is_split_like_any_other() -> None:
    keys = [f"hot/{i:06}" for i in range(9_000)] + [f"cold-{c}/x" for c in "abcdefghij"]
    plan = plan_shards(lambda: iter(objects(keys)), 8)
    # 9,010 keys are above SAMPLES: each shard within total / SAMPLES of an equal share.
    assert len(plan) == 8 and all(abs(s.objects - 9010 / 8) <= 9010 / SAMPLES for s in plan)
    assert sum(s.objects for s in plan) == 9010


@pytest.mark.slow
def test_planning_a_million_keys_streams_the_listing_once_without_keeping_it() -> None:
    calls = []

    def listing(n: int):  # type: ignore[no-untyped-def]
        calls.append(n)
        return (ListedObject(f"k{i:07}", 1, WHEN, "") for i in range(n))

    def peak_bytes(n: int) -> int:
        tracemalloc.start()
        try:
            plan = plan_shards(lambda: listing(n), 16)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert len(plan) == 16 and sum(s.objects for s in plan) == n
        return peak

    small, large = peak_bytes(100_000), peak_bytes(1_000_000)
    assert calls == [100_000, 1_000_000]  # one pass each, nothing cached
    # Holding a million keys would take >100 MB; planning holds at most 2 x SAMPLES candidate keys.
    assert large < 1_000_000 and large < 2 * small + 100_000, (small, large)
