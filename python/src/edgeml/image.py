"""Encoded images (JPEG, PNG, WebP) as payload values: msgpack ext type 4 (docs/protocol.md, "Images").

An :class:`Image` keeps its encoded bytes (a read-only view, not a copy) plus the format, size and channels read
from the image's own header, without decoding pixels. :meth:`Image.decode` gives a read-only uint8 array of shape
``(height, width, channels)`` with Pillow or OpenCV, after checking the header against the decode limits.

The header reader follows docs/protocol.md exactly (the same rules and errors as the TypeScript
``src/tensor/image-header.ts``): pure functions over bytes that allocate nothing in proportion to the image.
"""

from __future__ import annotations

import io
from typing import Any, NamedTuple, Union

import numpy as np

from .errors import EdgeMLError, LimitError, ProtocolError

BytesLike = Union[bytes, bytearray, memoryview]

#: Encoded image formats edgeml carries, in a fixed order.
IMAGE_FORMATS: tuple[str, ...] = ("jpeg", "png", "webp")

#: Most pixels (width x height) :meth:`Image.decode` decodes unless told otherwise (50 MP).
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


class ImageHeader(NamedTuple):
    """What an image's header says: format, size, and the channels it decodes to (1 gray, 2 gray + alpha, 3 RGB,
    4 RGBA)."""

    format: str
    width: int
    height: int
    channels: int


def _fail(fmt: str, why: str) -> ProtocolError:
    return ProtocolError(f"invalid {fmt} image: {why}")


def _u16be(b: memoryview, i: int) -> int:
    return (b[i] << 8) | b[i + 1]


def _u32be(b: memoryview, i: int) -> int:
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


def _u16le(b: memoryview, i: int) -> int:
    return b[i] | (b[i + 1] << 8)


def _u24le(b: memoryview, i: int) -> int:
    return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)


def _is_sof(marker: int) -> bool:
    """SOF markers (baseline, extended, progressive, lossless; Huffman and arithmetic); not DHT (C4), JPG (C8) or
    DAC (CC)."""
    return 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)


