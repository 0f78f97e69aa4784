"""Explaining AWS denials, above all the KMS permission failures S3 reports as ``AccessDenied``.

Core code: no Airflow import. Used by the copy engine, the KMS probes and the CLI.
"""

from airflow_provider_s3xacct.diagnosis.explain import Diagnoser, Diagnosis
from airflow_provider_s3xacct.diagnosis.messages import DenialMessage, parse_denial

__all__ = ["DenialMessage", "Diagnoser", "Diagnosis", "parse_denial"]
