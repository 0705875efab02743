"""The edgeml error tree, mirroring the TypeScript classes and their wire codes (docs/protocol.md, "Errors")."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

#: Longest error text taken from peer input; longer texts are cut (a peer must not make us log megabytes).
MAX_ERROR_TEXT = 400


def truncate(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` cut to ``limit`` characters, with a marker when cut."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


class EdgeMLError(Exception):
    """Root of every error edgeml raises. ``code`` is the stable wire code, for example ``EDGEML_TIMEOUT``."""

    code = "EDGEML_ERROR"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class TimeoutError(EdgeMLError, builtins.TimeoutError):  # noqa: A001 - mirrors the TypeScript name
    """A call, connection or handshake did not complete before its deadline."""

    code = "EDGEML_TIMEOUT"

    def __init__(self, message: str = "timed out", timeout: float | None = None) -> None:
        super().__init__(message)
        self.timeout = timeout


class AbortError(EdgeMLError):
    """The operation was cancelled."""

    code = "EDGEML_ABORTED"


class RemoteError(EdgeMLError):
    """A handler or callback on the other side raised; ``remote_name`` is its exception's name."""

    code = "EDGEML_REMOTE"

    def __init__(self, remote_name: str, message: str, remote_code: str | None = None) -> None:
        super().__init__(f"{remote_name}: {message}")
        self.remote_name = remote_name
        self.remote_message = message
        self.remote_code = remote_code


class ProtocolError(EdgeMLError):
    """Malformed or unexpected input."""

    code = "EDGEML_PROTOCOL"


class ConfigMismatchError(EdgeMLError):
    """The client's config differs from the server's in ``fields``."""

    code = "EDGEML_CONFIG_MISMATCH"

    def __init__(self, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.fields = tuple(fields)


class ClosedError(EdgeMLError):
    """Closed before or during the operation."""

    code = "EDGEML_CLOSED"

    def __init__(self, message: str = "closed") -> None:
        super().__init__(message)


class LimitError(EdgeMLError):
    """A limit was exceeded (size, depth, requests in flight, a full table)."""

    code = "EDGEML_LIMIT"


class NotFoundError(EdgeMLError):
    """A named thing (interface, table, key, request type, file) does not exist."""

    code = "EDGEML_NOT_FOUND"


class InvalidArgumentError(EdgeMLError, ValueError):
    """An argument or config value is invalid; ``field`` names it. The message is ``"<field>: <reason>"``."""

    code = "EDGEML_INVALID_ARGUMENT"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class AuthenticationError(EdgeMLError):
    """CURVE authentication failed."""

    code = "EDGEML_AUTH"


#: Error classes by wire code (RemoteError is built separately, it needs the remote name).
BY_CODE: dict[str, type[EdgeMLError]] = {
    cls.code: cls
    for cls in (
        EdgeMLError,
        TimeoutError,
        AbortError,
        ProtocolError,
        ConfigMismatchError,
        ClosedError,
        LimitError,
        NotFoundError,
        InvalidArgumentError,
        AuthenticationError,
    )
}

__all__ = [
    "AbortError",
    "AuthenticationError",
    "ClosedError",
    "ConfigMismatchError",
    "EdgeMLError",
    "InvalidArgumentError",
    "LimitError",
    "NotFoundError",
    "ProtocolError",
    "RemoteError",
    "TimeoutError",
]
