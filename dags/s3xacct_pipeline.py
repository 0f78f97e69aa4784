"""Cross-account sync inside larger pipelines.

* ``s3xacct_pipeline_with_sync``: extract -> the reusable ``cross_account_sync`` TaskGroup -> load.
* ``s3xacct_pipeline_downstream``: runs whenever the nightly sync updates the destination Asset.
"""

from __future__ import annotations

from typing import Any

import pendulum
from s3xacct_settings import (
    DEFAULT_ARGS,
    DEST_ADMIN_CONN_ID,
    DEST_ASSET_URI,
    SOURCE_ADMIN_CONN_ID,
    SYNC_CONN_ID,
    TRANSFER,
    TRANSFER_VARIABLE,
)

from airflow_provider_s3xacct.compat import DAG, Asset, task, variable_get
from airflow_provider_s3xacct.task_groups import cross_account_sync

with DAG(
    dag_id="s3xacct_pipeline_with_sync",
    description="A pipeline step that pulls the vendor's exports across accounts, then loads them",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["s3xacct", "pipeline"],
    doc_md="Shows `cross_account_sync(...)`, the TaskGroup any pipeline can drop in.",
) as with_sync:

    @task
    def announce_extract() -> str:
        """Stands for the upstream work that asks the vendor for a fresh export."""
        return "export requested"

    @task
    def load(summary: dict[str, Any] | None = None) -> str:
        """Stands for the downstream load; receives the copy summary."""
        copied = (summary or {}).get("copied", 0)
        return f"loaded {copied} new objects"

    group = cross_account_sync(
        group_id="vendor_sync",
        transfer=TRANSFER,
        sync_conn_id=SYNC_CONN_ID,
        source_admin_conn_id=SOURCE_ADMIN_CONN_ID,
        dest_admin_conn_id=DEST_ADMIN_CONN_ID,
    )
    announce_extract() >> group
    group >> load(group.children["vendor_sync.copy"].output)  # type: ignore[union-attr]


with DAG(
    dag_id="s3xacct_pipeline_downstream",
    description="Runs when the cross-account sync lands new data",
    schedule=[Asset(DEST_ASSET_URI)],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["s3xacct", "pipeline"],
    doc_md=f"Scheduled on the Asset `{DEST_ASSET_URI}` that the nightly sync updates.",
) as downstream:

    @task
    def count_landed() -> int:
        """Counts what landed under the destination prefix (as the sync principal)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        destination = variable_get(TRANSFER_VARIABLE, None, deserialize_json=True)["destination"]
        keys = S3Hook(aws_conn_id=SYNC_CONN_ID).list_keys(destination["bucket"], prefix=destination["prefix"])
        return len(keys)

    count_landed()
