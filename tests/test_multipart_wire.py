"""Multipart copies as S3 sees them: how the object is cut into parts, and what is sent at once.

Observed on the wire (demo.counting_server records every request, its x-amz-* headers and what
else was in flight when it arrived), not from the engine's own report.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from airflow_provider_s3xacct.transfer.clients import TransferClients, engine_config
from airflow_provider_s3xacct.transfer.engine import TransferEngine
from airflow_provider_s3xacct.transfer.spec import MIB, CopySpec
from tests.aws_world import World
from tests.wire import forget, overlapped, seen, server_delay


def _buckets(world: World, size: int, concurrency: int) -> TransferClients:
    # Same-account buckets: moto keeps tags per requesting account (docs/design.md).
    s3 = world.dest.client("s3", config=engine_config(concurrency), endpoint_url=world.endpoint_url)
    s3.create_bucket(Bucket="mp-src")
    s3.create_bucket(Bucket="mp-dst")
    s3.put_object(Bucket="mp-src", Key="big/blob.bin", Body=bytes(range(256)) * (size // 256), Tagging="k=v")
    return TransferClients(s3, s3)


def _copy(world: World, clients: TransferClients, concurrency: int, **spec: object) -> None:
    forget(world)
    report = TransferEngine(
        CopySpec.create(
            source="s3://mp-src/big/",
            destination="s3://mp-dst/big/",
            multipart_threshold=5 * MIB,
            concurrency=concurrency,
            **spec,
        ),
        clients,
    ).run()
    assert report.ok and report.multipart_copies == 1


@pytest.mark.parametrize(
    ("size", "concurrency", "part_mib"),
    [
        (24 * MIB, 4, [6, 6, 6, 6]),  # one object fills the 4 copies allowed in flight
        (24 * MIB, 8, [5, 5, 5, 5, 4]),  # 3 MiB would be below S3's 5 MiB minimum part
    ],
)
def test_parts_are_cut_to_fill_the_concurrency(
    world: World, size: int, concurrency: int, part_mib: list[int]
) -> None:
    clients = _buckets(world, size, concurrency)
    _copy(world, clients, concurrency)

    ranges = sorted(
        (int(first), int(last))
        for first, last in (
            r["headers"]["x-amz-copy-source-range"].removeprefix("bytes=").split("-")
            for r in seen(world, "UploadPartCopy")
        )
    )
    assert [(last - first + 1) / MIB for first, last in ranges] == part_mib
    assert ranges[0][0] == 0 and ranges[-1][1] == size - 1  # contiguous cover of the whole object
    assert all(a[1] + 1 == b[0] for a, b in pairwise(ranges))
    copied = clients.dest.get_object(Bucket="mp-dst", Key="big/blob.bin")["Body"].read()
    assert copied == bytes(range(256)) * (size // 256)


def test_a_given_part_size_is_kept(world: World) -> None:
    clients = _buckets(world, 12 * MIB, 8)
    _copy(world, clients, 8, part_size=10 * MIB)

    assert sorted(r["headers"]["x-amz-copy-source-range"] for r in seen(world, "UploadPartCopy")) == [
        f"bytes=0-{10 * MIB - 1}",
        f"bytes={10 * MIB}-{12 * MIB - 1}",
    ]


def test_head_and_tagging_of_a_multipart_copy_are_in_flight_together(world: World) -> None:
    clients = _buckets(world, 6 * MIB, 4)
    with server_delay(world, 0.4):  # a round trip long enough that sequential requests never overlap
        _copy(world, clients, 4)

    assert len(seen(world, "HeadObject")) == 1
    assert len(seen(world, "GetObjectTagging")) == 1
    assert overlapped(world, "HeadObject", "GetObjectTagging")
    tags = clients.dest.get_object_tagging(Bucket="mp-dst", Key="big/blob.bin")["TagSet"]
    assert tags == [{"Key": "k", "Value": "v"}]


def test_a_dry_run_counts_the_multipart_copies_the_real_run_makes(world: World) -> None:
    """One decision (ObjectCopier.route) serves both: the dry run sends nothing and predicts the wire."""
    clients = _buckets(world, 6 * MIB, 4)
    for key in ("big/a", "big/b"):
        clients.dest.put_object(Bucket="mp-src", Key=key, Body=b"small")

    def copy(dry_run: bool) -> int:
        forget(world)
        spec = CopySpec.create(
            source="s3://mp-src/big/",
            destination="s3://mp-dst/big/",
            multipart_threshold=5 * MIB,
            concurrency=4,
            dry_run=dry_run,
        )
        report = TransferEngine(spec, clients).run()
        assert report.ok and report.copied == 3
        return report.multipart_copies

    assert copy(dry_run=True) == 1
    assert not [r for r in seen(world) if r["op"] not in ("ListObjects", "HeadBucket")]  # nothing sent
    assert copy(dry_run=False) == 1
    assert len(seen(world, "CreateMultipartUpload")) == 1 and len(seen(world, "CopyObject")) == 2
