#!/usr/bin/env python3
"""Checks test/vectors/vectors.json with Python 3 and the `msgpack` package only, following docs/protocol.md.

For every vector: decode frame 0 with msgpack (ext types 1, 2, 3, 4 resolved against the data frames, LZ4 blocks
decompressed by the small decoder below), describe the result in the tagged JSON form, compare it with "value", and
re-encode the header with msgpack to check the bytes are the canonical encoding. When the `lz4` package is installed,
compressed frames are also checked against its reference decoder. Exit status 0 when every vector passes.
"""
import json
import math
import os
import sys

import msgpack

ITEMSIZE = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8,
            "uint64": 8, "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
MAX_SAFE = 2**53 - 1


def lz4_block_decompress(src, size):
    """LZ4 block format: sequences of token, literals, 2-byte little-endian offset, match (docs/protocol.md)."""
    out, i = bytearray(), 0
    while True:
        token = src[i]; i += 1
        n = token >> 4
        if n == 15:
            while True:
                b = src[i]; i += 1; n += b
                if b != 255: break
        out += src[i:i + n]; i += n
        if i == len(src): break
        offset = src[i] | src[i + 1] << 8; i += 2
        assert 0 < offset <= len(out), "bad offset"
        n = token & 15
        if n == 15:
            while True:
                b = src[i]; i += 1; n += b
                if b != 255: break
        for _ in range(n + 4): out.append(out[-offset])
    assert len(out) == size, "size mismatch"
    return bytes(out)


def image_size(fmt, d):
    """(width, height) from a JPEG SOF, PNG IHDR or WebP VP8/VP8L/VP8X header (docs/protocol.md, "Images")."""
    if fmt == "png": return int.from_bytes(d[16:20], "big"), int.from_bytes(d[20:24], "big")
    if fmt == "webp":
        tag, p = d[12:16], 20
        if tag == b"VP8 ": return int.from_bytes(d[p + 6:p + 8], "little") & 0x3FFF, int.from_bytes(d[p + 8:p + 10], "little") & 0x3FFF
        if tag == b"VP8L":
            bits = int.from_bytes(d[p + 1:p + 5], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        assert tag == b"VP8X", "bad webp chunk"
        return int.from_bytes(d[p + 4:p + 7], "little") + 1, int.from_bytes(d[p + 7:p + 10], "little") + 1
    i = 2
    while True:
        while d[i] == 0xFF: i += 1
        marker = d[i]; i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8: continue
        length = int.from_bytes(d[i:i + 2], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(d[i + 5:i + 7], "big"), int.from_bytes(d[i + 3:i + 5], "big")
        i += length


class Data:
    """A resolved ext value: `tag` is its tagged JSON form, `ext` the original ext for re-encoding."""
    def __init__(self, tag, ext): self.tag, self.ext = tag, ext


def decode(frames):
    used = set()

    def frame(ref):
        index, raw = (ref, None) if isinstance(ref, int) else (ref[0], ref[2])
        assert isinstance(ref, int) or (len(ref) == 3 and ref[1] == "lz4"), f"bad reference {ref}"
        assert 1 <= index < len(frames) and index not in used, f"bad frame index {index}"
        used.add(index)
        if raw is None: return frames[index]
        data = lz4_block_decompress(frames[index], raw)
        try:
            import lz4.block
            assert lz4.block.decompress(frames[index], uncompressed_size=raw) == data, "differs from lz4.block"
        except ImportError:
            pass
        return data

    def ext_hook(code, body):
        b = msgpack.unpackb(body)
        if code == 1: return Data({"$bytes": frame(b).hex()}, msgpack.ExtType(code, body))
        if code == 4:
            fmt, shape, data = b[0], b[1], frame(b[2])
            assert fmt in ("jpeg", "png", "webp"), f"unknown image format {fmt}"
            assert len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape), "bad image shape"
            assert image_size(fmt, data) == (shape[1], shape[0]), "image header does not match the shape"
            return Data({"$image": {"format": fmt, "shape": shape, "hex": data.hex()}}, msgpack.ExtType(code, body))
        dtype, ref = (b[0], b[1]) if code == 2 else (b[0], b[2])
        data = frame(ref)
        assert len(data) % ITEMSIZE[dtype] == 0, "partial element"
        if code == 2: return Data({"$array": {"dtype": dtype, "hex": data.hex()}}, msgpack.ExtType(code, body))
        assert code == 3, f"unknown ext type {code}"
        assert math.prod(b[1]) * ITEMSIZE[dtype] == len(data), "shape does not match the frame"
        return Data({"$tensor": {"dtype": dtype, "shape": b[1], "hex": data.hex()}}, msgpack.ExtType(code, body))

    header = msgpack.unpackb(frames[0], ext_hook=ext_hook, raw=False)
    assert used == set(range(1, len(frames))), "unreferenced frame"
    return header


def tagged(v):
    if isinstance(v, Data): return v.tag
    if isinstance(v, bool) or v is None or isinstance(v, str): return v
    if isinstance(v, int): return v if -MAX_SAFE <= v <= MAX_SAFE else {"$bigint": str(v)}
    if isinstance(v, float):
        if math.isnan(v): return {"$float": "NaN"}
        if math.isinf(v): return {"$float": "Infinity" if v > 0 else "-Infinity"}
        return {"$float": "-0"} if v == 0 and math.copysign(1, v) < 0 else v
    if isinstance(v, bytes): return {"$bytes": v.hex()}
    if isinstance(v, list): return [tagged(x) for x in v]
    if isinstance(v, dict):
        out = {k: tagged(x) for k, x in v.items()}
        return {"$map": out} if len(out) == 1 and next(iter(out)).startswith("$") else out
    raise TypeError(type(v))


def plain(v):
    """The header as msgpack-python packs it: resolved ext values back to ExtType."""
    if isinstance(v, Data): return v.ext
    if isinstance(v, list): return [plain(x) for x in v]
    if isinstance(v, dict): return {k: plain(x) for k, x in v.items()}
    return v


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    failures = 0
    # A JSON integer beyond 2^53 - 1 can only be a float 64 (bigints are tagged): read it as one.
    with open(path) as f: vectors = json.load(f, parse_int=lambda s: int(s) if abs(int(s)) <= MAX_SAFE else float(s))
    for vec in vectors:
        frames = [bytes.fromhex(h) for h in vec["frames"]]
        try:
            header = decode(frames)
            assert tagged(header) == vec["value"], f"value differs: {tagged(header)!r}"
            assert msgpack.packb(plain(header), use_bin_type=True) == frames[0], "re-encoded header differs"
        except Exception as e:  # noqa: BLE001 - report every failing vector, then fail
            failures += 1
            print(f"FAIL {vec['name']}: {e!r}")
    print(f"{len(vectors) - failures}/{len(vectors)} vectors ok")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