def _jpeg(b: memoryview) -> ImageHeader:
    n = len(b)
    i = 2
    while True:
        if i >= n:
            raise _fail("jpeg", "truncated before the frame header (SOF)")
        if b[i] != 0xFF:
            raise _fail("jpeg", f"expected a marker at byte {i}")
        while i < n and b[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            raise _fail("jpeg", "truncated inside a marker")
        marker = b[i]
        i += 1
        if marker == 0xD8 or marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length
            continue
        if marker == 0xD9 or marker == 0xDA:
            raise _fail("jpeg", "no frame header (SOF) before the scan data")
        if i + 2 > n:
            raise _fail("jpeg", "truncated segment length")
        length = _u16be(b, i)
        if length < 2:
            raise _fail("jpeg", f"segment length {length}")
        if _is_sof(marker):
            if length < 8 or i + 8 > n:
                raise _fail("jpeg", "truncated frame header (SOF)")
            height = _u16be(b, i + 3)
            width = _u16be(b, i + 5)
            channels = b[i + 7]
            if width == 0 or height == 0:
                raise _fail("jpeg", f"size {width}x{height} (a height set later by DNL is unsupported)")
            if channels not in (1, 3):
                raise _fail("jpeg", f"{channels} components (only gray and YCbCr/RGB)")
            if length < 8 + 3 * channels or i + length > n:
                raise _fail("jpeg", "truncated frame header (SOF)")
            return ImageHeader("jpeg", width, height, channels)
        i += length


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Channels by PNG colour type: gray, RGB, palette (decoded to RGB), gray+alpha, RGBA.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def _png(b: memoryview) -> ImageHeader:
    if len(b) < 33:
        raise _fail("png", "truncated before the end of IHDR")
    if b[:8] != _PNG_SIGNATURE:
        raise _fail("png", "bad signature")
    if _u32be(b, 8) != 13 or b[12:16] != b"IHDR":
        raise _fail("png", "the first chunk is not a 13-byte IHDR")
    width = _u32be(b, 16)
    height = _u32be(b, 20)
    depth = b[24]
    channels = _PNG_CHANNELS.get(b[25])
    if width == 0 or height == 0 or width > 0x7FFFFFFF or height > 0x7FFFFFFF:
        raise _fail("png", f"size {width}x{height}")
    if channels is None:
        raise _fail("png", f"colour type {b[25]}")
    if depth not in (1, 2, 4, 8, 16):
        raise _fail("png", f"bit depth {depth}")
    return ImageHeader("png", width, height, channels)


def _webp(b: memoryview) -> ImageHeader:
    if len(b) < 30:
        raise _fail("webp", "truncated before the end of the first chunk header")
    tag = bytes(b[12:16])
    p = 20  # chunk payload
    channels = 3
    if tag == b"VP8 ":
        if b[p + 3] != 0x9D or b[p + 4] != 0x01 or b[p + 5] != 0x2A:
            raise _fail("webp", "bad VP8 start code")
        if b[p] & 1:
            raise _fail("webp", "the first VP8 frame is not a key frame")
        width = _u16le(b, p + 6) & 0x3FFF
        height = _u16le(b, p + 8) & 0x3FFF
    elif tag == b"VP8L":
        if b[p] != 0x2F:
            raise _fail("webp", "bad VP8L signature")
        bits = b[p + 1] | (b[p + 2] << 8) | (b[p + 3] << 16) | (b[p + 4] << 24)
        width = (bits & 0x3FFF) + 1
        height = ((bits >> 14) & 0x3FFF) + 1
        if (bits >> 28) & 1:
            channels = 4
        if bits >> 29:
            raise _fail("webp", "unknown VP8L version")
    elif tag == b"VP8X":
        if b[p] & 0x10:
            channels = 4
        width = _u24le(b, p + 4) + 1
        height = _u24le(b, p + 7) + 1
    else:
        raise _fail("webp", f"unknown first chunk {tag.decode('latin-1')!r}")
    if width == 0 or height == 0:
        raise _fail("webp", f"size {width}x{height}")
    return ImageHeader("webp", width, height, channels)


def _byte_view(data: Any) -> memoryview:
    """A 1-D unsigned-byte view of ``data`` (no copy); ProtocolError for anything that is not bytes-like."""
    try:
        mv = memoryview(data)
    except TypeError:
        raise ProtocolError(f"an image is built from bytes, not {type(data).__name__}") from None
    if mv.format != "B" or mv.ndim != 1:
        if not mv.c_contiguous:
            raise ProtocolError("an image is built from contiguous bytes")
        mv = mv.cast("B")
    return mv


def sniff_image_format(data: BytesLike) -> str | None:
    """The format ``data`` starts with (by magic number): ``"jpeg"``, ``"png"``, ``"webp"``, or None."""
    b = _byte_view(data)
    if len(b) >= 3 and b[0] == 0xFF and b[1] == 0xD8 and b[2] == 0xFF:
        return "jpeg"
    if len(b) >= 8 and b[:8] == _PNG_SIGNATURE:
        return "png"
    if len(b) >= 12 and b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        return "webp"
    return None


def read_image_header(data: BytesLike, format: str | None = None) -> ImageHeader:  # noqa: A002 - protocol name
    """The header of an encoded image: its format (from the magic number, or checked against ``format`` when
    given), size and channels. Reads at most the bytes up to the frame header; allocates nothing in proportion to
    the image.

    Raises ProtocolError when the bytes are not a JPEG, PNG or WebP image, or are truncated or corrupt before the
    size is known (corruption after the header is found only by decoding).
    """
    b = _byte_view(data)
    sniffed = sniff_image_format(b)
    if sniffed is None:
        raise ProtocolError(f"not a {format or 'JPEG, PNG or WebP'} image (unknown magic number)")
    if format is not None and sniffed != format:
        raise ProtocolError(f"declared {format}, the data is {sniffed}")
    if sniffed == "jpeg":
        return _jpeg(b)
    if sniffed == "png":
        return _png(b)
    return _webp(b)


_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_PIL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _to_uint8(a: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """8-bit samples: 16-bit samples keep their high byte."""
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind in "ui" and a.dtype.itemsize >= 2:
        return (np.clip(a, 0, 0xFFFF) >> 8).astype(np.uint8)
    raise ProtocolError(f"the decoder gave samples of dtype {a.dtype}")


def _decode_pillow(pil: Any, image: Image) -> np.ndarray:  # type: ignore[type-arg]
    fp = io.BytesIO(image.bytes)  # one copy of the encoded bytes, none of the pixels yet
    try:
        with pil.open(fp, formats=[_PIL_FORMATS[image.format]]) as im:
            # Pillow read the header again: it must say what ours said, or the limits checked the wrong size.
            if im.size != (image.width, image.height):
                raise ProtocolError(
                    f"{image.format} image: the decoder reads size {im.size[0]}x{im.size[1]}, "
                    f"the header {image.width}x{image.height}"
                )
            mode = _PIL_MODES[image.channels]
            if image.channels == 1 and im.mode.startswith("I"):  # 16-bit gray
                im.load()
                a = _to_uint8(np.asarray(im))
            else:
                a = np.asarray(im if im.mode == mode else im.convert(mode))
    except EdgeMLError:
        raise
    except pil.DecompressionBombError as e:
        raise LimitError(f"{image.format} image refused by the image codec: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, MemoryError) as e:
        raise ProtocolError(f"invalid {image.format} image: cannot be decoded ({e})") from None
    return a


def _decode_cv2(cv2: Any, image: Image) -> np.ndarray:  # type: ignore[type-arg]
    try:
        a = cv2.imdecode(np.frombuffer(image.bytes, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise ProtocolError(f"invalid {image.format} image: cannot be decoded ({e})") from None
    if a is None:
        raise ProtocolError(f"invalid {image.format} image: cannot be decoded")
    a = _to_uint8(a)
    if a.ndim == 2:
        a = a[:, :, None]
    got, want = a.shape[2], image.channels
    if got >= 3:  # OpenCV gives BGR(A)
        a = a[:, :, [2, 1, 0, 3][:got]]
    if got != want:  # e.g. gray + alpha PNGs come as BGRA, palette PNGs with transparency as BGRA
        if want <= 2:
            color = np.ascontiguousarray(a[:, :, :3])
            main = a[:, :, :1] if got <= 2 else cv2.cvtColor(color, cv2.COLOR_RGB2GRAY)[:, :, None]
        else:
            main = a[:, :, :3] if got >= 3 else np.repeat(a[:, :, :1], 3, axis=2)
        if want in (2, 4):
            alpha = a[:, :, 3:4] if got == 4 else a[:, :, 1:2] if got == 2 else np.full_like(a[:, :, :1], 255)
            main = np.concatenate([main, alpha], axis=2)
        a = main
    return a


def _codec() -> tuple[str, Any]:
    try:
        from PIL import Image as pil

        return "pillow", pil
    except ImportError:
        pass
    try:
        import cv2

        return "cv2", cv2
    except ImportError:
        pass
    raise EdgeMLError("no image codec installed: pip install pillow (or opencv-python) to decode images")


class Image:
    """An encoded image (JPEG, PNG or WebP) as a payload value, sent as msgpack ext type 4 with its bytes in a data
    frame. Built from encoded bytes, whose header gives the format, size and channels; the bytes are kept as a
    read-only view (not copied).

    >>> image = Image.from_bytes(jpeg_bytes)      # ProtocolError unless it is a JPEG, PNG or WebP
    >>> image.format, image.shape                 # ('jpeg', (480, 640, 3))
    >>> pixels = image.decode()                   # read-only uint8 array of shape (height, width, channels)
    """

    __slots__ = ("format", "width", "height", "channels", "bytes")

    format: str
    width: int
    height: int
    channels: int
    bytes: memoryview

    def __init__(self, format: str | BytesLike | None, data: BytesLike | None = None) -> None:  # noqa: A002
        """``Image(format, data)``: ``data`` must be an image of ``format`` (``"jpeg"``, ``"png"``, ``"webp"``, or
        None for any); ``Image(data)`` sniffs the format. Raises ProtocolError for bytes that are not such an image
        or whose header is truncated or corrupt."""
        if data is None and not isinstance(format, str) and format is not None:
            format, data = None, format
        if format is not None and format not in IMAGE_FORMATS:
            raise ProtocolError(f"unknown image format {format!r} (jpeg, png or webp)")
        if data is None:
            raise ProtocolError("an image is built from bytes, not None")
        view = _byte_view(data)
        h = read_image_header(view, format)  # type: ignore[arg-type]
        set_ = object.__setattr__
        set_(self, "format", h.format)
        set_(self, "width", h.width)
        set_(self, "height", h.height)
        set_(self, "channels", h.channels)
        set_(self, "bytes", view if view.readonly else view.toreadonly())

    @classmethod
    def from_bytes(cls, data: BytesLike, format: str | None = None) -> Image:  # noqa: A002
        """The image encoded in ``data`` (format sniffed, or checked against ``format``)."""
        return cls(format, data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Image is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Image is immutable: cannot delete {name!r}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)``: the shape of the decoded array."""
        return (self.height, self.width, self.channels)

    @property
    def nbytes(self) -> int:
        """Length of the encoded bytes."""
        return self.bytes.nbytes

    def __len__(self) -> int:
        return self.bytes.nbytes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return self.format == other.format and self.shape == other.shape and self.bytes == other.bytes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Image({self.format!r}, {self.width}x{self.height}x{self.channels}, {self.bytes.nbytes} bytes)"

    def check_limits(
        self, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, max_message_bytes: int | None = None
    ) -> None:
        """Raises LimitError when decoding would exceed ``max_image_pixels`` (width x height) or give more than
        ``max_message_bytes`` bytes (width x height x channels; default the codec's ``max_message_bytes``)."""
        if max_message_bytes is None:
            from .codec import DEFAULT_MAX_MESSAGE_BYTES

            max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES
        pixels = self.width * self.height
        if pixels > max_image_pixels:
            raise LimitError(
                f"{self.format} image of {self.width}x{self.height} = {pixels} pixels exceeds the limit of "
                f"{max_image_pixels} pixels"
            )
        size = pixels * self.channels
        if size > max_message_bytes:
            raise LimitError(
                f"{self.format} image of {self.width}x{self.height}x{self.channels} decodes to {size} bytes, over "
                f"the limit of {max_message_bytes} bytes"
            )

    def decode(
        self, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, max_message_bytes: int | None = None
    ) -> np.ndarray:  # type: ignore[type-arg]
        """Decodes to a read-only uint8 array of shape ``(height, width, channels)`` (HWC; RGB(A) order), with
        Pillow, or OpenCV when Pillow is absent. The header is checked against the limits before any pixel memory
        is allocated.

        Raises LimitError for an image over ``max_image_pixels`` or ``max_message_bytes`` (default: the codec's
        ``max_message_bytes``), ProtocolError for data that fails to decode, EdgeMLError when neither Pillow nor
        OpenCV is installed.
        """
        self.check_limits(max_image_pixels, max_message_bytes)
        name, module = _codec()
        a = _decode_pillow(module, self) if name == "pillow" else _decode_cv2(module, self)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.shape != self.shape:
            raise ProtocolError(
                f"{self.format} image decoded to shape {tuple(a.shape)}, its header says {self.shape}"
            )
        a = np.ascontiguousarray(a, dtype=np.uint8)
        if a.flags.writeable:
            a.flags.writeable = False
        return a
