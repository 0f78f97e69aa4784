"""Parallel listing: key ranges listed at once come back complete, in S3's order, as one listing."""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_s3xacct.aws.locations import S3Location
from airflow_provider_s3xacct.transfer.clients import TransferClients
from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.listing import ListingCheck, list_objects
from airflow_provider_s3xacct.transfer.planner import ListingOrderError, SyncPlanner
from airflow_provider_s3xacct.transfer.ranges import split_points
from airflow_provider_s3xacct.transfer.shards import plan_shards
from airflow_provider_s3xacct.transfer.spec import CopySpec
from tests.aws_world import World
from tests.inject import Injector, RequestLog, s3_error, s3_error_body

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
# Keys S3 accepts that trip naive code: unicode, spaces, '+', '%', control characters, keys that
# are prefixes of others, '/' runs, and characters sorting around the split points ('0', '9', '~').
UNUSUAL = [
    "data/a b/c+d%20e",
    "data/a b/c+d%20e/",
    "data/a b/c+d%20e/f",
    "data/\u00e9t\u00e9/\u65e5\u672c",
    "data/\U0001f600/x",
    "data/ctl/\x01\x02\x1f",
    "data/ctl/\x7f",
    "data/x",
    "data/x/",
    "data/x/0",
    "data/x/09",
    "data/x/1",
    "data/x~",
    "data//double",
    "data/%2F",
    "data/+",
    "data/ ",
]


