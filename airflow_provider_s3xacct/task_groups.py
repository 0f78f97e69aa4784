"""``cross_account_sync``: verify -> KMS sensor -> copy, as one TaskGroup any pipeline can drop in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from airflow_provider_s3xacct.compat import TaskGroup
from airflow_provider_s3xacct.operators import CrossAccountPermissionsOperator, CrossAccountS3CopyOperator
from airflow_provider_s3xacct.sensors import KmsAccessSensor


def cross_account_sync(
    *,
    group_id: str,
    transfer: Mapping[str, Any] | str,
    sync_conn_id: str,
    source_admin_conn_id: str,
    dest_admin_conn_id: str,
    outlets: Sequence[Any] = (),
    deferrable: bool | None = None,
    sensor_timeout: float = 30 * 60,
    on_undetermined: Literal["fail", "warn"] = "fail",
    **copy_kwargs: Any,
) -> TaskGroup:
    """Build the three tasks of a cross-account sync inside a TaskGroup and return it.

    The three tasks get the same ``transfer`` and each renders it once per run, so verify checks
    the requests the copy makes, the sensor probes the keys and regions the copy uses, and the
    copy's mode, delete and tag copying are the transfer's ``options`` (``CopySpec.from_transfer``
    is the one translation).

    :param group_id: the TaskGroup's id.
    :param transfer: the transfer spec in the ``s3xacct`` config format (``source``,
        ``destination``, ``principal_arn``, ``options``): a mapping, or a template such as
        ``"{{ var.json.s3xacct_transfer }}"``. It may render to the mapping, its JSON or its Python
        text, so the DAG needs no ``render_template_as_native_obj`` (templated).
    :param sync_conn_id: Airflow AWS connection of the sync principal (verify's session policy,
        the sensor and the copy).
    :param source_admin_conn_id: connection that may read the source account's policies (verify).
    :param dest_admin_conn_id: connection that may read the destination account's policies (verify).
    :param outlets: the Assets (Datasets on Airflow 2) the copy task updates, e.g.
        ``[Asset("s3://landing-bucket/vendor/")]``. Airflow fixes outlets when it parses the DAG,
        before any template renders, so they cannot come from a Variable: give the destination
        the transfer writes to, and downstream DAGs schedule on the same Asset.
    :param deferrable: passed to the KMS sensor; None keeps its default.
    :param sensor_timeout: seconds the KMS sensor waits for access (default 30 minutes).
    :param on_undetermined: what ``verify_permissions`` does when no request is denied but some are
        undetermined: ``"fail"`` (default, see :class:`CrossAccountPermissionsOperator`) or ``"warn"``.
    :param copy_kwargs: go to the copy operator (``concurrency``, ``max_delete``, ``dry_run``,
        ``include``, ...). Settings the transfer holds (``mode``, ``delete``, ``copy_tags``, the
        locations) may only narrow it; the copy task fails naming any argument that widens it.
    """
    sensor_kwargs: dict[str, Any] = {} if deferrable is None else {"deferrable": deferrable}
    with TaskGroup(group_id=group_id, tooltip="verify permissions -> KMS access -> copy") as group:
        verify = CrossAccountPermissionsOperator(
            task_id="verify_permissions",
            mode="verify",
            transfer=transfer,
            source_admin_conn_id=source_admin_conn_id,
            dest_admin_conn_id=dest_admin_conn_id,
            aws_conn_id=sync_conn_id,
            on_undetermined=on_undetermined,
            doc_md="Evaluates every request the copy will make against the deployed identity, bucket and "
            "key policies of both accounts; fails naming the document and the statement that fixes it.",
        )
        kms = KmsAccessSensor(
            task_id="kms_access",
            aws_conn_id=sync_conn_id,
            transfer=transfer,
            timeout=sensor_timeout,
            mode="reschedule",
            doc_md="Waits until the sync principal can decrypt with every key the source objects use and "
            "generate data keys under the destination key; fails at once when waiting cannot help.",
            **sensor_kwargs,
        )
        copy = CrossAccountS3CopyOperator(
            task_id="copy",
            aws_conn_id=sync_conn_id,
            transfer=transfer,
            outlets=list(outlets),
            doc_md="Server-side copy from the source account's bucket to the destination's under the "
            "destination KMS key; returns the summary, every failure diagnosed.",
            **copy_kwargs,
        )
        verify >> kms >> copy
    return group
