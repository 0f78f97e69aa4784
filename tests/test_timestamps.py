"""Listing timestamps parsed by the standard library: the same values as botocore's own parser.

The oracle is botocore's default timestamp parser (dateutil): every value, fast path or not, must
come out equal to what it returns, or a sync would compare different times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.parsers import DEFAULT_TIMESTAMP_PARSER
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_s3xacct.aws.locations import S3Location
from airflow_provider_s3xacct.transfer import listing, timestamps
from airflow_provider_s3xacct.transfer.clients import TransferClients
from airflow_provider_s3xacct.transfer.listing import list_objects
from tests.aws_world import World


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-28T00:41:03.000Z",  # S3's ListObjectsV2 format
        "2026-11-28T00:41:03Z",
        "2026-11-28T00:41:03.123456Z",
        "2026-11-28T00:41:03.123456789Z",  # more digits than datetime keeps
        "2026-11-28T00:41:03.5+02:00",  # another zone: botocore's parser
        "Sat, 28 Nov 2026 00:41:03 GMT",  # RFC 822, as in Last-Modified headers
        "1764290463",  # epoch seconds, as JSON protocols send
        1764290463,
        "2026-11-28",
    ],
)
def test_every_format_parses_as_botocore_parses_it(value: Any) -> None:
    ours, theirs = timestamps.parse_timestamp(value), DEFAULT_TIMESTAMP_PARSER(value)
    assert ours == theirs and ours.utcoffset() == theirs.utcoffset()


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 31)), st.integers(0, 999))
def test_s3_style_timestamps_agree_with_botocore(moment: datetime, millis: int) -> None:
    value = moment.replace(microsecond=millis * 1000).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"
    assert timestamps.parse_timestamp(value) == DEFAULT_TIMESTAMP_PARSER(value)


def test_the_engine_s_clients_list_with_the_fast_parser(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def counting(value: Any) -> datetime:
        calls.append(value)
        return timestamps.DEFAULT_TIMESTAMP_PARSER(value) if not isinstance(value, str) else _fast(value)

    _fast = timestamps.parse_timestamp
    monkeypatch.setattr(timestamps, "parse_timestamp", counting)
    # The listing reads LastModified itself from the page's text (transfer/pages.py).
    monkeypatch.setattr(listing, "parse_timestamp", counting)
    for i in range(3):
        world.put(f"data/{i}", b"x")
    clients = TransferClients.from_session(world.principal, concurrency=2, endpoint_url=world.endpoint_url)
    listed = list(list_objects(clients.source, S3Location(world.source_bucket, "data/")))
    # Keys written in the same millisecond share one parse.
    assert len(listed) == 3 and calls and all(isinstance(value, str) for value in calls)
    assert all(abs(o.last_modified - datetime.now(UTC)) < timedelta(minutes=5) for o in listed)
