"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_s3xacct import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-s3xacct",
        "name": "S3 cross-account sync",
        "description": "Cross-account S3 copies with SSE-KMS: least-privilege policies, KMS access "
        "checks and a fast, resumable server-side copy engine.",
        "versions": [__version__],
        "operators": [
            {
                "integration-name": "S3 cross-account sync",
                "python-modules": [
                    "airflow_provider_s3xacct.operators.copy",
                    "airflow_provider_s3xacct.operators.permissions",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "S3 cross-account sync",
                "python-modules": ["airflow_provider_s3xacct.sensors.kms"],
            }
        ],
        "triggers": [
            {
                "integration-name": "S3 cross-account sync",
                "python-modules": ["airflow_provider_s3xacct.triggers.kms"],
            }
        ],
        "extra-links": ["airflow_provider_s3xacct.links.s3.S3DestinationLink"],
    }
