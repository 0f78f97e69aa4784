"""CopySpec: bad input is refused before any AWS call, with the field and the fix named."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.transfer.spec import GIB, MIB, CopySpec

OK = {"source": "s3://src-bucket/data", "destination": "s3://dst-bucket/landing/"}
KEY = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_prefixes_get_directory_semantics() -> None:
    spec = CopySpec.create(**OK)
    assert (spec.source.prefix, spec.destination.prefix) == ("data/", "landing/")
    assert CopySpec.create(source="s3://src-bucket", destination="s3://dst-bucket/").source.prefix == ""


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"source": "src-bucket/data"}, "source", "not an S3 URI"),
        ({"source": "s3://Src Bucket/data"}, "source", "not a valid S3 bucket name"),
        ({"source": "s3://192.168.1.1/x"}, "source", "IP address"),
        ({"destination": "s3://dst-bucket//x"}, "destination", "empty path segment"),
        ({"destination": "s3://src-bucket/data/sub/"}, "destination", "overlaps the source"),
        ({"dest_kms_key_id": "1234abcd-12ab"}, "dest_kms_key_id", "not a KMS key: give a key ARN"),
        ({"dest_kms_key_id": KEY, "dest_region": "eu-west-1"}, "dest_kms_key_id", "bucket's own region"),
        ({"delete": True}, "delete", "mode='sync'"),
        ({"bucket_key_enabled": True}, "bucket_key_enabled", "dest_kms_key_id"),
        ({"concurrency": 0}, "concurrency", "greater than or equal to 1"),
        ({"list_concurrency": 257}, "list_concurrency", "less than or equal to 256"),
        ({"multipart_threshold": 6 * GIB}, "multipart_threshold", "less than or equal"),
        ({"part_size": MIB}, "part_size", "greater than or equal"),
        ({"source_account_id": "12345"}, "source_account_id", "12-digit"),
        ({"dest_region": "Europe"}, "dest_region", "region name"),
        ({"mode": "mirror"}, "mode", "'copy' or 'sync'"),
        ({"start_after": "b", "end_key": "a"}, "end_key", "must sort after"),
        ({"unknown": 1}, "unknown", "Extra inputs are not permitted"),
    ],
)
def test_bad_input_names_the_field(changes: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        CopySpec.create(**{**OK, **changes})
    assert raised.value.field == field and words in str(raised.value)


def test_part_size_grows_to_stay_within_10000_parts() -> None:
    spec = CopySpec.create(**OK, part_size=5 * MIB)
    assert spec.effective_part_size(10 * MIB) == 5 * MIB
    assert spec.effective_part_size(100 * GIB) * 10_000 >= 100 * GIB


@pytest.mark.parametrize(
    ("size", "concurrency", "part"),
    [
        (GIB, 32, 32 * MIB),  # 32 parts for 32 copies in flight (fixed 256 MiB parts gave 4)
        (GIB + 1, 32, 33 * MIB),  # whole MiB, rounded up: still 32 parts
        (100 * MIB, 32, 5 * MIB),  # never below S3's 5 MiB minimum
        (100 * GIB, 32, 256 * MIB),  # at most 256 MiB: more parts than copies in flight, no fewer
        (5 * 1024**4, 1, 5 * 1024**4 // 10_000 + 1),  # 5 TiB: grown to stay within 10,000 parts
    ],
)
def test_part_size_without_one_given_fills_the_concurrency(size: int, concurrency: int, part: int) -> None:
    spec = CopySpec.create(**OK, concurrency=concurrency)
    assert spec.effective_part_size(size) == part
    assert -(-size // part) <= 10_000 and 5 * MIB <= part <= 5 * GIB


def test_the_relay_cuts_parts_of_its_own_size_whatever_the_concurrency() -> None:
    """README, relay "Bounded memory": parts of ``relay_part_size``, so the data held stays within
    relay_buffers x relay_part_size (the automatic size would give a 100 GiB object 256 MiB parts)."""
    spec = CopySpec.create(**OK, transport="relay", relay_part_size=16 * MIB, concurrency=32)
    assert spec.effective_part_size(100 * GIB) == 16 * MIB
    assert spec.effective_part_size(20 * MIB) == 16 * MIB
    assert spec.effective_part_size(5 * 1024**4) == 5 * 1024**4 // 10_000 + 1  # within 10,000 parts


def test_the_buckets_regions_fill_in_only_what_was_not_given() -> None:
    """The CLI and the operators ask each bucket its region; a region given explicitly stays."""
    looked_up = CopySpec.create(**OK).with_regions("eu-west-1", "us-east-2")
    assert (looked_up.source_region, looked_up.dest_region) == ("eu-west-1", "us-east-2")
    given = CopySpec.create(**OK, source_region="ap-south-1").with_regions("eu-west-1", "us-east-2")
    assert (given.source_region, given.dest_region) == ("ap-south-1", "us-east-2")
