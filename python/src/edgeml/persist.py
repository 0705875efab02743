"""The trainer data file (docs/file-format.md): msgpack + raw frames + SHA-256, written atomically."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import Any

from .codec import DEFAULT_MAX_DEPTH, DecodeLimits, EncodeOptions, decode_message, encode_message
from .errors import EdgeMLError, InvalidArgumentError, LimitError, NotFoundError, ProtocolError

FILE_MAGIC = b"EDGEMLT1"
FILE_FORMAT_VERSION = 1
TRAINER_FILE_KIND = "edgeml.trainer-data"
DEFAULT_MAX_FILE_BYTES = 16 * 1024**3
DEFAULT_MAX_FILE_FRAMES = 16 * 1024 * 1024
FILE_MAX_DEPTH = DEFAULT_MAX_DEPTH + 8
_PRELUDE, _DIGEST = 16, 32


def write_message_file(path: str, value: Any) -> None:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise InvalidArgumentError("path", "must be a file path")
    path = os.fspath(path)
    frames = encode_message(value, EncodeOptions(max_depth=FILE_MAX_DEPTH))
    prelude = FILE_MAGIC + struct.pack("<II", FILE_FORMAT_VERSION, len(frames))
    prelude += b"".join(struct.pack("<Q", len(memoryview(f).cast("B"))) for f in frames)
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            h = hashlib.sha256(prelude)
            f.write(prelude)
            for fr in frames:
                h.update(fr)
                f.write(fr)
            f.write(h.digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
        try:
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    except Exception as e:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise EdgeMLError(f"cannot save to {path}: {e}") from e


def read_message_file(path: str, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                      max_frames: int = DEFAULT_MAX_FILE_FRAMES) -> Any:
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        raise NotFoundError(f"no trainer data file at {path}") from None
    except OSError as e:
        raise EdgeMLError(f"cannot open {path}: {e}") from e
    with f:
        size = os.fstat(f.fileno()).st_size
        if size > max_file_bytes:
            raise LimitError(f"file of {size} bytes exceeds the limit of {max_file_bytes}")
        if size < _PRELUDE + 8 + _DIGEST:
            raise ProtocolError(f"file of {size} bytes is too short to be a data file")
        head = f.read(_PRELUDE)
        if head[:8] != FILE_MAGIC:
            raise ProtocolError(f"{path} is not an edgeml trainer data file (bad magic bytes)")
        version, count = struct.unpack_from("<II", head, 8)
        if version != FILE_FORMAT_VERSION:
            raise ProtocolError(f"unsupported file format version {version} (this library reads 1)")
        if count == 0:
            raise ProtocolError("file holds no frames")
        if count > max_frames:
            raise LimitError(f"file of {count} frames exceeds the limit of {max_frames}")
        data_start = _PRELUDE + 8 * count
        if data_start + _DIGEST > size:
            raise ProtocolError(f"file is truncated (frame table of {count} frames)")
        table = f.read(8 * count)
        lengths = struct.unpack(f"<{count}Q", table)
        total = data_start + _DIGEST
        for i, n in enumerate(lengths):
            if n > size:
                raise ProtocolError(f"frame {i} claims {n} bytes, more than the file holds")
            total += n
        if total > size:
            raise ProtocolError(f"file is truncated: {size} bytes, its frame table needs {total}")
        if total < size:
            raise ProtocolError(f"file has {size - total} unexpected bytes after its last frame")
        h = hashlib.sha256(head)
        h.update(table)
        frames = []
        for n in lengths:
            fr = f.read(n)
            h.update(fr)
            frames.append(fr)
        if not hmac.compare_digest(h.digest(), f.read(_DIGEST)):
            raise ProtocolError(f"{path} is corrupt (checksum mismatch)")
    limits = DecodeLimits(max_frames=max_frames, max_message_bytes=max_file_bytes, max_header_bytes=max_file_bytes,
                          max_collection_length=2**53, max_depth=FILE_MAX_DEPTH, max_values=2**53)
    return decode_message(frames, limits)
