"""``CrossAccountPermissionsOperator``: plan, verify or apply the transfer's policies in both accounts."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.exceptions import AirflowProviderDeprecationWarning
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_s3xacct.aws.clients import ClientCache
from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.compat import AirflowFailException
from airflow_provider_s3xacct.hooks.sync_principal import SyncPrincipalHook
from airflow_provider_s3xacct.operators.errors import task_failures
from airflow_provider_s3xacct.permissions.apply import apply_changes, plan_changes
from airflow_provider_s3xacct.permissions.documents import AccountAdmins
from airflow_provider_s3xacct.permissions.guardrails import SessionPolicy
from airflow_provider_s3xacct.permissions.plan import plan_policies
from airflow_provider_s3xacct.permissions.probe import live_probes
from airflow_provider_s3xacct.permissions.spec import TransferSpec
from airflow_provider_s3xacct.permissions.verify import verify_deployed

if TYPE_CHECKING:
    from airflow.sdk import Context


class CrossAccountPermissionsOperator(AwsBaseOperator[SyncPrincipalHook]):
    """Plan, verify or apply the least-privilege policies a cross-account transfer needs.

    ``mode="plan"`` returns the documents; ``"verify"`` reads the deployed identity, bucket and
    key policies through one admin connection per account, evaluates every request the copy will
    make and fails (``AirflowFailException``) naming the document, the missing permission and the
    statement that fixes it; ``"apply"`` merges our statements (Sid prefix ``S3xacct``) into each
    document, keeps every other statement, writes nothing when nothing changes, refuses documents
    changed since they were read, then verifies. The report is the XCom value.

    Each check is ``allowed``, ``denied`` or ``undetermined`` (a statement depends on something
    verify cannot know before the copy runs, such as an object tag or a session name; the report
    names the statement and what it could not know). Every report also lists the layers it did
    not check (SCPs, permission boundaries, ...).

    :param mode: ``"plan"``, ``"verify"`` (default) or ``"apply"`` (templated).
    :param transfer: the transfer spec in the ``s3xacct`` config format, as the copy and the KMS
        sensor take it: a mapping, or a template such as ``"{{ var.json.s3xacct_transfer }}"``
        that may render to the mapping, its JSON or its Python text (no
        ``render_template_as_native_obj`` needed). A relay copy's spec (``source_principal_arn`` and
        ``dest_principal_arn``) plans, verifies and applies both principals' policies (README,
        "Permissions for a relay copy") (templated).
    :param transfer_path: a YAML/JSON file holding the transfer spec, instead of ``transfer``
        (templated).
    :param spec: deprecated, use ``transfer`` (templated).
    :param spec_path: deprecated, use ``transfer_path`` (templated).
    :param source_admin_conn_id: Airflow AWS connection allowed to read (and, for apply, write)
        the source account's bucket and key policies (templated).
    :param dest_admin_conn_id: the same for the destination account (and the principal's IAM)
        (templated).
    :param probe: also probe live as the sync principal (``aws_conn_id``) to confirm the verdict;
        not available for a relay copy's spec yet (the task fails naming ``probe``).
    :param on_undetermined: ``"fail"`` (default) fails the task when no check is denied but some
        are undetermined; ``"warn"`` logs them and succeeds. The default is ``"fail"`` because this
        task gates a copy: passing a check verify could not decide would turn the gate into a
        guess, and the copy would then fail (or partly fail) at night instead. Choose ``"warn"``
        once you have read which statements are undetermined and accept that AWS decides them
        at run time. A denied check always fails.
    :param aws_conn_id: the Airflow connection of the sync principal, whose role session policy
        verify reads and as which ``probe`` runs; None or empty uses boto3's default credential
        chain (templated).
    :param region_name: AWS region for the clients; if empty, the connection's (templated).
    :param verify: whether to verify SSL certificates: False skips verification, a path uses that CA
        bundle; None uses botocore's default (templated).
    :param botocore_config: the botocore client configuration, as a dict (``botocore.config.Config``'s
        arguments).
    """

    aws_hook_class = SyncPrincipalHook
    template_fields: Sequence[str] = aws_template_fields(
        "mode", "transfer", "transfer_path", "spec", "spec_path", "source_admin_conn_id", "dest_admin_conn_id"
    )
    template_fields_renderers = {"transfer": "json", "spec": "json"}

    def __init__(
        self,
        *,
        mode: Literal["plan", "verify", "apply"] = "verify",
        transfer: Mapping[str, Any] | str | None = None,
        transfer_path: str | None = None,
        spec: Mapping[str, Any] | str | None = None,
        spec_path: str | None = None,
        source_admin_conn_id: str | None = None,
        dest_admin_conn_id: str | None = None,
        probe: bool = False,
        on_undetermined: Literal["fail", "warn"] = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # One name for the transfer across the provider's operators and sensor.
        for old, new in (("spec", "transfer"), ("spec_path", "transfer_path")):
            if {"spec": spec, "spec_path": spec_path}[old] is not None:
                warnings.warn(
                    f"{old} is deprecated: pass {new}", AirflowProviderDeprecationWarning, stacklevel=2
                )
        self.transfer = transfer
        self.transfer_path = transfer_path
        self.on_undetermined = on_undetermined
        self.mode = mode
        self.spec = spec
        self.spec_path = spec_path
        self.source_admin_conn_id = source_admin_conn_id
        self.dest_admin_conn_id = dest_admin_conn_id
        self.probe = probe

    def transfer_spec(self) -> TransferSpec:
        if self.mode not in ("plan", "verify", "apply"):
            raise InvalidInputError("mode", f"{self.mode!r} is not one of plan, verify, apply")
        if self.on_undetermined not in ("fail", "warn"):
            raise InvalidInputError("on_undetermined", f"{self.on_undetermined!r} is not one of fail, warn")
        given = {
            name: value
            for name, value in (
                ("transfer", self.transfer),
                ("transfer_path", self.transfer_path),
                ("spec", self.spec),
                ("spec_path", self.spec_path),
            )
            if value not in (None, "")
        }
        if len(given) != 1:
            raise InvalidInputError(
                "transfer", "give exactly one of transfer (the spec) or transfer_path (a YAML/JSON file)"
            )
        ((name, value),) = given.items()
        if name.endswith("_path"):
            return TransferSpec.from_file(str(value))
        return TransferSpec.parse(value, name)

    def _admins(self, spec: TransferSpec) -> AccountAdmins:
        def factory(conn_id: str | None) -> Any:
            hook = SyncPrincipalHook(
                aws_conn_id=conn_id,
                region_name=self.region_name,
                verify=self.verify,
                config=self.botocore_config,
            )
            return hook.client_for

        return AccountAdmins(spec, factory(self.source_admin_conn_id), factory(self.dest_admin_conn_id))

    def _session_policy(self, spec: TransferSpec) -> SessionPolicy:
        """The session policy of the copy's role assumption: ``assume_role_kwargs`` Policy/PolicyArns."""
        if spec.relay:
            return SessionPolicy.unknown(
                "a relay copy's two role sessions come from its own connections, not aws_conn_id"
            )
        conn = self.hook.conn_config
        if conn.role_arn:
            return SessionPolicy.from_assume_role_kwargs(conn.assume_role_kwargs)
        return SessionPolicy.unknown(
            f"connection {self.aws_conn_id!r} has no role_arn: its credentials come from outside s3xacct"
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Plan, apply or verify; every core failure ends as the error table's retryable or permanent failure."""
        with task_failures():
            return self._execute(context)

    def _execute(self, context: Context) -> dict[str, Any]:
        spec = self.transfer_spec()
        if self.probe and spec.relay:
            raise InvalidInputError(
                "probe", "probes as one principal and does not support a relay copy's spec yet; drop it"
            )
        if self.mode == "plan":
            return dict(plan_policies(spec).files(spec))
        admins = self._admins(spec)
        result: dict[str, Any] = {}
        if self.mode == "apply":
            applied = apply_changes(plan_changes(spec, admins))
            self.log.info(
                "wrote %s; unchanged: %s",
                applied.written or "nothing",
                [c.name for c in applied.changes if not c.changed],
            )
            for change in applied.changes:
                if change.changed:
                    self.log.info("%s", change.diff())
            result["apply"] = applied.to_dict()
        report = verify_deployed(spec, admins, self._session_policy(spec))
        if self.probe:
            report.probes = live_probes(spec, ClientCache(self.hook.client_for))
        self.log.info("%s", report.summary())
        result.update(report.to_dict())
        verdict = report.verdict
        if verdict == "undetermined" and self.on_undetermined == "warn":
            self.log.warning(
                "verify could not decide every request (on_undetermined='warn'): AWS decides them when "
                "the copy runs:\n%s",
                report.summary(),
            )
        elif verdict != "allowed":
            if self.do_xcom_push:
                context["ti"].xcom_push(key="report", value=result)
            what = "incomplete" if verdict == "denied" else "undetermined"
            raise AirflowFailException(f"the transfer's permissions are {what}:\n" + report.summary())
        return result
