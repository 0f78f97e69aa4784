"""``cross_account_sync``: verify -> KMS sensor -> copy (-> check), as one TaskGroup any pipeline can drop in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.compat import TaskGroup
from airflow_provider_s3xacct.operators import (
    CrossAccountCheckOperator,
    CrossAccountPermissionsOperator,
    CrossAccountS3CopyOperator,
)
from airflow_provider_s3xacct.sensors import KmsAccessSensor


def cross_account_sync(
    *,
    group_id: str,
    transfer: Mapping[str, Any] | str,
    source_admin_conn_id: str,
    dest_admin_conn_id: str,
    sync_conn_id: str | None = None,
    source_conn_id: str | None = None,
    dest_conn_id: str | None = None,
    outlets: Sequence[Any] = (),
    deferrable: bool | None = None,
    sensor_timeout: float = 30 * 60,
    on_undetermined: Literal["fail", "warn"] = "fail",
    check: bool = False,
    check_kwargs: Mapping[str, Any] | None = None,
    **copy_kwargs: Any,
) -> TaskGroup:
    """Build the tasks of a cross-account sync inside a TaskGroup and return it.

    The tasks get the same ``transfer`` and each renders it once per run, so verify checks
    the requests the copy makes, the sensor probes the keys and regions the copy uses, and the
    copy's mode, delete and tag copying are the transfer's ``options`` (``CopySpec.from_transfer``
    is the one translation). A server-side copy is signed by ``sync_conn_id``; a relay copy (the
    transfer names ``source_principal_arn`` and ``dest_principal_arn``) reads as ``source_conn_id``
    and writes as ``dest_conn_id``: verify then checks both principals' policies, the sensor probes
    each key as the principal that uses it, and the copy and the check read each side as its own.

    :param group_id: the TaskGroup's id.
    :param transfer: the transfer spec in the ``s3xacct`` config format (``source``,
        ``destination``, ``principal_arn`` or ``source_principal_arn``/``dest_principal_arn``,
        ``options``): a mapping, or a template such as ``"{{ var.json.s3xacct_transfer }}"``. It
        may render to the mapping, its JSON or its Python text, so the DAG needs no
        ``render_template_as_native_obj`` (templated).
    :param source_admin_conn_id: connection that may read the source account's policies (verify).
    :param dest_admin_conn_id: connection that may read the destination account's policies (verify).
    :param sync_conn_id: Airflow AWS connection of the sync principal of a server-side copy
        (verify's session policy, the sensor, the copy and the check).
    :param source_conn_id: a relay copy's connection of the principal that reads the source (the
        sensor's decrypt probes, the copy's reads, the check's source side); with ``dest_conn_id``,
        instead of ``sync_conn_id``.
    :param dest_conn_id: a relay copy's connection of the principal that writes the destination
        (the sensor's data-key probe, the copy's writes, the check's destination side).
    :param outlets: the Assets (Datasets on Airflow 2) the copy task updates, e.g.
        ``[Asset("s3://landing-bucket/vendor/")]``. Airflow fixes outlets when it parses the DAG,
        before any template renders, so they cannot come from a Variable: give the destination
        the transfer writes to, and downstream DAGs schedule on the same Asset.
    :param deferrable: passed to the KMS sensor; None keeps its default.
    :param sensor_timeout: seconds the KMS sensor waits for access (default 30 minutes).
    :param on_undetermined: what ``verify_permissions`` does when no request is denied but some are
        undetermined: ``"fail"`` (default, see :class:`CrossAccountPermissionsOperator`) or ``"warn"``.
    :param check: add a ``check`` task after the copy (:class:`CrossAccountCheckOperator`, the
        ``s3xacct check`` core): the group fails when the destination differs from the source.
    :param check_kwargs: go to the check operator (``metadata``, ``tags``, ``sample``,
        ``on_unverified``, ...); only with ``check``.
    :param copy_kwargs: go to the copy operator (``concurrency``, ``max_delete``, ``dry_run``,
        ``include``, ...). Settings the transfer holds (``mode``, ``delete``, ``copy_tags``, the
        locations) may only narrow it; the copy task fails naming any argument that widens it.
    """
    relay = bool(source_conn_id or dest_conn_id)
    if relay and not (source_conn_id and dest_conn_id):
        missing = "dest_conn_id" if source_conn_id else "source_conn_id"
        raise InvalidInputError(missing, "a relay copy needs both source_conn_id and dest_conn_id: add it")
    if relay and sync_conn_id:
        raise InvalidInputError(
            "sync_conn_id", "is unused when source_conn_id and dest_conn_id sign the copy; drop it"
        )
    if not relay and not sync_conn_id:
        raise InvalidInputError(
            "sync_conn_id", "required: the sync principal's connection (or, for a relay copy, "
            "source_conn_id and dest_conn_id)"
        )
    if check_kwargs and not check:
        raise InvalidInputError("check_kwargs", "configures the check task: pass check=True too, or drop it")
    # The side connections go to every task that acts as a principal (None: server side).
    sides: dict[str, Any] = (
        {"source_aws_conn_id": source_conn_id, "dest_aws_conn_id": dest_conn_id} if relay else {}
    )
    sensor_kwargs: dict[str, Any] = {} if deferrable is None else {"deferrable": deferrable}
    tooltip = "verify permissions -> KMS access -> copy" + (" -> check" if check else "")
    with TaskGroup(group_id=group_id, tooltip=tooltip) as group:
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
            doc_md="Waits until the principals can decrypt with every key the source objects use and "
            "generate data keys under the destination key; fails at once when waiting cannot help.",
            **sides,
            **sensor_kwargs,
        )
        copy = CrossAccountS3CopyOperator(
            task_id="copy",
            aws_conn_id=sync_conn_id,
            transfer=transfer,
            outlets=list(outlets),
            doc_md=(
                "Relay copy: reads the source as its principal, writes the destination as its own"
                if relay
                else "Server-side copy"
            )
            + " from the source account's bucket to the destination's under the destination KMS key; "
            "returns the summary, every failure diagnosed.",
            **sides,
            **copy_kwargs,
        )
        verify >> kms >> copy
        if check:
            copy >> CrossAccountCheckOperator(
                task_id="check",
                aws_conn_id=sync_conn_id,
                transfer=transfer,
                doc_md="Compares the source and destination prefixes after the copy (s3xacct check); fails "
                "the group when an object is missing, extra or different.",
                **sides,
                **dict(check_kwargs or {}),
            )
    return group
