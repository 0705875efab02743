"""edgeml.Image and ext 4 (docs/protocol.md, "Images"): header reading from synthetic JPEG/PNG/WebP headers built
here, the refusals the page lists, limits checked before any pixel memory, the codec round trip, and (with Pillow)
decoding real images."""

from __future__ import annotations

import io
import struct
import sys

import numpy as np
import pytest

import edgeml
from edgeml import EdgeMLError, Image, LimitError, ProtocolError, codec
from edgeml import image as image_mod
from edgeml.image import read_image_header, sniff_image_format

# ---------------------------------------------------------------------------------------------------------------
# Synthetic headers (only the bytes the header reader looks at; the rest would be found corrupt only by decoding)


def jpeg(width: int, height: int, components: int = 3, sof: int = 0xC0, before: bytes = b"") -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof_body = struct.pack(">BHHB", 8, height, width, components) + b"\x01\x11\x00" * components
    frame = bytes((0xFF, sof)) + struct.pack(">H", 2 + len(sof_body)) + sof_body
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + app0 + before + frame + sos + b"\x00" * 16 + b"\xff\xd9"


def png(width: int, height: int, colour: int = 2, depth: int = 8, chunk: bytes = b"IHDR", size: int = 13) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", size) + chunk + ihdr + b"\x00\x00\x00\x00"


def riff(chunk: bytes, payload: bytes) -> bytes:
    payload = payload.ljust(max(len(payload), 10), b"\x00")
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def vp8(width: int, height: int, key: bool = True, start: bytes = b"\x9d\x01\x2a") -> bytes:
    tag = b"\x00\x00\x00" if key else b"\x01\x00\x00"
    return riff(b"VP8 ", tag + start + struct.pack("<HH", width, height))


def vp8l(width: int, height: int, alpha: bool = False, version: int = 0, signature: int = 0x2F) -> bytes:
    bits = (width - 1) | ((height - 1) << 14) | (int(alpha) << 28) | (version << 29)
    return riff(b"VP8L", bytes((signature,)) + struct.pack("<I", bits))


def vp8x(width: int, height: int, flags: int = 0) -> bytes:
    size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return riff(b"VP8X", bytes((flags, 0, 0, 0)) + size)


# ---------------------------------------------------------------------------------------------------------------
# Header reading


