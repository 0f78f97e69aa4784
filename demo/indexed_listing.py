"""Benchmark-only: moto's object listings from a sorted key index, and bulk seeding.

moto (5.2.5) answers every ListObjects/ListObjectsV2 request by walking, filtering and sorting the
whole bucket (``S3Backend.list_objects``): on a 100,000-key bucket one page of 1,000 keys took
about 3 s, so a listing's cost grew with the bucket, not with the keys asked for, and the tool
that asked for fewer keys per request (rclone, per directory) was favoured by the server rather
than by S3's own pricing. S3 answers a page in tens of milliseconds whatever the bucket's size.

``install()`` replaces both listings with ones that answer from a sorted list of the bucket's key
names (bisect to the start, walk only the keys returned, skip a common prefix's keys with one
bisect). Results are moto's own, item for item: the same keys and common prefixes, the same
truncation and the same continuation tokens (tests/test_indexed_listing.py compares the two on
random buckets with delete markers, unusual characters and multi-character delimiters). The
index is rebuilt on the next listing after a key name appears or disappears; overwrites keep it.
moto's serializer also re-parsed every key's LastModified text with dateutil per answer (half its
time per listed key): the text of each timestamp is remembered.

Only ``python -m demo.counting_server --indexed-listing`` (the benchmarks) installs it; the test
suite runs on moto's own listing.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from typing import Any

from moto.core.serialize import TimestampSerializer
from moto.s3 import models
from moto.s3.utils import _VersionedKeyStore

_original: dict[str, Any] = {}
_lock = threading.Lock()
_INDEX = "_s3xacct_sorted_names"


def _invalidate(store: _VersionedKeyStore) -> None:
    store.__dict__.pop(_INDEX, None)


def _names(store: _VersionedKeyStore) -> list[str]:
    """The store's key names, sorted: built once, then read-only until a name is added or removed."""
    names: list[str] | None = store.__dict__.get(_INDEX)
    if names is None or len(names) != dict.__len__(store):
        with _lock:
            names = sorted(dict.keys(store))
            store.__dict__[_INDEX] = names
    return names


def _after(prefix: str) -> str:
    """The least string above every string starting with ``prefix`` (for bisect)."""
    return prefix + "\U0010ffff"


def _walk(bucket: Any, prefix: str | None, delimiter: str | None, start: str | None) -> Any:
    """(name, FakeKey) for keys and (name, None) for common prefixes under ``prefix``, in name
    order, only those above ``start`` (as moto's ``_get_results_from_token`` keeps them).

    A common prefix is never below its own keys, so every item above ``start`` comes from a name
    above it: the walk begins there, and skips each common prefix's keys with one bisect.
    """
    store = bucket.keys
    names = _names(store)
    prefix = prefix or ""
    index = bisect_left(names, prefix)
    if start is not None:
        index = max(index, bisect_right(names, start))
    while index < len(names):
        name = names[index]
        if not name.startswith(prefix):
            return
        rest = name[len(prefix) :]
        if delimiter and delimiter in rest:
            folder = prefix + rest.split(delimiter)[0] + delimiter
            index = bisect_left(names, _after(folder), index)
            if start is None or folder > start:
                yield folder, None
            continue
        index += 1
        key = store.get(name)
        if key is not None and not isinstance(key, models.FakeDeleteMarker):
            yield name, key


def _truncate(backend: Any, items: list[Any], max_keys: int | None) -> tuple[list[Any], bool, str | None]:
    if max_keys is None:
        return items, False, None
    return backend._truncate_result(items, max_keys)  # moto's own tokens


def list_objects(
    self: Any,
    bucket: Any,
    prefix: str | None,
    delimiter: str | None,
    marker: str | None,
    max_keys: int | None,
) -> Any:
    """moto's ListObjects (v1): keys after the marker, and every common prefix (as moto does)."""
    if isinstance(bucket, models.FakeTableStorageBucket):
        raise models.MethodNotAllowed()
    limit = (self._pagination_tokens.get(marker) or marker) if marker else None
    keys: list[Any] = []
    for _, key in _walk(bucket, prefix, delimiter, limit):
        if key is not None:
            keys.append(key)
            if max_keys is not None and len(keys) > max_keys:
                break
    folders = (
        [name for name, key in _walk(bucket, prefix, delimiter, None) if key is None] if delimiter else []
    )
    keys, truncated, next_marker = _truncate(self, keys, max_keys)
    return keys, folders, truncated, next_marker


