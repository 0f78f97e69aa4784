"""``SyncPlanner``: decides per key whether to copy, skip or delete, streaming."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from airflow_provider_s3xacct.transfer.listing import ListedObject

Compare = Literal["size-mtime", "etag", "size"]


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
        compare: Compare = "size-mtime",
        rejects: Callable[[ListedObject], str | None] | None = None,
    ) -> None:
        self.mode = mode
        self.delete = delete
        self.compare = compare
        # Size/age/storage-class filter: a rejected source object is skipped and its destination
        # counterpart kept (never deleted for being filtered out).
        self.rejects = rejects or (lambda obj: None)

    def plan(
        self, source: Iterable[ListedObject], destination: Iterable[ListedObject] = ()
    ) -> Iterator[PlannedAction]:
        if self.mode == "copy":
            for obj in source:
                yield self._decide(obj, None, new="copy mode")
            return
        for src, dst in merged(source, destination):
            if src is None:
                assert dst is not None
                if self.delete:
                    yield PlannedAction(Action.DELETE, dst.key, None, "not in source")
            else:
                yield self._decide(src, dst)

    def _decide(self, src: ListedObject, dst: ListedObject | None, new: str = "new") -> PlannedAction:
        rejected = self.rejects(src)
        if rejected:
            return PlannedAction(Action.SKIP, src.key, src, rejected)
        reason = new if dst is None else self._change(src, dst)
        if reason:
            return PlannedAction(Action.COPY, src.key, src, reason)
        return PlannedAction(Action.SKIP, src.key, src, "unchanged")

    def _change(self, src: ListedObject, dst: ListedObject) -> str | None:
        """Why ``src`` must be copied over ``dst``, or None when they match (``aws s3 sync`` rules).

        Differences from the aws CLI, both towards copying: equal timestamps with different ETags
        count as changed (S3 lists whole seconds, so an overwrite in the second of the last copy
        would otherwise never be synced); ``etag`` falls back to size+time when either ETag is a
        multipart one ("-N"), since a multipart copy's ETag never equals its source's.
        """
        if src.size != dst.size:
            return "size differs"
        if self.compare == "size":
            return None
        if self.compare == "etag" and not (_is_multipart(src.etag) or _is_multipart(dst.etag)):
            # ETags equal MD5s only for single-part objects without SSE-KMS; otherwise they differ
            # even for identical bytes, which errs towards copying again, never towards skipping.
            return None if src.etag == dst.etag else "etag differs"
        if src.last_modified > dst.last_modified:
            return "source newer"
        if src.last_modified == dst.last_modified and src.etag != dst.etag:
            return "same second, etag differs"
        return None


def _is_multipart(etag: str) -> bool:
    return "-" in etag