@pytest.mark.parametrize(
    "data, expected",
    [
        (jpeg(640, 480), ("jpeg", 640, 480, 3)),
        (jpeg(3, 2, components=1), ("jpeg", 3, 2, 1)),
        (jpeg(65535, 65535, sof=0xC2), ("jpeg", 65535, 65535, 3)),  # progressive
        (jpeg(7, 5, sof=0xCF), ("jpeg", 7, 5, 3)),  # lossless, arithmetic
        # DHT (C4), DAC (CC) and JPG (C8) are skipped by their lengths, not read as SOFs
        (jpeg(9, 4, before=b"\xff\xc4\x00\x06\x00\x00\x00\x00" + b"\xff\xcc\x00\x04\x00\x00" + b"\xff\xc8\x00\x02"),
         ("jpeg", 9, 4, 3)),
        # fill bytes, and TEM (01) and RSTn (D0-D7) without a length
        (jpeg(9, 4, before=b"\xff\xff\xff\x01\xff\xd0\xff\xd7\xff\xd8"), ("jpeg", 9, 4, 3)),
        (png(3, 2), ("png", 3, 2, 3)),
        (png(1, 1, colour=0, depth=1), ("png", 1, 1, 1)),
        (png(5, 6, colour=3, depth=4), ("png", 5, 6, 3)),  # palette: decoded to RGB
        (png(5, 6, colour=4, depth=16), ("png", 5, 6, 2)),
        (png(5, 6, colour=6), ("png", 5, 6, 4)),
        (png(2**31 - 1, 1, colour=0), ("png", 2**31 - 1, 1, 1)),
        (vp8(3, 2), ("webp", 3, 2, 3)),
        (vp8(16383 | 0xC000, 100 | 0x4000), ("webp", 16383, 100, 3)),  # the top 2 bits are the scale, not size
        (vp8l(3, 2), ("webp", 3, 2, 3)),
        (vp8l(16384, 16384, alpha=True), ("webp", 16384, 16384, 4)),
        (vp8x(3, 2), ("webp", 3, 2, 3)),
        (vp8x(2**24, 70000, flags=0x10), ("webp", 2**24, 70000, 4)),
    ],
)
def test_header(data: bytes, expected: tuple[str, int, int, int]) -> None:
    assert tuple(read_image_header(data)) == expected
    assert sniff_image_format(data) == expected[0]
    assert tuple(read_image_header(data, expected[0])) == expected
    image = Image.from_bytes(data)
    assert (image.format, image.width, image.height, image.channels) == expected
    assert image.shape == (expected[2], expected[1], expected[3])


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "unknown magic number"),
        (b"GIF89a" + b"\x00" * 40, "unknown magic number"),
        (b"\xff\xd8", "unknown magic number"),
        # JPEG
        (b"\xff\xd8\xff", "truncated inside a marker"),
        (b"\xff\xd8\xff\xe0\x00\x10", "truncated before the frame header"),
        (b"\xff\xd8\xff\xe0\x00", "truncated segment length"),
        (b"\xff\xd8\xff\xe0\x00\x01", "segment length 1"),
        (b"\xff\xd8\xff\xe0\x00\x04\x00\x00\x12", "expected a marker at byte 8"),
        (b"\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00", r"no frame header \(SOF\) before the scan data"),
        (b"\xff\xd8\xff\xd9", r"no frame header \(SOF\) before the scan data"),
        (jpeg(3, 0), "DNL"),
        (jpeg(0, 3), "size 0x3"),
        (jpeg(3, 2, components=4), "4 components"),
        (jpeg(3, 2, components=2), "2 components"),
        (jpeg(3, 2)[:25], r"truncated frame header \(SOF\)"),
        (jpeg(3, 2)[:30], r"truncated frame header \(SOF\)"),  # the components cut off
        # PNG
        (png(3, 2)[:32], "truncated before the end of IHDR"),
        (png(3, 2, chunk=b"IDAT"), "not a 13-byte IHDR"),
        (png(3, 2, size=12), "not a 13-byte IHDR"),
        (png(0, 2), "size 0x2"),
        (png(2**31, 2), "size 2147483648x2"),
        (png(3, 2, colour=1), "colour type 1"),
        (png(3, 2, colour=5), "colour type 5"),
        (png(3, 2, depth=3), "bit depth 3"),
        (png(3, 2, depth=32), "bit depth 32"),
        # WebP
        (vp8(3, 2)[:29], "truncated before the end of the first chunk header"),
        (vp8(3, 2, start=b"\x9d\x01\x2b"), "bad VP8 start code"),
        (vp8(3, 2, key=False), "not a key frame"),
        (vp8(0, 2), "size 0x2"),
        (vp8(3, 0x4000), "size 3x0"),  # only the scale bits set
        (vp8l(3, 2, signature=0x2E), "bad VP8L signature"),
        (vp8l(3, 2, version=1), "unknown VP8L version"),
        (riff(b"ALPH", b"\x00" * 10), "unknown first chunk 'ALPH'"),
    ],
)
def test_header_refused(data: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        read_image_header(data)
    with pytest.raises(ProtocolError):
        Image.from_bytes(data)


def test_declared_format_must_match() -> None:
    with pytest.raises(ProtocolError, match="declared png, the data is jpeg"):
        read_image_header(jpeg(3, 2), "png")
    with pytest.raises(ProtocolError, match="declared webp, the data is png"):
        Image("webp", png(3, 2))
    with pytest.raises(ProtocolError, match="not a png image"):
        Image("png", b"\x00\x01\x02\x03")
    with pytest.raises(ProtocolError, match="unknown image format 'gif'"):
        Image("gif", jpeg(3, 2))
    with pytest.raises(ProtocolError, match="unknown image format 'JPEG'"):
        Image("JPEG", jpeg(3, 2))  # case-sensitive
    with pytest.raises(ProtocolError, match="built from bytes"):
        Image("jpeg", 12)  # type: ignore[arg-type]


def test_constructors_and_bytes_view() -> None:
    data = bytearray(png(3, 2))
    a = Image("png", data)
    b = Image(data)  # format sniffed
    c = Image.from_bytes(memoryview(data))
    d = Image(None, bytes(data))
    assert a == b == c == d
    assert a != Image(png(3, 2, colour=0))
    assert isinstance(a.bytes, memoryview) and a.bytes.readonly
    assert len(a) == a.nbytes == len(data)
    data[32] = 0x7A  # a view, not a copy (after the header, so the image is still valid)
    assert a.bytes[32] == 0x7A
    with pytest.raises(TypeError):
        a.bytes[0] = 0  # type: ignore[index]
    with pytest.raises(AttributeError):
        a.width = 5  # type: ignore[misc]
    assert "png" in repr(a) and "3x2x3" in repr(a)
    assert edgeml.Image is Image and "Image" in edgeml.__all__
    # a non-byte memoryview is taken as its bytes
    words = np.frombuffer(png(3, 2) + b"\x00\x00\x00", dtype=np.uint32)
    assert Image(memoryview(words)).shape == (2, 3, 3)


# ---------------------------------------------------------------------------------------------------------------
# Limits, checked before anything is allocated for the pixels


def _no_codec(*_: object) -> None:
    raise AssertionError("the image codec was reached")


def test_huge_png_refused_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    image = Image("png", png(100_000, 100_000))  # 10^10 pixels: the header is fine
    assert image.shape == (100_000, 100_000, 3)
    monkeypatch.setattr(image_mod, "_codec", _no_codec)
    with pytest.raises(LimitError, match="10000000000 pixels exceeds the limit of 50000000"):
        image.decode()
    with pytest.raises(LimitError, match="decodes to 30000000000 bytes, over the limit of 268435456"):
        image.decode(max_image_pixels=10**12)  # then the decoded size (3 * 10^10 bytes) is over max_message_bytes
    with pytest.raises(LimitError, match="decodes to 30000000000 bytes"):
        image.decode(max_image_pixels=10**12, max_message_bytes=10**10)


def test_limits_are_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    image = Image(png(100, 50, colour=6))  # 5000 pixels, 20000 bytes
    image.check_limits(max_image_pixels=5000, max_message_bytes=20000)
    with pytest.raises(LimitError):
        image.check_limits(max_image_pixels=4999)
    with pytest.raises(LimitError, match="decodes to 20000 bytes"):
        image.check_limits(max_message_bytes=19999)
    monkeypatch.setattr(image_mod, "_codec", _no_codec)
    with pytest.raises(LimitError):
        image.decode(max_message_bytes=19999)


def test_no_codec_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(EdgeMLError, match="no image codec installed"):
        Image(png(3, 2)).decode()


# ---------------------------------------------------------------------------------------------------------------
# The codec: ext 4


def test_codec_round_trip_never_inline() -> None:
    image = Image(png(3, 2))
    frames = codec.encode_message({"cam": image, "n": 1})
    assert len(frames) == 2  # 37 bytes, still a data frame (inline_bytes_max is 1024)
    assert bytes(frames[1]) == bytes(image.bytes)
    assert bytes(frames[0]) == bytes.fromhex("82a363616d") + bytes.fromhex("c70a0493a3706e679302030301") + b"\xa1n\x01"
    frames = [bytes(f) for f in frames]
    out = codec.decode_message(frames)
    assert out["cam"] == image and out["n"] == 1
    assert out["cam"].bytes.obj is frames[1]  # a view on the received frame, not a copy


def test_codec_round_trip_compressed() -> None:
    pytest.importorskip("lz4.block")
    image = Image(vp8x(640, 480, flags=0x10) + b"\x00" * 200_000)
    frames = codec.encode_message([image, image.bytes], codec.EncodeOptions(compression_min_bytes=1024))
    header = bytes(frames[0])
    assert header[3:5] == b"\x04\x93" and b"\x93\x01\xa3lz4" in header  # ext 4 [webp, shape, [1, "lz4", n]]
    assert len(frames) == 3 and len(frames[1]) < 10_000
    out = codec.decode_message(frames)
    assert out[0] == image and out[0].shape == (480, 640, 4)


def _ext4(body: bytes) -> bytes:
    return bytes((0xC7, len(body), 4)) + body


@pytest.mark.parametrize(
    "body, frame, match",
    [
        (b"\x93\xa3png\x93\x02\x03\x03\xc4\x01\x00", None, "invalid frame reference"),  # inline bin: not a frame
        (b"\x93\xa3png\x93\xcb\x40\x00\x00\x00\x00\x00\x00\x00\x03\x03\x01", png(3, 2), "positive integers"),  # 2.0
        (b"\x93\xa3png\x93\xc3\x03\x03\x01", png(1, 3), "positive integers"),  # true
        (b"\x93\xa3png\x93\x00\x03\x03\x01", png(3, 2), "positive integers"),
        (b"\x93\xa3png\x93\xff\x03\x03\x01", png(3, 2), "positive integers"),
        (b"\x93\x04\x93\x02\x03\x03\x01", png(3, 2), "unknown image format 4"),
        (b"\x93\xa3png\x93\x02\x03\x04\x01", png(3, 2), "differs from its png header"),
        (b"\x93\xa3png\x93\x02\x03\x03\x02", png(3, 2), "invalid frame reference"),
        (b"\x92\xa3png\x01", png(3, 2), r"\[format, shape, frame\]"),
        (b"\xa3png", png(3, 2), r"\[format, shape, frame\]"),
    ],
)
def test_codec_refuses(body: bytes, frame: bytes | None, match: str) -> None:
    frames = [_ext4(body)] + ([frame] if frame is not None else [])
    with pytest.raises(ProtocolError, match=match):
        codec.decode_message(frames)


# ---------------------------------------------------------------------------------------------------------------
# Decoding (Pillow)


def _encode_pil(array: np.ndarray, fmt: str, mode: str | None = None, **kw: object) -> bytes:  # type: ignore[type-arg]
    pil = pytest.importorskip("PIL.Image")
    im = pil.fromarray(array, mode) if mode else pil.fromarray(array)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "channels, fmt, kw",
    [
        (1, "PNG", {}),
        (2, "PNG", {}),
        (3, "PNG", {}),
        (4, "PNG", {}),
        (3, "WEBP", {"lossless": True}),
        (4, "WEBP", {"lossless": True}),
    ],
)
def test_decode_lossless_round_trip(channels: int, fmt: str, kw: dict[str, object]) -> None:
    rng = np.random.default_rng(channels)
    pixels = rng.integers(0, 256, (5, 7, channels), dtype=np.uint8)
    if fmt == "WEBP" and channels == 4:
        pixels[..., 3] = np.maximum(pixels[..., 3], 1)  # libwebp may alter RGB under alpha 0
    data = _encode_pil(pixels[..., 0] if channels == 1 else pixels, fmt, {2: "LA"}.get(channels), **kw)
    image = Image(data)
    assert image.format == fmt.lower() and image.shape == (5, 7, channels)
    # through the wire too
    got = codec.decode_message(codec.encode_message(image)).decode()
    assert got.dtype == np.uint8 and got.shape == (5, 7, channels)
    assert not got.flags.writeable
    np.testing.assert_array_equal(got, pixels)


