# The Airflow image with this provider installed. Used by docker-compose.yaml.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY airflow_provider_s3xacct ./airflow_provider_s3xacct
RUN pip wheel --no-deps --wheel-dir /dist .

FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION
COPY --from=wheel /dist/*.whl /tmp/
# Pin apache-airflow so installing the provider never upgrades (or downgrades) core.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /tmp/airflow_provider_s3xacct-*.whl "moto[server]==5.2.5"
COPY --chown=airflow:root demo /opt/airflow/demo
