"""``KmsAccessTrigger``: the KMS probes, waited on asynchronously by the triggerer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_s3xacct.aws.clients import ClientCache
from airflow_provider_s3xacct.diagnosis.failures import classify
from airflow_provider_s3xacct.kms.probes import KeyAccess, KeyProbePlan, run_probe_async


class KmsAccessTrigger(BaseTrigger):
    """Re-run the probes every ``poll_interval`` seconds until every key is usable or one cannot be.

    Emits one event: ``status`` is ``success`` (all usable), ``failed`` (a terminal problem),
    ``timeout`` (``max_attempts`` rounds without success), each with ``results`` (each key's
    probe), or ``error`` with ``message`` when the trigger itself failed (the amazon provider's
    triggers do the same): an exception never escapes ``run``.

    :param plans: the probes, as ``KeyProbePlan.to_dict()``; each carries its bucket's region.
    :param bucket_region: region for plans that carry none (triggers serialised before plans had one).
    :param principal_account: the sync principal's account, to recognise cross-account keys.
    :param poll_interval: seconds between rounds.
    :param max_attempts: rounds before ``timeout``.
    :param aws_conn_id: the Airflow connection of the sync principal; None or empty uses boto3's
        default credential chain (environment, instance profile, ...).
    :param source_aws_conn_id: relay copy: the connection probing the plans of side ``source``
        (None: ``aws_conn_id``).
    :param dest_aws_conn_id: relay copy: the connection probing the plans of side ``destination``
        (None: ``aws_conn_id``).
    :param principal_accounts: relay copy: each side's principal account (``source``,
        ``destination``), instead of ``principal_account``.
    :param region_name: AWS region for the clients; if empty, the connection's.
    :param verify: whether to verify SSL certificates: False skips verification, a path uses that CA
        bundle; None uses botocore's default.
    :param botocore_config: the botocore client configuration, as a dict (``botocore.config.Config``'s
        arguments).
    """

    def __init__(
        self,
        *,
        plans: list[dict[str, Any]],
        bucket_region: str | None,
        principal_account: str | None,
        poll_interval: float,
        max_attempts: int,
        aws_conn_id: str | None,
        source_aws_conn_id: str | None = None,
        dest_aws_conn_id: str | None = None,
        principal_accounts: dict[str, str | None] | None = None,
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.plans = plans
        self.bucket_region = bucket_region
        self.principal_account = principal_account
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.aws_conn_id = aws_conn_id
        self.source_aws_conn_id = source_aws_conn_id
        self.dest_aws_conn_id = dest_aws_conn_id
        self.principal_accounts = principal_accounts
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "plans": self.plans,
                "bucket_region": self.bucket_region,
                "principal_account": self.principal_account,
                "poll_interval": self.poll_interval,
                "max_attempts": self.max_attempts,
                "aws_conn_id": self.aws_conn_id,
                "source_aws_conn_id": self.source_aws_conn_id,
                "dest_aws_conn_id": self.dest_aws_conn_id,
                "principal_accounts": self.principal_accounts,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    def _hook(self, service: str, region: str | None, side: str | None = None) -> AwsBaseHook:
        sides = {"source": self.source_aws_conn_id, "destination": self.dest_aws_conn_id}
        return AwsBaseHook(
            aws_conn_id=sides.get(side or "") or self.aws_conn_id,
            client_type=service,
            region_name=region or self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    async def probe_round(self) -> list[KeyAccess]:
        """One round of probes with async clients, opened lazily and closed at the end of the round."""
        async with contextlib.AsyncExitStack() as stack:

            async def open_client(service: str, region: str | None, side: str | None) -> Any:
                conn = await self._hook(service, region, side).get_async_conn()
                return await stack.enter_async_context(conn)

            # One client cache per principal (one side of a relay copy, or the one principal),
            # holding a task per (service, region): every probe of the round awaits the same opened
            # client (a finished task can be awaited again).
            def cache(side: str | None) -> ClientCache:
                return ClientCache(
                    lambda service, region: asyncio.ensure_future(open_client(service, region, side))
                )

            plans = [KeyProbePlan.from_dict(p) for p in self.plans]
            plans = [p if p.bucket_region else replace(p, bucket_region=self.bucket_region) for p in plans]
            caches = {side: cache(side) for side in {p.side for p in plans}}
            accounts = self.principal_accounts or {}
            return [
                await run_probe_async(
                    p.start(accounts.get(p.side, self.principal_account) if p.side else self.principal_account),
                    caches[p.side],
                )
                for p in plans
            ]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async for event in self._rounds():
                yield event
        except Exception as exc:
            self.log.exception("KMS access trigger failed")
            # The error table decides whether the task may retry; an exception without a row
            # (unexpected in the triggerer) is given the benefit of a retry.
            verdict = classify(exc)
            yield TriggerEvent(
                {
                    "status": "error",
                    "message": f"{type(exc).__name__}: {exc}",
                    "retryable": verdict.retryable if verdict is not None else True,
                }
            )

    async def _rounds(self) -> AsyncIterator[TriggerEvent]:
        results: list[KeyAccess] = []
        for attempt in range(1, self.max_attempts + 1):
            results = await self.probe_round()
            if any(r.terminal for r in results):
                yield TriggerEvent({"status": "failed", "results": [r.to_dict() for r in results]})
                return
            if all(r.ok for r in results):
                yield TriggerEvent({"status": "success", "results": [r.to_dict() for r in results]})
                return
            self.log.info(
                "KMS access not there yet (round %d/%d): %s",
                attempt,
                self.max_attempts,
                "; ".join(f"{r.key_arn}: {r.problem}" for r in results if not r.ok),
            )
            if attempt < self.max_attempts:
                await asyncio.sleep(self.poll_interval)
        yield TriggerEvent({"status": "timeout", "results": [r.to_dict() for r in results]})