def test_decode_jpeg_and_lossy_webp() -> None:
    pixels = np.full((16, 24, 3), (200, 40, 90), dtype=np.uint8)
    for fmt in ("JPEG", "WEBP"):
        image = Image(_encode_pil(pixels, fmt, quality=95))
        got = image.decode()
        assert got.shape == (16, 24, 3) and not got.flags.writeable
        assert np.abs(got.astype(int) - pixels).max() < 12
    gray = Image(_encode_pil(pixels[..., 0], "JPEG", quality=95))
    assert gray.shape == (16, 24, 1)
    assert gray.decode().shape == (16, 24, 1)


def test_decode_palette_and_16_bit_png() -> None:
    pil = pytest.importorskip("PIL.Image")
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2] = (255, 0, 0)
    rgb[2:] = (0, 0, 255)
    im = pil.fromarray(rgb).convert("P", palette=pil.Palette.ADAPTIVE, colors=2)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    image = Image(buf.getvalue())
    assert image.shape == (4, 4, 3)
    np.testing.assert_array_equal(image.decode(), rgb)

    deep = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    buf = io.BytesIO()
    pil.fromarray(deep).save(buf, format="PNG")  # 16-bit gray
    image = Image(buf.getvalue())
    assert read_image_header(image.bytes).channels == 1
    np.testing.assert_array_equal(image.decode()[..., 0], (deep >> 8).astype(np.uint8))


