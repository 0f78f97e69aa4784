"""Splitting a prefix into disjoint key ranges, so a sync can spread over many workers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
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


def plan_shards(listing: Callable[[], Iterable[ListedObject]], shards: int) -> list[Shard]:
    """Cut the listing into ``shards`` ranges of (nearly) equal key counts.

    Two streaming passes over the listing (count, then cut), holding only the boundaries:
    O(shards) memory however many keys there are. Balanced by key count, so one hot prefix holding
    most keys is split across shards like any other. The first shard is open below and the last
    open above, so keys written between planning and copying still belong to exactly one shard.
    """
    if shards < 1:
        raise ValueError("shards must be at least 1")
    total = sum(1 for _ in listing())
    if total == 0:
        return [Shard(0, None, None, 0)]
    shards = min(shards, total)
    cuts = [(total * i) // shards for i in range(1, shards)]  # objects before each boundary
    boundaries: list[str] = []
    for position, obj in enumerate(listing(), start=1):
        if len(boundaries) < len(cuts) and position == cuts[len(boundaries)]:
            boundaries.append(obj.key)
    starts: list[str | None] = [None, *boundaries]
    ends: list[str | None] = [*boundaries, None]
    counts = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    return [Shard(i, starts[i], ends[i], counts[i]) for i in range(len(starts))]
