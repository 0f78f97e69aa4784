"""Errors the engine raises before or instead of touching data."""

from __future__ import annotations


class InvalidInputError(ValueError):
    """Bad input, detected before any AWS call. ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class UnsafeDeleteError(RuntimeError):
    """A sync with ``delete=True`` would remove more than the safety limit allows; nothing was deleted."""
