"""The copy engine: listing, sync planning, server-side copy, multipart, retries, report.

No Airflow import here (DESIGN.md): the CLI, the operators and the tests share this code.
"""
