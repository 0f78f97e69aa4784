"""A one-off cross-account copy, triggered from the UI's form."""

from __future__ import annotations

import pendulum
from s3xacct_settings import DEFAULT_ARGS, SYNC_CONN_ID

from airflow_provider_s3xacct.compat import DAG, Param
from airflow_provider_s3xacct.operators import CrossAccountS3CopyOperator
from airflow_provider_s3xacct.sensors import KmsAccessSensor

S3_URI = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"
KMS_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/[A-Za-z0-9-]+$"

with DAG(
    dag_id="s3xacct_manual_copy",
    description="Copy a prefix from one account's bucket to another's, on demand",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={**DEFAULT_ARGS, "retries": 1},
    # No native rendering: the operators read a rendered null key ("None") as no key and
    # "True"/"False" as booleans, so the form works the same on every Airflow.
    tags=["s3xacct", "manual"],
    params={
        "source_uri": Param(
            "s3://vendor-exports/exports/",
            type="string",
            pattern=S3_URI,
            title="Source",
            description="s3://bucket/prefix to copy from (read by the sync principal)",
        ),
        "dest_uri": Param(
            "s3://analytics-landing/manual/",
            type="string",
            pattern=S3_URI,
            title="Destination",
            description="s3://bucket/prefix to copy to",
        ),
        "kms_key_arn": Param(
            None,
            type=["null", "string"],
            pattern=KMS_KEY_ARN,
            title="Destination KMS key",
            description="Full key ARN to encrypt with; empty keeps the bucket's default",
        ),
        "mode": Param(
            "sync",
            enum=["copy", "sync"],
            title="Mode",
            description="copy: every object; sync: only new or changed objects",
        ),
        "delete": Param(
            False,
            type="boolean",
            title="Delete",
            description="sync only: delete destination objects gone from the source",
        ),
        "dry_run": Param(
            True, type="boolean", title="Dry run", description="report what would change, change nothing"
        ),
    },
    doc_md="Trigger with the form: the run checks KMS access (deferred to the triggerer), then copies.",
) as dag:
    kms = KmsAccessSensor(
        task_id="kms_access",
        aws_conn_id=SYNC_CONN_ID,
        key_arns=["{{ params.kms_key_arn }}"],
        operations=["generate_data_key"],
        discover_keys_from="{{ params.source_uri }}",
        deferrable=True,
        # Every check runs on the triggerer, the first one too: a run started from the UI holds no
        # worker slot while it waits, and its graph shows the wait as "deferred".
        check_before_defer=False,
        poke_interval=10,
        timeout=600,
        doc_md="Waits for KMS access on the triggerer; fails at once when waiting cannot help.",
    )
    copy = CrossAccountS3CopyOperator(
        task_id="copy",
        aws_conn_id=SYNC_CONN_ID,
        source_uri="{{ params.source_uri }}",
        dest_uri="{{ params.dest_uri }}",
        dest_kms_key_id="{{ params.kms_key_arn }}",
        mode="{{ params.mode }}",
        delete="{{ params.delete }}",
        dry_run="{{ params.dry_run }}",
        doc_md="Server-side copy; the summary is the XCom value, failures carry their diagnosis.",
    )
    kms >> copy
