"""Envelopes (docs/protocol.md, "Envelopes", "Errors"): pure functions over frames."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

from . import errors as E
from .codec import (
    DEFAULT_ENCODE,
    DEFAULT_LIMITS,
    MAX_SAFE,
    DecodeLimits,
    EncodeOptions,
    Frame,
    decode_message,
    encode_envelope,
)
from .errors import ProtocolError, truncate

PROTOCOL_VERSION = 1


@dataclass
class Request:
    id: int
    method: str
    name: str | None
    payload: Any
    kind: str = "req"


@dataclass
class Reply:
    id: int
    payload: Any
    kind: str = "rep"


@dataclass
class WireError:
    name: str
    code: str
    message: str
    remote_code: str | None = None
    fields: list[str] | None = None


@dataclass
class ErrorReply:
    id: int
    error: WireError
    kind: str = "err"


@dataclass
class Publish:
    topic: str
    seq: int
    epoch: str
    payload: Any
    kind: str = "pub"


Envelope = Union[Request, Reply, ErrorReply, Publish]


def encode_request(
    id: int, method: str, name: str | None, payload: Any, options: EncodeOptions = DEFAULT_ENCODE
) -> list[Frame]:
    header: dict[str, Any] = {"v": PROTOCOL_VERSION, "k": "req", "id": id, "m": method}
    if name is not None:
        header["n"] = name
    header["p"] = payload
    return encode_envelope(header, options)


def encode_reply(id: int, payload: Any, options: EncodeOptions = DEFAULT_ENCODE) -> list[Frame]:
    return encode_envelope({"v": PROTOCOL_VERSION, "k": "rep", "id": id, "p": payload}, options)


def encode_error(id: int, error: BaseException) -> list[Frame]:
    return encode_envelope({"v": PROTOCOL_VERSION, "k": "err", "id": id, "e": error_to_wire(error)})


def encode_publish(
    topic: str, seq: int, epoch: str, payload: Any, options: EncodeOptions = DEFAULT_ENCODE
) -> list[Frame]:
    return encode_envelope(
        {"v": PROTOCOL_VERSION, "k": "pub", "t": topic, "s": seq, "ep": epoch, "p": payload}, options
    )


def _uint(h: dict[str, Any], key: str, what: str) -> int:
    """A non-negative integer within 2^53 - 1 (an integral float is accepted, as the TypeScript decoder does)."""
    v = h.get(key)
    if type(v) is float and v.is_integer():
        v = int(v)
    if type(v) is not int or v < 0 or v > MAX_SAFE:
        raise ProtocolError(f"envelope needs {what} (non-negative integer {key!r})")
    return v


def _str(h: dict[str, Any], key: str, what: str) -> str:
    v = h.get(key)
    if type(v) is not str:
        raise ProtocolError(f'envelope needs {what} (string "{key}")')
    return v


def envelope_from_header(h: Any) -> Envelope:
    """The envelope a decoded header stands for; ProtocolError when it is not a valid one."""
    if type(h) is not dict:
        raise ProtocolError("header is not a map")
    v = h.get("v")
    if type(v) is not int or v != PROTOCOL_VERSION:
        raise ProtocolError(
            f"unsupported protocol version {truncate(repr(v), 40)} (this peer speaks {PROTOCOL_VERSION})"
        )
    k = h.get("k")
    if k == "req":
        name = h.get("n")
        if name is not None and type(name) is not str:
            raise ProtocolError('request name "n" must be a string')
        u = h.get("u")
        if u is not None and (not isinstance(u, str) or not 1 <= len(u) <= 128):
            raise ProtocolError('request key "u" must be a string of 1..128 characters')
        return Request(_uint(h, "id", "an id"), _str(h, "m", "a method"), name, h.get("p"))
    if k == "rep":
        return Reply(_uint(h, "id", "an id"), h.get("p"))
    if k == "err":
        e = h.get("e")
        if type(e) is not dict:
            raise ProtocolError('error envelope needs an error map "e"')
        name, code, message = e.get("name"), e.get("code"), e.get("message")
        fields = e.get("fields")
        w = WireError(
            name=truncate(name, 100) if type(name) is str else "Error",
            code=code if type(code) is str else "EDGEML_REMOTE",
            message=truncate(message) if type(message) is str else "",
            remote_code=truncate(e["remoteCode"], 100) if type(e.get("remoteCode")) is str else None,
            fields=[truncate(f, 100) for f in fields if type(f) is str][:100] if type(fields) is list else None,
        )
        return ErrorReply(_uint(h, "id", "an id"), w)
    if k == "pub":
        seq = _uint(h, "s", "a seq")
        return Publish(_str(h, "t", "a topic"), seq, _str(h, "ep", "an epoch"), h.get("p"))
    raise ProtocolError(f"unknown envelope kind {truncate(repr(k), 40)}")


def decode_envelope(frames: Sequence[Frame], limits: DecodeLimits = DEFAULT_LIMITS) -> Envelope:
    """Decodes frames into an envelope. Raises ProtocolError or LimitError."""
    return envelope_from_header(decode_message(frames, limits))


def peek_request_id(frames: Sequence[Frame], kinds: tuple[str, ...] = ("req",)) -> int | None:
    """The ``id`` of a message that did not decode, read from the leading scalars of its header map, if any.

    Reads only fixmap/map16 headers whose entries before ``id`` are small scalars (as every encoder writes them)."""
    if not frames:
        return None
    b = bytes(frames[0][:4096])
    end = len(b)
    if end == 0:
        return None
    t = b[0]
    if 0x80 <= t < 0x90:
        entries, pos = t & 0x0F, 1
    elif t == 0xDE and end >= 3:
        entries, pos = struct.unpack_from(">H", b, 1)[0], 3
    else:
        return None
    out: dict[str, Any] = {}

    def scalar() -> Any:
        nonlocal pos
        if pos >= end:
            return None
        t = b[pos]
        pos += 1
        if t < 0x80:
            return t
        n = -1
        if 0xA0 <= t < 0xC0:
            n = t & 0x1F
        elif t == 0xD9 and pos < end:
            n = b[pos]
            pos += 1
        if n >= 0:
            if n > 64 or pos + n > end:
                return None
            pos += n
            try:
                return b[pos - n : pos].decode("utf-8")
            except UnicodeDecodeError:
                return None
        for code, size, fmt in ((0xCC, 1, ">B"), (0xCD, 2, ">H"), (0xCE, 4, ">I")):
            if t == code and pos + size <= end:
                pos += size
                return struct.unpack_from(fmt, b, pos - size)[0]
        return None

    for _ in range(entries):
        key = scalar()
        value = scalar() if type(key) is str else None
        if key is None or value is None:
            break
        out[key] = value
    if out.get("k") not in kinds:
        return None
    rid = out.get("id")
    return rid if type(rid) is int and rid >= 0 else None


def error_to_wire(error: BaseException) -> dict[str, Any]:
    """The wire form of any exception; exceptions that are not edgeml errors travel as ``EDGEML_REMOTE``."""
    if isinstance(error, E.RemoteError):
        w: dict[str, Any] = {"name": error.remote_name, "code": "EDGEML_REMOTE", "message": error.remote_message}
        if error.remote_code is not None:
            w["remoteCode"] = error.remote_code
        return w
    if isinstance(error, E.EdgeMLError):
        w = {"name": type(error).__name__, "code": error.code, "message": error.message}
        if isinstance(error, E.ConfigMismatchError):
            w["fields"] = list(error.fields)
        elif isinstance(error, E.InvalidArgumentError):
            w["fields"] = [error.field]
        if type(error) not in E.BY_CODE.values():  # a subclass: keep the wire name of its edgeml base class
            w["name"] = E.BY_CODE[error.code].__name__
        return w
    w = {"name": type(error).__name__, "code": "EDGEML_REMOTE", "message": str(error)}
    code = getattr(error, "code", None)
    if isinstance(code, str):
        w["remoteCode"] = code
    return w


def error_from_wire(w: WireError) -> E.EdgeMLError:
    """The local exception for a wire error: the same edgeml class for edgeml codes, RemoteError otherwise."""
    code, message = w.code, w.message
    if code == "EDGEML_TIMEOUT":
        return E.TimeoutError(message)
    if code == "EDGEML_CONFIG_MISMATCH":
        return E.ConfigMismatchError(message, w.fields or [])
    if code == "EDGEML_INVALID_ARGUMENT":
        fld = (w.fields or [None])[0]
        if fld is not None:
            prefix = f"{fld}: "
            return E.InvalidArgumentError(fld, message[len(prefix) :] if message.startswith(prefix) else message)
        i = message.find(": ")
        return E.InvalidArgumentError(message[:i], message[i + 2 :]) if i > 0 else E.InvalidArgumentError(
            "argument", message
        )
    if code == "EDGEML_REMOTE" or code not in E.BY_CODE:
        return E.RemoteError(w.name, message, w.remote_code)
    return E.BY_CODE[code](message)


__all__ = [
    "Envelope",
    "ErrorReply",
    "PROTOCOL_VERSION",
    "Publish",
    "Reply",
    "Request",
    "WireError",
    "decode_envelope",
    "encode_error",
    "encode_publish",
    "encode_reply",
    "encode_request",
    "error_from_wire",
    "error_to_wire",
    "peek_request_id",
]
