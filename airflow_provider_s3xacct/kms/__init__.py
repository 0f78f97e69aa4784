"""KMS key probes: can the sync principal really use each key? (core, no Airflow import)"""
