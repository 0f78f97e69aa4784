"""A large sync spread over many workers: plan disjoint key-range shards, copy them mapped, add up."""

from __future__ import annotations

from typing import Any

import pendulum
from s3xacct_settings import DEFAULT_ARGS, SYNC_CONN_ID, TRANSFER, TRANSFER_VARIABLE

from airflow_provider_s3xacct.compat import DAG, Param, task, variable_get
from airflow_provider_s3xacct.operators import CrossAccountS3CopyOperator
from airflow_provider_s3xacct.transfer.spec import LIST_CONCURRENCY  # planning lists as the copies do

with DAG(
    dag_id="s3xacct_sharded_sync",
    description="Sync one large prefix as N disjoint shards, one mapped task each",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "shards": Param(8, type="integer", minimum=1, maximum=1000, description="number of shards"),
        "concurrency": Param(
            32,
            type="integer",
            minimum=1,
            maximum=256,
            description="copies in flight per shard; shards x concurrency is the run's request rate budget",
        ),
    },
    tags=["s3xacct", "sharded"],
    doc_md="""
Plans `shards` key ranges of (nearly) equal object counts (one streaming pass over a parallel
listing, bounded memory), copies each in its own mapped task (the transfer's mode: with sync a retried shard re-copies nothing
that is already identical), then adds up the shard reports. With CeleryExecutor or
KubernetesExecutor the shards run on many workers at once.
""",
) as dag:

    @task
    def plan(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Disjoint (start_after, end_key] ranges that together cover every source key once."""
        from airflow_provider_s3xacct.aws.locations import S3Location
        from airflow_provider_s3xacct.hooks.sync_principal import SyncPrincipalHook
        from airflow_provider_s3xacct.transfer.listing import list_objects
        from airflow_provider_s3xacct.transfer.shards import plan_shards

        transfer = variable_get(TRANSFER_VARIABLE, None, deserialize_json=True)
        source = transfer["source"]
        location = S3Location.parse(f"s3://{source['bucket']}/{source.get('prefix', '')}", "source")
        clients = SyncPrincipalHook(aws_conn_id=SYNC_CONN_ID).transfer_clients(
            concurrency=LIST_CONCURRENCY, source_region=source["region"], dest_region=source["region"]
        )
        # One pass of a parallel listing (key ranges listed at once): a fraction of a sequential one.
        shards = plan_shards(
            lambda: list_objects(clients.source, location, concurrency=LIST_CONCURRENCY),
            int((params or {}).get("shards", 8)),
        )
        return [{"start_after": s.start_after, "end_key": s.end_key} for s in shards]

    copies = CrossAccountS3CopyOperator.partial(
        task_id="copy_shard",
        aws_conn_id=SYNC_CONN_ID,
        transfer=TRANSFER,
        concurrency="{{ params.concurrency }}",
        map_index_template="{{ task.start_after or '(start)' }} .. {{ task.end_key or '(end)' }}",
    ).expand_kwargs(plan())

    @task
    def aggregate(reports: list[dict[str, Any]]) -> dict[str, Any]:
        """The run's totals: the sum of the shard reports."""
        fields = ("listed", "copied", "skipped", "failed", "deleted", "bytes_copied")
        totals: dict[str, Any] = {f: sum(int(r.get(f, 0)) for r in reports) for f in fields}
        totals["shards"] = len(reports)
        return totals

    aggregate(copies.output)
