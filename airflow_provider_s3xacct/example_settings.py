"""Settings of the example DAGs in dags/: connection ids and the transfer, with local-stack defaults.

Production deployments set the Airflow Variable ``s3xacct_transfer`` (the ``s3xacct`` config
format as JSON) and the three connections; the defaults below match ``make demo`` / ``make ui``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

SYNC_CONN_ID = os.environ.get("S3XACCT_SYNC_CONN_ID", "s3xacct_sync")
SOURCE_ADMIN_CONN_ID = os.environ.get("S3XACCT_SOURCE_ADMIN_CONN_ID", "s3xacct_source_admin")
DEST_ADMIN_CONN_ID = os.environ.get("S3XACCT_DEST_ADMIN_CONN_ID", "s3xacct_dest_admin")
NIGHTLY_SCHEDULE = os.environ.get("S3XACCT_NIGHTLY_SCHEDULE", "0 2 * * *")

# A Jinja expression for the transfer: the Variable if set, else the local-stack default.
TRANSFER = "var.json.get('s3xacct_transfer', default_transfer)"

DEFAULT_TRANSFER: dict[str, Any] = {
    "source": {
        "account_id": "111111111111",
        "bucket": os.environ.get("S3XACCT_SOURCE_BUCKET", "vendor-exports"),
        "prefix": "exports/",
        "region": "us-east-1",
        "kms_key_arns": [k for k in os.environ.get("S3XACCT_SOURCE_KEY_ARNS", "").split(",") if k],
    },
    "destination": {
        "account_id": "222222222222",
        "bucket": os.environ.get("S3XACCT_DEST_BUCKET", "analytics-landing"),
        "prefix": "vendor/",
        "region": "us-east-1",
        "kms_key_arn": os.environ.get("S3XACCT_DEST_KEY_ARN") or None,
    },
    "principal_arn": "arn:aws:iam::222222222222:role/s3xacct-sync",
    "options": {"mode": "sync", "copy_tags": True, "delete": False},
}

DEST_ASSET_URI = "s3://{bucket}/{prefix}".format(**DEFAULT_TRANSFER["destination"])

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-platform",
    # Permanent failures (AccessDenied, bad input, a disabled key) raise AirflowFailException and
    # skip these retries; only throttling and network trouble are retried, with backoff.
    "retries": 3,
    "retry_delay": timedelta(seconds=int(os.environ.get("S3XACCT_RETRY_DELAY_SECONDS", "120"))),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=6),
}
