"""Transfer spec -> required requests -> policy documents; read, lint, evaluate, merge, apply.

Core code: no Airflow import.
"""
