"""``SyncPrincipalHook``: the sync principal's AWS connection, turned into the core's clients."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config

from airflow_provider_s3xacct.transfer.clients import TransferClients
from airflow_provider_s3xacct.transfer.relay import PrincipalArgs
from airflow_provider_s3xacct.transfer.session import caller_arn

# How the provider's tasks spell a relay copy's connections, for the core's refusals
# (relay.transport_for_principals, relay.check_transfer_topology).
CONNECTION_ARGUMENTS = PrincipalArgs(
    source="source_aws_conn_id",
    dest="dest_aws_conn_id",
    single="aws_conn_id",
    transport="transport",
    transport_value=lambda value: f"transport={value!r}",
)


class SyncPrincipalHook(AwsBaseHook):
    """An ``aws`` connection (with ``role_arn`` / ``assume_role_kwargs`` extras for cross-account).

    All credential handling (assume role, ExternalId, refresh, endpoint_url for local stacks) is
    the amazon provider's; this hook only hands its session to the core with the engine's client
    configuration. The provider's ``get_session`` builds a new session, and so assumes the role
    again, on every call: this hook builds one per instance (one per task run, since operators and
    sensors cache their hook) and makes every client from it. Its credentials refresh themselves,
    so a copy that outlives the role's session duration keeps working. Its connection type
    ``s3xacct_sync`` shows the aws connection's form under its own name in the UI; any ``aws``
    connection works as well (the fields are the same).

    :param aws_conn_id: the sync principal's connection (type ``aws`` or ``s3xacct_sync``).
    :param region_name: default region of its clients.
    """

    conn_type = "s3xacct_sync"
    hook_name = "S3 cross-account sync principal (AWS)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("client_type", "s3")
        super().__init__(*args, **kwargs)
        self._session: Any = None

    def get_session(self, region_name: str | None = None, deferrable: bool = False) -> Any:
        """The connection's session, built (and its role assumed) once for this hook.

        The provider's own clients (``conn``, ``conn_partition``) come through here too; a session
        for another default region or an async one is still the provider's, built anew.
        """
        if deferrable or region_name not in (None, self.region_name):
            return super().get_session(region_name=region_name, deferrable=deferrable)
        if self._session is None:
            self._session = super().get_session(region_name=self.region_name)
        return self._session

    @property
    def conn_region_name(self) -> str:
        """The connection's region, from the session: the provider builds an S3 client to read it."""
        return str(self.region_name or self.get_session().region_name)

    @property
    def conn_partition(self) -> str:
        """The region's partition (``aws``, ``aws-cn``, ...), without building a client for it."""
        return str(self.get_session().get_partition_for_region(self.conn_region_name))

    def client_for(self, service: str, region_name: str | None = None, config: Config | None = None) -> Any:
        """A boto3 client for ``service`` from this connection, honouring its endpoint_url."""
        return self.get_session().client(
            service,
            region_name=region_name or self.region_name,
            endpoint_url=self.conn_config.get_service_endpoint_url(service_name=service),
            config=self._get_config(config),
            verify=self.verify,
        )

    def transfer_clients(
        self, *, concurrency: int, source_region: str | None, dest_region: str | None
    ) -> TransferClients:
        return TransferClients.from_session(
            self.get_session(),
            concurrency=concurrency,
            source_region=source_region or self.region_name,
            dest_region=dest_region or self.region_name,
            endpoint_url=self.conn_config.get_service_endpoint_url(service_name="s3"),
            verify=self.verify,
            base_config=self._get_config(),
        )

    def relay_clients(
        self, source: SyncPrincipalHook, *, concurrency: int, source_region: str | None, dest_region: str | None
    ) -> TransferClients:
        """The relay's clients: the source read with ``source``'s principal, the destination written
        with this hook's (each connection's session, endpoint and region)."""
        return TransferClients.for_relay(
            source.get_session(),
            self.get_session(),
            concurrency=concurrency,
            source_region=source_region or source.region_name,
            dest_region=dest_region or self.region_name,
            source_endpoint_url=source.conn_config.get_service_endpoint_url(service_name="s3"),
            dest_endpoint_url=self.conn_config.get_service_endpoint_url(service_name="s3"),
            verify=self.verify,
            base_config=self._get_config(),
        )

    def principal_arn(self) -> str | None:
        """The principal the connection acts as: its ``role_arn`` when it assumes one (no request),
        else the caller's ARN from STS (None when STS is unreachable; it only decorates messages)."""
        role_arn = self.conn_config.role_arn
        if role_arn:
            return str(role_arn)
        return caller_arn(self.get_session(), self.conn_config.get_service_endpoint_url(service_name="sts"))
