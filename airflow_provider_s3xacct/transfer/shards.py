"""Splitting a prefix into disjoint key ranges, so a sync can spread over many workers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from airflow_provider_s3xacct.transfer.listing import ListedObject


@dataclass(frozen=True)
class Shard:
    """Relative keys in (start_after, end_key]; None means unbounded on that side."""

    index: int
    start_after: str | None
    end_key: str | None
    objects: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def contains(self, key: str) -> bool:
        return (self.start_after is None or key > self.start_after) and (
            self.end_key is None or key <= self.end_key
        )


# Boundary candidates kept while planning: the balance is within total / SAMPLES keys.
SAMPLES = 1024


def plan_shards(listing: Callable[[], Iterable[ListedObject]], shards: int) -> list[Shard]:
    """Cut the listing into ``shards`` ranges of nearly equal key counts, in one streaming pass.

    The pass keeps every ``step``-th key as a boundary candidate with its position; whenever more
    than ``2 * SAMPLES`` are kept, every other one is dropped and ``step`` doubles. So memory is
    O(SAMPLES) whatever the number of keys, the counts per shard are exact (positions are
    counted), and each shard is within ``total / SAMPLES`` keys of an equal share (exactly equal,
    to one key, below ``SAMPLES`` keys). One pass, not two: with a parallel listing
    (``list_objects(..., concurrency=N)``) planning costs about 1/N of a sequential listing's
    time. Balanced by key count, so one hot prefix holding most keys is split across shards like
    any other. The first shard is open below and the last open above, so keys written between
    planning and copying still belong to exactly one shard.
    """
    if shards < 1:
        raise ValueError("shards must be at least 1")
    step = 1
    samples: list[tuple[int, str]] = []  # (position from 1, key) at multiples of step
    total = 0
    for total, obj in enumerate(listing(), start=1):
        if total % step == 0:
            samples.append((total, obj.key))
            if len(samples) > 2 * SAMPLES:
                samples = samples[1::2]
                step *= 2
    if total == 0:
        return [Shard(0, None, None, 0)]
    shards = min(shards, total)
    cuts: list[tuple[int, str]] = []
    for i in range(1, shards):
        want = (total * i) // shards  # objects before boundary i, ideally
        index = min(range(len(samples)), key=lambda j: abs(samples[j][0] - want))
        if samples[index][0] < total and (not cuts or samples[index][0] > cuts[-1][0]):
            cuts.append(samples[index])
    positions = [0, *(position for position, _ in cuts), total]
    boundaries = [key for _, key in cuts]
    starts: list[str | None] = [None, *boundaries]
    ends: list[str | None] = [*boundaries, None]
    counts = [b - a for a, b in pairwise(positions)]
    return [Shard(i, starts[i], ends[i], counts[i]) for i in range(len(starts))]