def list_objects_v2(
    self: Any,
    bucket: Any,
    prefix: str | None,
    delimiter: str | None,
    continuation_token: str | None,
    start_after: str | None,
    max_keys: int,
) -> Any:
    """moto's ListObjectsV2: keys and common prefixes merged in name order, after the token."""
    if isinstance(bucket, models.FakeTableStorageBucket):
        raise models.MethodNotAllowed()
    start = None
    if continuation_token or start_after:
        start = self._pagination_tokens.get(continuation_token) if continuation_token else start_after
    items: list[Any] = []
    for name, key in _walk(bucket, prefix, delimiter, start):
        items.append(name if key is None else key)
        if len(items) > max_keys:
            break
    return _truncate(self, items, max_keys)


def _setitem(self: _VersionedKeyStore, key: str, value: Any) -> Any:
    if not dict.__contains__(self, key):
        _invalidate(self)
    return _original["__setitem__"](self, key, value)


def _setlist(self: _VersionedKeyStore, key: Any, list_: Any) -> Any:
    if not dict.__contains__(self, key):
        _invalidate(self)
    return _original["setlist"](self, key, list_)


def _pop(self: _VersionedKeyStore, key: str) -> None:
    _invalidate(self)
    _original["pop"](self, key)


def _delitem(self: _VersionedKeyStore, key: str) -> None:
    _invalidate(self)
    dict.__delitem__(self, key)


_timestamps: dict[tuple[Any, ...], Any] = {}


def _timestamp(self: TimestampSerializer, value: Any, timestamp_format: str) -> Any:
    """moto's timestamp text, remembered: it parsed every key's LastModified text back with
    dateutil on every answer, half of the server's time per listed key."""
    memo = (type(self), value, timestamp_format)
    try:
        found = _timestamps.get(memo)
    except TypeError:  # not hashable: not remembered
        return _original["_convert_timestamp_to_str"](self, value, timestamp_format)
    if found is None:
        if len(_timestamps) > 1_000_000:
            _timestamps.clear()
        found = _timestamps[memo] = _original["_convert_timestamp_to_str"](self, value, timestamp_format)
    return found


def install() -> None:
    """Answer listings from the index (idempotent)."""
    if _original:
        return
    _original.update(
        list_objects=models.S3Backend.list_objects,
        list_objects_v2=models.S3Backend.list_objects_v2,
        __setitem__=_VersionedKeyStore.__setitem__,
        setlist=_VersionedKeyStore.setlist,
        pop=_VersionedKeyStore.pop,
        _convert_timestamp_to_str=TimestampSerializer._convert_timestamp_to_str,
    )
    TimestampSerializer._convert_timestamp_to_str = _timestamp  # type: ignore[method-assign]
    models.S3Backend.list_objects = list_objects  # type: ignore[method-assign]
    models.S3Backend.list_objects_v2 = list_objects_v2  # type: ignore[method-assign]
    _VersionedKeyStore.__setitem__ = _setitem  # type: ignore[method-assign]
    _VersionedKeyStore.setlist = _setlist  # type: ignore[method-assign]
    _VersionedKeyStore.pop = _pop  # type: ignore[method-assign]
    _VersionedKeyStore.__delitem__ = _delitem  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    """moto's own listing again (tests)."""
    if not _original:
        return
    models.S3Backend.list_objects = _original["list_objects"]  # type: ignore[method-assign]
    models.S3Backend.list_objects_v2 = _original["list_objects_v2"]  # type: ignore[method-assign]
    _VersionedKeyStore.__setitem__ = _original["__setitem__"]  # type: ignore[method-assign]
    _VersionedKeyStore.setlist = _original["setlist"]  # type: ignore[method-assign]
    _VersionedKeyStore.pop = _original["pop"]  # type: ignore[method-assign]
    del _VersionedKeyStore.__delitem__
    TimestampSerializer._convert_timestamp_to_str = _original["_convert_timestamp_to_str"]  # type: ignore[method-assign]
    _original.clear()


def put_many(bucket_name: str, keys: list[str], body: bytes) -> int:
    """Put ``body`` under every key of ``bucket_name`` through moto's backend, without HTTP.

    Seeding 200,000 objects through PutObject took 18 minutes on a loaded machine; the objects are
    the same (moto's ``put_object``: same ETag, size and storage class), only faster to make.
    """
    for _, _, found in models.s3_backends.iter_backends():
        backend: Any = found
        if bucket_name in backend.buckets:
            for key in keys:
                backend.put_object(bucket_name, key, body, disable_notification=True)
            return len(keys)
    raise KeyError(f"no bucket {bucket_name!r}")
