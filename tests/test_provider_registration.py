"""Airflow discovers the provider through its entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from airflow_provider_s3xacct.get_provider_info import get_provider_info


def test_entry_point_returns_the_provider_info() -> None:
    (ep,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_s3xacct")
    ]
    info = ep.load()()
    assert info == get_provider_info() and info["package-name"] == "airflow-provider-s3xacct"


def test_airflow_providers_list_shows_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "plain"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "airflow-provider-s3xacct" in out.stdout, out.stderr[-2000:]


def test_modules_named_in_the_provider_info_import() -> None:
    import importlib

    info = get_provider_info()
    for group in ("operators", "sensors", "triggers"):
        for entry in info[group]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for link in info["extra-links"]:
        module, _, name = link.rpartition(".")
        assert hasattr(importlib.import_module(module), name)


def _airflow(tmp_path, *args: str) -> str:  # type: ignore[no-untyped-def]
    # Airflow 3.0 logs the providers manager's INFO lines to stdout, ahead of the JSON.
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    out = subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_airflow_sees_the_hook_its_connection_type_and_the_integration(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    (info,) = json.loads(_airflow(tmp_path, "providers", "get", "airflow-provider-s3xacct", "--full", "-o", "json"))
    assert info["connection-types"][0]["connection-type"] == "s3xacct_sync"
    assert info["hooks"][0]["python-modules"] == ["airflow_provider_s3xacct.hooks.sync_principal"]
    assert info["integrations"][0]["integration-name"] == "S3 cross-account sync"
    hooks = {h["connection_type"]: h for h in json.loads(_airflow(tmp_path, "providers", "hooks", "-o", "json"))}
    assert hooks["s3xacct_sync"]["class"] == "airflow_provider_s3xacct.hooks.sync_principal.SyncPrincipalHook"
    assert hooks["aws"]["package_name"] == "apache-airflow-providers-amazon"  # the standard type stays the amazon one's
