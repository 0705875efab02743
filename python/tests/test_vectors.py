"""Golden vectors of docs/protocol.md: every valid vector decodes to its value and re-encodes byte-exact; every
invalid one is refused with its error class."""

from __future__ import annotations

from typing import Any

import pytest

import edgeml
from edgeml import codec, lz4block, protocol
from tagged import from_tagged, load, to_tagged

VECTORS = load("vectors.json")
INVALID = load("invalid.json")


def _frames(vec: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(h) for h in vec["frames"]]


def _encode_options(vec: dict[str, Any]) -> codec.EncodeOptions:
    enc = vec.get("encode") or {}
    comp = enc.get("compression")
    return codec.EncodeOptions(
        inline_bytes_max=enc.get("inlineBytesMax", codec.DEFAULT_INLINE_BYTES_MAX),
        compression_min_bytes=None if comp is None else comp.get("minBytes", codec.DEFAULT_COMPRESSION_MIN_BYTES),
    )


def test_vector_files_are_there() -> None:
    assert len(VECTORS) >= 80 and len(INVALID) >= 50


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_valid_vector_decodes(vec: dict[str, Any]) -> None:
    value = codec.decode_message(_frames(vec))
    assert to_tagged(value) == vec["value"]


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_valid_vector_reencodes(vec: dict[str, Any]) -> None:
    frames = _frames(vec)
    out = codec.encode_message(from_tagged(vec["value"]), _encode_options(vec))
    assert bytes(out[0]) == frames[0], "header bytes differ"
    assert len(out) == len(frames)
    header = codec.decode_message(frames)
    for i, (mine, theirs) in enumerate(zip(out[1:], frames[1:]), start=1):
        if vec["name"].startswith("lz4"):
            # LZ4 output is not canonical: compare what the frames decode to.
            continue
        assert bytes(mine) == theirs, f"frame {i} differs"
    if vec["name"].startswith("lz4"):
        assert to_tagged(codec.decode_message(out)) == to_tagged(header)


ENVELOPES = [v for v in VECTORS if v["name"].startswith("envelope")]


@pytest.mark.parametrize("vec", ENVELOPES, ids=[v["name"] for v in ENVELOPES])
def test_valid_vector_envelopes(vec: dict[str, Any]) -> None:
    env = protocol.decode_envelope(_frames(vec))
    assert env.kind in ("req", "rep", "err", "pub")


def _limits(vec: dict[str, Any]) -> codec.DecodeLimits:
    names = {
        "maxFrames": "max_frames",
        "maxMessageBytes": "max_message_bytes",
        "maxHeaderBytes": "max_header_bytes",
        "maxDepth": "max_depth",
        "maxStringBytes": "max_string_bytes",
        "maxCollectionLength": "max_collection_length",
        "maxValues": "max_values",
    }
    return codec.DecodeLimits(**{names[k]: v for k, v in (vec.get("limits") or {}).items()})


@pytest.mark.parametrize("vec", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_vector_is_refused(vec: dict[str, Any]) -> None:
    error = getattr(edgeml, vec["error"])
    frames = _frames(vec)
    if vec["level"] == "message":
        with pytest.raises(error):
            codec.decode_message(frames, _limits(vec))
    else:
        codec.decode_message(frames, _limits(vec))  # the frames themselves are fine
        with pytest.raises(error):
            protocol.decode_envelope(frames, _limits(vec))


@pytest.mark.parametrize("vec", [v for v in INVALID if v["name"].startswith("lz4")], ids=lambda v: v["name"])
def test_invalid_lz4_refused_by_pure_decoder(vec: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The same vectors with the pure-Python LZ4 decoder (used when the lz4 package is absent)."""
    monkeypatch.setattr(lz4block, "_lz4", None)
    with pytest.raises(getattr(edgeml, vec["error"])):
        codec.decode_message(_frames(vec), _limits(vec))


@pytest.mark.parametrize("vec", [v for v in VECTORS if v["name"].startswith("lz4")], ids=lambda v: v["name"])
def test_valid_lz4_with_pure_decoder(vec: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lz4block, "_lz4", None)
    assert to_tagged(codec.decode_message(_frames(vec))) == vec["value"]


def test_lz4_roundtrip() -> None:
    pytest.importorskip("lz4.block")
    data = bytes(range(256)) * 100 + b"x" * 5000
    packed = lz4block.compress(data)
    assert lz4block.decompress(packed, len(data)) == data
    assert lz4block.decompress(packed, len(data), pure=True) == data
