#!/usr/bin/env python3
"""Checks test/vectors/ws-vectors.json against docs/protocol.md ("WebSocket mapping") alone, with Python 3's
standard library: a second, independent decoder and encoder of the framing. Exit 0 when every vector passes."""
import json
import struct
import sys
from pathlib import Path

KINDS = {"message": 1, "publish": 2, "subscribe": 3, "unsubscribe": 4, "ping": 5, "pong": 6, "ready": 7}


def align8(n: int) -> int:
    return (n + 7) & ~7


def encode(kind: int, frames: list) -> bytes:
    out = bytearray(struct.pack("<BBHI", kind, 1, 0, len(frames)))
    for f in frames:
        out += struct.pack("<I", len(f))
    for f in frames:
        out += b"\0" * (align8(len(out)) - len(out))
        out += f
    if not frames:
        out += b"\0" * (align8(len(out)) - len(out))
    return bytes(out)


def decode(msg: bytes, max_frames: int):
    if len(msg) < 8:
        raise ValueError("short")
    kind, version, _reserved, n = struct.unpack_from("<BBHI", msg, 0)
    if kind not in KINDS.values() or version != 1:
        raise ValueError("kind or version")
    if n > max_frames or 8 + 4 * n > len(msg):
        raise ValueError("frame count")
    lengths = struct.unpack_from(f"<{n}I", msg, 8)
    pos, frames = align8(8 + 4 * n), []
    for i, length in enumerate(lengths):
        if i:
            pos = align8(pos)
        frames.append(memoryview(msg)[pos : pos + length])
        pos += length
    if pos != len(msg) if n else len(msg) != 8:
        raise ValueError("size")
    need = {3: n == 1, 4: n == 1, 5: n == 0, 6: n == 0, 7: n == 0, 1: n >= 1, 2: n >= 2}[kind]
    if not need:
        raise ValueError("frames for kind")
    return kind, frames


def main() -> int:
    data = json.loads((Path(__file__).parent / "ws-vectors.json").read_text())
    failures = 0
    for v in data["valid"]:
        msg = bytes.fromhex(v["message"])
        kind, frames = decode(msg, data["maxFrames"])
        ok = kind == KINDS[v["kind"]] and [bytes(f).hex() for f in frames] == v["frames"]
        ok = ok and all((f.obj is msg) for f in frames) and encode(kind, [bytes(f) for f in frames]) == msg
        if not ok:
            failures += 1
            print(f"FAIL valid {v['name']}")
    for v in data["invalid"]:
        try:
            decode(bytes.fromhex(v["message"]), data["maxFrames"])
            failures += 1
            print(f"FAIL invalid {v['name']} was accepted")
        except (ValueError, struct.error):
            pass
    print(f"{len(data['valid'])} valid and {len(data['invalid'])} invalid WebSocket vectors, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
