"""The benchmark server's indexed listing (demo/indexed_listing.py) answers exactly as moto does.

The benchmarks compare tools on that server, so a listing that differed from moto's (a key left
out, a common prefix repeated, another continuation token) would measure a different S3. Each
case asks moto's own ``list_objects``/``list_objects_v2`` and the indexed ones the same question
on the same bucket and compares the answers item for item.
"""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3 import models

from demo import indexed_listing

ALPHABET = ["a", "b", "/", "ab", "é", " ", "+", "%", "~", "0", "\u00ff", "-"]


def _names_v2(result: Any) -> tuple[Any, ...]:
    items, truncated, token = result
    return [item if isinstance(item, str) else item.name for item in items], truncated, token


def _names_v1(result: Any) -> tuple[Any, ...]:
    keys, folders, truncated, marker = result
    return [key.name for key in keys], list(folders), truncated, marker


@pytest.fixture
def world() -> Any:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        rng = random.Random(19)
        keys = sorted({"".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6))) for _ in range(300)})
        s3.create_bucket(Bucket="plain")
        s3.create_bucket(Bucket="versioned")
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        for bucket in ("plain", "versioned"):
            for key in keys:
                s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        for key in keys[::7]:  # delete markers in one, keys gone in the other
            s3.delete_object(Bucket="versioned", Key=key)
            s3.delete_object(Bucket="plain", Key=key)
        for key in keys[::11]:  # overwrites: same names, a new version
            s3.put_object(Bucket="versioned", Key=key, Body=b"yy")
        yield models.s3_backends[DEFAULT_ACCOUNT_ID]["global"], keys, rng
    indexed_listing.uninstall()


def _both(backend: Any, method: str, **kwargs: Any) -> tuple[Any, Any]:
    original = indexed_listing._original[method]
    return original(backend, **kwargs), getattr(backend, method)(**kwargs)


def test_every_question_gets_moto_s_answer(world: Any) -> None:
    backend, keys, rng = world
    indexed_listing.install()
    for _ in range(3000):
        bucket = backend.get_bucket(rng.choice(["plain", "versioned"]))
        prefix = rng.choice([None, "", rng.choice(keys)[: rng.randint(0, 3)], rng.choice(ALPHABET)])
        delimiter = rng.choice([None, "", "/", "a", "ab", "é"])
        start = rng.choice([None, rng.choice(keys), rng.choice(keys) + "/", rng.choice(ALPHABET)])
        max_keys = rng.randint(0, 12)
        expected, got = _both(
            backend,
            "list_objects_v2",
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            continuation_token=None,
            start_after=start,
            max_keys=max_keys,
        )
        assert _names_v2(got) == _names_v2(expected), (prefix, delimiter, start, max_keys)
        expected, got = _both(
            backend,
            "list_objects",
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            marker=start,
            max_keys=max_keys,
        )
        assert _names_v1(got) == _names_v1(expected), (prefix, delimiter, start, max_keys)


@pytest.mark.parametrize("delimiter", [None, "/", "ab"])
def test_whole_listings_page_by_page_match(world: Any, delimiter: str | None) -> None:
    """Continuation tokens and markers taken from the answers, as clients do, to the end."""
    backend, _, _ = world
    indexed_listing.install()
    for bucket_name in ("plain", "versioned"):
        bucket = backend.get_bucket(bucket_name)
        token: str | None = None
        pages = 0
        while True:
            expected, got = _both(
                backend,
                "list_objects_v2",
                bucket=bucket,
                prefix=None,
                delimiter=delimiter,
                continuation_token=token,
                start_after=None,
                max_keys=5,
            )
            assert _names_v2(got) == _names_v2(expected)
            pages += 1
            if not expected[1]:
                break
            token = expected[2]
        assert pages > 3
        marker: str | None = None
        while True:
            expected, got = _both(
                backend,
                "list_objects",
                bucket=bucket,
                prefix=None,
                delimiter=delimiter,
                marker=marker,
                max_keys=5,
            )
            assert _names_v1(got) == _names_v1(expected)
            if not expected[2]:
                break
            marker = expected[3]


def test_the_index_follows_new_and_removed_keys(world: Any) -> None:
    backend, _, _ = world
    indexed_listing.install()
    bucket = backend.get_bucket("plain")
    ask = {
        "bucket": bucket,
        "prefix": None,
        "delimiter": None,
        "continuation_token": None,
        "start_after": None,
    }
    before = _names_v2(backend.list_objects_v2(max_keys=10_000, **ask))[0]
    backend.put_object("plain", "zz-new", b"x")
    backend.delete_object("plain", before[0])
    expected, got = _both(backend, "list_objects_v2", max_keys=10_000, **ask)
    assert _names_v2(got) == _names_v2(expected)
    assert _names_v2(got)[0] == sorted([*before[1:], "zz-new"])


def test_put_many_makes_the_objects_put_object_makes(world: Any) -> None:
    backend, _, _ = world
    indexed_listing.put_many("plain", ["bulk/1", "bulk/2"], b"body")
    backend.put_object("plain", "single", b"body")
    bulk, single = backend.get_object("plain", "bulk/2"), backend.get_object("plain", "single")
    assert (bulk.etag, bulk.size, bulk.storage_class) == (single.etag, single.size, single.storage_class)
    with pytest.raises(KeyError, match="nope"):
        indexed_listing.put_many("nope", ["k"], b"")
