"""Nightly relay sync: verify permissions -> KMS access -> relay copy -> check, as two principals.

The vendor hands out a read role in its account (with an external id) and will not let any
principal of yours read its bucket; your security team will not let that role write yours. So
no one principal may read the source and write the destination, and no policy grants anything
across accounts: the bytes pass through the worker, read as the vendor's role and written as
your writer role (README, "Relay copy in Airflow: two connections").
"""

from __future__ import annotations

import pendulum
from s3xacct_settings import (
    DEFAULT_ARGS,
    DEST_ADMIN_CONN_ID,
    RELAY_DEST_CONN_ID,
    RELAY_SCHEDULE,
    RELAY_SOURCE_CONN_ID,
    RELAY_TRANSFER,
    SOURCE_ADMIN_CONN_ID,
)

from airflow_provider_s3xacct.compat import DAG
from airflow_provider_s3xacct.task_groups import cross_account_sync

with DAG(
    dag_id="s3xacct_relay_sync",
    description="Relay the vendor's exports into the analytics account as two principals, no cross-account grant",
    schedule=RELAY_SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["s3xacct", "nightly", "relay"],
    doc_md="""
### Nightly relay sync (two principals)

1. **verify_permissions** evaluates every request of the relay copy against the policies of both
   accounts, each as the principal that makes it (the reads as the vendor's role, the writes as
   your writer role), and fails naming the missing statement.
2. **kms_access** waits until the vendor's role can decrypt with every source key and your
   writer role can generate data keys under the destination key.
3. **copy** syncs new and changed objects through the worker: GetObject as the vendor's role,
   PutObject/multipart upload as your writer role, under the destination key (no CopyObject).
4. **check** compares both sides, each read as its own principal, and fails the run when an
   object is missing, extra or different.

Configure with the Variable `s3xacct_relay_transfer` (the transfer spec as JSON, naming
`source_principal_arn` and `dest_principal_arn` instead of `principal_arn`), the connections
`s3xacct_vendor_reader` (the vendor's role: `role_arn` and `assume_role_kwargs`
`{"ExternalId": ...}` extras) and `s3xacct_ingest_writer` (your writer role), and the admin
connections `s3xacct_source_admin`, `s3xacct_dest_admin` that verify reads the policies with;
the schedule comes from `S3XACCT_RELAY_SCHEDULE`.
""",
) as dag:
    cross_account_sync(
        group_id="sync",
        transfer=RELAY_TRANSFER,
        source_conn_id=RELAY_SOURCE_CONN_ID,
        dest_conn_id=RELAY_DEST_CONN_ID,
        source_admin_conn_id=SOURCE_ADMIN_CONN_ID,
        dest_admin_conn_id=DEST_ADMIN_CONN_ID,
        check=True,
    )
