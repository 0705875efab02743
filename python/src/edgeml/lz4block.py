"""LZ4 block format (docs/protocol.md, "Compression"): a strict decoder in pure Python and a compressor.

The decoder follows the TypeScript one rule for rule (every literal run and match inside input and output, no offset
0 or before the start, exact output size). Compression needs the optional ``lz4`` package.
"""

from __future__ import annotations

from .errors import InvalidArgumentError, ProtocolError


def _corrupt(what: str) -> ProtocolError:
    return ProtocolError(f"corrupt lz4 block: {what}")


def max_decompressed_length(n: int) -> int:
    """The most bytes an LZ4 block of ``n`` bytes can decode to."""
    return n * 255


try:
    import lz4.block as _lz4
except ImportError:  # pragma: no cover - depends on the environment
    _lz4 = None


def decompress(src: bytes | memoryview, raw_length: int, *, pure: bool = False) -> bytes:
    """Decodes one LZ4 block that must give exactly ``raw_length`` bytes. Raises ProtocolError otherwise.

    Uses the ``lz4`` package when installed (it refuses out-of-bounds matches and offset 0; the exact length is
    checked here), else the pure-Python decoder below (``pure=True`` forces it)."""
    if _lz4 is not None and not pure and raw_length > 0 and len(src) > 0:
        if raw_length > max_decompressed_length(len(src)):
            raise _corrupt(f"{len(src)} bytes cannot decode to {raw_length} bytes")
        try:
            out = _lz4.decompress(src, uncompressed_size=raw_length)
        except Exception as e:  # lz4.block.LZ4BlockError
            raise _corrupt(str(e)) from None
        if len(out) != raw_length:
            raise _corrupt(f"decodes to {len(out)} bytes, {raw_length} declared")
        return out
    return _decompress_pure(src, raw_length)


def _decompress_pure(src: bytes | memoryview, raw_length: int) -> bytes:
    src = bytes(src)
    end = len(src)
    if raw_length < 0:
        raise _corrupt(f"invalid size {raw_length}")
    if end == 0:
        raise _corrupt("empty block")
    if raw_length > max_decompressed_length(end):
        raise _corrupt(f"{end} bytes cannot decode to {raw_length} bytes")
    out = bytearray()
    ip = 0
    while True:
        if ip >= end:
            raise _corrupt("truncated sequence")
        token = src[ip]
        ip += 1
        literals = token >> 4
        if literals == 15:
            while True:
                if ip >= end:
                    raise _corrupt("truncated length")
                b = src[ip]
                ip += 1
                literals += b
                if b != 255:
                    break
        if literals > end - ip:
            raise _corrupt("literals run past the end of the block")
        if literals > raw_length - len(out):
            raise _corrupt("literals run past the declared size")
        out += src[ip : ip + literals]
        ip += literals
        if ip == end:
            break
        if end - ip < 2:
            raise _corrupt("truncated match offset")
        offset = src[ip] | (src[ip + 1] << 8)
        ip += 2
        op = len(out)
        if offset == 0 or offset > op:
            raise _corrupt(f"match offset {offset} at output position {op}")
        length = token & 15
        if length == 15:
            while True:
                if ip >= end:
                    raise _corrupt("truncated length")
                b = src[ip]
                ip += 1
                length += b
                if b != 255:
                    break
        length += 4
        if length > raw_length - op:
            raise _corrupt("match runs past the declared size")
        start = op - offset
        if offset >= length:
            out += out[start : start + length]
        else:
            # Overlapping match: a pattern of period `offset`, copied in doubling chunks.
            done = 0
            while done < length:
                chunk = min(length - done, offset + done)
                out += out[start : start + chunk]
                done += chunk
    if len(out) != raw_length:
        raise _corrupt(f"decodes to {len(out)} bytes, {raw_length} declared")
    return bytes(out)


def compress(data: bytes | memoryview) -> bytes:
    """One LZ4 block (no size prefix) of ``data``. Needs the ``lz4`` package (``pip install edgeml[lz4]``)."""
    try:
        import lz4.block
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InvalidArgumentError("compression.codec", "lz4 compression needs the lz4 package") from e
    return lz4.block.compress(data, store_size=False)
