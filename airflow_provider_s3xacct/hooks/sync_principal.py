"""``SyncPrincipalHook``: the sync principal's AWS connection, turned into the core's clients."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config

from airflow_provider_s3xacct.transfer.clients import TransferClients
from airflow_provider_s3xacct.transfer.session import caller_arn


class SyncPrincipalHook(AwsBaseHook):
    """An ``aws`` connection (with ``role_arn`` / ``assume_role_kwargs`` extras for cross-account).

    All credential handling (assume role, ExternalId, refresh, endpoint_url for local stacks) is
    the amazon provider's; this hook only hands its session to the core with the engine's client
    configuration. Its connection type ``s3xacct_sync`` shows the aws connection's form under its
    own name in the UI; any ``aws`` connection works as well (the fields are the same).

    :param aws_conn_id: the sync principal's connection (type ``aws`` or ``s3xacct_sync``).
    :param region_name: default region of its clients.
    """

    conn_type = "s3xacct_sync"
    hook_name = "S3 cross-account sync principal (AWS)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("client_type", "s3")
        super().__init__(*args, **kwargs)

    def client_for(self, service: str, region_name: str | None = None, config: Config | None = None) -> Any:
        """A boto3 client for ``service`` from this connection, honouring its endpoint_url."""
        session = self.get_session(region_name=region_name or self.region_name)
        return session.client(
            service,
            region_name=region_name or self.region_name,
            endpoint_url=self.conn_config.get_service_endpoint_url(service_name=service),
            config=self._get_config(config),
            verify=self.verify,
        )

    def transfer_clients(
        self, *, concurrency: int, source_region: str | None, dest_region: str | None
    ) -> TransferClients:
        session = self.get_session(region_name=dest_region or self.region_name)
        return TransferClients.from_session(
            session,
            concurrency=concurrency,
            source_region=source_region or self.region_name,
            dest_region=dest_region or self.region_name,
            endpoint_url=self.conn_config.get_service_endpoint_url(service_name="s3"),
            verify=self.verify,
            base_config=self._get_config(),
        )

    def principal_arn(self) -> str | None:
        return caller_arn(self.get_session(), self.conn_config.get_service_endpoint_url(service_name="sts"))
