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
from .image import Image

__version__ = "0.1.0"
from .action import ActionClient, ActionConfig, ActionServer
from .inference import InferenceClient, InferenceServer
from .security import ClientSecurity, KeyPair, ServerSecurity, generate_key_pair, read_key_file, write_key_files
from .trainer import DataTable, TrainerClient, TrainerConfig, TrainerServer

__all__ = [
    "AbortError", "ActionClient", "ActionConfig", "ActionServer", "AuthenticationError", "BFLOAT16",
    "BFLOAT16_BITS", "ClientSecurity", "ClosedError", "ConfigMismatchError", "DataTable", "DecodeLimits",
    "EdgeMLError", "EncodeOptions", "Image", "InferenceClient", "InferenceServer", "InvalidArgumentError",
    "KeyPair", "LimitError", "NotFoundError", "ProtocolError", "RemoteError", "ServerSecurity", "Tensor",
    "TimeoutError", "TrainerClient", "TrainerConfig", "TrainerServer", "TypedArray", "decode_message", "encode_message",
    "generate_key_pair", "read_key_file", "write_key_files",
]
