"""The Airflow names that moved between 2.11 and 3.x, imported once for the provider and the DAGs.

Airflow 3 moved the authoring API to ``airflow.sdk`` (and renamed Dataset to Asset); 2.11 has them
at their old homes. ``airflow.providers.common.compat.sdk`` maps each name to whichever home the
running Airflow has, but holds every name below only from common-compat 1.14 (1.8 added the module,
later releases the exceptions and ``conf``); the 1.7.x that Amazon MWAA's 2.11.0 and 3.0.6
constraints pin has no such module, so the same map is spelled out below for them. Only the Airflow layer (operators,
sensors, triggers, hooks, task groups, the example DAGs) imports this module; the core never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version
from packaging.version import Version

AIRFLOW_V_3_0_PLUS = Version(Version(_airflow_version).base_version) >= Version("3.0.0")

if TYPE_CHECKING:  # type-checked against the newest Airflow, where common-compat has every name
    from airflow.providers.common.compat.sdk import (
        DAG,
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        Asset,
        Param,
        PokeReturnValue,
        TaskDeferred,
        TaskGroup,
        Variable,
        conf,
        task,
    )
else:
    try:
        from airflow.providers.common.compat.sdk import (
            DAG,
            AirflowException,
            AirflowFailException,
            AirflowSensorTimeout,
            Asset,
            Param,
            PokeReturnValue,
            TaskDeferred,
            TaskGroup,
            Variable,
            conf,
            task,
        )
    except ImportError:  # common-compat < 1.14 (MWAA's constraints): the same map, by hand
        from airflow.configuration import conf
        from airflow.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowSensorTimeout,
            TaskDeferred,
        )

        if AIRFLOW_V_3_0_PLUS:
            from airflow.sdk import DAG, Asset, Param, PokeReturnValue, TaskGroup, Variable, task
        else:
            from airflow.datasets import Dataset as Asset
            from airflow.decorators import task
            from airflow.models.dag import DAG
            from airflow.models.param import Param
            from airflow.models.variable import Variable
            from airflow.sensors.base import PokeReturnValue
            from airflow.utils.task_group import TaskGroup


if TYPE_CHECKING:
    from airflow.sdk.log import mask_secret
else:
    try:  # Airflow 3.1+
        from airflow.sdk.log import mask_secret
    except ImportError:
        try:  # Airflow 3.0
            from airflow.sdk.execution_time.secrets_masker import mask_secret
        except ImportError:  # Airflow 2.11
            from airflow.utils.log.secrets_masker import mask_secret


def variable_get(key: str, default: Any, *, deserialize_json: bool = False) -> Any:
    """``Variable.get`` with a default: the keyword is ``default`` on Airflow 3, ``default_var`` on 2."""
    if AIRFLOW_V_3_0_PLUS:
        return Variable.get(key, default=default, deserialize_json=deserialize_json)
    return Variable.get(key, deserialize_json=deserialize_json, **{"default_var": default})


__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "Asset",
    "Param",
    "PokeReturnValue",
    "TaskDeferred",
    "TaskGroup",
    "Variable",
    "conf",
    "mask_secret",
    "task",
    "variable_get",
]
