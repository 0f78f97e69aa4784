"""The copy engine: listing, sync planning, server-side copy, multipart, retries, report.

No Airflow import here (docs/design.md): the CLI, the operators and the tests share this code.
"""
