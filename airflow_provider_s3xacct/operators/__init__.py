"""Operators of the provider; import them from here."""

from airflow_provider_s3xacct.operators.check import CrossAccountCheckOperator
from airflow_provider_s3xacct.operators.copy import CrossAccountS3CopyOperator
from airflow_provider_s3xacct.operators.permissions import CrossAccountPermissionsOperator

__all__ = ["CrossAccountCheckOperator", "CrossAccountPermissionsOperator", "CrossAccountS3CopyOperator"]
