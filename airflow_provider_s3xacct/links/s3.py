"""Operator extra link: the destination prefix in the S3 console."""

from __future__ import annotations

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class S3DestinationLink(BaseAwsLink):
    """Opens the copy's destination bucket and prefix in the S3 console."""

    name = "S3 destination"
    key = "s3xacct_destination"
    format_str = (
        BASE_AWS_CONSOLE_LINK + "/s3/buckets/{bucket}?region={region_name}&prefix={prefix}&showversions=false"
    )
