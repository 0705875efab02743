"""Request/reply over ROUTER (server) and DEALER (client) sockets, each owned by one I/O thread.

The server decodes requests in its I/O thread and runs handlers in a thread pool (or, for ``serial`` methods, on
one thread in arrival order), so calls are served concurrently; a handler exception of any kind becomes an ``err``
reply. The client matches replies to calls by id, with a deadline per call.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import zmq

from . import transport
from .codec import DEFAULT_ENCODE, DEFAULT_LIMITS, DecodeLimits, EncodeOptions
from .errors import ClosedError, EdgeMLError, InvalidArgumentError, LimitError, ProtocolError, TimeoutError
from .protocol import (
    ErrorReply,
    Reply,
    Request,
    decode_envelope,
    encode_error,
    encode_reply,
    encode_request,
    error_from_wire,
    peek_request_id,
)
from .security import ClientSecurity, ServerSecurity

log = logging.getLogger("edgeml")

DEFAULT_MAX_IN_FLIGHT_PER_CLIENT = 256
DEFAULT_MAX_PENDING_CALLS = 4096
DEFAULT_TIMEOUT = 10.0
DEFAULT_WORKERS = 32


@dataclass(frozen=True)
class RequestContext:
    method: str
    name: str | None
    peer: bytes


Handler = Callable[[Any, RequestContext], Any]
Admit = Callable[[Any, RequestContext], Any]


@dataclass
class _Method:
    handler: Handler
    serial: bool
    admit: Admit | None


class RpcServer:
    """Serves methods on a ROUTER socket. Every server answers ``ping`` with ``"pong"``."""

    def __init__(
        self,
        *,
        limits: DecodeLimits = DEFAULT_LIMITS,
        encode: EncodeOptions = DEFAULT_ENCODE,
        max_in_flight_per_client: int = DEFAULT_MAX_IN_FLIGHT_PER_CLIENT,
        heartbeat_ms: int | None = None,
        security: ServerSecurity | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        self.limits, self.encode = limits, encode
        self.max_in_flight = max_in_flight_per_client
        self.heartbeat_ms, self.security, self.workers = heartbeat_ms, security, workers
        self.methods: dict[str, _Method] = {}
        self.handle("ping", lambda p, c: "pong")
        self._lock = threading.Lock()
        self._in_flight: dict[bytes, int] = {}
        self._out: collections.deque[list[Any]] = collections.deque()
        self._thread: threading.Thread | None = None
        self._running = False
        self._port: int | None = None
        self.stats = {"requests": 0, "errors": 0, "malformed": 0}

    def handle(self, method: str, handler: Handler, *, serial: bool = False, admit: Admit | None = None) -> None:
        """Serves ``method``. ``admit`` runs first, in the I/O thread in arrival order, and may raise to refuse;
        ``serial`` handlers run one at a time in arrival order."""
        self.methods[method] = _Method(handler, serial, admit)

    @property
    def port(self) -> int | None:
        return self._port

    def start(self, host: str, port: int) -> int:
        if self._running:
            raise EdgeMLError("server already started")
        sock = transport.context().socket(zmq.ROUTER)
        transport.common_options(sock, self.limits.max_message_bytes, self.heartbeat_ms)
        sock.setsockopt(zmq.SNDHWM, 10_000)
        sock.setsockopt(zmq.RCVHWM, 10_000)
        try:
            self._port = transport.bind(sock, host, port, self.security)
        except Exception:
            sock.close(0)
            raise
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="edgeml-handler")
        self._serial = ThreadPoolExecutor(1, thread_name_prefix="edgeml-serial")
        self._waker = transport.Waker()
        self._running = True
        self._thread = threading.Thread(target=self._loop, args=(sock,), name="edgeml-rpc-server", daemon=True)
        self._thread.start()
        return self._port

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self._waker.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._serial.shutdown(wait=False, cancel_futures=True)
        self._waker.close()
        if self.security is not None:
            self.security.close()

    # -- I/O thread ------------------------------------------------------------------------------------------

    def _loop(self, sock: zmq.Socket[Any]) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._waker.fileno(), zmq.POLLIN)
        try:
            while self._running:
                events = dict(poller.poll(1000))
                if self._waker.fileno() in events:
                    self._waker.drain()
                while self._out:
                    msg = self._out.popleft()
                    try:
                        transport.send_frames(sock, msg, zmq.NOBLOCK)
                    except zmq.Again:
                        pass  # peer's queue full or gone: the reply is dropped, its deadline answers the caller
                if sock in events:
                    for _ in range(256):
                        try:
                            frames = transport.recv_frames(sock)
                        except zmq.Again:
                            break
                        self._on_message(frames)
        except Exception:  # pragma: no cover - a bug: log it, the server stops
            log.exception("edgeml server I/O loop failed")
        finally:
            sock.close(0)

    def _send(self, peer: bytes, frames: list[Any]) -> None:
        self._out.append([peer, *frames])
        self._waker.wake()

    def _fail(self, peer: bytes, id: int, error: BaseException) -> None:
        self.stats["errors"] += 1
        try:
            frames = encode_error(id, error)
        except Exception:  # an exception whose message cannot be encoded: still answer
            frames = encode_error(id, EdgeMLError(f"{type(error).__name__} (message not encodable)"))
        self._send(peer, frames)

    def _on_message(self, msg: list[Any]) -> None:
        if len(msg) < 2:
            self.stats["malformed"] += 1
            return
        peer, frames = bytes(msg[0]), msg[1:]
        try:
            env = decode_envelope(frames, self.limits)
        except (ProtocolError, LimitError) as e:
            rid = peek_request_id(frames)
            if rid is None:
                self.stats["malformed"] += 1
            else:
                self._fail(peer, rid, e)
            return
        if not isinstance(env, Request):
            self.stats["malformed"] += 1
            return
        m = self.methods.get(env.method)
        if m is None:
            self._fail(peer, env.id, InvalidArgumentError("method", f"unknown method {env.method[:100]!r}"))
            return
        with self._lock:
            running = self._in_flight.get(peer, 0)
            if running >= self.max_in_flight:
                limited = True
            else:
                limited = False
                self._in_flight[peer] = running + 1
        if limited:
            self._fail(peer, env.id, LimitError(f"more than {self.max_in_flight} requests in flight from this client"))
            return
        ctx = RequestContext(env.method, env.name, peer)
        if m.admit is not None:
            try:
                m.admit(env.payload, ctx)
            except BaseException as e:  # noqa: BLE001 - every refusal is an error reply
                self._done(peer)
                self._fail(peer, env.id, e)
                return
        (self._serial if m.serial else self._pool).submit(self._run, m.handler, env, ctx)

    def _done(self, peer: bytes) -> None:
        with self._lock:
            left = self._in_flight.get(peer, 1) - 1
            if left <= 0:
                self._in_flight.pop(peer, None)
            else:
                self._in_flight[peer] = left

    def _run(self, handler: Handler, env: Request, ctx: RequestContext) -> None:
        try:
            try:
                result = handler(env.payload, ctx)
                frames = encode_reply(env.id, result, self.encode)
            except BaseException as e:  # noqa: BLE001 - a handler exception of any kind is an err reply
                self._fail(ctx.peer, env.id, e)
                if not isinstance(e, Exception):
                    log.warning("handler for %s raised %r", env.method, e)
                return
            self.stats["requests"] += 1
            self._send(ctx.peer, frames)
        finally:
            self._done(ctx.peer)


class _Call:
    __slots__ = ("event", "value", "error", "frames", "deadline")

    def __init__(self, frames: list[Any], deadline: float) -> None:
        self.event = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.frames: list[Any] | None = frames
        self.deadline = deadline


class RpcClient:
    """Calls methods on a server through a DEALER socket; reconnects by itself after a server restart."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        limits: DecodeLimits = DEFAULT_LIMITS,
        encode: EncodeOptions = DEFAULT_ENCODE,
        heartbeat_ms: int | None = None,
        security: ClientSecurity | None = None,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise InvalidArgumentError("host", "must be a host name")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 65535:
            raise InvalidArgumentError("port", f"must be an integer in 1..65535, got {port!r}")
        if not timeout > 0:
            raise InvalidArgumentError("timeout", "must be a positive number of seconds")
        self.host, self.port, self.timeout = host, port, timeout
        self.limits, self.encode = limits, encode
        self._pending: dict[int, _Call] = {}
        self._unsent: collections.deque[tuple[int, _Call]] = collections.deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        #: Replies that came after their call had timed out (or matched no call), and were dropped.
        self.late_replies = 0
        self._closed = False
        self._waker = transport.Waker()
        sock = transport.context().socket(zmq.DEALER)
        transport.common_options(sock, limits.max_message_bytes, heartbeat_ms)
        transport.client_options(sock, security)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.SNDHWM, 10_000)
        sock.setsockopt(zmq.RCVHWM, 10_000)
        sock.connect(transport.endpoint(host, port))
        self._thread = threading.Thread(target=self._loop, args=(sock,), name="edgeml-rpc-client", daemon=True)
        self._thread.start()

    def _next_id(self) -> int:
        n = next(self._ids)
        if n > 0xFFFFFFFF:
            self._ids = itertools.count(2)
            n = 1
        return n

    def call(self, method: str, name: str | None, payload: Any = None, timeout: float | None = None) -> Any:
        """Sends a request and waits for its reply; raises the error the server answered, TimeoutError, or
        ClosedError."""
        if self._closed:
            raise ClosedError("client is closed")
        t = self.timeout if timeout is None else timeout
        if not t > 0:
            raise InvalidArgumentError("timeout", "must be a positive number of seconds")
        with self._lock:
            if len(self._pending) >= DEFAULT_MAX_PENDING_CALLS:
                raise LimitError(f"more than {DEFAULT_MAX_PENDING_CALLS} calls waiting for replies")
            rid = self._next_id()
        frames = encode_request(rid, method, name, payload, self.encode)
        call = _Call(frames, time.monotonic() + t)
        with self._lock:
            self._pending[rid] = call
            self._unsent.append((rid, call))
        self._waker.wake()
        if not call.event.wait(t):
            with self._lock:
                self._pending.pop(rid, None)
            if not call.event.is_set():
                what = method if name is None else f"{method} {name!r}"
                raise TimeoutError(f"{what} timed out after {t:g} s (server {self.host}:{self.port})", t)
        if call.error is not None:
            raise call.error
        return call.value

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._waker.wake()
        if self._thread is not threading.current_thread():
            self._thread.join(5)
        with self._lock:
            pending, self._pending = self._pending, {}
        for c in pending.values():
            c.error = ClosedError("client closed while the call was waiting")
            c.event.set()
        self._waker.close()

    def _settle(self, rid: int, value: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            c = self._pending.pop(rid, None)
        if c is None:
            self.late_replies += 1  # a call that timed out: dropped
            return
        c.value, c.error = value, error
        c.event.set()

    def _loop(self, sock: zmq.Socket[Any]) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._waker.fileno(), zmq.POLLIN)
        try:
            while not self._closed:
                events = dict(poller.poll(10 if self._unsent else 1000))
                if self._waker.fileno() in events:
                    self._waker.drain()
                self._flush(sock)
                if sock in events:
                    for _ in range(256):
                        try:
                            frames = transport.recv_frames(sock)
                        except zmq.Again:
                            break
                        self._on_reply(frames)
        except Exception:  # pragma: no cover
            log.exception("edgeml client I/O loop failed")
        finally:
            sock.close(0)

    def _flush(self, sock: zmq.Socket[Any]) -> None:
        while True:
            with self._lock:
                if not self._unsent:
                    return
                rid, call = self._unsent[0]
                if rid not in self._pending:  # timed out before it could be sent
                    self._unsent.popleft()
                    continue
            try:
                transport.send_frames(sock, call.frames or [], zmq.NOBLOCK)
            except zmq.Again:
                return  # not connected yet (IMMEDIATE): retried on the next tick
            with self._lock:
                self._unsent.popleft()
            call.frames = None

    def _on_reply(self, frames: list[Any]) -> None:
        try:
            env = decode_envelope(frames, self.limits)
        except (ProtocolError, LimitError) as e:
            rid = peek_request_id(frames, ("rep", "err"))
            if rid is not None:
                self._settle(rid, error=e)
            return
        if isinstance(env, Reply):
            self._settle(env.id, env.payload)
        elif isinstance(env, ErrorReply):
            self._settle(env.id, error=error_from_wire(env.error))
