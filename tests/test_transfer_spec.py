"""One transfer, one truth: every task derives its settings from the same transfer spec.

``CopySpec.from_transfer`` is the one translation (transfer/spec.py); the operators and the
sensor take ``transfer=`` and may narrow it with explicit arguments, never widen it beyond what
verify checked. Bad or conflicting input fails naming the argument before any AWS call.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.compat import AirflowFailException
from airflow_provider_s3xacct.operators import (
    CrossAccountCheckOperator,
    CrossAccountPermissionsOperator,
    CrossAccountS3CopyOperator,
)
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.sensors import KmsAccessSensor
from airflow_provider_s3xacct.transfer.spec import CopySpec as _CopySpec


class CopySpec:
    """The operators' path: TransferSpec.parse (the rendered text or mapping), then the translation."""

    @staticmethod
    def from_transfer(rendered: Any, **overrides: Any) -> _CopySpec:
        return _CopySpec.from_transfer(TransferSpec.parse(rendered), **overrides)


DEST_KEY = "arn:aws:kms:eu-west-1:222222222222:key/dest"
SOURCE_KEY = "arn:aws:kms:us-east-1:111111111111:key/src"


def transfer(**options: Any) -> dict[str, Any]:
    return {
        "source": {
            "account_id": "111111111111",
            "bucket": "vendor-exports",
            "prefix": "exports/",
            "region": "us-east-1",
            "kms_key_arns": [SOURCE_KEY],
        },
        "destination": {
            "account_id": "222222222222",
            "bucket": "analytics-landing",
            "prefix": "vendor/",
            "region": "eu-west-1",
            "kms_key_arn": DEST_KEY,
        },
        "principal_arn": "arn:aws:iam::222222222222:role/s3xacct-sync",
        "options": {"mode": "sync", "delete": False, "copy_tags": True, **options},
    }


def test_every_copy_setting_comes_from_the_transfer() -> None:
    spec = CopySpec.from_transfer(
        transfer(mode="sync", delete=True, copy_tags=False, acl="bucket-owner-full-control", multipart=False)
    )
    assert spec.multipart is False and CopySpec.from_transfer(transfer()).multipart is True
    assert (spec.source.uri, spec.destination.uri) == ("s3://vendor-exports/exports/", "s3://analytics-landing/vendor/")
    assert (spec.mode, spec.delete, spec.copy_tags, spec.acl) == ("sync", True, False, "bucket-owner-full-control")
    assert (spec.source_account_id, spec.dest_account_id) == ("111111111111", "222222222222")
    assert (spec.source_region, spec.dest_region, spec.dest_kms_key_id) == ("us-east-1", "eu-west-1", DEST_KEY)


@pytest.mark.parametrize(
    "rendered",
    [
        json.dumps(transfer(copy_tags=False)),  # "{{ var.value.s3xacct_transfer }}"
        str(transfer(copy_tags=False)),  # "{{ var.json.s3xacct_transfer }}" without native rendering
        transfer(copy_tags=False),  # native rendering, or a mapping in the DAG
    ],
    ids=["json", "python-text", "mapping"],
)
def test_the_transfer_renders_from_text_or_mapping(rendered: Any) -> None:
    assert CopySpec.from_transfer(rendered).copy_tags is False


