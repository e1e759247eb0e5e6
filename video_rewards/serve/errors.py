"""The refusal a request gets as a whole, and the messages an item gets when it fails on its own."""

from __future__ import annotations

from http import HTTPStatus

__all__ = ["RequestError", "describe", "short"]

_MAX_ERROR_CHARS = 300


class RequestError(Exception):
    """A request the server refuses as a whole; carries the HTTP status to answer with."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def short(text: str) -> str:
    """Error messages are cut, so an answer's size is bounded by its item count."""
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def describe(exc: BaseException) -> str:
    """A client-facing reason for an item that could not be read or scored.

    >>> describe(RecursionError("maximum recursion depth exceeded"))
    'nested too deeply to read'
    """
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    if isinstance(exc, ValueError):  # the reward core's ValueErrors name the field
        return str(exc)
    return f"could not be scored ({type(exc).__name__}: {exc})"
