"""The message codec: a value tree to a list of frames and back (docs/protocol.md). Pure functions, no sockets.

Frame 0 is a msgpack header holding the value; numpy arrays and byte strings of at least ``inline_bytes_max`` bytes
travel as their own frames, referenced from the header through ext values 1 (bytes), 2 (typed array) and 3 (tensor);
encoded images (:class:`edgeml.Image`) always travel as their own frames, through ext 4.
The reader is a strict, small msgpack reader written for this protocol: it checks every limit before allocating,
refuses duplicate keys, builds only plain values and never executes anything from the input.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from . import lz4block
from .errors import InvalidArgumentError, LimitError, ProtocolError, truncate
from .image import IMAGE_FORMATS, Image

Frame = Union[bytes, bytearray, memoryview]

EXT_BYTES = 1
EXT_TYPED_ARRAY = 2
EXT_TENSOR = 3
EXT_IMAGE = 4
EXT_BODY_MAX_DEPTH = 2
MAX_SAFE = 2**53 - 1

DEFAULT_MAX_FRAMES = 1024
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024**2
DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_STRING_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_COLLECTION_LENGTH = 1_000_000
#: Python-only bound on the number of values one header may decode to (each costs far more than its msgpack byte).
DEFAULT_MAX_VALUES = 4_000_000
DEFAULT_INLINE_BYTES_MAX = 1024
DEFAULT_COMPRESSION_MIN_BYTES = 64 * 1024

try:  # bfloat16 as a real numpy dtype when ml_dtypes is installed
    import ml_dtypes

    BFLOAT16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
    HAVE_ML_DTYPES = True
except ImportError:  # pragma: no cover - depends on the environment
    #: Without ml_dtypes, bfloat16 arrives as raw uint16 bits in this dtype (a uint16 tagged by its metadata).
    BFLOAT16 = np.dtype("<u2", metadata={"edgeml_dtype": "bfloat16"})
    HAVE_ML_DTYPES = False

#: The raw-bits form of bfloat16 (uint16 tagged ``edgeml_dtype: bfloat16``); the encoder sends it as ``bfloat16``.
BFLOAT16_BITS: np.dtype[Any] = np.dtype("<u2", metadata={"edgeml_dtype": "bfloat16"})

DTYPES: dict[str, np.dtype[Any]] = {
    "bool": np.dtype(np.bool_),
    "int8": np.dtype("<i1"),
    "uint8": np.dtype("<u1"),
    "int16": np.dtype("<i2"),
    "uint16": np.dtype("<u2"),
    "int32": np.dtype("<i4"),
    "uint32": np.dtype("<u4"),
    "int64": np.dtype("<i8"),
    "uint64": np.dtype("<u8"),
    "float16": np.dtype("<f2"),
    "bfloat16": BFLOAT16,
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
}
_NAME_OF_KIND: dict[tuple[str, int], str] = {
    ("b", 1): "bool",
    ("i", 1): "int8",
    ("u", 1): "uint8",
    ("i", 2): "int16",
    ("u", 2): "uint16",
    ("i", 4): "int32",
    ("u", 4): "uint32",
    ("i", 8): "int64",
    ("u", 8): "uint64",
    ("f", 2): "float16",
    ("f", 4): "float32",
    ("f", 8): "float64",
}


class TypedArray(np.ndarray):  # type: ignore[type-arg]
    """A 1-D array that travels as ext 2 (a TypeScript typed array). Decoded ext 2 values are TypedArrays; view any
    1-D array as one (``a.view(edgeml.TypedArray)``) to send it that way. Plain arrays travel as ext 3 tensors."""


@dataclass(frozen=True)
class Tensor:
    """An explicit dtype name for raw data, e.g. ``Tensor("bfloat16", bits_uint16)``; sent as ext 3 with ``shape``
    of ``data``. Ordinary numpy arrays need no wrapper."""

    dtype: str
    data: np.ndarray  # type: ignore[type-arg]


def dtype_name(dt: np.dtype[Any]) -> str | None:
    """The protocol dtype name of a numpy dtype, or None when it has none."""
    if dt.metadata and dt.metadata.get("edgeml_dtype") == "bfloat16":
        return "bfloat16"
    if HAVE_ML_DTYPES and dt == BFLOAT16:
        return "bfloat16"
    if dt.byteorder == ">":
        return None
    return _NAME_OF_KIND.get((dt.kind, dt.itemsize))


@dataclass(frozen=True)
class DecodeLimits:
    """Limits the decoder enforces, each checked before the memory it guards is allocated."""

    max_frames: int = DEFAULT_MAX_FRAMES
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_string_bytes: int = DEFAULT_MAX_STRING_BYTES
    max_collection_length: int = DEFAULT_MAX_COLLECTION_LENGTH
    max_values: int = DEFAULT_MAX_VALUES


@dataclass(frozen=True)
class EncodeOptions:
    """Encoder options: ``inline_bytes_max``, ``max_depth``, and ``compression_min_bytes`` (None: off)."""

    inline_bytes_max: int = DEFAULT_INLINE_BYTES_MAX
    max_depth: int = DEFAULT_MAX_DEPTH
    compression_min_bytes: int | None = None


DEFAULT_LIMITS = DecodeLimits()
DEFAULT_ENCODE = EncodeOptions()

# ---------------------------------------------------------------------------------------------------------------
# Encoder


class _EncodeFailure(Exception):
    def __init__(self, path: list[str], reason: str, limit: bool) -> None:
        super().__init__(reason)
        self.path, self.reason, self.limit = path, reason, limit


_pack_b = struct.Struct(">B").pack
_pack_bb = struct.Struct(">BB").pack
_pack_bh = struct.Struct(">BH").pack
_pack_bi = struct.Struct(">BI").pack
_pack_bq = struct.Struct(">BQ").pack
_pack_bsb = struct.Struct(">Bb").pack
_pack_bsh = struct.Struct(">Bh").pack
_pack_bsi = struct.Struct(">Bi").pack
_pack_bsq = struct.Struct(">Bq").pack
_pack_bd = struct.Struct(">Bd").pack


def _write_int(out: bytearray, n: int) -> None:
    if n >= 0:
        if n < 0x80:
            out.append(n)
        elif n <= 0xFF:
            out += _pack_bb(0xCC, n)
        elif n <= 0xFFFF:
            out += _pack_bh(0xCD, n)
        elif n <= 0xFFFFFFFF:
            out += _pack_bi(0xCE, n)
        elif n <= 0xFFFFFFFFFFFFFFFF:
            out += _pack_bq(0xCF, n)
        else:
            raise _EncodeFailure([], f"integer {truncate(str(n), 40)} does not fit in 64 bits", False)
    elif n >= -32:
        out.append(n & 0xFF)
    elif n >= -0x80:
        out += _pack_bsb(0xD0, n)
    elif n >= -0x8000:
        out += _pack_bsh(0xD1, n)
    elif n >= -0x80000000:
        out += _pack_bsi(0xD2, n)
    elif n >= -0x8000000000000000:
        out += _pack_bsq(0xD3, n)
    else:
        raise _EncodeFailure([], f"integer {truncate(str(n), 40)} does not fit in 64 bits", False)


def _write_float(out: bytearray, x: float) -> None:
    # The number model: an integral float of magnitude <= 2^53 - 1 (not -0) is an int on the wire.
    if x.is_integer() and abs(x) <= MAX_SAFE and not (x == 0 and math.copysign(1.0, x) < 0):
        _write_int(out, int(x))
    else:
        out += _pack_bd(0xCB, x)


def _write_str(out: bytearray, s: str) -> None:
    try:
        b = s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates become U+FFFD, as in the TypeScript encoder
        b = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s).encode("utf-8")
    n = len(b)
    if n < 32:
        out.append(0xA0 | n)
    elif n <= 0xFF:
        out += _pack_bb(0xD9, n)
    elif n <= 0xFFFF:
        out += _pack_bh(0xDA, n)
    else:
        out += _pack_bi(0xDB, n)
    out += b


def _write_bin(out: bytearray, b: bytes | bytearray | memoryview) -> None:
    n = len(b)
    if n <= 0xFF:
        out += _pack_bb(0xC4, n)
    elif n <= 0xFFFF:
        out += _pack_bh(0xC5, n)
    else:
        out += _pack_bi(0xC6, n)
    out += b


def _write_array_header(out: bytearray, n: int) -> None:
    if n < 16:
        out.append(0x90 | n)
    elif n <= 0xFFFF:
        out += _pack_bh(0xDC, n)
    else:
        out += _pack_bi(0xDD, n)


def _write_map_header(out: bytearray, n: int) -> None:
    if n < 16:
        out.append(0x80 | n)
    elif n <= 0xFFFF:
        out += _pack_bh(0xDE, n)
    else:
        out += _pack_bi(0xDF, n)


def _write_ext(out: bytearray, code: int, body: bytes | bytearray) -> None:
    n = len(body)
    fix = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}.get(n)
    if fix is not None:
        out += _pack_bb(fix, code)
    elif n <= 0xFF:
        out += bytes((0xC7, n, code))
    elif n <= 0xFFFF:
        out += _pack_bh(0xC8, n) + bytes((code,))
    else:
        out += _pack_bi(0xC9, n) + bytes((code,))
    out += body


def _as_bytes_view(a: np.ndarray) -> memoryview:  # type: ignore[type-arg]
    return memoryview(a.reshape(-1).view(np.uint8)) if a.size else memoryview(b"")


_TORCH: Any = None


def _torch_to_numpy(v: Any) -> np.ndarray | Tensor | None:  # type: ignore[type-arg]
    global _TORCH
    if _TORCH is None:
        import sys

        _TORCH = sys.modules.get("torch", False)
    if not _TORCH or not isinstance(v, _TORCH.Tensor):
        return None
    t = v.detach().cpu().contiguous()
    if t.dtype == _TORCH.bfloat16:
        bits = t.view(_TORCH.int16).numpy().view(np.uint16)
        return Tensor("bfloat16", bits)
    return t.numpy()


class _Encoder:
    __slots__ = ("frames", "out", "inline_max", "max_depth", "compress_min")

    def __init__(self, options: EncodeOptions) -> None:
        self.frames: list[Frame] = [b""]
        self.out = bytearray()
        self.inline_max = options.inline_bytes_max
        self.max_depth = options.max_depth
        self.compress_min = options.compression_min_bytes

    def frame(self, data: Frame) -> Any:
        """Adds a data frame (compressed when on, large enough and worth it); returns its reference."""
        n = len(data) if not isinstance(data, memoryview) else data.nbytes
        if self.compress_min is not None and n >= self.compress_min:
            packed = lz4block.compress(data)
            if len(packed) < n:
                self.frames.append(packed)
                return [len(self.frames) - 1, "lz4", n]
        self.frames.append(data)
        return len(self.frames) - 1

    def ref_body(self, *parts: Any) -> bytearray:
        body = bytearray()
        for p in parts:
            _plain(body, p)
        return body

    def array(self, v: np.ndarray, ext2: bool, dtype: str | None = None) -> None:  # type: ignore[type-arg]
        name = dtype or dtype_name(v.dtype)
        if name is None:
            if v.dtype.byteorder == ">" and v.dtype.newbyteorder("<") is not None:
                v = v.astype(v.dtype.newbyteorder("<"))
                name = dtype_name(v.dtype)
            if name is None:
                raise _EncodeFailure([], f"cannot encode a numpy array of dtype {v.dtype}", False)
        if not v.flags.c_contiguous:
            v = np.ascontiguousarray(v)
        ref = self.frame(_as_bytes_view(v))
        if ext2 and v.ndim == 1:
            body = bytearray()
            _write_array_header(body, 2)
            _write_str(body, name)
            _plain(body, ref)
            _write_ext(self.out, EXT_TYPED_ARRAY, body)
            return
        body = bytearray()
        _write_array_header(body, 3)
        _write_str(body, name)
        _write_array_header(body, v.ndim)
        for d in v.shape:
            _write_int(body, d)
        _plain(body, ref)
        _write_ext(self.out, EXT_TENSOR, body)

    def bytes_(self, v: bytes | bytearray | memoryview) -> None:
        if isinstance(v, memoryview) and (v.ndim != 1 or v.itemsize != 1):
            v = v.cast("B") if v.c_contiguous else memoryview(v.tobytes())
        if len(v) < self.inline_max:
            _write_bin(self.out, v)
            return
        body = bytearray()
        _plain(body, self.frame(v))
        _write_ext(self.out, EXT_BYTES, body)

    def image(self, v: Image) -> None:
        # docs/protocol.md, "Images": [format, [height, width, channels], ref], the bytes always in a data frame.
        ref = self.frame(v.bytes)
        body = bytearray()
        _write_array_header(body, 3)
        _write_str(body, v.format)
        _write_array_header(body, 3)
        _write_int(body, v.height)
        _write_int(body, v.width)
        _write_int(body, v.channels)
        _plain(body, ref)
        _write_ext(self.out, EXT_IMAGE, body)

    def value(self, v: Any, depth: int) -> None:
        out = self.out
        t = type(v)
        if t is str:
            _write_str(out, v)
        elif t is int:
            _write_int(out, v)
        elif t is float:
            _write_float(out, v)
        elif v is None:
            out.append(0xC0)
        elif t is bool:
            out.append(0xC3 if v else 0xC2)
        elif t is dict or t is list or t is tuple or isinstance(v, (dict, list, tuple)):
            if depth >= self.max_depth:
                raise _EncodeFailure([], f"more than {self.max_depth} arrays and maps nested inside each other", True)
            if isinstance(v, dict):
                _write_map_header(out, len(v))
                for k, item in v.items():
                    if type(k) is not str and not isinstance(k, str):
                        raise _EncodeFailure([f"[{k!r}]"], "map keys must be strings", False)
                    _write_str(out, k)
                    self.child(item, depth, k)
            else:
                _write_array_header(out, len(v))
                for i, item in enumerate(v):
                    self.child(item, depth, i)
        elif isinstance(v, np.ndarray):
            self.array(v, isinstance(v, TypedArray))
        elif isinstance(v, (bytes, bytearray, memoryview)):
            self.bytes_(v)
        elif isinstance(v, Image):
            self.image(v)
        elif isinstance(v, bool):
            out.append(0xC3 if v else 0xC2)
        elif isinstance(v, int):
            _write_int(out, int(v))
        elif isinstance(v, float):
            _write_float(out, float(v))
        elif isinstance(v, np.generic):
            if isinstance(v, (np.bool_, np.integer, np.floating)):
                self.value(v.item(), depth)
            else:
                raise _EncodeFailure([], f"cannot encode a {type(v).__name__}", False)
        elif isinstance(v, Tensor):
            if v.dtype not in DTYPES:
                raise _EncodeFailure([], f"unknown dtype {v.dtype!r}", False)
            if np.asarray(v.data).dtype.itemsize != DTYPES[v.dtype].itemsize:
                raise _EncodeFailure([], f"data of itemsize {v.data.dtype.itemsize} for dtype {v.dtype}", False)
            self.array(np.asarray(v.data), False, v.dtype)
        else:
            arr = _torch_to_numpy(v)
            if arr is None:
                raise _EncodeFailure([], f"cannot encode a {type(v).__name__}", False)
            self.value(arr, depth)

    def child(self, v: Any, depth: int, key: str | int) -> None:
        try:
            self.value(v, depth + 1)
        except _EncodeFailure as e:
            e.path.insert(0, f"[{key}]" if isinstance(key, int) else f".{key}")
            raise


def _plain(out: bytearray, ref: Any) -> None:
    """Writes a frame reference (an int or ``[index, "lz4", raw]``)."""
    if isinstance(ref, int):
        _write_int(out, ref)
    else:
        _write_array_header(out, 3)
        _write_int(out, ref[0])
        _write_str(out, ref[1])
        _write_int(out, ref[2])


def _encode(value: Any, options: EncodeOptions, field: Any) -> list[Frame]:
    enc = _Encoder(options)
    try:
        enc.value(value, 0)
    except _EncodeFailure as e:
        if e.limit:
            raise LimitError(f"{field(e.path)}: {e.reason}") from None
        raise InvalidArgumentError(field(e.path), e.reason) from None
    except RecursionError:
        raise LimitError("payload: nested too deeply") from None
    enc.frames[0] = bytes(enc.out)
    return enc.frames


def encode_message(value: Any, options: EncodeOptions = DEFAULT_ENCODE) -> list[Frame]:
    """Encodes ``value`` into frames (frame 0 the header; data frames are views on the caller's memory)."""
    return _encode(value, options, lambda path: "payload" + "".join(path))


def encode_envelope(header: dict[str, Any], options: EncodeOptions = DEFAULT_ENCODE) -> list[Frame]:
    """Encodes an envelope map; a value that cannot be encoded is named from the payload (``payload.a[2]``)."""

    def field(path: list[str]) -> str:
        return "payload" + "".join(path[1:]) if path and path[0] == ".p" else "header" + "".join(path)

    return _encode(header, options, field)


# ---------------------------------------------------------------------------------------------------------------
# Decoder

_unpack_h = struct.Struct(">H").unpack_from
_unpack_i = struct.Struct(">I").unpack_from
_unpack_q = struct.Struct(">Q").unpack_from
_unpack_sq = struct.Struct(">q").unpack_from
_unpack_sh = struct.Struct(">h").unpack_from
_unpack_si = struct.Struct(">i").unpack_from
_unpack_d = struct.Struct(">d").unpack_from
_unpack_f = struct.Struct(">f").unpack_from


def _is_index(v: Any) -> bool:
    """A msgpack integer usable as a count or index (dims, frame references, sizes): floats are refused, even whole
    ones (docs/protocol.md: ext bodies hold no floats)."""
    return type(v) is int


class _FrameTable:
    __slots__ = ("frames", "used", "total", "max_bytes")

    def __init__(self, frames: Sequence[Frame], total: int, max_bytes: int) -> None:
        self.frames = frames
        self.used = bytearray(len(frames))
        self.total = total
        self.max_bytes = max_bytes

    def take(self, ref: Any) -> Frame:
        index = ref
        raw: int | None = None
        if type(ref) is list:
            if len(ref) != 3:
                raise ProtocolError("a frame reference is an index or [index, codec, rawByteLength]")
            index = ref[0]
            if ref[1] != "lz4":
                raise ProtocolError(f"unknown compression codec {truncate(repr(ref[1]), 60)}")
            n = ref[2]
            if not _is_index(n) or n < 0:
                raise ProtocolError(f"invalid raw byte length {truncate(repr(n), 60)} of a compressed frame")
            raw = int(n)
        count = len(self.frames)
        if not _is_index(index) or not 1 <= index < count:
            raise ProtocolError(f"invalid frame reference {truncate(repr(index), 60)} (message has {count} frames)")
        index = int(index)
        if self.used[index]:
            raise ProtocolError(f"frame {index} is referenced twice")
        self.used[index] = 1
        frame = self.frames[index]
        if raw is None:
            return frame
        self.total += raw - len(frame)
        if self.total > self.max_bytes:
            raise LimitError(
                f"frame {index} decompresses to {raw} bytes: the message would exceed the limit of "
                f"{self.max_bytes} bytes"
            )
        return lz4block.decompress(frame, raw)

    def check_all_used(self) -> None:
        for i in range(1, len(self.frames)):
            if not self.used[i]:
                raise ProtocolError(f"frame {i} is not referenced by the header")


def _frame_len(f: Frame) -> int:
    return f.nbytes if isinstance(f, memoryview) else len(f)


def _array_view(dtype: str, frame: Frame) -> np.ndarray:  # type: ignore[type-arg]
    dt = DTYPES[dtype]
    n = _frame_len(frame)
    if n % dt.itemsize:
        raise ProtocolError(f"frame of {n} bytes is not a whole number of {dtype} elements")
    if dtype == "bool":
        raw = np.frombuffer(frame, dtype=np.uint8)
        if raw.size and raw.max() > 1:  # docs/protocol.md: bool bytes are 0 or 1, anything else is invalid
            raise ProtocolError("bool data holds bytes other than 0 and 1")
        a = raw.view(np.bool_)
    else:
        a = np.frombuffer(frame, dtype=dt)
        if dt.itemsize > 1 and a.ctypes.data % dt.itemsize:
            a = a.copy()  # unaligned frame: copied once to an aligned buffer
    if a.flags.writeable:
        a.flags.writeable = False
    return a


class _Reader:
    __slots__ = ("b", "pos", "end", "limits", "table", "frames", "total", "max_depth", "in_ext", "values")

    def __init__(self, header: bytes, limits: DecodeLimits, frames: Sequence[Frame], total: int) -> None:
        self.b = header
        self.pos = 0
        self.end = len(header)
        self.limits = limits
        self.frames = frames
        self.total = total
        self.table: _FrameTable | None = None
        self.max_depth = limits.max_depth
        self.in_ext = False
        self.values = 1  # the root value (docs/protocol.md: 1 + array entries + 2 × map entries)

    def need(self, n: int) -> None:
        if self.pos + n > self.end:
            raise ProtocolError("truncated msgpack data")

    def collection(self, n: int, min_each: int, what: str, depth: int) -> None:
        if depth >= self.max_depth:
            raise LimitError(f"more than {self.max_depth} arrays and maps nested inside each other")
        if n > self.limits.max_collection_length:
            raise LimitError(f"{what} of {n} entries exceeds the limit of {self.limits.max_collection_length}")
        if n * min_each > self.end - self.pos:
            raise ProtocolError(f"truncated msgpack {what}")
        self.values += n * min_each
        if self.values > self.limits.max_values:
            raise LimitError(f"message holds more than {self.limits.max_values} values")

    def str_(self, n: int) -> str:
        if n > self.limits.max_string_bytes:
            raise LimitError(f"string of {n} bytes exceeds the limit of {self.limits.max_string_bytes}")
        self.need(n)
        start = self.pos
        self.pos += n
        try:
            return self.b[start : start + n].decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string is not valid UTF-8") from None

    def bin(self, n: int) -> bytes:
        self.need(n)
        start = self.pos
        self.pos += n
        return self.b[start : start + n]

    def array(self, n: int, depth: int) -> list[Any]:
        self.collection(n, 1, "array", depth)
        value = self.value
        return [value(depth + 1) for _ in range(n)]

    def map(self, n: int, depth: int) -> dict[str, Any]:
        self.collection(n, 2, "map", depth)
        out: dict[str, Any] = {}
        value = self.value
        for _ in range(n):
            k = value(depth + 1)
            if type(k) is not str:
                if type(k) is int:
                    k = str(k)
                else:
                    what = "nil" if k is None else type(k).__name__
                    raise ProtocolError(f"map key of type {what} is not supported")
            v = value(depth + 1)
            if k in out:
                raise ProtocolError(f"duplicate map key {truncate(repr(k), 80)}")
            out[k] = v
        return out

    def ext(self, n: int) -> Any:
        self.need(1)
        code = self.b[self.pos]
        if code >= 128:
            code -= 256
        self.pos += 1
        self.need(n)
        if self.in_ext:
            raise ProtocolError("an ext body must not hold an ext value")
        body_start = self.pos
        self.pos += n
        if code not in (EXT_BYTES, EXT_TYPED_ARRAY, EXT_TENSOR, EXT_IMAGE):
            raise ProtocolError(f"unknown msgpack ext type {code}")
        body = self.read_body(body_start, n)
        if self.table is None:
            self.table = _FrameTable(self.frames, self.total, self.limits.max_message_bytes)
        table = self.table
        if code == EXT_BYTES:
            f = table.take(body)
            return f if type(f) is bytes else bytes(f)
        if code == EXT_IMAGE:
            return _read_image(body, table)
        if code == EXT_TYPED_ARRAY:
            if type(body) is not list or len(body) != 2:
                raise ProtocolError("typed array ext needs [dtype, frame]")
            dtype = _dtype(body[0])
            return _array_view(dtype, table.take(body[1])).view(TypedArray)
        if type(body) is not list or len(body) != 3:
            raise ProtocolError("tensor ext needs [dtype, shape, frame]")
        dtype = _dtype(body[0])
        shape = body[1]
        if type(shape) is not list or not all(_is_index(d) and d >= 0 for d in shape):
            raise ProtocolError("tensor shape must be an array of non-negative integers")
        shape = [int(d) for d in shape]
        data = _array_view(dtype, table.take(body[2]))
        count = math.prod(shape)
        if count != data.size:
            raise ProtocolError(f"tensor shape {shape} needs {count} elements, frame holds {data.size}")
        try:
            return data.reshape(shape)
        except (ValueError, MemoryError) as e:
            raise ProtocolError(f"tensor shape {truncate(str(shape), 80)} cannot be represented: {e}") from None

    def read_body(self, start: int, n: int) -> Any:
        pos, end, max_depth = self.pos, self.end, self.max_depth
        self.pos, self.end, self.max_depth, self.in_ext = start, start + n, EXT_BODY_MAX_DEPTH, True
        try:
            v = self.value(0)
            if self.pos != self.end:
                raise ProtocolError("trailing bytes in ext body")
            return v
        finally:
            self.pos, self.end, self.max_depth, self.in_ext = pos, end, max_depth, False

    def value(self, depth: int) -> Any:
        if self.pos >= self.end:
            raise ProtocolError("truncated msgpack data")
        b = self.b
        t = b[self.pos]
        self.pos += 1
        if t < 0x80:
            return t
        if t < 0x90:
            return self.map(t & 0x0F, depth)
        if t < 0xA0:
            return self.array(t & 0x0F, depth)
        if t < 0xC0:
            return self.str_(t & 0x1F)
        if t >= 0xE0:
            return t - 0x100
        p = self.pos
        if t == 0xC0:
            return None
        if t == 0xC2:
            return False
        if t == 0xC3:
            return True
        if t == 0xCB:
            self.need(8)
            self.pos = p + 8
            return _unpack_d(b, p)[0]
        if t == 0xCC:
            self.need(1)
            self.pos = p + 1
            return b[p]
        if t == 0xCD:
            self.need(2)
            self.pos = p + 2
            return _unpack_h(b, p)[0]
        if t == 0xCE:
            self.need(4)
            self.pos = p + 4
            return _unpack_i(b, p)[0]
        if t == 0xCF:
            self.need(8)
            self.pos = p + 8
            return _unpack_q(b, p)[0]
        if t == 0xD0:
            self.need(1)
            self.pos = p + 1
            return b[p] - 256 if b[p] >= 128 else b[p]
        if t == 0xD1:
            self.need(2)
            self.pos = p + 2
            return _unpack_sh(b, p)[0]
        if t == 0xD2:
            self.need(4)
            self.pos = p + 4
            return _unpack_si(b, p)[0]
        if t == 0xD3:
            self.need(8)
            self.pos = p + 8
            return _unpack_sq(b, p)[0]
        if t == 0xCA:
            self.need(4)
            self.pos = p + 4
            return _unpack_f(b, p)[0]
        if t == 0xD9:
            self.need(1)
            self.pos = p + 1
            return self.str_(b[p])
        if t == 0xDA:
            self.need(2)
            self.pos = p + 2
            return self.str_(_unpack_h(b, p)[0])
        if t == 0xDB:
            self.need(4)
            self.pos = p + 4
            return self.str_(_unpack_i(b, p)[0])
        if t == 0xC4:
            self.need(1)
            self.pos = p + 1
            return self.bin(b[p])
        if t == 0xC5:
            self.need(2)
            self.pos = p + 2
            return self.bin(_unpack_h(b, p)[0])
        if t == 0xC6:
            self.need(4)
            self.pos = p + 4
            return self.bin(_unpack_i(b, p)[0])
        if t == 0xDC:
            self.need(2)
            self.pos = p + 2
            return self.array(_unpack_h(b, p)[0], depth)
        if t == 0xDD:
            self.need(4)
            self.pos = p + 4
            return self.array(_unpack_i(b, p)[0], depth)
        if t == 0xDE:
            self.need(2)
            self.pos = p + 2
            return self.map(_unpack_h(b, p)[0], depth)
        if t == 0xDF:
            self.need(4)
            self.pos = p + 4
            return self.map(_unpack_i(b, p)[0], depth)
        if 0xD4 <= t <= 0xD8:
            return self.ext(1 << (t - 0xD4))
        if t == 0xC7:
            self.need(1)
            self.pos = p + 1
            return self.ext(b[p])
        if t == 0xC8:
            self.need(2)
            self.pos = p + 2
            return self.ext(_unpack_h(b, p)[0])
        if t == 0xC9:
            self.need(4)
            self.pos = p + 4
            return self.ext(_unpack_i(b, p)[0])
        raise ProtocolError(f"invalid msgpack type byte 0x{t:x}")


def _read_image(body: Any, table: _FrameTable) -> Image:
    """The Image of an ext 4 body ``[format, [height, width, channels], ref]``, checked against its own header."""
    if type(body) is not list or len(body) != 3:
        raise ProtocolError("image ext needs [format, shape, frame]")
    fmt, shape, ref = body
    if type(fmt) is not str or fmt not in IMAGE_FORMATS:
        raise ProtocolError(f"unknown image format {truncate(repr(fmt), 60)}")
    if type(shape) is not list or len(shape) != 3 or not all(_is_index(d) and d > 0 for d in shape):
        raise ProtocolError("image shape must be [height, width, channels] of positive integers")
    frame = table.take(ref)  # a data frame: an inline value is not a frame reference
    image = Image(fmt, frame)
    if image.shape != tuple(shape):
        raise ProtocolError(
            f"image shape {truncate(str(shape), 80)} differs from its {fmt} header {list(image.shape)}"
        )
    return image


def _dtype(v: Any) -> str:
    if type(v) is not str or v not in DTYPES:
        raise ProtocolError(f"unknown dtype {truncate(repr(v), 60)}")
    return v


def decode_message(frames: Sequence[Frame], limits: DecodeLimits = DEFAULT_LIMITS) -> Any:
    """Decodes frames (from :func:`encode_message` or any peer following docs/protocol.md) into plain values.

    Arrays are read-only numpy views on the received frames (copied only when unaligned or compressed); ext 2
    values are :class:`TypedArray`; ext 4 values are :class:`edgeml.Image` (still encoded, their bytes a read-only
    view on the frame). Raises ProtocolError for malformed input, LimitError for input over a limit.
    """
    if len(frames) == 0:
        raise ProtocolError("empty message")
    if len(frames) > limits.max_frames:
        raise LimitError(f"message of {len(frames)} frames exceeds the limit of {limits.max_frames}")
    total = sum(_frame_len(f) for f in frames)
    if total > limits.max_message_bytes:
        raise LimitError(f"message of {total} bytes exceeds the limit of {limits.max_message_bytes}")
    header = frames[0]
    n = _frame_len(header)
    if n > limits.max_header_bytes:
        raise LimitError(f"header of {n} bytes exceeds the limit of {limits.max_header_bytes}")
    if n == 0:
        raise ProtocolError("empty header frame")
    reader = _Reader(header if type(header) is bytes else bytes(header), limits, frames, total)
    try:
        value = reader.value(0)
    except RecursionError:  # pragma: no cover - max_depth far above the interpreter's limit
        raise LimitError("header nested too deeply") from None
    if reader.pos != reader.end:
        raise ProtocolError(f"trailing bytes after msgpack value ({reader.end - reader.pos} bytes)")
    if len(frames) > 1:
        (reader.table or _FrameTable(frames, total, limits.max_message_bytes)).check_all_used()
    return value
