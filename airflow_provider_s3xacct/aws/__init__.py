"""Rules of AWS that the copy engine, the permission tools and the KMS probes share, written once.

ARNs and partitions, the error codes of a denial, KMS key states, client caching, bucket-owner
arguments. Core code: no Airflow import, and no import of ``transfer``, ``permissions``, ``kms``
or ``diagnosis`` (they import this package, never the other way round: tests/test_layering.py).
"""
