"""One listing as many concurrent key ranges, merged back into key order with bounded memory.

A sequential ListObjectsV2 listing is one request in flight: at S3's pace (1,000 keys per page,
tens of milliseconds per page) 10 million keys are 10,000 round trips one after another. S3 lists
any range of keys from ``StartAfter`` onwards, so the key space (start, end] is cut into disjoint
ranges ``(after, upto]`` that are listed at the same time:

* at the start, from one ``Delimiter='/'`` request: its common prefixes are boundaries (descending
  while a level holds a single prefix, as ``data/`` above ``data/00/ .. data/49/``);
* as pages come back: a range whose page came back with keys still to go, while fewer ranges
  than ``concurrency`` are open, has its remainder cut at points extrapolated from the page's
  own keys (``split_points``), so a flat key space (``obj-0000001`` ..) spreads too.

A range's first request returns a whole page from its start, so a range holding a few small
directories used to get mostly the next ranges' keys (a 3,000-key bucket in 50 directories: about
14,000 keys answered and parsed for 3,000, slower than one sequential listing). So when the first
request saw its level whole, the other ranges wait for the first range's first page, which shows
how many keys a directory holds (``_learn``); each request of a range then asks for about as
many keys as its directories are expected to hold (``MaxKeys``, less what it already got), a
quarter more for safety: a low guess costs one more request for that range, never a key.

Any boundaries are correct: the ranges are disjoint and together cover (start, end], and a
range stops at the first key above its ``upto``, so a bad guess only costs a request. Each range
is one chain of requests (continuation tokens), so at most ``concurrency`` requests are in flight.
The consumer takes the ranges in key order; only the first ``concurrency`` ranges are started
and together they hold at most ``BUFFERED_PAGES`` pages each on average (a range far ahead may
fetch several pages while one near is still listing), so memory is bounded by the concurrency, never
by the number of keys. All range bookkeeping happens in the consuming thread; worker threads
only send one request each.
"""

from __future__ import annotations

import pickle
import queue
import zlib
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from math import ceil, prod
from string import ascii_lowercase, ascii_uppercase, digits
from typing import TYPE_CHECKING, Any

from airflow_provider_s3xacct.transfer.pages import ENTRIES, Entry, cheap_pages, install

if TYPE_CHECKING:
    from airflow_provider_s3xacct.transfer.listing import ListingCheck

# Pages the ranges may hold, per range on average, before the consumer reaches them (besides
# those in flight): a side holds at most (1 + BUFFERED_PAGES) x concurrency pages.
BUFFERED_PAGES = 1
# A range cut from a page's remainder is guessed to hold about this many pages.
PAGES_PER_RANGE = 2
# How many levels of single common prefixes (``data/`` -> ``data/2026/``) the first request descends.
DESCEND = 4
# A range's requests ask for this many times the keys its directories are expected to hold.
MARGIN = 1.25
# How far into the keys (characters after their common prefix) split points are computed.
WIDTH = 10
LEAD = 3
_CLASSES = (digits, ascii_lowercase, ascii_uppercase)

Response = dict[str, Any]


@dataclass(eq=False)
class _Range:
    """Keys in (after, upto]; None is open on that side.

    ``prefix``: every key of the range still to come starts with it, so requests ask for
    ``Prefix=prefix`` and S3 stops at the directory's end instead of running past ``upto``.
    ``tail``: a directory whose keys end the range (``upto`` is ``_beyond(tail)``, not a key): once
    the listing reaches it, the rest of the range is asked for with ``Prefix=tail``.
    """

    after: str | None
    upto: str | None
    prefix: str | None = None
    tail: str | None = None
    token: str | None = None
    done: bool = False
    # For a range of a level seen whole: the directories and plain keys it holds (its requests'
    # MaxKeys are sized from them), and the keys it got so far.
    directories: int | None = None
    keys: int = 0
    received: int = 0
    future: Future[tuple[Response, list[Entry]]] | None = None
    # Pages waiting for the merge to reach this range, packed (``_pack``).
    pages: deque[bytes] = field(default_factory=deque)


