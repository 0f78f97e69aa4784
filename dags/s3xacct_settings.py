"""Settings of the example DAGs in this folder: connection ids, the transfer, the destination Asset.

Not a DAG (``.airflowignore`` skips it); Airflow puts the DAGs folder on ``sys.path``, so the DAGs
import it as ``s3xacct_settings``. It belongs to the examples, not to the installed provider: the
provider reads no environment and knows no account. The transfer itself is the Airflow Variable
``s3xacct_transfer`` (the ``s3xacct`` config format as JSON; ``make demo``/``make ui`` and
docker-compose set it), rendered once per task by each task of a run.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

SYNC_CONN_ID = os.environ.get("S3XACCT_SYNC_CONN_ID", "s3xacct_sync")
SOURCE_ADMIN_CONN_ID = os.environ.get("S3XACCT_SOURCE_ADMIN_CONN_ID", "s3xacct_source_admin")
DEST_ADMIN_CONN_ID = os.environ.get("S3XACCT_DEST_ADMIN_CONN_ID", "s3xacct_dest_admin")
NIGHTLY_SCHEDULE = os.environ.get("S3XACCT_NIGHTLY_SCHEDULE", "0 2 * * *")

# Every task renders this itself: verify, the KMS sensor and the copy of one run act on one transfer.
TRANSFER_VARIABLE = "s3xacct_transfer"
TRANSFER = "{{ var.json.s3xacct_transfer }}"

# The relay example (s3xacct_relay_sync): the vendor hands out a read role in its account (its
# external id in that connection's assume_role_kwargs extra), your writer role lives in your
# account, and no policy grants anything across accounts. Its transfer is the Variable
# ``s3xacct_relay_transfer``, naming source_principal_arn/dest_principal_arn instead of
# principal_arn (README, "Permissions for a relay copy").
RELAY_SOURCE_CONN_ID = os.environ.get("S3XACCT_RELAY_SOURCE_CONN_ID", "s3xacct_vendor_reader")
RELAY_DEST_CONN_ID = os.environ.get("S3XACCT_RELAY_DEST_CONN_ID", "s3xacct_ingest_writer")
RELAY_SCHEDULE = os.environ.get("S3XACCT_RELAY_SCHEDULE", "0 3 * * *")
RELAY_TRANSFER = "{{ var.json.s3xacct_relay_transfer }}"

# Airflow fixes outlets at parse time, before templates render: the Asset is the destination the
# Variable names, written here once for the nightly DAG and the DAG scheduled on it.
DEST_ASSET_URI = os.environ.get("S3XACCT_DEST_ASSET_URI", "s3://analytics-landing/vendor/")

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
