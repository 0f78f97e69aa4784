"""Streaming ListObjectsV2 listings, filtered and made relative to the prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from airflow_provider_s3xacct.aws.locations import S3Location, owner_args
from airflow_provider_s3xacct.transfer.ranges import ranged_pages
from airflow_provider_s3xacct.transfer.timestamps import parse_timestamp


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One object as the listing reports it; ``key`` is relative to the listed prefix."""

    key: str
    size: int
    last_modified: datetime
    etag: str
    storage_class: str = "STANDARD"
    # An archived object (GLACIER, DEEP_ARCHIVE) with a finished restore: readable, so copyable.
    restored: bool = False
    # Set when listing a past state (``version_at``): the version to copy.
    version_id: str | None = None


@dataclass
class ListingCheck:
    """Whether a listing ran to its end with every page consistent; deletes rely on it.

    A page whose ``KeyCount`` disagrees with its entries, or a last page that still says
    ``IsTruncated`` (botocore's paginator stops quietly when the continuation token is missing),
    means objects may be missing from the listing, so an absent key proves nothing.
    """

    pages: int = 0
    finished: bool = False
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.finished and self.problem is None

    def page(self, page: dict[str, Any], entries: int | None = None) -> None:
        """Record one page; ``entries`` is its number of keys when they were taken out of ``page``."""
        self.pages += 1
        if entries is None:
            entries = len(page.get("Contents", ()))
        count = page.get("KeyCount")
        if count is not None and count != entries and self.problem is None:
            self.problem = f"listing page {self.pages} reported KeyCount {count} but held {entries} entries"
        truncated = page.get("IsTruncated")
        if truncated and not page.get("NextContinuationToken") and self.problem is None:
            self.problem = f"listing page {self.pages} was truncated without a continuation token"


def _listed(entry: dict[str, Any], relative: str) -> ListedObject:
    restore = entry.get("RestoreStatus") or {}
    return ListedObject(
        key=relative,
        size=entry["Size"],
        last_modified=entry["LastModified"],
        etag=entry.get("ETag", ""),
        storage_class=entry.get("StorageClass", "STANDARD"),
        restored=bool(restore.get("RestoreExpiryDate")) and not restore.get("IsRestoreInProgress"),
    )


def _request_args(
    location: S3Location, expected_owner: str | None, extra: dict[str, Any] | None
) -> dict[str, Any]:
    return {"Bucket": location.bucket, **(extra or {}), **owner_args(expected_owner)}


def find_object(
    client: Any, location: S3Location, expected_owner: str | None = None, extra: dict[str, Any] | None = None
) -> str | None:
    """The key ``location``'s path names when it is an object (written without a trailing '/').

    ``aws s3 cp s3://b/data/report.csv ...`` copies that one object. One ListObjectsV2 with the
    path as prefix tells: the path itself sorts first among the keys it prefixes. A listing, not a
    HEAD, because listing is the permission a copy needs anyway.
    """
    if not location.written:
        return None
    response = client.list_objects_v2(
        Prefix=location.written, MaxKeys=1, **_request_args(location, expected_owner, extra)
    )
    contents = response.get("Contents") or []
    return location.written if contents and contents[0]["Key"] == location.written else None


def list_one(
    client: Any,
    location: S3Location,
    relative: str,
    *,
    expected_owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Iterator[ListedObject]:
    """The one object ``location.object_key`` (if it exists), listed under the name ``relative``."""
    key = location.key_for(relative)
    response = client.list_objects_v2(Prefix=key, MaxKeys=1, **_request_args(location, expected_owner, extra))
    for entry in response.get("Contents") or []:
        if entry["Key"] == key:
            yield _listed(entry, relative)


def list_objects(
    client: Any,
    location: S3Location,
    *,
    key_filter: Callable[[str], bool] | None = None,
    expected_owner: str | None = None,
    page_size: int = 1000,
    start_after: str | None = None,
    end_key: str | None = None,
    extra: dict[str, Any] | None = None,
    check: ListingCheck | None = None,
    concurrency: int = 1,
) -> Iterator[ListedObject]:
    """Yield the objects under ``location`` in S3's (UTF-8 binary) key order.

    With ``concurrency`` above 1 the key space is cut into ranges listed at the same time and
    merged back in order (``transfer/ranges.py``); memory stays bounded by the ranges' buffers,
    not by the bucket. ``start_after`` / ``end_key`` (relative keys) restrict the listing to one
    shard, (start, end]. ``key_filter`` is called with each relative key; ``extra`` adds request
    parameters (RequestPayer, OptionalObjectAttributes). ``check``, when given, is told about
    every page and whether the listing reached its end.
    """
    request: dict[str, Any] = {
        "Prefix": location.prefix,
        "MaxKeys": page_size,
        **_request_args(location, expected_owner, extra),
    }
    cut = len(location.prefix)
    low = location.prefix + start_after if start_after else None
    high = location.prefix + end_key if end_key is not None else None
    last_text = ""
    last_time: datetime | None = None
    for entries in ranged_pages(client, request, low, high, concurrency=concurrency, check=check):
        for key, size, modified, etag, storage_class, restored in entries:
            relative = key[cut:]
            if not relative or (relative.endswith("/") and size == 0):
                continue  # the prefix itself, or a zero-byte "folder" marker made by the console
            if key_filter is not None and not key_filter(relative):
                continue
            if isinstance(modified, datetime):
                when = modified
            elif modified == last_text and last_time is not None:
                when = last_time  # objects written in the same millisecond: parse once
            else:
                when = last_time = parse_timestamp(modified)
                last_text = modified
            yield ListedObject(relative, size, when, etag, storage_class, restored)


def list_versions_at(
    client: Any,
    location: S3Location,
    at: datetime,
    *,
    key_filter: Callable[[str], bool] | None = None,
    expected_owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Iterator[ListedObject]:
    """The objects under ``location`` as they were at ``at``: per key, the newest version written
    at or before it, unless that is a delete marker (the key did not exist then).

    ListObjectVersions returns keys in ascending order and each key's versions newest first, in
    two lists per page (versions, delete markers); they are merged back per page, and a key whose
    versions continue on the next page is decided when its last version has been seen.
    """
    kwargs = {
        "Prefix": location.object_key or location.prefix,
        **_request_args(location, expected_owner, extra),
    }
    cut = len(location.prefix)
    current: str | None = None
    chosen: dict[str, Any] | None = None

    def decided() -> Iterator[ListedObject]:
        if current is None or chosen is None or chosen.get("_marker"):
            return
        relative = current[cut:]
        if not relative or (relative.endswith("/") and chosen["Size"] == 0):
            return
        if key_filter is None or key_filter(relative):
            yield replace(_listed(chosen, relative), version_id=chosen["VersionId"])

    for page in client.get_paginator("list_object_versions").paginate(**kwargs):
        entries = [
            *page.get("Versions", ()),
            *({**m, "_marker": True} for m in page.get("DeleteMarkers", ())),
        ]
        # Keys ascending, each key's versions newest first (a stable sort keeps S3's order on ties).
        entries.sort(key=lambda e: e["LastModified"], reverse=True)
        entries.sort(key=lambda e: e["Key"])
        for entry in entries:
            if entry["Key"] != current:
                yield from decided()
                current, chosen = entry["Key"], None
            if chosen is None and entry["LastModified"] <= at:
                chosen = entry
    yield from decided()
