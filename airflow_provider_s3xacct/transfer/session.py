"""boto3 sessions for the CLI: the standard credential chain, optionally assuming a role."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
from botocore.credentials import RefreshableCredentials


def build_session(
    profile: str | None = None,
    role_arn: str | None = None,
    region: str | None = None,
    external_id: str | None = None,
    session_name: str = "s3xacct",
) -> boto3.Session:
    """A session from the standard chain (env, profile, ``AWS_ENDPOINT_URL``), optionally as ``role_arn``.

    Assumed-role credentials refresh themselves before they expire, so a copy that runs longer than
    the role's session duration does not fail half way.
    """
    base = boto3.Session(profile_name=profile, region_name=region)
    if not role_arn:
        return base
    sts = base.client("sts")
    extra: dict[str, Any] = {"ExternalId": external_id} if external_id else {}

    def refresh() -> dict[str, str]:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, **extra)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "assume-role")
    botocore_session = botocore.session.get_session()
    # botocore has no public setter for refreshable credentials, so the attribute is set directly.
    botocore_session._credentials = credentials
    return boto3.Session(botocore_session=botocore_session, region_name=base.region_name)


def caller_arn(session: Any, endpoint_url: str | None = None) -> str | None:
    """The ARN of the principal the session acts as (for messages); None when STS is unreachable."""
    try:
        return str(session.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Arn"])
    except Exception:  # the ARN only decorates messages; the copy must not fail for it
        return None
