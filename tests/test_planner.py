"""``SyncPlanner`` directly: a table of listings and what each key must become, plus properties.

The way rclone tests its march (a table of source/destination listings and the expected pairing),
so each rule of ``aws s3 sync`` that the planner follows has a row that breaks when the rule does:
a key only in the source is copied; a size change is copied; a newer source is copied even at the
same size; an older or same-time source is skipped; a key only in the destination is deleted only
with ``delete``; ``compare="etag"`` looks at ETags instead of times; copy mode copies everything.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_s3xacct.transfer.listing import ListedObject
from airflow_provider_s3xacct.transfer.planner import Action, ListingOrderError, SyncPlanner

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def obj(key: str, size: int = 1, age: int = 0, etag: str = '"e"') -> ListedObject:
    """An object written ``age`` seconds after T0."""
    return ListedObject(key, size, T0 + timedelta(seconds=age), etag)


# (case, source listing, destination listing, planner options, expected [(action, key, reason)])
CASES = [
    ("new key", [obj("a")], [], {}, [("copy", "a", "new")]),
    ("size differs", [obj("a", 2)], [obj("a", 1, age=9)], {}, [("copy", "a", "size differs")]),
    ("source newer, same size", [obj("a", age=5)], [obj("a", age=4)], {}, [("copy", "a", "source newer")]),
    ("destination newer", [obj("a", age=4)], [obj("a", age=5)], {}, [("skip", "a", "unchanged")]),
    ("same size, same time", [obj("a")], [obj("a")], {}, [("skip", "a", "unchanged")]),
    ("deleted in the source, no delete", [], [obj("a")], {}, []),
    ("deleted in the source, delete", [], [obj("a")], {"delete": True}, [("delete", "a", "not in source")]),
    (
        "etag differs, destination newer",
        [obj("a", etag='"1"')],
        [obj("a", age=9, etag='"2"')],
        {"compare": "etag"},
        [("copy", "a", "etag differs")],
    ),
    (
        "same etag, source newer",
        [obj("a", age=9)],
        [obj("a")],
        {"compare": "etag"},
        [("skip", "a", "unchanged")],
    ),
    (
        "same second, other etag (issue 14, 7: S3 lists whole seconds)",
        [obj("a", etag='"2"')],
        [obj("a", etag='"1"')],
        {},
        [("copy", "a", "same second, etag differs")],
    ),
    (
        "multipart etag: size and time decide (issue 14, 6)",
        [obj("a", etag='"1"'), obj("b", age=5, etag='"1"')],
        [obj("a", age=9, etag='"9-3"'), obj("b", etag='"9-3"')],
        {"compare": "etag"},
        [("skip", "a", "unchanged"), ("copy", "b", "source newer")],
    ),
    ("size only", [obj("a", age=9)], [obj("a")], {"compare": "size"}, [("skip", "a", "unchanged")]),
    (
        "filtered out: skipped, its destination kept",
        [obj("a", 5), obj("b")],
        [obj("a")],
        {"delete": True, "rejects": lambda o: "too big" if o.size > 1 else None},
        [("skip", "a", "too big"), ("copy", "b", "new")],
    ),
    ("copy mode copies the unchanged", [obj("a")], [obj("a")], {"mode": "copy"}, [("copy", "a", "copy mode")]),
    (
        "interleaved keys, odd characters, code point order",
        [obj("a b"), obj("a+b", 3), obj("é"), obj("日本")],
        [obj("a b"), obj("a+b", 2), obj("a/b"), obj("ü"), obj("日本", age=1)],
        {"delete": True},
        [
            ("skip", "a b", "unchanged"),
            ("copy", "a+b", "size differs"),
            ("delete", "a/b", "not in source"),
            ("delete", "ü", "not in source"),
            ("copy", "é", "new"),
            ("skip", "日本", "unchanged"),
        ],
    ),
]


@pytest.mark.parametrize(("source", "dest", "options", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_planner_cases(
    source: list[ListedObject], dest: list[ListedObject], options: dict[str, object], expected: list[tuple[str, str, str]]
) -> None:
    options = dict(options)  # the case table is shared by every run of the test: never change it
    mode = options.pop("mode", "sync")
    planner = SyncPlanner(mode, **options)  # type: ignore[arg-type]
    got = [(p.action.value, p.key, p.reason) for p in planner.plan(source, dest)]
    assert sorted(got, key=lambda row: row[1]) == sorted(expected, key=lambda row: row[1])


@pytest.mark.parametrize("side", ["source", "destination"])
@pytest.mark.parametrize("keys", [["b", "a"], ["a", "a"]], ids=["descending", "duplicate"])
def test_a_listing_out_of_order_stops_the_plan(side: str, keys: list[str]) -> None:
    bad = [obj(k) for k in keys]
    good = [obj("a"), obj("b")]
    source, dest = (bad, good) if side == "source" else (good, bad)
    with pytest.raises(ListingOrderError, match=f"the {side} listing"):
        list(SyncPlanner("sync", delete=True).plan(source, dest))


KEYS = st.text(alphabet=st.sampled_from("ab/é日 +"), min_size=1, max_size=4)
VERSIONS = st.tuples(st.integers(0, 2), st.integers(0, 2))  # (size, age): few values, many collisions


@settings(max_examples=300, deadline=None)
@given(
    source=st.dictionaries(KEYS, VERSIONS, max_size=25),
    dest=st.dictionaries(KEYS, VERSIONS, max_size=25),
    delete=st.booleans(),
)
def test_every_key_is_planned_once_with_the_sync_rule(
    source: dict[str, tuple[int, int]], dest: dict[str, tuple[int, int]], delete: bool
) -> None:
    def listing(side: dict[str, tuple[int, int]]) -> list[ListedObject]:
        return [obj(k, size, age) for k, (size, age) in sorted(side.items())]

    plan = list(SyncPlanner("sync", delete=delete).plan(listing(source), listing(dest)))
    planned = [p.key for p in plan]
    assert len(planned) == len(set(planned))  # once at most
    expected_keys = set(source) | (set(dest) if delete else set())
    assert set(planned) == expected_keys  # every key of the union that needs a decision
    for step in plan:
        if step.key not in source:
            assert step.action is Action.DELETE
            continue
        size, age = source[step.key]
        changed = step.key not in dest or dest[step.key][0] != size or age > dest[step.key][1]
        assert step.action is (Action.COPY if changed else Action.SKIP), step
        assert step.source is not None and step.source.key == step.key
