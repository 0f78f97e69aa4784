"""Errors the engine raises before or instead of touching data, and the reading of AWS's own.

botocore hands an AWS error answer over as a ``ClientError`` (or a subclass modeled after the code)
whose ``response`` dict holds ``Error.Code``, ``Error.Message`` and
``ResponseMetadata.HTTPStatusCode`` (docs/aws-errors.md). That structure is read here and nowhere
else, so every caller sees the same code for the same answer and none has to know the dict's shape
or guard against an exception that carries no answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError


class InvalidInputError(ValueError):
    """Bad input, detected before any AWS call. ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidInputError:
        """The first problem pydantic found, as an error naming its field.

        Our own validators raise InvalidInputError inside pydantic; that one is passed through.
        """
        error = exc.errors()[0]
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, InvalidInputError):
            return cause
        field = ".".join(str(part) for part in error["loc"]) or "spec"
        return cls(field, f"{error['msg']} (got {error.get('input')!r})")


def _error_fields(exc: BaseException) -> Mapping[str, Any]:
    """The ``Error`` part of AWS's answer in ``exc``; empty when ``exc`` is not an answer from AWS
    (a network error, our own exception) or the answer has none."""
    if not isinstance(exc, ClientError):
        return {}
    fields = exc.response.get("Error")
    return fields if isinstance(fields, Mapping) else {}


def error_code(exc: BaseException) -> str:
    """AWS's error code (``AccessDenied``, ``NoSuchKey``, a HEAD's bare ``403``), "" when ``exc``
    is not an AWS answer or names no code.

    Compare codes with this, not the exception's class: botocore raises a modeled subclass only
    where its service model lists the error, and which ones it lists changes between versions.
    """
    code = _error_fields(exc).get("Code")
    return "" if code is None else str(code)


def error_message(exc: BaseException) -> str:
    """AWS's error message (for a denial it names the principal, action and resource), "" when
    ``exc`` is not an AWS answer or carries no message."""
    message = _error_fields(exc).get("Message")
    return "" if message is None else str(message)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of AWS's error answer, None when ``exc`` is not an AWS answer or botocore
    recorded none (an error built by hand). A HEAD's error has no body, so its status is the
    surest sign of what happened."""
    if not isinstance(exc, ClientError):
        return None
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def code_and_message(exc: BaseException) -> str:
    """``Code: Message`` of AWS's error answer, the form every error text of ours shows it in;
    "" when ``exc`` is not an AWS answer (each caller words those its own way).

    A field the answer lacks reads ``None`` (an S3-compatible server may send a bare
    ``<Code>``), as these texts always showed it.
    """
    if not isinstance(exc, ClientError):
        return ""
    fields = _error_fields(exc)
    return f"{fields.get('Code')}: {fields.get('Message')}"
