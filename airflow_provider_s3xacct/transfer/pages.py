"""Cheap ListObjectsV2 pages: the listing's XML read once, without a botocore dictionary per key.

botocore turns each listed key into a dictionary through its generic, model-driven XML parser,
and before that S3's ``before-parse`` handler parses every 200 body a second time looking for an
``<Error>`` root. For a no-op sync that was most of the client's CPU (issue "sync at bucket scale",
docs/benchmarks.md). Here a ``before-parse`` handler, run before botocore's own, reads the body
with the standard library's C ``ElementTree`` and keeps only what the planner needs (key, size,
LastModified, ETag, storage class, restore status) as tuples; it then hands botocore the same
document without its ``<Contents>`` elements, so botocore's parsing, 200-error check, retries and
``EncodingType`` decoding of the small remainder run unchanged. Anything that is not a well-formed
``<ListBucketResult>`` (an ``<Error>`` root, a truncated body, a non-200 answer) is left untouched,
so errors still become botocore's ``ClientError`` (and retries) exactly as before.

Only requests sent with ``cheap_pages()`` active in the calling thread are affected: any other
ListObjectsV2 on the same client (``find_object``, the checks) gets botocore's full answer.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote_plus  # what botocore decodes EncodingType=url keys with

# Where the handler leaves the page's entries in the parsed response.
ENTRIES = "S3xacctEntries"
# key, size, LastModified (S3's ISO 8601 text), ETag, storage class, restored
Entry = tuple[str, int, str, str, str, bool]

_active = threading.local()
_EVENT = "before-parse.s3.*"


@contextmanager
def cheap_pages() -> Iterator[None]:
    """ListObjectsV2 calls made by this thread inside the block return entries under ``ENTRIES``."""
    previous = getattr(_active, "on", False)
    _active.on = True
    try:
        yield
    finally:
        _active.on = previous


def install(client: Any) -> bool:
    """Register the page handler on ``client`` (once); False for a client without botocore events.

    botocore's own S3 200-error handler is moved after ours, so it parses the small remainder
    instead of the whole page (both are ``register_first`` handlers, called in registration order).
    """
    meta = getattr(client, "meta", None)
    events = getattr(meta, "events", None)
    if events is None:
        return False
    if getattr(client, "_s3xacct_cheap_pages", False):
        return True
    from botocore import handlers as botocore_handlers  # only for botocore clients: import cost

    events.unregister("before-parse.s3.*", botocore_handlers._handle_200_error)
    # On the wildcard event too: botocore calls wildcard handlers before operation-specific ones.
    events.register_first(_EVENT, _read_page, unique_id="s3xacct-cheap-pages")
    events.register_first("before-parse.s3.*", botocore_handlers._handle_200_error)
    client._s3xacct_cheap_pages = True
    return True


def _read_page(
    operation_model: Any, response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    if not getattr(_active, "on", False) or operation_model.name != "ListObjectsV2":
        return
    if response_dict.get("status_code") != 200:
        return
    body = response_dict.get("body")
    if not body:
        return
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return  # a truncated body: botocore's handler turns it into a retried 500
    if not root.tag.endswith("ListBucketResult"):
        return  # an <Error> in a 200, or something else: botocore decides
    ns = root.tag[: -len("ListBucketResult")]
    entries, rest = parse_contents(root, ns)
    customized_response_dict[ENTRIES] = entries
    response_dict["body"] = ET.tostring(rest)


def parse_contents(root: ET.Element, ns: str) -> tuple[list[Entry], ET.Element]:
    """The ``<Contents>`` of a ``<ListBucketResult>`` as entries, and the document without them."""
    contents, key_tag, size_tag = ns + "Contents", ns + "Key", ns + "Size"
    modified_tag, etag_tag, class_tag, restore_tag = (
        ns + "LastModified",
        ns + "ETag",
        ns + "StorageClass",
        ns + "RestoreStatus",
    )
    url = root.findtext(ns + "EncodingType") == "url"
    rest = ET.Element(root.tag)
    entries: list[Entry] = []
    append = entries.append
    for child in root:
        if child.tag != contents:
            rest.append(child)
            continue
        key = modified = etag = ""
        size = 0
        storage_class = "STANDARD"
        restored = False
        for field in child:
            tag = field.tag
            if tag == key_tag:
                key = field.text or ""
            elif tag == size_tag:
                size = int(field.text or 0)
            elif tag == modified_tag:
                modified = field.text or ""
            elif tag == etag_tag:
                etag = field.text or ""
            elif tag == class_tag:
                storage_class = field.text or "STANDARD"
            elif tag == restore_tag:
                restored = bool(field.findtext(ns + "RestoreExpiryDate")) and (
                    field.findtext(ns + "IsRestoreInProgress") != "true"
                )
        append((unquote_plus(key) if url else key, size, modified, etag, storage_class, restored))
    return entries, rest
