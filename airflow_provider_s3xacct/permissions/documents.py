"""``PolicySet``: the deployed (or proposed) documents, from files or from both accounts."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from airflow_provider_s3xacct.aws.arns import account_of, region_of
from airflow_provider_s3xacct.aws.clients import ClientCache
from airflow_provider_s3xacct.aws.errors import InvalidInputError, error_code
from airflow_provider_s3xacct.aws.locations import owner_args
from airflow_provider_s3xacct.permissions.evaluator import Document
from airflow_provider_s3xacct.permissions.plan import (
    DEST_BUCKET_FILE,
    DEST_IDENTITY_FILE,
    DEST_KEY_FILE,
    IDENTITY_FILE,
    IDENTITY_POLICY_NAME,
    SOURCE_BUCKET_FILE,
    SOURCE_IDENTITY_FILE,
    SOURCE_KEYS_FILE,
)
from airflow_provider_s3xacct.permissions.requests import ObservedPrincipal
from airflow_provider_s3xacct.permissions.spec import Side, TransferSpec


@dataclass
class PolicySet:
    """Documents by role. ``None`` for a bucket policy means the bucket has none.

    ``not_given`` names the offline files that were absent: those documents are unknown (verify
    lists them as not checked and cannot decide what they could change), never assumed default.
    A key always has a key policy, so a key without a document here is unknown too.
    ``identity`` is the principal's identity policies; in a relay copy the source principal's,
    and ``dest_identity`` the destination principal's.
    """

    identity: list[Document] = field(default_factory=list)
    dest_identity: list[Document] = field(default_factory=list)
    source_bucket: Document | None = None
    source_keys: dict[str, Document] = field(default_factory=dict)
    dest_bucket: Document | None = None
    dest_key: Document | None = None
    not_given: set[str] = field(default_factory=set)

    def key_policy(self, key_arn: str, spec: TransferSpec) -> Document | None:
        """The key policy of ``key_arn``, or None when it was not given."""
        if key_arn == spec.destination.kms_key_arn and self.dest_key is not None:
            return self.dest_key
        return self.source_keys.get(key_arn)

    def identity_of(self, spec: TransferSpec) -> list[Document]:
        """The identity policies of ``spec.principal`` (a relay view: its side's principal)."""
        return self.dest_identity if spec.side == "destination" else self.identity

    def all_documents(self) -> list[Document]:
        docs = list(self.identity) + list(self.dest_identity)
        docs += [d for d in (self.source_bucket, self.dest_bucket, self.dest_key) if d is not None]
        docs += list(self.source_keys.values())
        return docs


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(path.name, f"{path} is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(path.name, f"{path} is not UTF-8 text: {exc}") from None


_STRINGS = "a string or a list of strings"
_CONDITION_VALUE = (str, bool, int, float)


def _strings(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return all(isinstance(v, str) for v in items)


def validate_policy_document(doc: Any, name: str) -> dict[str, Any]:
    """``doc`` if it has the shape the IAM policy grammar gives each element, else an error naming it.

    The evaluator reads these elements without further checks, so a file that is a list, a
    ``Statement`` that is a string or an ``Action`` that is a number is refused here, naming the
    file and the element (IAM JSON policy reference, "Grammar of the IAM JSON policy language").
    """

    def bad(where: str, expected: str, got: Any) -> InvalidInputError:
        return InvalidInputError(f"{name} {where}".strip(), f"must be {expected} (got {json.dumps(got)})")

    if not isinstance(doc, dict):
        raise bad("", 'a JSON object {"Version": "2012-10-17", "Statement": [...]}', doc)
    if "Statement" not in doc:
        raise InvalidInputError(name, 'has no "Statement": a policy needs at least one statement')
    raw = doc["Statement"]
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not all(isinstance(st, dict) for st in statements):
        raise bad("Statement", "a statement object or a list of statement objects", raw)
    for i, st in enumerate(statements):
        where = f"Statement[{i}]" if isinstance(raw, list) else "Statement"
        if st.get("Effect") not in ("Allow", "Deny"):
            raise bad(f"{where}.Effect", '"Allow" or "Deny"', st.get("Effect"))
        for element in ("Sid",):
            if element in st and not isinstance(st[element], str):
                raise bad(f"{where}.{element}", "a string", st[element])
        for element in ("Action", "NotAction", "Resource", "NotResource"):
            if element in st and not _strings(st[element]):
                raise bad(f"{where}.{element}", _STRINGS, st[element])
        for element in ("Principal", "NotPrincipal"):
            value = st.get(element, "*")
            if value != "*" and not (isinstance(value, dict) and all(_strings(v) for v in value.values())):
                raise bad(f"{where}.{element}", '"*" or an object such as {"AWS": [ARN, ...]}', value)
        if "Condition" in st:
            condition = st["Condition"]
            if not isinstance(condition, dict):
                raise bad(f"{where}.Condition", 'an object {"Operator": {"key": value}}', condition)
            for operator, tests in condition.items():
                if not isinstance(tests, dict):
                    raise bad(f"{where}.Condition.{operator}", 'an object {"key": value}', tests)
                for key, value in tests.items():
                    items = value if isinstance(value, list) else [value]
                    if not all(isinstance(v, _CONDITION_VALUE) for v in items):
                        raise bad(
                            f"{where}.Condition.{operator}.{key}", "a string, number, boolean or list", value
                        )
    return doc


def _load_document(path: Path, name: str | None = None) -> Document:
    name = name or path.name
    return Document(name, validate_policy_document(_load_json(path), name))


def _bucket_policy(path: Path) -> Document | None:
    """A bucket policy file without statements says the bucket has no policy (plan writes it so)."""
    raw = _load_json(path)
    if isinstance(raw, dict) and raw.get("Statement") == []:
        return None
    return _load_document(path)


def _identity_documents(path: Path) -> list[Document]:
    """An identity file: one policy, or a list of the principal's policies."""
    raw = _load_json(path)
    docs = raw if isinstance(raw, list) else [raw]
    names = [f"{path.name}[{i}]" if len(docs) > 1 else path.name for i in range(len(docs))]
    return [Document(n, validate_policy_document(d, n)) for n, d in zip(names, docs, strict=True)]


def load_policy_dir(directory: str | Path, relay: bool = False) -> PolicySet:
    """Read the offline layout (see plan.py for the file names); a missing file is not given (unknown).

    ``relay``: the layout of a relay copy, one identity file per principal instead of identity.json.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InvalidInputError("--policies-dir", f"{root} is not a directory")
    policies = PolicySet()
    identities = (SOURCE_IDENTITY_FILE, DEST_IDENTITY_FILE) if relay else (IDENTITY_FILE,)
    policies.not_given = {
        name
        for name in (*identities, SOURCE_BUCKET_FILE, SOURCE_KEYS_FILE, DEST_BUCKET_FILE, DEST_KEY_FILE)
        if not (root / name).exists()
    }
    if (path := root / identities[0]).exists():
        policies.identity = _identity_documents(path)
    if relay and (path := root / DEST_IDENTITY_FILE).exists():
        policies.dest_identity = _identity_documents(path)
    if (path := root / SOURCE_BUCKET_FILE).exists():
        policies.source_bucket = _bucket_policy(path)
    if (path := root / SOURCE_KEYS_FILE).exists():
        raw = _load_json(path)
        if not isinstance(raw, dict):
            raise InvalidInputError(SOURCE_KEYS_FILE, "must be an object mapping key ARN -> key policy")
        policies.source_keys = {
            arn: Document(
                f"{SOURCE_KEYS_FILE}[{arn}]", validate_policy_document(doc, f"{SOURCE_KEYS_FILE}[{arn}]")
            )
            for arn, doc in raw.items()
        }
    if (path := root / DEST_BUCKET_FILE).exists():
        policies.dest_bucket = _bucket_policy(path)
    if (path := root / DEST_KEY_FILE).exists():
        policies.dest_key = _load_document(path)
    return policies


def write_policy_dir(files: dict[str, Any], directory: str | Path) -> list[Path]:
    """Write the offline layout; a folder that cannot be made is bad input, named as ``--out``."""
    root = Path(directory)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            "--out", f"cannot create the folder {root} ({exc.strerror}); give a folder path"
        ) from None
    written = []
    for name, content in files.items():
        path = root / name
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _policy_json(value: Any) -> dict[str, Any]:
    return dict(json.loads(value)) if isinstance(value, str) else dict(value)


def _iam_document_text(iam: Any, method: str, **params: Any) -> str:
    """The PolicyDocument text exactly as IAM returned it (URL-decoded).

    botocore's own ``json_decode_policies`` handler turns it into a dict, which loses the
    characters, number formatting and layout ``apply`` keeps for statements it does not own.
    """
    captured: list[str] = []

    def grab(parsed: dict[str, Any], **_: Any) -> None:
        if isinstance(parsed.get("PolicyDocument"), str):
            captured.append(unquote(parsed["PolicyDocument"]))

    event = f"after-call.iam.{iam.meta.method_to_api_mapping[method]}"
    iam.meta.events.register_first(event, grab)
    try:
        response = getattr(iam, method)(**params)
    finally:
        iam.meta.events.unregister(event, grab)
    return captured[0] if captured else json.dumps(response["PolicyDocument"])


ClientFactory = Callable[[str, "str | None"], Any]


class AccountAdmins:
    """Admin clients of the two accounts; picks the one that owns each document.

    ``source_clients`` / ``dest_clients`` make a client from (service, region), so the CLI passes
    boto3 sessions and the operator its Airflow connections.
    """

    def __init__(
        self, spec: TransferSpec, source_clients: ClientFactory, dest_clients: ClientFactory
    ) -> None:
        self.spec = spec
        self._clients = {
            spec.source.account_id: ClientCache(source_clients),
            spec.destination.account_id: ClientCache(dest_clients),
        }

    @classmethod
    def from_sessions(cls, spec: TransferSpec, source_session: Any, dest_session: Any) -> AccountAdmins:
        return cls(
            spec,
            lambda s, r: source_session.client(s, region_name=r),
            lambda s, r: dest_session.client(s, region_name=r),
        )

    def acting(self, side: Side) -> AccountAdmins:
        """The same admins reading about the principal of ``side`` (``spec.acting``); clients are shared."""
        view = AccountAdmins.__new__(AccountAdmins)
        view.spec, view._clients = self.spec.acting(side), self._clients
        return view

    def client(self, account: str, service: str, region: str | None = None) -> Any:
        if account not in self._clients:
            raise InvalidInputError(
                "admin connections",
                f"account {account} is neither the source nor the destination account; "
                "no admin connection can read its documents",
            )
        return self._clients[account](service, region)

    # -- reading ----------------------------------------------------------------------------------

    def read_identity(self) -> list[Document]:
        spec = self.spec
        iam = self.client(spec.principal_account, "iam")
        name = spec.principal_name
        docs: list[Document] = []
        if spec.principal_kind == "user":
            for policy_name in iam.list_user_policies(UserName=name)["PolicyNames"]:
                doc = iam.get_user_policy(UserName=name, PolicyName=policy_name)["PolicyDocument"]
                docs.append(Document(f"inline policy {policy_name!r} of user {name}", _policy_json(doc)))
            docs += self._managed(iam, iam.list_attached_user_policies(UserName=name)["AttachedPolicies"])
            for group in iam.list_groups_for_user(UserName=name)["Groups"]:
                gname = group["GroupName"]
                for policy_name in iam.list_group_policies(GroupName=gname)["PolicyNames"]:
                    doc = iam.get_group_policy(GroupName=gname, PolicyName=policy_name)["PolicyDocument"]
                    docs.append(
                        Document(f"inline policy {policy_name!r} of group {gname}", _policy_json(doc))
                    )
                docs += self._managed(
                    iam, iam.list_attached_group_policies(GroupName=gname)["AttachedPolicies"]
                )
        else:
            for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                doc = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
                docs.append(Document(f"inline policy {policy_name!r} of role {name}", _policy_json(doc)))
            docs += self._managed(iam, iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"])
        return docs

    @staticmethod
    def _managed(iam: Any, attached: list[dict[str, Any]]) -> list[Document]:
        docs = []
        for item in attached:
            version = iam.get_policy(PolicyArn=item["PolicyArn"])["Policy"]["DefaultVersionId"]
            doc = iam.get_policy_version(PolicyArn=item["PolicyArn"], VersionId=version)["PolicyVersion"][
                "Document"
            ]
            docs.append(Document(f"managed policy {item['PolicyArn']}", _policy_json(doc)))
        return docs

    def read_bucket_policy_text(self, account: str, bucket: str, region: str) -> str | None:
        """The bucket policy as S3 returns it, or None when the bucket has none."""
        try:
            raw = self.client(account, "s3", region).get_bucket_policy(Bucket=bucket, **owner_args(account))
        except ClientError as exc:
            if error_code(exc) == "NoSuchBucketPolicy":
                return None
            raise
        return str(raw["Policy"])

    def read_bucket_policy(self, account: str, bucket: str, region: str) -> dict[str, Any] | None:
        text = self.read_bucket_policy_text(account, bucket, region)
        return None if text is None else _policy_json(text)

    def read_key_policy_text(self, key_arn: str) -> str:
        """The key policy as KMS returns it (a key always has one)."""
        kms = self.client(account_of(key_arn), "kms", region_of(key_arn))
        return str(kms.get_key_policy(KeyId=key_arn.rsplit("/", 1)[-1], PolicyName="default")["Policy"])

    def read_key_policy(self, key_arn: str) -> dict[str, Any]:
        return _policy_json(self.read_key_policy_text(key_arn))

    def read_identity_inline_text(self) -> str | None:
        """The inline policy this tool owns on the principal, as IAM returns it, or None."""
        spec = self.spec
        iam = self.client(spec.principal_account, "iam")
        try:
            if spec.principal_kind == "user":
                return _iam_document_text(
                    iam, "get_user_policy", UserName=spec.principal_name, PolicyName=IDENTITY_POLICY_NAME
                )
            return _iam_document_text(
                iam, "get_role_policy", RoleName=spec.principal_name, PolicyName=IDENTITY_POLICY_NAME
            )
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise

    def read_identity_inline(self) -> dict[str, Any] | None:
        text = self.read_identity_inline_text()
        return None if text is None else _policy_json(text)

    def read_principal(self) -> ObservedPrincipal:
        """The principal's id, IAM tags and organization, as far as the admin may read them.

        Each read that is refused leaves that part unknown (verify then names the spec field to set).
        """
        spec = self.spec
        iam = self.client(spec.principal_account, "iam")
        tags: dict[str, str] | None = None
        try:
            if spec.principal_kind == "user":
                listed = iam.list_user_tags(UserName=spec.principal_name)["Tags"]
            else:
                listed = iam.list_role_tags(RoleName=spec.principal_name)["Tags"]
            tags = {t["Key"]: t["Value"] for t in listed}
        except ClientError:
            pass
        unique_id = None
        try:
            if spec.principal_kind == "user":
                unique_id = iam.get_user(UserName=spec.principal_name)["User"]["UserId"]
            else:
                unique_id = iam.get_role(RoleName=spec.principal_name)["Role"]["RoleId"]
        except ClientError:
            pass
        organization_id = None
        try:
            organizations = self.client(spec.principal_account, "organizations")
            organization_id = organizations.describe_organization()["Organization"]["Id"]
        except ClientError:
            pass  # no access, or not in an organization: stays unknown
        return ObservedPrincipal(organization_id, tags, spec.principal_kind == "user", unique_id)

    def read_all(self) -> PolicySet:
        spec = self.spec
        src, dst = spec.source, spec.destination
        if spec.relay:
            policies = PolicySet(
                identity=self.acting("source").read_identity(),
                dest_identity=self.acting("destination").read_identity(),
            )
        else:
            policies = PolicySet(identity=self.read_identity())
        if (doc := self.read_bucket_policy(src.account_id, src.bucket, src.region)) is not None:
            policies.source_bucket = Document(f"bucket policy of {src.bucket}", doc)
        for arn in src.kms_key_arns:
            policies.source_keys[arn] = Document(f"key policy of {arn}", self.read_key_policy(arn))
        if (doc := self.read_bucket_policy(dst.account_id, dst.bucket, dst.region)) is not None:
            policies.dest_bucket = Document(f"bucket policy of {dst.bucket}", doc)
        if dst.kms_key_arn:
            policies.dest_key = Document(
                f"key policy of {dst.kms_key_arn}", self.read_key_policy(dst.kms_key_arn)
            )
        return policies
