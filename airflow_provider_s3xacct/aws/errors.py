"""Errors the engine raises before or instead of touching data."""

from __future__ import annotations

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
