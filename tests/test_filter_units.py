"""The size, age and key-list inputs of the copy filters, as the README's flag table states them.

Units follow rclone's filtering documentation (``--min-size``/``--max-size``: binary suffixes
k, M, G, T with an optional ``iB``/``B``; ``--min-age``/``--max-age``: s, m, h, d, w), which is
what users of these flags already know; ``--files-from`` lists one key per line with blank lines
and ``#`` comments skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_s3xacct.aws.errors import InvalidInputError
from airflow_provider_s3xacct.transfer.filters import (
    KeyFilter,
    ObjectFilter,
    parse_duration,
    parse_key_list,
    parse_size,
    rules_from,
)
from airflow_provider_s3xacct.transfer.listing import ListedObject

KIB = 1024


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        ("90", 90.0), (90, 90.0), (1.5, 1.5), ("0", 0.0), ("45s", 45.0), ("30m", 1800.0),
        ("12h", 43200.0), ("12H", 43200.0), (" 7d ", 604800.0), ("2w", 1209600.0),
        ("1.5h", 5400.0), ("3 m", 180.0), (None, None), ("", None),
    ],
)
def test_durations(given: object, seconds: float | None) -> None:
    assert parse_duration(given, "min_age") == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "size"),
    [
        ("1048576", 1048576), (7, 7), ("0", 0), ("7b", 7), ("512k", 512 * KIB), ("512K", 512 * KIB),
        ("3KiB", 3 * KIB), ("10M", 10 * KIB**2), ("4mib", 4 * KIB**2), ("1G", KIB**3),
        ("5gib", 5 * KIB**3), ("1.5G", 3 * KIB**3 // 2), ("2t", 2 * KIB**4), ("3TiB", 3 * KIB**4),
        (" 8 k ", 8 * KIB), (None, None), ("", None),
    ],
)
def test_sizes(given: object, size: int | None) -> None:
    assert parse_size(given, "max_size") == size  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ["5x", "1.2.3", "m", "-1", "ten", "5 minutes"])
def test_a_bad_duration_names_the_field_and_the_forms(given: str) -> None:
    with pytest.raises(InvalidInputError, match=r"max_age.*not a duration; write e\.g\. 90, 30m, 12h, 7d or 2w"):
        parse_duration(given, "max_age")


@pytest.mark.parametrize("given", ["5x", "1.2.3", "k", "-1", "10 MB/s", "1e3"])
def test_a_bad_size_names_the_field_and_the_forms(given: str) -> None:
    with pytest.raises(InvalidInputError, match=r"min_size.*not a size; write e\.g\. 1048576, 512k, 10M or 1G"):
        parse_size(given, "min_size")


def test_negative_numbers_are_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"min_age.*must not be negative"):
        parse_duration(-1, "min_age")
    with pytest.raises(InvalidInputError, match=r"max_size.*must not be negative"):
        parse_size(-1, "max_size")


def test_a_key_list_skips_blanks_and_comments_and_reads_keys_relative() -> None:
    text = "a.csv\r\n\n   \n# a comment\n  # an indented comment\n/b/c.csv\nd e.csv\n#\nf#g\n"
    assert parse_key_list(text) == frozenset({"a.csv", "b/c.csv", "d e.csv", "f#g"})
    assert parse_key_list("") == frozenset()


def test_a_key_list_keeps_what_s3_keys_may_hold() -> None:
    """Trailing spaces and leading letters are part of a key; only the leading '/' goes."""
    text = "trailing space.csv \n/Xylo.csv\nX/y.csv\n"
    assert parse_key_list(text) == frozenset({"trailing space.csv ", "Xylo.csv", "X/y.csv"})


NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def listed(size: int = 100, age: float = 3600.0, storage_class: str = "STANDARD", restored: bool = False) -> ListedObject:
    return ListedObject("a.csv", size, NOW - timedelta(seconds=age), '"etag"', storage_class, restored)


def test_size_limits_skip_only_what_is_beyond_them() -> None:
    """rclone's --min-size/--max-size: a file smaller (larger) than the limit is not transferred."""
    limits = ObjectFilter(NOW, min_size=100, max_size=200)
    assert limits.rejects(listed(size=99)) == "smaller than min_size 100"
    assert limits.rejects(listed(size=100)) is None
    assert limits.rejects(listed(size=200)) is None
    assert limits.rejects(listed(size=201)) == "larger than max_size 200"


def test_age_limits_skip_only_what_is_beyond_them() -> None:
    """--min-age 30m skips a file still being written; --max-age 7d skips older ones."""
    limits = ObjectFilter(NOW, min_age=1800.0, max_age=7 * 86400.0)
    assert limits.rejects(listed(age=1799)) == "younger than min_age 0:30:00"
    assert limits.rejects(listed(age=1800)) is None
    assert limits.rejects(listed(age=7 * 86400)) is None
    assert limits.rejects(listed(age=7 * 86400 + 1)) == "older than max_age 7 days, 0:00:00"


def test_no_limit_skips_nothing() -> None:
    none = ObjectFilter(NOW)
    for obj in (listed(size=0, age=0), listed(size=10**13, age=10**9), listed(storage_class="GLACIER")):
        assert none.rejects(obj) is None


def test_archived_objects_are_skipped_unless_restored() -> None:
    archived = ObjectFilter(NOW, skip_classes=frozenset({"GLACIER", "DEEP_ARCHIVE"}))
    assert archived.rejects(listed(storage_class="GLACIER")) == "storage class GLACIER (not restored)"
    assert archived.rejects(listed(storage_class="DEEP_ARCHIVE", restored=True)) is None
    assert archived.rejects(listed(storage_class="STANDARD")) is None


KEYS = ("a.csv", "tmp/c.csv", "d.json", "dir/sub/x.csv")


def test_key_rules_are_the_aws_clis_last_match_wins() -> None:
    """The aws CLI's --exclude/--include: every rule in order, the last match decides, '*' spans '/'."""
    assert [k for k in KEYS if KeyFilter().accepts(k)] == list(KEYS)
    operator_lists = KeyFilter(rules_from(["*.csv"], ["tmp/*"]))
    assert [k for k in KEYS if operator_lists.accepts(k)] == ["a.csv", "dir/sub/x.csv"]
    idiom = KeyFilter((("exclude", "*"), ("include", "dir/*.csv")))
    assert [k for k in KEYS if idiom.accepts(k)] == ["dir/sub/x.csv"]
    reversed_order = KeyFilter((("include", "*.csv"), ("exclude", "*")))
    assert [k for k in KEYS if reversed_order.accepts(k)] == []


def test_a_key_list_admits_only_its_keys_and_the_rules_still_apply() -> None:
    listed = KeyFilter((("exclude", "tmp/*"),), keys=frozenset({"a.csv", "tmp/c.csv"}))
    assert [k for k in KEYS if listed.accepts(k)] == ["a.csv"]