def test_decode_corrupt_data_is_a_protocol_error() -> None:
    pytest.importorskip("PIL.Image")
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    good = _encode_pil(pixels, "PNG")
    corrupt = good[:33] + b"\x00\x00\x00\x10IDAT" + b"\x01" * 20  # the header is fine, the data is not
    image = Image(corrupt)
    assert image.shape == (8, 8, 3)
    with pytest.raises(ProtocolError):
        image.decode()
    with pytest.raises(ProtocolError):
        Image(jpeg(3, 2)).decode()  # a synthetic header and no image data


def test_decoder_must_agree_with_the_header() -> None:
    """If the codec reads another size than the header reader did, the limits were checked on the wrong size."""
    pytest.importorskip("PIL.Image")
    image = Image(_encode_pil(np.zeros((2, 2, 3), dtype=np.uint8), "PNG"))
    object.__setattr__(image, "width", 3)  # as if our header reader had read 3 wide
    with pytest.raises(ProtocolError, match="the decoder reads size 2x2, the header 3x2"):
        image.decode()


def test_decode_with_opencv_when_pillow_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OpenCV path, with a stand-in cv2 built on Pillow that answers as OpenCV does (BGR order, gray + alpha
    PNGs as BGRA, None for undecodable data)."""
    pil = pytest.importorskip("PIL.Image")
    import types

    answers: dict[bytes, np.ndarray] = {}  # type: ignore[type-arg]

    def opencv_answer(data: bytes) -> None:
        im = pil.open(io.BytesIO(data))
        if im.mode == "LA":
            im = im.convert("RGBA")
        a = np.asarray(im)
        answers[data] = a[:, :, [2, 1, 0, 3][: a.shape[2]]].copy() if a.ndim == 3 else a

    def imdecode(buf: np.ndarray, flags: int) -> np.ndarray | None:  # type: ignore[type-arg]
        return answers.get(buf.tobytes())

    fake = types.ModuleType("cv2")
    fake.error = RuntimeError  # type: ignore[attr-defined]
    fake.IMREAD_UNCHANGED = -1  # type: ignore[attr-defined]
    fake.COLOR_RGB2GRAY = 7  # type: ignore[attr-defined]
    fake.imdecode = imdecode  # type: ignore[attr-defined]
    fake.cvtColor = lambda a, code: a[:, :, 0].copy()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cv2", fake)
    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, (3, 5, 4), dtype=np.uint8)
    gray_alpha = np.stack([rgba[..., 0]] * 3 + [rgba[..., 3]], axis=2)
    cases = [
        (_encode_pil(rgba[..., :3], "PNG"), rgba[..., :3]),
        (_encode_pil(rgba, "PNG"), rgba),
        (_encode_pil(rgba[..., 0], "PNG"), rgba[..., :1]),
        (_encode_pil(gray_alpha[..., [0, 3]], "PNG", "LA"), gray_alpha[..., [0, 3]]),
    ]
    for data, _ in cases:
        opencv_answer(data)
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    assert image_mod._codec()[0] == "cv2"
    for data, want in cases:
        got = Image(data).decode()
        assert not got.flags.writeable
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ProtocolError, match="cannot be decoded"):
        Image(png(3, 2)).decode()
