"""``cross_account_sync``: verify -> KMS sensor -> copy, as one TaskGroup any pipeline can drop in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from airflow_provider_s3xacct.compat import TaskGroup
from airflow_provider_s3xacct.operators import CrossAccountPermissionsOperator, CrossAccountS3CopyOperator
from airflow_provider_s3xacct.sensors import KmsAccessSensor


def _field(transfer: Mapping[str, Any] | str, path: str, fmt: str = "{}") -> Any:
    """A value of the transfer: literal for a mapping, a template for a Jinja expression."""
    if isinstance(transfer, str):
        return "{{ " + fmt.format(f"({transfer}).{path}") + " }}"
    value: Any = transfer
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _uri(transfer: Mapping[str, Any] | str, side: str) -> str:
    if isinstance(transfer, str):
        return _field(transfer, side, "'s3://' ~ {0}.bucket ~ '/' ~ {0}.get('prefix', '')")
    location = transfer[side]
    return f"s3://{location['bucket']}/{location.get('prefix', '')}"


def cross_account_sync(
    *,
    group_id: str,
    transfer: Mapping[str, Any] | str,
    sync_conn_id: str,
    source_admin_conn_id: str,
    dest_admin_conn_id: str,
    deferrable: bool | None = None,
    outlets: Sequence[Any] = (),
    sensor_timeout: float = 30 * 60,
    on_undetermined: Literal["fail", "warn"] = "fail",
    **copy_kwargs: Any,
) -> TaskGroup:
    """Build the three tasks of a cross-account sync inside a TaskGroup and return it.

    :param group_id: the TaskGroup's id.
    :param transfer: the transfer spec (the ``s3xacct`` config format) as a mapping, or as a Jinja
        expression that renders to one (e.g. ``"var.json.s3xacct_transfer"``; the DAG should set
        ``render_template_as_native_obj=True``).
    :param sync_conn_id: Airflow AWS connection of the sync principal (sensor and copy).
    :param source_admin_conn_id: connection that may read the source account's policies (verify).
    :param dest_admin_conn_id: connection that may read the destination account's policies (verify).
    :param deferrable: passed to the KMS sensor; None keeps its default.
    :param outlets: assets the copy task updates.
    :param sensor_timeout: seconds the KMS sensor waits for access.
    :param on_undetermined: what ``verify_permissions`` does when no request is denied but some are
        undetermined: ``"fail"`` (default, see :class:`CrossAccountPermissionsOperator`) or ``"warn"``.
    :param copy_kwargs: go to the copy operator (``mode``, ``delete``, ``max_delete``, ``dry_run``, ...).
    """
    options = {} if isinstance(transfer, str) else dict(transfer.get("options") or {})
    copy_kwargs.setdefault("mode", options.get("mode", "sync"))
    copy_kwargs.setdefault("delete", options.get("delete", False))
    copy_kwargs.setdefault("copy_tags", options.get("copy_tags", True))
    sensor_kwargs: dict[str, Any] = {} if deferrable is None else {"deferrable": deferrable}
    with TaskGroup(group_id=group_id, tooltip="verify permissions -> KMS access -> copy") as group:
        verify = CrossAccountPermissionsOperator(
            task_id="verify_permissions",
            mode="verify",
            spec="{{ " + transfer + " }}" if isinstance(transfer, str) else transfer,
            source_admin_conn_id=source_admin_conn_id,
            dest_admin_conn_id=dest_admin_conn_id,
            aws_conn_id=sync_conn_id,
            on_undetermined=on_undetermined,
            doc_md="Evaluates every request the copy will make against the deployed identity, bucket and "
            "key policies of both accounts; fails naming the document and the statement that fixes it.",
        )
        source_uri = _uri(transfer, "source")
        kms = KmsAccessSensor(
            task_id="kms_access",
            aws_conn_id=sync_conn_id,
            key_arns=[_field(transfer, "destination.kms_key_arn")],
            operations=["generate_data_key"],
            discover_keys_from=source_uri,
            bucket_region=_field(transfer, "destination.region"),
            source_region=_field(transfer, "source.region"),
            timeout=sensor_timeout,
            mode="reschedule",
            doc_md="Waits until the sync principal can decrypt with every key the source objects use and "
            "generate data keys under the destination key; fails at once when waiting cannot help.",
            **sensor_kwargs,
        )
        copy = CrossAccountS3CopyOperator(
            task_id="copy",
            aws_conn_id=sync_conn_id,
            source_uri=source_uri,
            dest_uri=_uri(transfer, "destination"),
            dest_kms_key_id=_field(transfer, "destination.kms_key_arn"),
            source_account_id=_field(transfer, "source.account_id"),
            dest_account_id=_field(transfer, "destination.account_id"),
            source_region=_field(transfer, "source.region"),
            dest_region=_field(transfer, "destination.region"),
            outlets=list(outlets),
            doc_md="Server-side copy from the source account's bucket to the destination's under the "
            "destination KMS key; returns the summary, every failure diagnosed.",
            **copy_kwargs,
        )
        verify >> kms >> copy
    return group
