"""ZeroMQ socket setup shared by every mode (docs/protocol.md, "ZeroMQ mapping"), and a wake-up pipe for I/O loops.

Each socket is owned by one I/O thread; other threads hand it work through a queue and wake it with the pipe.
"""

from __future__ import annotations


import socket as _socket
import time
from collections.abc import Sequence
from typing import Any

import zmq

from .codec import DEFAULT_MAX_MESSAGE_BYTES
from .errors import EdgeMLError
from .security import ClientSecurity, ServerSecurity

DEFAULT_HEARTBEAT_MS = 1000
DEFAULT_RECONNECT_MS = 100
DEFAULT_RECONNECT_MAX_MS = 1000
#: Frames at least this large are handed to libzmq without a copy.
ZERO_COPY_MIN = 64 * 1024


def context() -> zmq.Context[Any]:
    return zmq.Context.instance()


def common_options(sock: zmq.Socket[Any], max_message_bytes: int | None, heartbeat_ms: int | None) -> None:
    hb = heartbeat_ms or DEFAULT_HEARTBEAT_MS
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes or DEFAULT_MAX_MESSAGE_BYTES)
    sock.setsockopt(zmq.HEARTBEAT_IVL, hb)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, hb * 3)


def client_options(sock: zmq.Socket[Any], security: ClientSecurity | None) -> None:
    sock.setsockopt(zmq.RECONNECT_IVL, DEFAULT_RECONNECT_MS)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, DEFAULT_RECONNECT_MAX_MS)
    if security is not None:
        security.apply(sock)


def bind(sock: zmq.Socket[Any], host: str, port: int, security: ServerSecurity | None) -> int:
    """Binds ``tcp://host:port`` (port 0: a free port) and returns the bound port."""
    if security is not None:
        security.apply(sock)
    try:
        if port == 0:
            return sock.bind_to_random_port(f"tcp://{host}", min_port=1024, max_port=65535, max_tries=200)
        # A port just released by a socket of this process is freed by libzmq's I/O thread shortly after close:
        # retry briefly, as the TypeScript side does.
        deadline = time.monotonic() + 2.0
        while True:
            try:
                sock.bind(f"tcp://{host}:{port}")
                return port
            except zmq.ZMQError as e:
                if e.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
    except zmq.ZMQError as e:
        raise EdgeMLError(f"cannot listen on tcp://{host}:{port}: {e}") from e


def endpoint(host: str, port: int) -> str:
    return f"tcp://{host}:{port}"


def send_frames(sock: zmq.Socket[Any], frames: Sequence[Any], flags: int = 0) -> None:
    """Sends a multipart message; large frames go without a copy."""
    last = len(frames) - 1
    for i, f in enumerate(frames):
        n = f.nbytes if isinstance(f, memoryview) else len(f)
        sock.send(f, flags | (zmq.SNDMORE if i < last else 0), copy=n < ZERO_COPY_MIN)


def recv_frames(sock: zmq.Socket[Any]) -> list[Any]:
    """Receives a multipart message: small frames as bytes, large ones as zero-copy memoryviews."""
    out: list[Any] = []
    while True:
        frame = sock.recv(zmq.NOBLOCK, copy=False)
        n = len(frame)
        out.append(frame.bytes if n < ZERO_COPY_MIN else frame.buffer)
        if not frame.more:
            return out


class Waker:
    """A pipe an I/O loop polls; any thread may ``wake()`` it."""

    def __init__(self) -> None:
        self._r, self._w = _socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)

    def fileno(self) -> int:
        return self._r.fileno()

    def wake(self) -> None:
        try:
            self._w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (pipe full) or closed

    def drain(self) -> None:
        try:
            while self._r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        self._r.close()
        self._w.close()



