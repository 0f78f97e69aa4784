"""docker-compose.yaml is valid and consistent with the repository (no Docker engine runs here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


def _dag_settings() -> Any:
    """dags/s3xacct_settings.py, the example DAGs' settings (not part of the installed package)."""
    spec = importlib.util.spec_from_file_location("s3xacct_settings", REPO / "dags" / "s3xacct_settings.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
OFFICIAL = {
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yaml").read_text()))


def test_services_of_the_official_topology_plus_moto() -> None:
    services = compose()["services"]
    assert OFFICIAL | {"moto"} == set(services)
    for name, service in services.items():
        if name != "airflow-init":
            assert "healthcheck" in service and service["healthcheck"]["test"], name


def test_dependencies_name_existing_services_with_conditions() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            assert rule["condition"] in ("service_healthy", "service_completed_successfully"), (
                name,
                dependency,
            )
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    ):
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["moto"]["condition"] == "service_healthy"


def test_mounted_paths_dockerfile_and_dags_exist() -> None:
    services = compose()["services"]
    for service in services.values():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("./") and host != "./logs":
                assert (REPO / host).exists(), host
        if "build" in service:
            assert (REPO / service["build"] / "Dockerfile").exists()
    dockerfile = (REPO / "Dockerfile").read_text()
    assert (
        "FROM apache/airflow:${AIRFLOW_VERSION}" in dockerfile
        and "apache-airflow==${AIRFLOW_VERSION}" in dockerfile
    )
    assert "ARG AIRFLOW_VERSION=3.3." in dockerfile
    assert "python -m demo.compose_seed" in services["airflow-init"]["command"][1]
    assert (REPO / "demo" / "compose_seed.py").exists()


def test_connections_are_the_ones_the_dags_use() -> None:
    env = compose()["services"]["airflow-scheduler"]["environment"]
    settings = _dag_settings()
    for conn_id in (settings.SYNC_CONN_ID, settings.SOURCE_ADMIN_CONN_ID, settings.DEST_ADMIN_CONN_ID):
        conn = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])
        assert conn["conn_type"] == "aws" and conn["extra"]["endpoint_url"] == "http://moto:5000"
        assert conn["extra"]["role_arn"].startswith("arn:aws:iam::")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_the_scale_out_topology_is_the_one_the_celery_test_runs() -> None:
    """demo/celery_stack.py (the CeleryExecutor test) and this file describe one deployment."""
    services = compose()["services"]
    env = compose()["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith("/execution/")
    worker = services["airflow-worker"]
    assert worker["command"] == "celery worker" and worker["deploy"]["replicas"] >= 2
    assert "AIRFLOW__CELERY__WORKER_CONCURRENCY" in worker["environment"]