@pytest.mark.parametrize(
    ("rendered", "message"),
    [
        ("", "transfer: is empty"),
        ("None", "transfer: is empty"),
        ("{'source': ", "transfer: rendered to text that is neither JSON nor a Python mapping"),
        ("[1, 2]", "transfer: must be the transfer as a mapping"),
        ("__import__('os').system('true')", "neither JSON nor a Python mapping"),
        (json.dumps(transfer(mode="move")), "transfer.options.mode"),
        (json.dumps(transfer(mode="copy", delete=True)), "transfer.options.delete: delete is only used with mode: sync"),
    ],
)
def test_a_bad_transfer_names_the_field(rendered: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        CopySpec.from_transfer(rendered)


@pytest.mark.parametrize(
    "narrowing",
    [
        {"mode": "copy"},
        {"delete": False},
        {"copy_tags": False},
        {"multipart": False},
        {"source": "s3://vendor-exports/exports/2026/", "destination": "s3://analytics-landing/vendor/2026/"},
        {"dest_region": "eu-west-1", "dest_kms_key_id": DEST_KEY, "concurrency": 4},
    ],
)
def test_explicit_arguments_may_narrow_the_transfer(narrowing: dict[str, Any]) -> None:
    spec = CopySpec.from_transfer(transfer(delete=True), **narrowing)
    for name, value in narrowing.items():
        got = getattr(spec, name)
        assert (got.uri if name in ("source", "destination") else got) == value


@pytest.mark.parametrize(
    ("options", "restated"),
    [
        ({"mode": "copy"}, {"mode": "copy"}),
        ({"delete": False}, {"delete": False}),
        ({"copy_tags": False}, {"copy_tags": False}),
        ({"multipart": False}, {"multipart": False}),
    ],
)
def test_restating_the_transfers_own_setting_is_no_widening(
    options: dict[str, Any], restated: dict[str, Any]
) -> None:
    spec = CopySpec.from_transfer(transfer(**options), **restated)
    for name, value in restated.items():
        assert getattr(spec, name) == value


@pytest.mark.parametrize(
    ("options", "widening", "argument", "where"),
    [
        ({"copy_tags": False}, {"copy_tags": True}, "copy_tags", "options.copy_tags: false"),
        ({"mode": "copy"}, {"mode": "sync"}, "mode", "options.mode: copy"),
        ({}, {"delete": True}, "delete", "options.delete: false"),
        ({}, {"source": "s3://vendor-exports/other/"}, "source_uri", "outside the transfer's source"),
        ({}, {"destination": "s3://elsewhere/vendor/"}, "dest_uri", "outside the transfer's destination"),
        ({}, {"dest_kms_key_id": DEST_KEY.replace("dest", "other")}, "dest_kms_key_id", "destination.kms_key_arn"),
        ({}, {"source_account_id": "333333333333"}, "source_account_id", "source.account_id"),
        ({}, {"dest_account_id": "333333333333"}, "dest_account_id", "destination.account_id"),
        ({}, {"source_region": "eu-west-1"}, "source_region", "source.region"),
        ({}, {"dest_region": "us-east-1"}, "dest_region", "destination.region"),
        # Narrowed to a copy, an explicit delete is still refused, not dropped.
        ({"delete": True}, {"mode": "copy", "delete": True}, "delete", "only allowed with mode='sync'"),
        ({}, {"acl": "bucket-owner-full-control"}, "acl", "options.acl"),
        ({"multipart": False}, {"multipart": True}, "multipart", "options.multipart: false"),
        # Either only says when to send parts, which the transfer's policies do not grant.
        ({"multipart": False}, {"multipart_threshold": 64 * 2**20}, "multipart_threshold", "options.multipart: false"),
        ({"multipart": False}, {"part_size": 64 * 2**20}, "part_size", "options.multipart: false"),
    ],
)
def test_explicit_arguments_never_widen_the_transfer(
    options: dict[str, Any], widening: dict[str, Any], argument: str, where: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"^{argument}: .*{where}"):
        CopySpec.from_transfer(transfer(**options), **widening)


def _no_aws(monkeypatch: pytest.MonkeyPatch, task: Any) -> None:
    monkeypatch.setattr(type(task), "hook", property(lambda self: pytest.fail("no AWS call expected")))


def test_the_copy_operator_acts_on_the_transfer_and_refuses_a_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    op = CrossAccountS3CopyOperator(task_id="copy", transfer=str(transfer(copy_tags=False, delete=True)))
    spec = op.build_spec()
    assert (spec.mode, spec.delete, spec.copy_tags, spec.dest_kms_key_id) == ("sync", True, False, DEST_KEY)
    bad = CrossAccountS3CopyOperator(task_id="copy", transfer=transfer(copy_tags=False), copy_tags=True)
    _no_aws(monkeypatch, bad)
    with pytest.raises(AirflowFailException, match=r"copy_tags: True needs more than the transfer's options\.copy_tags"):
        bad.execute({})  # type: ignore[arg-type]


def test_the_copy_operator_takes_multipart_off_from_the_transfer_and_refuses_a_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operator passes no threshold of its own (its default is "not given"), so a transfer
    with ``multipart: false`` builds; an explicit ``multipart_threshold`` is refused before AWS."""
    assert CrossAccountS3CopyOperator(task_id="copy", transfer=transfer(multipart=False)).build_spec().multipart is False
    bad = CrossAccountS3CopyOperator(task_id="copy", transfer=transfer(multipart=False), multipart_threshold=64 * 2**20)
    _no_aws(monkeypatch, bad)
    with pytest.raises(AirflowFailException, match=r"multipart_threshold: .*options\.multipart: false"):
        bad.execute({})  # type: ignore[arg-type]


def test_every_task_refuses_a_copy_that_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mode: copy`` with ``delete: true`` is refused by each task, naming the field, before AWS."""
    rendered = json.dumps(transfer(mode="copy", delete=True))
    tasks = [
        CrossAccountPermissionsOperator(task_id="verify", transfer=rendered),
        KmsAccessSensor(task_id="kms", transfer=rendered),
        CrossAccountS3CopyOperator(task_id="copy", transfer=rendered),
        CrossAccountCheckOperator(task_id="check", transfer=rendered),
    ]
    for task in tasks:
        _no_aws(monkeypatch, task)
        with pytest.raises(AirflowFailException, match=r"options\.delete"):
            task.execute({})  # type: ignore[arg-type]


def test_the_sensor_probes_the_transfers_keys_in_their_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    sensor = KmsAccessSensor(task_id="kms", transfer=transfer())
    found: dict[str, Any] = {}

    def discover(client: Any, location: Any, size: int) -> Any:
        found.update(location=location.uri, region=client)
        return type("Discovery", (), {"keys": {}, "describe": lambda self: "none"})()

    monkeypatch.setattr("airflow_provider_s3xacct.sensors.kms.discover_keys", discover)
    monkeypatch.setattr(type(sensor), "hook", property(lambda self: type("H", (), {"client_for": lambda s, svc, r=None: r})()))
    plans = sensor.build_plans()
    assert found == {"location": "s3://vendor-exports/exports/", "region": "us-east-1"}
    assert [(p.key_arn, p.operations, p.bucket_region) for p in plans] == [(DEST_KEY, ("generate_data_key",), "eu-west-1")]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"bucket_region": "us-east-1"}, "bucket_region"),
        ({"discover_keys_from": "s3://vendor-exports/elsewhere/"}, "discover_keys_from"),
        ({"key_arns": ["arn:aws:kms:eu-west-1:222222222222:key/unrelated"]}, "key_arns"),
    ],
)
def test_the_sensor_refuses_arguments_against_the_transfer(
    monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any], field: str
) -> None:
    sensor = KmsAccessSensor(task_id="kms", transfer=transfer(), **arguments)
    _no_aws(monkeypatch, sensor)
    with pytest.raises(AirflowFailException, match=f"{field}: "):
        sensor.execute({})  # type: ignore[arg-type]