def fetch_page(client: Any, request: dict[str, Any]) -> tuple[Response, list[Entry]]:
    """One ListObjectsV2 request and its entries (cheap pages when the client is botocore's)."""
    with cheap_pages():
        response = client.list_objects_v2(**request)
    entries = response.pop(ENTRIES, None)
    if entries is None:  # not a botocore client (or a page the handler left alone)
        entries = []
        for item in response.pop("Contents", ()):
            restore = item.get("RestoreStatus") or {}
            entries.append(
                (
                    item["Key"],
                    item["Size"],
                    item["LastModified"],
                    item.get("ETag", ""),
                    item.get("StorageClass", "STANDARD"),
                    bool(restore.get("RestoreExpiryDate")) and not restore.get("IsRestoreInProgress"),
                )
            )
    return response, entries


def ranged_pages(
    client: Any,
    request: dict[str, Any],
    low: str | None,
    high: str | None,
    *,
    concurrency: int = 1,
    check: ListingCheck | None = None,
) -> Iterator[list[Entry]]:
    """The entries of keys in (low, high] under ``request['Prefix']``, page by page, in key order.

    ``request`` holds the ListObjectsV2 parameters shared by every range (Bucket, Prefix, MaxKeys,
    ExpectedBucketOwner, RequestPayer, ...). ``check`` sees every page, and ``check.finished``
    is set once every range reached its end.
    """
    install(client)
    if concurrency <= 1:
        yield from _sequential(client, request, _Range(low, high), check)
    else:
        yield from _Parallel(client, request, low, high, concurrency, check).pages()
    if check is not None:
        check.finished = True


def _request_for(request: dict[str, Any], part: _Range, max_keys: int | None = None) -> dict[str, Any]:
    if max_keys is not None and max_keys < request.get("MaxKeys", 1000):
        request = {**request, "MaxKeys": max_keys}
    if part.prefix is not None:
        request = {**request, "Prefix": part.prefix}
    if part.token is not None:
        return {**request, "ContinuationToken": part.token}
    if part.after is not None:
        return {**request, "StartAfter": part.after}
    return request


def _advance(
    part: _Range, response: Response, entries: list[Entry], check: ListingCheck | None
) -> list[Entry]:
    """Take one page of ``part``: the entries inside the range; marks it done at its end."""
    if check is not None:
        check.page(response, len(entries))
    if part.upto is not None and entries and entries[-1][0] > part.upto:
        upto = part.upto
        entries = [entry for entry in entries if entry[0] <= upto]
        part.done = True
    token = response.get("NextContinuationToken")
    if not response.get("IsTruncated") or not token:
        part.done = True  # a truncated page without a token is the check's problem, not a loop
    part.token = token
    if not part.done and entries:
        _narrow(part, entries[-1][0])
    return entries


def _narrow(part: _Range, last: str) -> None:
    """Once the listing reached the range's tail directory every key still to come starts with
    it: ask for that directory only, so the range's last page ends where the directory does."""
    if part.tail is not None and part.prefix is None and last.startswith(part.tail):
        part.prefix, part.after, part.token = part.tail, last, None


def _sequential(
    client: Any, request: dict[str, Any], part: _Range, check: ListingCheck | None
) -> Iterator[list[Entry]]:
    while not part.done:
        response, entries = fetch_page(client, _request_for(request, part))
        entries = _advance(part, response, entries, check)
        if entries:
            yield entries


