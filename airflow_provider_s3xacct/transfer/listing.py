"""Streaming ListObjectsV2 listings, filtered and made relative to the prefix."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from airflow_provider_s3xacct.transfer.locations import S3Location


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One object as the listing reports it; ``key`` is relative to the listed prefix."""

    key: str
    size: int
    last_modified: datetime
    etag: str
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class KeyFilter:
    """Glob filters on relative keys: a key passes when it matches an include (if any) and no exclude."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()

    def accepts(self, relative_key: str) -> bool:
        if self.include and not any(fnmatchcase(relative_key, pattern) for pattern in self.include):
            return False
        return not any(fnmatchcase(relative_key, pattern) for pattern in self.exclude)


def list_objects(
    client: Any,
    location: S3Location,
    *,
    key_filter: KeyFilter | None = None,
    expected_owner: str | None = None,
    page_size: int = 1000,
    start_after: str | None = None,
    end_key: str | None = None,
) -> Iterator[ListedObject]:
    """Yield the objects under ``location`` one page at a time, in S3's (UTF-8 binary) key order.

    Only one page (at most 1,000 entries) is held at a time, so memory does not grow with the bucket.
    ``start_after`` / ``end_key`` (relative keys) restrict the listing to one shard, (start, end].
    """
    kwargs: dict[str, Any] = {
        "Bucket": location.bucket,
        "Prefix": location.prefix,
        "PaginationConfig": {"PageSize": page_size},
    }
    if expected_owner:
        kwargs["ExpectedBucketOwner"] = expected_owner
    if start_after:
        kwargs["StartAfter"] = location.prefix + start_after
    cut = len(location.prefix)
    for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
        for entry in page.get("Contents", ()):
            relative = entry["Key"][cut:]
            if end_key is not None and relative > end_key:
                return
            if not relative or (relative.endswith("/") and entry["Size"] == 0):
                continue  # the prefix itself, or a zero-byte "folder" marker made by the console
            if key_filter is not None and not key_filter.accepts(relative):
                continue
            yield ListedObject(
                key=relative,
                size=entry["Size"],
                last_modified=entry["LastModified"],
                etag=entry.get("ETag", ""),
                storage_class=entry.get("StorageClass", "STANDARD"),
            )
