"""Sensors of the provider; import them from here."""

from airflow_provider_s3xacct.sensors.kms import KmsAccessSensor

__all__ = ["KmsAccessSensor"]
