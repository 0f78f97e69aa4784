"""Nightly cross-account sync: verify permissions -> KMS access -> copy (sync) -> Asset."""

from __future__ import annotations

import pendulum
from s3xacct_settings import (
    DEFAULT_ARGS,
    DEST_ADMIN_CONN_ID,
    DEST_ASSET_URI,
    NIGHTLY_SCHEDULE,
    SOURCE_ADMIN_CONN_ID,
    SYNC_CONN_ID,
    TRANSFER,
)

from airflow_provider_s3xacct.compat import DAG, Asset
from airflow_provider_s3xacct.task_groups import cross_account_sync

with DAG(
    dag_id="s3xacct_nightly_sync",
    description="Sync the vendor's exports into the analytics account every night, SSE-KMS encrypted",
    schedule=NIGHTLY_SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["s3xacct", "nightly"],
    doc_md="""
### Nightly cross-account sync

1. **verify_permissions** evaluates every request the copy makes against the identity, bucket and
   key policies of both accounts, and fails naming the missing statement.
2. **kms_access** waits until the sync principal can use every KMS key in play.
3. **copy** syncs new and changed objects, server side, under the destination key, and updates
   the destination Asset so downstream pipelines run.

Configure with the Variable `s3xacct_transfer` (each task renders it: the three act on one
transfer, its `options` included) and the connections `s3xacct_sync`,
`s3xacct_source_admin`, `s3xacct_dest_admin`; the schedule comes from `S3XACCT_NIGHTLY_SCHEDULE`.
""",
) as dag:
    cross_account_sync(
        group_id="sync",
        transfer=TRANSFER,
        sync_conn_id=SYNC_CONN_ID,
        source_admin_conn_id=SOURCE_ADMIN_CONN_ID,
        dest_admin_conn_id=DEST_ADMIN_CONN_ID,
        outlets=[Asset(DEST_ASSET_URI)],
    )
