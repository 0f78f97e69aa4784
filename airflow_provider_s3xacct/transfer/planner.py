"""``SyncPlanner``: decides per key whether to copy, skip or delete, streaming."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from airflow_provider_s3xacct.transfer.listing import ListedObject


class Action(enum.StrEnum):
    COPY = "copy"
    SKIP = "skip"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class PlannedAction:
    action: Action
    key: str
    source: ListedObject | None
    reason: str


class ListingOrderError(RuntimeError):
    """A listing was not in ascending key order, so the streaming merge cannot be trusted."""


def _ordered(objects: Iterable[ListedObject], side: str) -> Iterator[ListedObject]:
    previous: str | None = None
    for obj in objects:
        if previous is not None and obj.key <= previous:
            raise ListingOrderError(
                f"the {side} listing returned {obj.key!r} after {previous!r}; S3 lists keys in "
                "ascending UTF-8 order, so this store is not S3-compatible enough for sync"
            )
        previous = obj.key
        yield obj


def merged(
    source: Iterable[ListedObject], destination: Iterable[ListedObject]
) -> Iterator[tuple[ListedObject | None, ListedObject | None]]:
    """The two listings walked together by key: ``(src, dst)`` for a key on both sides,
    ``(src, None)`` for one only in the source, ``(None, dst)`` for one only in the destination.

    Both listings arrive sorted in UTF-8 byte order, which for Python ``str`` is code point
    order, so the walk compares keys directly and holds one object per side: memory is O(1) in
    the number of keys. A listing out of order raises ``ListingOrderError``.
    """
    src_iter = _ordered(source, "source")
    dst_iter = _ordered(destination, "destination")
    src = next(src_iter, None)
    dst = next(dst_iter, None)
    while src is not None or dst is not None:
        if dst is None or (src is not None and src.key < dst.key):
            yield src, None
            src = next(src_iter, None)
        elif src is None or dst.key < src.key:
            yield None, dst
            dst = next(dst_iter, None)
        else:
            yield src, dst
            src = next(src_iter, None)
            dst = next(dst_iter, None)


class SyncPlanner:
    """Plan a run from the source listing and (for sync) the destination listing, streaming
    (``merged``): memory is O(1) in the number of keys."""

    def __init__(
        self,
        mode: Literal["copy", "sync"],
        *,
        delete: bool = False,
        compare: Literal["size-mtime", "etag"] = "size-mtime",
    ) -> None:
        self.mode = mode
        self.delete = delete
        self.compare = compare

    def plan(
        self, source: Iterable[ListedObject], destination: Iterable[ListedObject] = ()
    ) -> Iterator[PlannedAction]:
        if self.mode == "copy":
            for obj in source:
                yield PlannedAction(Action.COPY, obj.key, obj, "copy mode")
            return
        for src, dst in merged(source, destination):
            if dst is None:
                assert src is not None
                yield PlannedAction(Action.COPY, src.key, src, "new")
            elif src is None:
                if self.delete:
                    yield PlannedAction(Action.DELETE, dst.key, None, "not in source")
            else:
                reason = self._change(src, dst)
                if reason:
                    yield PlannedAction(Action.COPY, src.key, src, reason)
                else:
                    yield PlannedAction(Action.SKIP, src.key, src, "unchanged")

    def _change(self, src: ListedObject, dst: ListedObject) -> str | None:
        """Why ``src`` must be copied over ``dst``, or None when they match (``aws s3 sync`` rules)."""
        if src.size != dst.size:
            return "size differs"
        if self.compare == "etag":
            # ETags equal MD5s only for single-part objects without SSE-KMS; otherwise they differ
            # even for identical bytes, which errs towards copying again, never towards skipping.
            return None if src.etag == dst.etag else "etag differs"
        if src.last_modified > dst.last_modified:
            return "source newer"
        return None
