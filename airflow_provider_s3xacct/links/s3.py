"""Operator extra link: the destination prefix in the S3 console, stored once per task run.

Airflow 3's task runner stores every extra link itself after ``execute``: it calls ``get_link``
on the worker and pushes the URL as XCom ``_link_S3DestinationLink``, which the UI reads. The
amazon provider's ``persist`` pushes the link's fields as a second XCom beside it, which Airflow 3
never reads. So on Airflow 3 ``record`` keeps the fields on the operator for that one push; only
Airflow 2, whose webserver calls ``get_link`` and reads the fields from XCom, gets ``persist``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink

from airflow_provider_s3xacct.compat import AIRFLOW_V_3_0_PLUS

if TYPE_CHECKING:
    from airflow.models import BaseOperator
    from airflow.sdk import Context

# The operator attribute holding the link's fields for the task runner's push (Airflow 3).
_FIELDS = "_s3xacct_destination_link"


class S3DestinationLink(BaseAwsLink):
    """Opens the copy's destination bucket and prefix in the S3 console."""

    name = "S3 destination"
    key = "s3xacct_destination"
    format_str = (
        BASE_AWS_CONSOLE_LINK + "/s3/buckets/{bucket}?region={region_name}&prefix={prefix}&showversions=false"
    )

    @classmethod
    def record(
        cls, context: Context, operator: BaseOperator, region_name: str, aws_partition: str, **fields: Any
    ) -> None:
        """Make the link available once: to Airflow 3's own push, or (Airflow 2) as XCom."""
        if not operator.do_xcom_push:
            return
        if AIRFLOW_V_3_0_PLUS:
            setattr(
                operator,
                _FIELDS,
                {"region_name": region_name, "aws_domain": cls.get_aws_domain(aws_partition), **fields},
            )
        else:
            cls.persist(
                context=context,
                operator=operator,
                region_name=region_name,
                aws_partition=aws_partition,
                **fields,
            )

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        """On the worker after ``execute`` (Airflow 3), from the fields ``record`` kept; else from XCom."""
        fields = getattr(operator, _FIELDS, None)
        if fields:
            return self.format_link(**fields)
        return str(super().get_link(operator, ti_key=ti_key))
