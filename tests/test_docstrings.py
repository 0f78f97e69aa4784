"""Every public Airflow argument is documented the way the amazon provider documents its own.

Each argument of every operator, sensor, trigger and the TaskGroup factory has a ``:param x:``
line (the operators' and sensor's generic AWS block included, which they take through
``**kwargs``), and ``(templated)`` appears exactly for the template fields.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from airflow_provider_s3xacct.operators import (
    CrossAccountCheckOperator,
    CrossAccountPermissionsOperator,
    CrossAccountS3CopyOperator,
)
from airflow_provider_s3xacct.sensors import KmsAccessSensor
from airflow_provider_s3xacct.task_groups import cross_account_sync
from airflow_provider_s3xacct.triggers.kms import KmsAccessTrigger

TASKS = (CrossAccountS3CopyOperator, CrossAccountPermissionsOperator, CrossAccountCheckOperator, KmsAccessSensor)
# AwsBaseOperator/AwsBaseSensor take these through **kwargs (amazon provider, "base_aws").
AWS_BLOCK = ("aws_conn_id", "region_name", "verify", "botocore_config")
# Arguments stored under another attribute: BaseOperator.dry_run() is a method.
ATTRIBUTE = {"dry_run": "dry_run_only"}
_PARAM = re.compile(r"^\s*:param (\w+):(.*?)(?=^\s*:param |^\s*$|\Z)", re.MULTILINE | re.DOTALL)


def documented(obj: Any) -> dict[str, str]:
    """``:param name:`` -> its text, joined onto one line."""
    return {m.group(1): " ".join(m.group(2).split()) for m in _PARAM.finditer(inspect.getdoc(obj) or "")}


def arguments(function: Any) -> list[str]:
    return [
        name
        for name, p in inspect.signature(function).parameters.items()
        if name != "self" and not (p.kind is p.VAR_KEYWORD and name == "kwargs")
    ]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.__name__)
def test_every_task_argument_has_a_param_line_templated_as_it_is(task: Any) -> None:
    docs = documented(task)
    names = arguments(task.__init__) + list(AWS_BLOCK)
    assert [n for n in names if n not in docs] == [], "arguments without a :param line"
    assert [n for n in docs if n not in names] == [], ":param lines of no argument"
    fields = set(task.template_fields)
    wrong = [
        n for n in names if ("(templated)" in docs[n]) != (ATTRIBUTE.get(n, n) in fields)
    ]
    assert wrong == [], "'(templated)' must mark exactly the template fields"


def test_the_trigger_and_the_factory_document_every_argument() -> None:
    for obj, function in ((KmsAccessTrigger, KmsAccessTrigger.__init__), (cross_account_sync, cross_account_sync)):
        docs = documented(obj)
        assert [n for n in arguments(function) if n not in docs] == [], obj
    assert not any("(templated)" in text for text in documented(KmsAccessTrigger).values())  # nothing renders
    assert "(templated)" in documented(cross_account_sync)["transfer"]


def test_the_location_arguments_are_the_amazon_providers_uri_form() -> None:
    """``*_uri`` is the one spelling; the bucket/prefix pair is deprecated, naming the replacement."""
    from airflow.exceptions import AirflowProviderDeprecationWarning

    with pytest.warns(AirflowProviderDeprecationWarning, match=r"source_bucket/source_prefix are deprecated: pass source_uri="):
        CrossAccountS3CopyOperator(task_id="copy", source_bucket="b", dest_uri="s3://d/")
    with pytest.warns(AirflowProviderDeprecationWarning, match="spec is deprecated: pass transfer"):
        CrossAccountPermissionsOperator(task_id="verify", spec={})
