"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_s3xacct import __version__

INTEGRATION = "S3 cross-account sync"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-s3xacct",
        "name": "S3 cross-account sync",
        "description": "Cross-account S3 copies with SSE-KMS: least-privilege policies, KMS access "
        "checks and a fast, resumable server-side copy engine.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
                "example-walkthroughs-managing-access-example2.html",
                "tags": ["aws"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_s3xacct.hooks.sync_principal"],
            }
        ],
        # The form and fields are the amazon provider's aws connection (the hook inherits them);
        # a plain "aws" connection works just as well.
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_s3xacct.hooks.sync_principal.SyncPrincipalHook",
                "hook-name": "S3 cross-account sync principal (AWS)",
                "connection-type": "s3xacct_sync",
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_s3xacct.operators.check",
                    "airflow_provider_s3xacct.operators.copy",
                    "airflow_provider_s3xacct.operators.permissions",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_s3xacct.sensors.kms"],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_s3xacct.triggers.kms"],
            }
        ],
        "extra-links": ["airflow_provider_s3xacct.links.s3.S3DestinationLink"],
    }