class FakeS3:
    """ListObjectsV2 over a sorted key list, as S3 answers it (StartAfter, tokens, Delimiter).

    Records how many requests were in flight at once; ``delay`` makes them overlap.
    """

    def __init__(self, keys: list[str], delay: float = 0.0, disorder: bool = False) -> None:
        self.keys = sorted(set(keys))
        if disorder:  # a store that is not S3-compatible: one pair swapped
            self.keys[1], self.keys[2] = self.keys[2], self.keys[1]
        self.delay = delay
        self.requests = 0
        self.served = 0  # keys and common prefixes answered: what a page past its range's end costs
        self.prefixes: list[str] = []  # the Prefix of every request
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def list_objects_v2(
        self,
        *,
        Bucket: str,
        Prefix: str = "",
        MaxKeys: int = 1000,
        StartAfter: str | None = None,
        ContinuationToken: str | None = None,
        Delimiter: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        with self._lock:
            self.requests += 1
            self.prefixes.append(Prefix)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            after = ContinuationToken if ContinuationToken is not None else StartAfter
            start = bisect_right(self.keys, after) if after is not None else 0
            # Items in order: a key, or a common prefix standing for its keys; each with the last
            # key it covers (what the continuation token resumes after).
            items: list[tuple[str, bool, str]] = []
            for key in self.keys[start:]:
                if not key.startswith(Prefix):
                    continue
                rest = key[len(Prefix) :]
                if Delimiter and Delimiter in rest:
                    common = Prefix + rest[: rest.index(Delimiter) + 1]
                    if items and items[-1][0] == common and items[-1][1]:
                        items[-1] = (common, True, key)
                        continue
                    items.append((common, True, key))
                else:
                    items.append((key, False, key))
                if len(items) > MaxKeys:
                    break
            page_items, truncated = items[:MaxKeys], len(items) > MaxKeys
            with self._lock:
                self.served += len(page_items)
            contents = [
                {"Key": k, "Size": len(k), "LastModified": WHEN, "ETag": '"e"'}
                for k, common, _ in page_items
                if not common
            ]
            page: dict[str, Any] = {"IsTruncated": truncated, "KeyCount": len(page_items)}
            if contents:
                page["Contents"] = contents
            prefixes = [k for k, common, _ in page_items if common]
            if prefixes:
                page["CommonPrefixes"] = [{"Prefix": p} for p in prefixes]
            if truncated:
                page["NextContinuationToken"] = page_items[-1][2]
            return page
        finally:
            with self._lock:
                self.in_flight -= 1


def sequential(keys: list[str], prefix: str, low: str | None = None, high: str | None = None) -> list[str]:
    """What a sequential listing yields: the relative keys in (low, high] (no key here is an
    empty "folder" marker: every size is above zero)."""
    out = []
    for key in sorted(set(keys)):
        if not key.startswith(prefix):
            continue
        rel = key[len(prefix) :]
        if not rel or (low is not None and rel <= low) or (high is not None and rel > high):
            continue
        out.append(rel)
    return out


def listed(client: Any, prefix: str, concurrency: int, page_size: int = 1000, **kwargs: Any) -> list[str]:
    objects = list_objects(
        client, S3Location("b", prefix), concurrency=concurrency, page_size=page_size, **kwargs
    )
    return [obj.key for obj in objects]


# Keys from a small alphabet so prefixes repeat, pages end mid-prefix and keys prefix each other.
KEY = st.text(alphabet=st.sampled_from("ab/09 +%~\u00e9\U0001f600\x01"), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    keys=st.lists(KEY, max_size=120),
    concurrency=st.integers(2, 9),
    page_size=st.integers(1, 7),
    bounds=st.tuples(st.none() | KEY, st.none() | KEY),
)
def test_parallel_listing_equals_a_sequential_one(
    keys: list[str], concurrency: int, page_size: int, bounds: tuple[str | None, str | None]
) -> None:
    low, high = bounds
    if low is not None and high is not None and high <= low:
        low, high = high, low
        if low == high:
            high = None
    fake = FakeS3([f"p/{k}" for k in keys])
    check = ListingCheck()
    got = listed(fake, "p/", concurrency, page_size, start_after=low, end_key=high, check=check)
    assert got == sequential(fake.keys, "p/", low, high)
    assert check.complete


def test_unusual_keys_around_the_range_boundaries_come_back_once_and_in_order() -> None:
    keys = UNUSUAL + [f"data/x/{i:04}" for i in range(300)] + [f"data/y{i:03}" for i in range(200)]
    fake = FakeS3(keys, delay=0.002)
    assert listed(fake, "data/", 8, page_size=7) == sequential(keys, "data/")
    assert fake.most_in_flight > 1  # really concurrent


def test_a_flat_key_space_is_split_as_pages_come_back() -> None:
    keys = [f"obj-{i:07}.bin" for i in range(0, 60_000, 3)]
    fake = FakeS3(keys, delay=0.01)
    assert listed(fake, "", 8, page_size=500) == keys
    # 40 pages: split points guessed from the first pages keep several ranges in flight.
    assert fake.most_in_flight >= 4, fake.most_in_flight


def test_one_listing_per_directory_like_rclone_but_in_one_key_order() -> None:
    keys = [f"data/{d:02}/obj-{i:07}.bin" for i in range(4000) for d in [i % 50]]
    fake = FakeS3(keys, delay=0.005)
    assert listed(fake, "", 16, page_size=100) == sorted(keys)
    assert fake.most_in_flight >= 8, fake.most_in_flight


def test_small_directories_do_not_cost_a_request_each() -> None:
    # 50 directories of 200 keys, pages of 1,000: 10 requests in turn. A range per directory would
    # be 50 requests, each a whole page mostly past its directory; 16 ranges cost about 16.
    keys = [f"data/{i % 50:02}/obj-{i:07}.bin" for i in range(10_000)]
    fake = FakeS3(keys)
    assert listed(fake, "", 16) == sorted(keys)
    assert fake.requests <= 10 + 16 + 3, fake.requests


@pytest.mark.parametrize(("count", "concurrency"), [(3000, 16), (3000, 8), (10_000, 8)])
def test_a_small_bucket_in_many_directories_is_answered_about_once(count: int, concurrency: int) -> None:
    """3,000 keys in 50 directories of 60 (the benchmark's small copy): 16 ranges of three or four
    directories each asked for a whole page from their start answered about 14,000 keys for 3,000
    (slower than one sequential listing). Now the ranges wait for the first page, which shows the
    keys a directory holds, and each request asks for about what its range still holds (10,000
    keys in 8 ranges: a range is more than a page, and its second page asked for a whole page
    answered 5,251 keys twice): only the first page's overshoot and a quarter's margin are
    answered twice."""
    keys = [f"bench/{i % 50:02}/obj-{i:07}" for i in range(count)]
    fake = FakeS3(keys)
    assert listed(fake, "", concurrency) == sorted(keys)
    assert fake.served - len(keys) <= 1000 + len(keys) // 4 + 50, fake.served - len(keys)
    assert fake.requests <= count // 1000 + 2 * concurrency + 2, fake.requests


def test_directories_larger_than_the_first_page_showed_still_come_back_whole() -> None:
    """Sized first requests are guesses: directories after the first ones hold 30 times more keys
    than the first page showed, so the ranges ask again (a request each), never lose a key."""
    keys = [f"d/{n:02}/k{i:04}" for n in range(0, 10) for i in range(20)]
    keys += [f"d/{n:02}/k{i:04}" for n in range(10, 40) for i in range(600)]
    keys += ["d/10", "d/25.txt", "d/39~"]  # plain keys between the directories
    for concurrency in (4, 16):
        fake = FakeS3(keys)
        assert listed(fake, "", concurrency) == sorted(keys)
        assert listed(FakeS3(keys), "d/", concurrency, 100, start_after="05/k0003") == sequential(
            keys, "d/", "05/k0003"
        )


def test_ranges_that_end_with_a_directory_ask_for_that_directory_only() -> None:
    # 20 directories of 2,000 keys, pages of 1,000: 40 pages. Ranges ending at a common prefix ran
    # their last page past their end (a page mostly of the next range's keys: about 28,000 keys
    # answered twice and 81 requests here). Now a range ending with a directory asks for that
    # directory once it reaches it (Prefix=), and guessed cuts in other directories move to the
    # directory's end: what is answered twice is only the overshoot of cuts inside a directory.
    keys = [f"data/{i % 20:02}/obj-{i:07}.bin" for i in range(40_000)]
    fake = FakeS3(keys)
    assert listed(fake, "", 16) == sorted(keys)
    assert fake.served - len(keys) <= 20 + 10, fake.served - len(keys)  # the first request: 20 prefixes
    assert fake.requests <= 80, fake.requests
    assert {p for p in fake.prefixes if p.startswith("data/") and p != "data/"}  # narrowed requests


def test_directory_markers_and_keys_just_beyond_a_directory_come_back() -> None:
    """Keys where a directory's range ends: its marker (``data/05/``), the string one past its
    keys (``data/050``: '0' follows '/'), and keys sorting between directories."""
    keys = [f"data/{d:02}/obj-{i:04}" for d in range(8) for i in range(30)]
    keys += ["data/03/", "data/05/", "data/050", "data/04", "data/04.txt", "data/06 x", "data/07~"]
    for concurrency in (2, 4, 16):
        for page_size in (7, 30, 1000):
            fake = FakeS3(keys, delay=0.001)
            assert listed(fake, "data/", concurrency, page_size) == sequential(keys, "data/")
            assert listed(
                FakeS3(keys), "data/", concurrency, page_size, start_after="03/obj-0010"
            ) == sequential(keys, "data/", "03/obj-0010")


def test_a_listing_starting_inside_a_directory_keeps_that_directory_s_rest() -> None:
    """The first range starts after ``low`` inside a directory: it is not that next directory
    alone, whatever the first request's common prefixes say."""
    keys = [f"data/{d:02}/obj-{i:04}" for d in range(8) for i in range(30)]
    for concurrency in (4, 16):
        got = listed(
            FakeS3(keys), "", concurrency, 1000, start_after="data/03/obj-0010", end_key="data/06/obj-0005"
        )
        assert got == sequential(keys, "", "data/03/obj-0010", "data/06/obj-0005")


def test_split_points_land_inside_decimal_and_hex_key_spaces() -> None:
    page = [f"obj-{i:07}" for i in range(0, 1000)]
    points = split_points(page, None, 3)
    assert points == sorted(points) and all(p > page[-1] for p in points)
    assert points[0] < "obj-0003000"  # about two pages on, not off the end of the digits
    controls = [f"k/\x01{i:04}\x02" for i in range(500)]
    assert all(p.isprintable() for p in split_points(controls, None, 4))  # sent as StartAfter
    hexes = [f"{i:08x}" for i in range(0, 0x10000000, 0x100000)]
    assert split_points(hexes, "f", 2)[0] < "f"


def test_a_listing_out_of_order_is_still_refused_by_the_planner() -> None:
    keys = [f"k{i:03}" for i in range(40)]
    source = list_objects(FakeS3(keys, disorder=True), S3Location("b", ""), concurrency=4, page_size=5)
    dest = list_objects(FakeS3(keys), S3Location("b", ""), concurrency=4, page_size=5)
    with pytest.raises(ListingOrderError):
        list(SyncPlanner("sync").plan(source, dest))


def test_memory_is_bounded_by_the_concurrency_not_the_keys() -> None:
    keys = [f"k{i:06}" for i in range(20_000)]
    fake = FakeS3(keys)
    objects = list_objects(fake, S3Location("b", ""), concurrency=4, page_size=100)
    for seen, _ in enumerate(objects, start=1):
        if seen == 150:
            break
    # The consumer stopped after 1.5 pages: the ranges fetched ahead only up to their buffers.
    assert fake.requests <= 1 + 4 * 3, fake.requests


def test_parallel_listing_on_the_stack_with_unusual_keys(world: World) -> None:
    for key in UNUSUAL:
        world.put(key, b"x")
    for i in range(60):
        world.put(f"data/x/{i:04}", b"y")
    clients = TransferClients.from_session(world.principal, concurrency=4, endpoint_url=world.endpoint_url)
    log = RequestLog(clients.source)
    check = ListingCheck()
    location = S3Location(world.source_bucket, "data/")
    parallel = list(list_objects(clients.source, location, concurrency=6, page_size=4, check=check))
    one_by_one = list(list_objects(clients.source, location, concurrency=1, page_size=4))
    assert [o.key for o in parallel] == sequential(
        [*UNUSUAL, *(f"data/x/{i:04}" for i in range(60))], "data/"
    )
    assert parallel == one_by_one and check.complete
    assert all(o.size in (1,) and o.etag.startswith('"') and o.last_modified.tzinfo for o in parallel)
    assert log.count("ListObjectsV2") > 20  # pages of 4, as asked


def test_a_listing_error_is_still_botocore_s_client_error(world: World) -> None:
    world.put("data/a", b"x")
    clients = TransferClients.from_session(world.principal, concurrency=4, endpoint_url=world.endpoint_url)
    s3_error(clients.source, "ListObjectsV2", "AccessDenied", "Access Denied", 403)
    with pytest.raises(ClientError) as raised:
        list(list_objects(clients.source, S3Location(world.source_bucket, "data/"), concurrency=4))
    assert raised.value.response["Error"]["Code"] == "AccessDenied"


def test_an_error_inside_a_200_is_retried_as_before(world: World) -> None:
    for i in range(5):
        world.put(f"data/{i}", b"x")
    clients = TransferClients.from_session(world.principal, concurrency=4, endpoint_url=world.endpoint_url)
    injected = Injector(
        clients.source, "ListObjectsV2", 200, s3_error_body("InternalError", "retry"), times=1
    )
    keys = [
        o.key for o in list_objects(clients.source, S3Location(world.source_bucket, "data/"), concurrency=1)
    ]
    assert injected.hits == 1 and keys == ["0", "1", "2", "3", "4"]


def test_shards_planned_from_a_parallel_listing_copy_every_key_exactly_once(world: World) -> None:
    keys = [*UNUSUAL, *(f"data/x/{i:04}" for i in range(40)), *(f"data/y{i:03}" for i in range(30))]
    for key in keys:
        world.put(key, b"z")
    clients = TransferClients.from_session(world.principal, concurrency=4, endpoint_url=world.endpoint_url)
    location = S3Location(world.source_bucket, "data/")
    plan = plan_shards(lambda: list_objects(clients.source, location, concurrency=4, page_size=5), 5)
    assert len(plan) == 5 and sum(s.objects for s in plan) == len(keys)
    copied = 0
    for shard in plan:
        spec = CopySpec.create(
            source=f"s3://{world.source_bucket}/data/",
            destination=f"s3://{world.dest_bucket}/copy/",
            mode="sync",
            start_after=shard.start_after,
            end_key=shard.end_key,
            list_concurrency=4,
        )
        report = TransferEngine(spec, clients).run()
        assert report.copied == shard.objects, shard  # a key in two shards would be skipped once
        copied += report.copied
    dest = world.dest.client("s3", endpoint_url=world.endpoint_url)
    landed = [o.key for o in list_objects(dest, S3Location(world.dest_bucket, "copy/"))]
    assert copied == len(keys) and landed == sequential(keys, "data/")
