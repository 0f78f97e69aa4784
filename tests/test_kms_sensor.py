"""KmsAccessSensor and KmsAccessTrigger: poke, reschedule, deferral, and the trigger's loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_s3xacct.compat import AirflowFailException, AirflowSensorTimeout, TaskDeferred
from airflow_provider_s3xacct.kms.probes import KeyAccess
from airflow_provider_s3xacct.sensors import KmsAccessSensor
from airflow_provider_s3xacct.triggers.kms import KmsAccessTrigger
from tests.aws_world import World, act_as


@pytest.fixture
def as_source(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    # moto cannot share KMS keys across accounts, so the probing principal lives in the key's account.
    act_as(monkeypatch, world.source, world.endpoint_url)
    return world


def sensor(**kwargs: Any) -> KmsAccessSensor:
    kwargs.setdefault("poke_interval", 0)
    kwargs.setdefault("timeout", 5)
    return KmsAccessSensor(task_id="kms", aws_conn_id=None, region_name="us-east-1", **kwargs)


def test_poke_succeeds_with_discovered_keys_and_returns_results(as_source: World) -> None:
    world = as_source
    world.put("data/a", b"1", kms=world.source_key_arn)
    world.put("data/b", b"2", sse_s3=True)
    s = sensor(discover_keys_from=f"s3://{world.source_bucket}/data/", bucket_region="us-east-1")
    result = s.poke({})  # type: ignore[arg-type]
    assert result.is_done
    (key,) = result.xcom_value
    assert key["key_arn"] == world.source_key_arn and key["ok"] and key["operations"] == {"decrypt": True}
    assert key["sample_object"] == f"s3://{world.source_bucket}/data/a"


def test_disabled_key_fails_at_once(as_source: World) -> None:
    world = as_source
    world.source.client("kms", endpoint_url=world.endpoint_url).disable_key(
        KeyId=world.source_key_arn.split("/")[-1]
    )
    s = sensor(key_arns=[world.source_key_arn], operations=["generate_data_key"])
    with pytest.raises(AirflowFailException, match="disabled"):
        s.poke({})  # type: ignore[arg-type]


def test_bad_arguments_fail_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    s = sensor(key_arns=["not-an-arn"])
    monkeypatch.setattr(type(s), "hook", property(lambda self: pytest.fail("no AWS call expected")))
    with pytest.raises(AirflowFailException, match="key_arns"):
        s.poke({})  # type: ignore[arg-type]
    with pytest.raises(AirflowFailException, match="sample_object"):
        sensor(key_arns=["arn:aws:kms:us-east-1:111111111111:key/k"], operations="decrypt").poke({})  # type: ignore[arg-type]


def _denied(key: str) -> KeyAccess:
    return KeyAccess(key, "us-east-1", {"generate_data_key": False}, problem="kms:GenerateDataKey denied")


def test_denied_access_keeps_poking(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "arn:aws:kms:us-east-1:222222222222:key/k"
    s = sensor(key_arns=key, operations="generate_data_key")
    monkeypatch.setattr(KmsAccessSensor, "_probe", lambda self: [_denied(key)])
    assert s.poke({}).is_done is False  # type: ignore[arg-type]


def test_deferrable_sensor_defers_to_a_serialisable_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "arn:aws:kms:us-east-1:222222222222:key/k"
    s = sensor(key_arns=key, operations="generate_data_key", deferrable=True, poke_interval=7, timeout=70)
    monkeypatch.setattr(KmsAccessSensor, "_probe", lambda self: [_denied(key)])
    monkeypatch.setattr(KmsAccessSensor, "_principal_account", lambda self: "222222222222")
    with pytest.raises(TaskDeferred) as deferred:
        s.execute({})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, KmsAccessTrigger) and deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_s3xacct.triggers.kms.KmsAccessTrigger"
    rebuilt = KmsAccessTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["plans"] == [
        {"key_arn": key, "operations": ["generate_data_key"], "sample_object": None, "bucket_region": None}
    ]
    assert (kwargs["poll_interval"], kwargs["max_attempts"]) == (7.0, 10)


def test_check_before_defer_false_hands_every_probe_to_the_triggerer(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "arn:aws:kms:us-east-1:222222222222:key/k"
    s = sensor(key_arns=key, operations="generate_data_key", deferrable=True, check_before_defer=False)
    monkeypatch.setattr(KmsAccessSensor, "_probe", lambda self: pytest.fail("no probe on the worker"))
    monkeypatch.setattr(KmsAccessSensor, "_principal_account", lambda self: "222222222222")
    with pytest.raises(TaskDeferred):
        s.execute({})  # type: ignore[arg-type]
    bad = sensor(key_arns="alias/x", deferrable=True, check_before_defer=False)
    with pytest.raises(AirflowFailException, match="key_arns"):  # bad input still fails on the worker
        bad.execute({})  # type: ignore[arg-type]


def test_execute_complete_maps_events_to_task_outcomes() -> None:
    s = sensor(key_arns="arn:aws:kms:us-east-1:222222222222:key/k", operations="generate_data_key")
    ok = {"key_arn": "k", "ok": True, "problem": None}
    assert s.execute_complete({}, {"status": "success", "results": [ok]}) == [ok]  # type: ignore[arg-type]
    bad = {"key_arn": "k", "ok": False, "problem": "the key is disabled"}
    with pytest.raises(AirflowFailException, match="disabled"):
        s.execute_complete({}, {"status": "failed", "results": [bad]})  # type: ignore[arg-type]
    with pytest.raises(AirflowSensorTimeout):
        s.execute_complete({}, {"status": "timeout", "results": [bad]})  # type: ignore[arg-type]


def _collect(trigger: KmsAccessTrigger) -> list[Any]:
    async def run() -> list[Any]:
        return [event async for event in trigger.run()]

    return asyncio.run(run())


def _trigger(plans: list[dict[str, Any]], **kw: Any) -> KmsAccessTrigger:
    kw.setdefault("max_attempts", 3)
    return KmsAccessTrigger(
        plans=plans,
        bucket_region="us-east-1",
        principal_account=None,
        poll_interval=0,
        aws_conn_id=None,
        region_name="us-east-1",
        **kw,
    )


def test_trigger_probes_with_async_clients(as_source: World) -> None:
    world = as_source
    world.put("data/a", b"1", kms=world.source_key_arn)
    plans = [
        {
            "key_arn": world.source_key_arn,
            "operations": ["decrypt", "generate_data_key"],
            "sample_object": f"s3://{world.source_bucket}/data/a",
        }
    ]
    (event,) = _collect(_trigger(plans))
    assert event.payload["status"] == "success"
    assert event.payload["results"][0]["operations"] == {"decrypt": True, "generate_data_key": True}


def test_trigger_waits_through_denials_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "arn:aws:kms:us-east-1:222222222222:key/k"
    rounds = iter(
        [[_denied(key)], [_denied(key)], [KeyAccess(key, "us-east-1", {"generate_data_key": True})]]
    )

    async def fake_round(self: KmsAccessTrigger) -> list[KeyAccess]:
        return next(rounds)

    monkeypatch.setattr(KmsAccessTrigger, "probe_round", fake_round)
    (event,) = _collect(_trigger([{"key_arn": key, "operations": ["generate_data_key"]}]))
    assert event.payload["status"] == "success"


def test_trigger_stops_on_terminal_and_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "arn:aws:kms:us-east-1:222222222222:key/k"

    async def terminal(self: KmsAccessTrigger) -> list[KeyAccess]:
        return [KeyAccess(key, "us-east-1", {"generate_data_key": None}, problem="disabled", terminal=True)]

    monkeypatch.setattr(KmsAccessTrigger, "probe_round", terminal)
    (event,) = _collect(_trigger([{"key_arn": key, "operations": ["generate_data_key"]}]))
    assert event.payload["status"] == "failed"

    async def denied(self: KmsAccessTrigger) -> list[KeyAccess]:
        return [_denied(key)]

    monkeypatch.setattr(KmsAccessTrigger, "probe_round", denied)
    (event,) = _collect(_trigger([{"key_arn": key, "operations": ["generate_data_key"]}], max_attempts=2))
    assert event.payload["status"] == "timeout"


def test_a_transfer_across_regions_probes_each_key_in_its_bucket_s_region(as_source: World) -> None:
    """Source bucket and key in us-east-1, destination key in eu-west-1 (moto: both in one account)."""
    world = as_source
    world.put("data/a", b"1", kms=world.source_key_arn)
    dest_key = world.source.client("kms", region_name="eu-west-1", endpoint_url=world.endpoint_url).create_key()[
        "KeyMetadata"
    ]["Arn"]
    common = {
        "key_arns": [dest_key],
        "operations": ["generate_data_key"],
        "discover_keys_from": f"s3://{world.source_bucket}/data/",
        "bucket_region": "eu-west-1",
    }
    result = sensor(**common, source_region="us-east-1").poke({})  # type: ignore[arg-type]
    assert result.is_done
    by_key = {r["key_arn"]: r for r in result.xcom_value}
    assert by_key[world.source_key_arn]["operations"] == {"decrypt": True}
    assert by_key[dest_key]["operations"] == {"generate_data_key": True}
    # One region for every key (the old behaviour) refuses the source key as "in another region".
    with pytest.raises(AirflowFailException, match="the bucket is in eu-west-1"):
        sensor(**common).poke({})  # type: ignore[arg-type]


def test_a_missing_source_bucket_during_discovery_fails_for_good_with_its_diagnosis(as_source: World) -> None:
    s = sensor(discover_keys_from="s3://no-such-bucket/data/", bucket_region="us-east-1")
    with pytest.raises(AirflowFailException, match="NoSuchBucket") as failed:
        s.poke({})  # type: ignore[arg-type]
    assert "no-such-bucket" in str(failed.value) and "Fix:" in str(failed.value)


def _unreachable(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every AWS request goes to a closed loopback port: a network error, not an AWS answer."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    return {"retries": {"max_attempts": 1}, "connect_timeout": 1, "read_timeout": 1}


def test_a_network_error_is_not_a_verdict_the_sensor_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _unreachable(monkeypatch)
    key = "arn:aws:kms:us-east-1:222222222222:key/k"
    s = sensor(key_arns=[key], operations=["generate_data_key"], botocore_config=config)
    monkeypatch.setattr(KmsAccessSensor, "_principal_account", lambda self: "222222222222")
    result = s.poke({})  # type: ignore[arg-type]
    assert result.is_done is False  # poked again later, never failed for good


def test_a_network_error_in_the_trigger_ends_as_a_retry_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _unreachable(monkeypatch)
    key = "arn:aws:kms:us-east-1:222222222222:key/k"
    (event,) = _collect(
        _trigger([{"key_arn": key, "operations": ["generate_data_key"]}], max_attempts=2, botocore_config=config)
    )
    assert event.payload["status"] == "timeout"
    assert "no answer from KMS" in event.payload["results"][0]["problem"]
    assert event.payload["results"][0]["terminal"] is False


def test_any_exception_in_the_trigger_becomes_an_error_event_and_a_retryable_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_s3xacct.compat import AirflowException

    async def broken(self: KmsAccessTrigger) -> list[KeyAccess]:
        raise RuntimeError("credentials provider exploded")

    monkeypatch.setattr(KmsAccessTrigger, "probe_round", broken)
    (event,) = _collect(_trigger([{"key_arn": "arn:aws:kms:us-east-1:222222222222:key/k", "operations": ["generate_data_key"]}]))
    assert event.payload == {
        "status": "error",
        "message": "RuntimeError: credentials provider exploded",
        "retryable": True,  # no row in the error table: given the benefit of a retry
    }
    s = sensor(key_arns="arn:aws:kms:us-east-1:222222222222:key/k", operations="generate_data_key")
    for bad in (event.payload, None, {"status": "???"}):
        with pytest.raises(AirflowException) as failed:
            s.execute_complete({}, bad)  # type: ignore[arg-type]
        assert not isinstance(failed.value, AirflowFailException)  # retryable: the task's retries apply


def test_a_permanent_error_in_the_trigger_fails_the_task_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error event carries the error table's verdict: no credentials is not fixed by a retry."""
    from botocore.exceptions import NoCredentialsError

    async def no_credentials(self: KmsAccessTrigger) -> list[KeyAccess]:
        raise NoCredentialsError()

    monkeypatch.setattr(KmsAccessTrigger, "probe_round", no_credentials)
    key = "arn:aws:kms:us-east-1:222222222222:key/k"
    (event,) = _collect(_trigger([{"key_arn": key, "operations": ["generate_data_key"]}]))
    assert event.payload["status"] == "error" and event.payload["retryable"] is False
    with pytest.raises(AirflowFailException, match="Unable to locate credentials"):
        sensor(key_arns=key, operations="generate_data_key").execute_complete({}, event.payload)  # type: ignore[arg-type]
