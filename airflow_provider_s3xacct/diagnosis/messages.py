"""Parsing AWS's access-denied messages (enriched, legacy and plain forms).

The formats are documented in S3's "Troubleshoot access denied (403 Forbidden) errors" page and
seen verbatim in the wild (docs/aws-errors.md); no library parses them, hence
the regular expressions here. Wording changes over the years, so everything is matched by pattern,
never by equality, and anything unrecognised falls back to the plain form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ENRICHED = re.compile(
    r"User: (?P<principal>\S+) is not authorized to perform: (?P<action>[\w-]+:[\w*]+)"
    r"(?: on (?:resource: \"?(?P<resource>[^\"\s]+)\"?|the resource associated with this ciphertext"
    r"|this resource))?"
    r"(?: because (?P<because>.+?)| with an explicit deny(?: in (?:an? )?(?P<deny_in>[\w -]+?))?)?"
    r"(?::\s*(?P<policy_arn>arn:\S+?))?\.?\s*$",
    re.DOTALL,
)
_NO_POLICY_ALLOWS = re.compile(r"no (?P<type>[\w -]+?) allows")
_KEY_POLICY_FORM = re.compile(r"resource does not exist in this Region|no resource-based policies allow")
_LEGACY_KMS = re.compile(r"ciphertext refers to a customer master key", re.IGNORECASE)


@dataclass(frozen=True)
class DenialMessage:
    """What an access-denied message says, as far as it says anything."""

    enriched: bool
    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    explicit_deny: bool = False
    policy_type: str | None = None  # "identity-based policy", "resource-based policy", "key policy", ...
    policy_arn: str | None = None
    kms_masked: bool = False  # a KMS denial surfaced by S3 (action kms:* or the legacy ciphertext text)

    @property
    def is_kms(self) -> bool:
        return self.kms_masked or bool(self.action and self.action.startswith("kms:"))


def parse_denial(message: str) -> DenialMessage:
    """Parse one access-denied message; unknown text yields a plain, un-enriched result."""
    text = (message or "").strip()
    if _LEGACY_KMS.search(text):
        return DenialMessage(enriched=False, action="kms:Decrypt", kms_masked=True, policy_type="key policy")
    match = _ENRICHED.search(text)
    if not match:
        return DenialMessage(enriched=False)
    because = match["because"] or ""
    policy_type: str | None
    explicit = match["deny_in"] is not None or "explicit deny" in text
    if match["deny_in"]:
        policy_type = match["deny_in"].removesuffix(" policy").strip() + " policy"
        policy_type = policy_type.replace("permissions boundary policy", "permissions boundary")
    elif _KEY_POLICY_FORM.search(because):
        # KMS's wording when the key policy (the key's resource policy) grants nothing, the key is in
        # another Region, or the key policy denies: all three are fixed on the key's side.
        policy_type = "key policy"
    elif found := _NO_POLICY_ALLOWS.search(because):
        policy_type = found["type"].strip()
    else:
        policy_type = None
    action = match["action"]
    return DenialMessage(
        enriched=True,
        principal=match["principal"],
        action=action,
        resource=match["resource"],
        explicit_deny=explicit,
        policy_type=policy_type,
        policy_arn=match["policy_arn"],
        kms_masked=action.startswith("kms:"),
    )
