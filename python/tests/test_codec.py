"""Codec unit tests and hypothesis round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgeml
from edgeml import codec, protocol
from helpers import DTYPE_NAMES, array

scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=40) | st.binary(max_size=2000)
)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids, max_size=5),
    max_leaves=30,
)


def _norm(v):  # what a value decodes to: integral floats become ints, tuples lists
    if isinstance(v, float) and v.is_integer() and abs(v) <= codec.MAX_SAFE and not (v == 0 and math.copysign(1, v) < 0):
        return int(v)
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


@settings(max_examples=300, deadline=None)
@given(values)
def test_roundtrip(v) -> None:
    frames = codec.encode_message(v)
    assert codec.decode_message(frames) == _norm(v)
    # Deterministic: the same value always gives the same bytes.
    assert codec.encode_message(v)[0] == frames[0]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(DTYPE_NAMES), st.lists(st.integers(0, 4), max_size=4))
def test_array_roundtrip(dtype, shape) -> None:
    a = array(dtype, tuple(shape))
    out = codec.decode_message(codec.encode_message({"a": a}))["a"]
    assert out.shape == a.shape and codec.dtype_name(out.dtype) == dtype and out.tobytes() == a.tobytes()
    assert not out.flags.writeable


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_crashes(b) -> None:
    try:
        protocol.decode_envelope([b])
    except (edgeml.ProtocolError, edgeml.LimitError):
        pass


def test_number_model() -> None:
    h = codec.encode_message([2.0, -0.0, 2.5, 2.0**60, float("nan")])[0]
    out = codec.decode_message([h])
    assert out[0] == 2 and type(out[0]) is int
    assert math.copysign(1, out[1]) < 0 and out[2] == 2.5 and type(out[3]) is float and math.isnan(out[4])
    assert type(codec.decode_message(codec.encode_message(np.float32(1.5)))) is float


def test_encode_errors_name_the_path() -> None:
    with pytest.raises(edgeml.InvalidArgumentError) as info:
        codec.encode_message({"a": [1, 2, object()]})
    assert info.value.field == "payload.a[2]"
    with pytest.raises(edgeml.InvalidArgumentError):
        codec.encode_message(2**64)
    with pytest.raises(edgeml.InvalidArgumentError):
        codec.encode_message({1: 2})
    with pytest.raises(edgeml.InvalidArgumentError):
        codec.encode_message(np.zeros(2, np.complex64))
    cyc: list = []
    cyc.append(cyc)
    with pytest.raises(edgeml.LimitError):
        codec.encode_message(cyc)


def test_views_are_zero_copy_and_read_only() -> None:
    a = np.arange(1 << 16, dtype=np.float32)
    frames = codec.encode_message(a)
    assert isinstance(frames[1], memoryview) and np.shares_memory(np.frombuffer(frames[1], np.float32), a)
    out = codec.decode_message([frames[0], bytes(frames[1])])
    assert not out.flags.writeable and np.array_equal(out, a)


def test_non_contiguous_and_big_endian_arrays() -> None:
    a = np.arange(12, dtype=">i4").reshape(3, 4)[:, ::2]
    out = codec.decode_message(codec.encode_message(a))
    assert out.dtype == np.dtype("<i4") and out.tolist() == a.tolist()


def test_bool_bytes_other_than_0_1() -> None:
    h = codec.encode_message(edgeml.Tensor("bool", np.array([0, 2, 1], np.uint8)))
    with pytest.raises(edgeml.ProtocolError):
        codec.decode_message(h)
    ok = codec.decode_message(codec.encode_message(edgeml.Tensor("bool", np.array([0, 1, 1], np.uint8))))
    assert ok.dtype == np.bool_ and ok.tolist() == [False, True, True]


def test_bfloat16_bits_without_ml_dtypes() -> None:
    bits = np.array([0x3F80, 0x4000], np.uint16).view(codec.BFLOAT16_BITS)
    out = codec.decode_message(codec.encode_message(bits))
    assert codec.dtype_name(out.dtype) == "bfloat16" and out.view(np.uint16).tolist() == [0x3F80, 0x4000]


def test_typed_array_travels_as_ext2() -> None:
    frames = codec.encode_message(np.arange(3, dtype=np.int16).view(edgeml.TypedArray))
    assert frames[0][0] == 0xD5 or frames[0][1] == 2 or frames[0][2] == 2  # ext 2
    assert isinstance(codec.decode_message(frames), edgeml.TypedArray)


def test_compression_counts_against_limit() -> None:
    pytest.importorskip("lz4.block")
    frames = codec.encode_message(np.zeros(1 << 20, np.uint8), codec.EncodeOptions(compression_min_bytes=1024))
    assert len(frames[1]) < 1 << 16
    with pytest.raises(edgeml.LimitError):
        codec.decode_message(frames, codec.DecodeLimits(max_message_bytes=1 << 19))
    assert codec.decode_message(frames).size == 1 << 20


def test_value_count_limit() -> None:
    frames = codec.encode_message([[1, 2, 3]] * 100)
    with pytest.raises(edgeml.LimitError):
        codec.decode_message(frames, codec.DecodeLimits(max_values=50))


def test_unrepresentable_shape_is_protocol_error() -> None:
    body = bytes([0x93, 0xA5]) + b"uint8" + bytes([0xDC, 0, 70]) + bytes(70) + bytes([1])  # 70 dims of 0
    header = bytes([0xC7, len(body), 3]) + body
    with pytest.raises(edgeml.ProtocolError):
        codec.decode_message([header, b""])


def test_error_wire_roundtrip() -> None:
    for err in [edgeml.NotFoundError("x"), edgeml.ConfigMismatchError("m", ["a"]),
                edgeml.InvalidArgumentError("f", "bad"), ValueError("v"), edgeml.RemoteError("KeyError", "k")]:
        env = protocol.decode_envelope(protocol.encode_error(7, err))
        back = protocol.error_from_wire(env.error)
        if isinstance(err, edgeml.EdgeMLError):
            assert type(back) is type(err) and str(back) == str(err)
        else:
            assert isinstance(back, edgeml.RemoteError) and back.remote_name == "ValueError"
    w = protocol.WireError("X", "EDGEML_NEW_THING", "m")
    assert isinstance(protocol.error_from_wire(w), edgeml.RemoteError)


def test_peer_error_text_truncated() -> None:
    frames = codec.encode_message({"v": 1, "k": "err", "id": 1, "e": {"message": "x" * 100_000}})
    env = protocol.decode_envelope(frames)
    assert len(env.error.message) < 1000


def test_peek_request_id() -> None:
    frames = protocol.encode_request(42, "call", "x", {"a": 1})
    assert protocol.peek_request_id([frames[0][:-3]]) == 42
    assert protocol.peek_request_id([b"\xc1"]) is None
