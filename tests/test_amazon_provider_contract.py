"""Fails loudly if the amazon provider's internal AwsBaseOperator/AwsBaseSensor wiring changes.

docs/design.md: AwsBaseOperator is marked internal ("might be changed ... without notice"); we pin
the provider to a minor range and rely only on what is checked here.
"""

from __future__ import annotations

import inspect

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor

from airflow_provider_s3xacct.hooks.sync_principal import SyncPrincipalHook
from airflow_provider_s3xacct.operators import CrossAccountS3CopyOperator

_DOCUMENTED = {"aws_conn_id", "region_name", "verify", "botocore_config"}


def test_base_classes_take_the_documented_parameters() -> None:
    for base in (AwsBaseOperator, AwsBaseSensor):
        assert set(inspect.signature(base.__init__).parameters) >= _DOCUMENTED, base


def test_hook_is_built_from_the_operator_parameters() -> None:
    op = CrossAccountS3CopyOperator(
        task_id="t",
        source_uri="s3://src-bucket/",
        dest_uri="s3://dst-bucket/",
        aws_conn_id="sync_principal",
        region_name="eu-west-1",
        verify=False,
        botocore_config={"read_timeout": 7},
    )
    hook = op.hook
    assert isinstance(hook, SyncPrincipalHook) and isinstance(hook, AwsBaseHook)
    assert (hook.aws_conn_id, hook.region_name, hook.verify) == ("sync_principal", "eu-west-1", False)
    assert hook.config.read_timeout == 7


def test_session_and_endpoint_api_we_use_exist() -> None:
    for name in ("get_session", "conn_config", "_get_config", "conn_partition", "conn_region_name"):
        assert hasattr(AwsBaseHook, name), name
