"""Operators of the provider; import them from here."""

from airflow_provider_s3xacct.operators.copy import CrossAccountS3CopyOperator

__all__ = ["CrossAccountS3CopyOperator"]