def test_the_check_operator_takes_locations_from_the_transfer(monkeypatch: pytest.MonkeyPatch) -> None:
    op = CrossAccountCheckOperator(task_id="check", transfer=transfer(), dest_uri="s3://analytics-landing/vendor/x/")
    source, destination, _, source_owner, dest_owner = op._checker_parts()
    assert (source.uri, destination.uri) == ("s3://vendor-exports/exports/", "s3://analytics-landing/vendor/x/")
    assert (source_owner, dest_owner) == ("111111111111", "222222222222")
    tags = CrossAccountCheckOperator(task_id="check", transfer=transfer(copy_tags=False), tags=True)
    _no_aws(monkeypatch, tags)
    with pytest.raises(AirflowFailException, match="tags: the transfer does not copy tags"):
        tags.execute({})  # type: ignore[arg-type]


def test_lineage_on_start_comes_from_the_transfer(monkeypatch: pytest.MonkeyPatch) -> None:
    op = CrossAccountS3CopyOperator(task_id="copy", transfer=json.dumps(transfer()), dest_uri="s3://analytics-landing/vendor/x/")
    _no_aws(monkeypatch, op)
    lineage = op.get_openlineage_facets_on_start()
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("s3://vendor-exports", "exports/")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("s3://analytics-landing", "vendor/x/")]