class _Parallel:
    def __init__(
        self,
        client: Any,
        request: dict[str, Any],
        low: str | None,
        high: str | None,
        concurrency: int,
        check: ListingCheck | None,
    ) -> None:
        self.client = client
        self.request = request
        self.low = low
        self.high = high
        self.concurrency = concurrency
        self.check = check
        self.ranges: list[_Range] = []
        self.done: queue.SimpleQueue[_Range] = queue.SimpleQueue()
        # The prefix of the first request's level, when it saw that level whole.
        self.level: str | None = None
        # Keys in the directories seen whole on pages so far (what sizes the ranges' requests).
        self.directory_keys = 0
        self.directories = 0
        self.answered = False  # a page came back

    def pages(self) -> Iterator[list[Entry]]:
        self.ranges = self._first_ranges()
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3xacct-list")
        try:
            while self.ranges:
                head = self.ranges[0]
                if head.pages:
                    page = _unpack(head.pages.popleft())
                    # Finished requests are taken (packed) now, not when the merge needs them:
                    # a finished page waiting as tuples holds ~160 KB, packed ~9 KB.
                    while not self.done.empty():
                        self._take(self.done.get_nowait())
                    self._schedule(pool)
                    yield page
                elif head.done and head.future is None:
                    self.ranges.pop(0)
                else:
                    self._schedule(pool)
                    self._take(self.done.get())
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _first_ranges(self) -> list[_Range]:
        """Ranges cut at the common prefixes of the first request (at most ``concurrency``).

        When that request saw the whole level (not truncated), every key below it is either one
        of its keys or inside one of its common prefixes, so a range can end exactly where a
        directory's keys end (``_beyond``) and a range holding one directory alone asks only for
        it: no page runs past the range's end, as rclone's listing per directory, but without a
        request per small directory.
        """
        level, prefixes, keys, complete = self._probe()
        directories = [p for p in prefixes if _inside(p, self.low, self.high)]
        if len(directories) >= self.concurrency:
            # Every common prefix a range would cost a request each for small directories (a
            # range's first page is a whole page, mostly past its end): N ranges, evenly spread;
            # the large ones are cut further as their pages come back.
            directories = sorted(
                {directories[(i * len(directories)) // self.concurrency] for i in range(1, self.concurrency)}
            )
        if not complete:
            self.level = None
            starts: list[str | None] = [self.low, *directories]
            ends: list[str | None] = [*directories, self.high]
            return [_Range(a, b) for a, b in zip(starts, ends, strict=True)]
        found = set(keys)
        # A directory ends a range only where the string just beyond its keys is not a key itself.
        tails = [
            d for d in directories if _beyond(d) not in found and _inside(_beyond(d), self.low, self.high)
        ]
        self.level = level
        items = sorted([*prefixes, *keys])
        ranges: list[_Range] = []
        after = self.low
        for tail in [*tails, None]:
            upto = self.high if tail is None else _beyond(tail)
            inside = [
                item for item in items if (after is None or item > after) and (upto is None or item < upto)
            ]
            held = sum(1 for item in inside if item in found)
            part = _Range(after, upto, tail=tail, directories=len(inside) - held, keys=held)
            # The range is that directory alone (the first range may also hold keys after ``low``
            # inside low's own directory, which a listing that starts after it need not show).
            if tail is not None and inside == [tail] and (ranges or self.low is None):
                part.prefix = tail
            ranges.append(part)
            after = upto
        return ranges

    def _probe(self) -> tuple[str, list[str], list[str], bool]:
        """Common prefixes and keys of the first level below the prefix holding more than one
        item (descending through single prefixes), and whether that level was seen whole."""
        prefix = self.request.get("Prefix", "")
        for _ in range(DESCEND):
            probe = {**self.request, "Prefix": prefix, "Delimiter": "/"}
            if self.low is not None:
                probe["StartAfter"] = self.low
            response = self.client.list_objects_v2(**probe)
            found = [item["Prefix"] for item in response.get("CommonPrefixes") or ()]
            keys = [item["Key"] for item in response.get("Contents") or ()]
            if len(found) == 1 and not keys and not response.get("IsTruncated"):
                prefix = found[0]
                continue
            return prefix, found, keys, not response.get("IsTruncated")
        return prefix, [], [], False

    def _schedule(self, pool: ThreadPoolExecutor) -> None:
        """Start the next request of the first ranges, up to ``concurrency`` in flight."""
        window = self.ranges[: self.concurrency]
        in_flight = sum(1 for part in window if part.future is not None)
        held = in_flight + sum(len(part.pages) for part in window)
        for part in window:
            if in_flight >= self.concurrency:
                return
            if part.done or part.future is not None:
                continue
            if part is not window[0]:
                # Pages held or coming stay within BUFFERED_PAGES per range on average; the first
                # range (the one being consumed) may always ask for its next page.
                if held >= (1 + BUFFERED_PAGES) * self.concurrency:
                    continue
                if self._waiting_for_density():
                    return
            max_keys = self._page_size(part)
            part.future = pool.submit(fetch_page, self.client, _request_for(self.request, part, max_keys))
            part.future.add_done_callback(self._notify(part))
            in_flight += 1
            held += 1

    def _waiting_for_density(self) -> bool:
        """Whether ranges should wait for the first page: some range holds directories whose size
        only a page shows (a range that is one directory asked alone stops at its end anyway)."""
        return not self.answered and any(
            part.directories and part.prefix is None for part in self.ranges[1 : self.concurrency]
        )

    @staticmethod
    def _sized(part: _Range) -> bool:
        """Whether ``part``'s requests are sized: a range of a level seen whole, not yet done, not
        asked for one directory alone (such a request stops at the directory's end anyway)."""
        return part.directories is not None and part.prefix is None and not part.done

    def _page_size(self, part: _Range) -> int | None:
        """MaxKeys for a range's next request: the keys it is still expected to hold and the one
        key past its end (which shows the range ended), or None for a whole page."""
        if not self._sized(part):
            return None
        expected = 0.0
        if part.directories:
            if not self.directories:
                return None  # no directory seen whole yet: they hold a page or more
            expected = part.directories * self.directory_keys / self.directories
        left = ceil(expected * MARGIN) + part.keys + 1 - part.received
        return left if left > 0 else None  # past the guess: whole pages

    def _learn(self, entries: list[Entry], truncated: bool) -> None:
        """Count the keys of the directories a page showed whole (not its first one, which may
        have started before the page, nor its last one while the listing goes on)."""
        self.answered = True
        if self.level is None or not any(self._sized(part) for part in self.ranges):
            return  # nothing left to size: no per-key work on the rest of the listing
        runs: list[int] = []
        current = None
        for entry in entries:
            directory = self._directory(entry[0])
            if directory is None:
                continue
            if directory != current:
                runs.append(0)
                current = directory
            runs[-1] += 1
        whole = runs[1:-1] if truncated else runs[1:]
        self.directory_keys += sum(whole)
        self.directories += len(whole)

    def _notify(self, part: _Range) -> Callable[[Future[Any]], None]:
        return lambda _: self.done.put(part)

    def _take(self, part: _Range) -> None:
        assert part.future is not None
        future, part.future = part.future, None
        response, entries = future.result()  # a ClientError surfaces here, in the consumer
        self._learn(entries, bool(response.get("IsTruncated")))
        kept = _advance(part, response, entries, self.check)
        if kept:
            part.pages.append(_pack(kept))
            part.received += len(kept)
        # A page cut short by a sized request says too little about the keys to come.
        if part.done or len(entries) < max(2, self.request.get("MaxKeys", 1000)):
            return
        open_ranges = sum(1 for other in self.ranges if not other.done)
        free = self.concurrency - open_ranges
        if free <= 0:
            return
        points = split_points([entry[0] for entry in entries], part.upto, free)
        if not points:
            return
        last = entries[-1][0]
        home = part.prefix or self._directory(last)
        index = self.ranges.index(part)
        # Ranges between two strings of one directory hold only its keys (so does the one ending
        # where the tail directory ends): asked for with Prefix= it, their pages stop at its end.

        def within(end: str | None) -> bool:
            if not home or end is None:
                return False
            return end.startswith(home) or (home == part.tail and end == part.upto)

        new = [
            _Range(a, b, prefix=home if within(b) else None)
            for a, b in zip(points, [*points[1:], part.upto], strict=True)
        ]
        if new[-1].prefix is None:
            new[-1].tail = part.tail
        part.upto, part.tail, part.directories = points[0], None, None
        if part.prefix is None and home and part.upto.startswith(home):
            part.prefix, part.after, part.token = home, last, None
        self.ranges[index + 1 : index + 1] = new

    def _directory(self, key: str) -> str | None:
        """The common prefix of the first request's level holding ``key``, if any."""
        if self.level is None or not key.startswith(self.level):
            return None
        rest = key[len(self.level) :]
        cut = rest.find("/")
        return None if cut < 0 else self.level + rest[: cut + 1]


def _pack(entries: list[Entry]) -> bytes:
    """A page held until the merge reaches it, in a few percent of its objects' memory.

    Up to 2 x ``concurrency`` pages a side wait for the merge: as tuples of strings they made
    planning 1M keys take 55.9 MiB at the default 16 against 39.2 MiB sequential (48.0 MiB
    packed, docs/benchmarks.md). Sorted keys and repeated fields compress well (a page of 1,000
    keys: about 9 KB); packing and unpacking cost about 1.5 µs a key, against the 10-15 µs of
    reading it.
    """
    return zlib.compress(pickle.dumps(entries, pickle.HIGHEST_PROTOCOL), 1)


def _unpack(packed: bytes) -> list[Entry]:
    entries: list[Entry] = pickle.loads(zlib.decompress(packed))  # our own bytes, never received
    return entries


def _inside(key: str, low: str | None, high: str | None) -> bool:
    return (low is None or key > low) and (high is None or key < high)


def _beyond(directory: str) -> str:
    """The least string above every key starting with ``directory`` (its last character + 1)."""
    return directory[:-1] + chr(ord(directory[-1]) + 1)


def _alphabet(seen: set[str]) -> list[str]:
    """The characters a position may hold: whole classes (digits, letters) for the ones seen."""
    # Printable only: a guessed boundary is sent as StartAfter, and S3 echoes it in its XML.
    chars = {char for char in seen if char.isprintable()}
    for klass in _CLASSES:
        if seen & set(klass):
            chars.update(klass)
    return ["", *sorted(chars)]


def split_points(keys: list[str], upto: str | None, count: int) -> list[str]:
    """Up to ``count`` ascending keys after ``keys[-1]`` (and before ``upto``), guessed from one
    sorted page to be about ``PAGES_PER_RANGE`` pages apart.

    The keys from a little before their common prefix ends are read as numbers, one digit per character, each
    position's digits being the characters seen there (widened to their whole class, so
    ``0``..``4`` seen allows ``0``..``9``); the page's span is extrapolated. Only a guess: any
    ascending points inside the range are correct boundaries.
    """
    first, last = keys[0], keys[-1]
    same = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last))
    )
    # A few characters of the common prefix too: the keys after this page may differ there
    # (``obj-0000999`` is followed by ``obj-0001000``).
    start = max(0, same - LEAD)
    width = min(WIDTH, max(len(key) for key in keys) - start)
    if width <= 0 or count <= 0:
        return []
    alphabets = [_alphabet({key[start + j] for key in keys if len(key) > start + j}) for j in range(width)]
    radix = [len(alphabet) for alphabet in alphabets]

    def number(key: str) -> int:
        value = 0
        for j in range(width):
            char = key[start + j] if len(key) > start + j else ""
            value = value * radix[j] + bisect_left(alphabets[j], char)
        return value

    low, high = number(first), number(last)
    step = (high - low) * PAGES_PER_RANGE
    limit = prod(radix)
    points: list[str] = []
    previous, value = last, high
    while step > 0 and len(points) < count:
        value += step
        if value >= limit:
            break
        chars = []
        rest = value
        for j in reversed(range(width)):
            rest, digit = divmod(rest, radix[j])
            chars.append(alphabets[j][digit])
        point = first[:start] + "".join(reversed(chars))
        if point <= previous or (upto is not None and point >= upto):
            break
        points.append(point)
        previous = point
    return points
