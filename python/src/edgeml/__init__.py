"""edgeml: move ML data between edge devices and GPU compute over ZeroMQ (Python peer of the TypeScript library)."""

from .codec import BFLOAT16, BFLOAT16_BITS, DecodeLimits, EncodeOptions, Tensor, TypedArray, decode_message, encode_message
from .errors import (
    AbortError,
    AuthenticationError,
    ClosedError,
    ConfigMismatchError,
    EdgeMLError,
    InvalidArgumentError,
    LimitError,
    NotFoundError,
    ProtocolError,
    RemoteError,
    TimeoutError,
)

__version__ = "0.1.0"
