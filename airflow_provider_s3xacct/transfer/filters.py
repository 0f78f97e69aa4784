"""Which listed objects a run considers: the aws CLI's ordered filters, a key list, size, age, class.

Two kinds of filter, because they must act differently on a sync with ``delete``:

- :class:`KeyFilter` looks at the relative key only and applies to *both* listings, as the aws CLI
  does: a key it rejects is neither copied nor deleted.
- :class:`ObjectFilter` looks at the source object's size, age and storage class. A source object
  it rejects is skipped, and its destination counterpart is *kept* (the planner sees both): a
  file the vendor is still writing (``min_age``) must not make sync delete yesterday's copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Literal

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.transfer.listing import ListedObject

FilterKind = Literal["include", "exclude"]
FilterRule = tuple[FilterKind, str]

# Storage classes whose objects cannot be read (so not copied) until restored.
ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(b|k|kib|m|mib|g|gib|t|tib)?$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def rules_from(include: Sequence[str], exclude: Sequence[str]) -> tuple[FilterRule, ...]:
    """Ordered rules for the unordered ``include``/``exclude`` lists of the operator.

    Their meaning is "keys matching an include (if any are given) and no exclude"; under the aws
    CLI's last-match-wins rules that is: exclude everything, re-include, then exclude.
    """
    rules: list[FilterRule] = [("exclude", "*")] if include else []
    rules += [("include", pattern) for pattern in include]
    rules += [("exclude", pattern) for pattern in exclude]
    return tuple(rules)


@dataclass(frozen=True)
class KeyFilter:
    """The aws CLI's ``--include``/``--exclude``: every rule is tried in order, the last match wins.

    Patterns are globs on the key relative to the source (or destination) prefix, where ``*``
    also matches ``/`` (the aws CLI's ``fnmatch``). A key no rule matches is included.
    ``keys`` (``--files-from``), when given, must also contain the key.
    """

    rules: Sequence[FilterRule] = ()
    keys: frozenset[str] | None = None

    def accepts(self, relative_key: str) -> bool:
        if self.keys is not None and relative_key not in self.keys:
            return False
        included = True
        for kind, pattern in self.rules:
            if fnmatchcase(relative_key, pattern):
                included = kind == "include"
        return included


@dataclass(frozen=True)
class ObjectFilter:
    """Size, age and storage-class limits on source objects; ``now`` is fixed for the run."""

    now: datetime
    min_size: int | None = None
    max_size: int | None = None
    min_age: float | None = None  # seconds
    max_age: float | None = None
    skip_classes: frozenset[str] = field(default_factory=frozenset)

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.min_size, self.max_size, self.min_age, self.max_age)) or bool(
            self.skip_classes
        )

    def rejects(self, obj: ListedObject) -> str | None:
        """Why ``obj`` is skipped, or None when it is copied."""
        if self.min_size is not None and obj.size < self.min_size:
            return f"smaller than min_size {self.min_size}"
        if self.max_size is not None and obj.size > self.max_size:
            return f"larger than max_size {self.max_size}"
        age = (self.now - obj.last_modified).total_seconds()
        if self.min_age is not None and age < self.min_age:
            return f"younger than min_age {timedelta(seconds=self.min_age)}"
        if self.max_age is not None and age > self.max_age:
            return f"older than max_age {timedelta(seconds=self.max_age)}"
        if obj.storage_class in self.skip_classes and not obj.restored:
            return f"storage class {obj.storage_class} (not restored)"
        return None


def parse_duration(value: str | float | int | None, field_name: str) -> float | None:
    """Seconds from ``90``, ``"30m"``, ``"12h"``, ``"7d"`` or ``"2w"`` (rclone's suffixes)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value).strip().lower())
        if not match:
            raise InvalidInputError(
                field_name, f"{value!r} is not a duration; write e.g. 90, 30m, 12h, 7d or 2w"
            )
        seconds = float(match[1]) * _DURATION_UNITS[match[2]]
    if seconds < 0:
        raise InvalidInputError(field_name, f"{value!r} must not be negative")
    return seconds


def parse_size(value: str | int | None, field_name: str) -> int | None:
    """Bytes from ``1048576``, ``"512k"``, ``"10M"``, ``"1G"`` (binary units, as rclone)."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE_RE.match(str(value).strip())
        if not match:
            raise InvalidInputError(
                field_name, f"{value!r} is not a size; write e.g. 1048576, 512k, 10M or 1G"
            )
        unit = (match[2] or "").lower()[:1]
        size = int(float(match[1]) * _SIZE_UNITS[unit])
    if size < 0:
        raise InvalidInputError(field_name, f"{value!r} must not be negative")
    return size


def parse_key_list(text: str) -> frozenset[str]:
    """The keys of a ``--files-from`` list: one relative key per line; blank lines and '#' comments skipped."""
    return frozenset(_keys(text.splitlines()))


def _keys(lines: Iterable[str]) -> Iterable[str]:
    for line in lines:
        key = line.rstrip("\r")
        if key.strip() and not key.lstrip().startswith("#"):
            yield key.lstrip("/")
