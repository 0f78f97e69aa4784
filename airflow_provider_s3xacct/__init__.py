"""Apache Airflow provider for cross-account S3 copies with SSE-KMS."""

__version__ = "0.1.0"
