"""Publish/subscribe over XPUB (publisher) and SUB (subscribers), docs/protocol.md "ZeroMQ mapping".

The publisher keeps the latest message of each topic; a subscriber that (re)connects asks for it over the request
channel (method ``latest``, served by :func:`serve_latest`), so a late joiner gets the current value at once and no
other subscriber receives it again. Subscribers match topics exactly, drop duplicates by (epoch, seq), and hand
messages to their callback on a thread of their own through a small newest-wins queue.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from . import transport
from .codec import DEFAULT_ENCODE, DEFAULT_LIMITS, DecodeLimits, EncodeOptions
from .errors import ClosedError, EdgeMLError, InvalidArgumentError, LimitError
from .protocol import Publish, decode_envelope, encode_publish
from .security import ClientSecurity, ServerSecurity

log = logging.getLogger("edgeml")

DEFAULT_PUBLISH_HWM = 16
DEFAULT_SUBSCRIBER_QUEUE = 4
LATEST_PER_PEER_PER_S = 4
LATEST_PEERS_MAX = 10_000

FetchLatest = Callable[[str, "tuple[str, int] | None"], "tuple[str, int, Any] | None"]


class Publisher:
    def __init__(
        self,
        *,
        encode: EncodeOptions = DEFAULT_ENCODE,
        heartbeat_ms: int | None = None,
        security: ServerSecurity | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        self.encode, self.heartbeat_ms, self.security = encode, heartbeat_ms, security
        self.max_message_bytes = max_message_bytes
        self.epoch = os.urandom(8).hex()
        self._seq: dict[str, int] = {}
        self._latest: dict[str, tuple[str, int, Any]] = {}
        self._out: collections.deque[list[Any]] = collections.deque()
        self._lock = threading.Lock()
        self._running = False
        self._port: int | None = None
        self.stats = {"published": 0, "subscriptions": 0, "resent": 0}

    @property
    def port(self) -> int | None:
        return self._port

    def start(self, host: str, port: int) -> int:
        if self._running:
            raise EdgeMLError("publisher already started")
        sock = transport.context().socket(zmq.XPUB)
        transport.common_options(sock, self.max_message_bytes, self.heartbeat_ms)
        sock.setsockopt(zmq.SNDHWM, DEFAULT_PUBLISH_HWM)
        try:
            self._port = transport.bind(sock, host, port, self.security)
        except Exception:
            sock.close(0)
            raise
        self._waker = transport.Waker()
        self._running = True
        self._thread = threading.Thread(target=self._loop, args=(sock,), name="edgeml-publisher", daemon=True)
        self._thread.start()
        return self._port

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self._waker.wake()
        self._thread.join(5)
        self._waker.close()

    def publish(self, topic: str, payload: Any) -> int:
        """Encodes and queues one message on ``topic``; returns its sequence number."""
        if not self._running:
            raise ClosedError("publisher is not started")
        with self._lock:
            seq = self._seq.get(topic, 0) + 1
            frames = encode_publish(topic, seq, self.epoch, payload, self.encode)
            self._seq[topic] = seq
            msg = [topic.encode(), *frames]
            self._latest[topic] = (self.epoch, seq, payload)
            self._out.append(msg)
        self.stats["published"] += 1
        self._waker.wake()
        return seq

    def latest_for(self, topic: str, have: tuple[str, int] | None) -> tuple[str, int, Any] | None:
        """The latest message of ``topic`` as (epoch, seq, payload) when newer than ``have``, else None."""
        with self._lock:
            latest = self._latest.get(topic)
        if latest is None or (have is not None and have[0] == latest[0] and have[1] >= latest[1]):
            return None
        self.stats["resent"] += 1
        return latest

    def _loop(self, sock: zmq.Socket[Any]) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._waker.fileno(), zmq.POLLIN)
        try:
            while self._running:
                events = dict(poller.poll(1000))
                if self._waker.fileno() in events:
                    self._waker.drain()
                while True:
                    with self._lock:
                        if not self._out:
                            break
                        msg = self._out.popleft()
                    self._send(sock, msg)
                if sock in events:
                    while True:
                        try:
                            sub = sock.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        if sub[:1] == b"\x01":
                            self.stats["subscriptions"] += 1
        except Exception:  # pragma: no cover
            log.exception("edgeml publisher I/O loop failed")
        finally:
            sock.close(0)

    @staticmethod
    def _send(sock: zmq.Socket[Any], msg: list[Any]) -> None:
        try:
            transport.send_frames(sock, msg, zmq.NOBLOCK)
        except zmq.Again:  # pragma: no cover - XPUB drops for full subscribers rather than blocking
            pass


Callback = Callable[[Any, dict[str, Any]], Any]


def serve_latest(rpc: Any, publisher: Publisher) -> None:
    """Serves method ``latest`` for ``publisher`` on ``rpc``: ``n`` the topic, ``p`` ``{ep, s}`` (what the subscriber
    holds) or None; the reply is ``{ep, s, p}`` or None. Each peer may fetch a few values a second."""
    budget: collections.OrderedDict[bytes, list[float]] = collections.OrderedDict()
    lock = threading.Lock()

    def handler(payload: Any, ctx: Any) -> Any:
        if not isinstance(ctx.name, str):
            raise InvalidArgumentError("n", "latest needs a topic")
        now = time.monotonic()
        with lock:
            tokens, at = budget.pop(ctx.peer, [float(LATEST_PER_PEER_PER_S), now])
            tokens = min(float(LATEST_PER_PEER_PER_S), tokens + (now - at) * LATEST_PER_PEER_PER_S)
            if tokens < 1:
                budget[ctx.peer] = [tokens, now]
                raise LimitError(f"more than {LATEST_PER_PEER_PER_S} latest-value fetches a second from this client")
            budget[ctx.peer] = [tokens - 1, now]
            while len(budget) > LATEST_PEERS_MAX:
                budget.popitem(last=False)
        have = None
        if isinstance(payload, dict) and isinstance(payload.get("ep"), str) and isinstance(payload.get("s"), int):
            have = (payload["ep"], payload["s"])
        latest = publisher.latest_for(ctx.name, have)
        return None if latest is None else {"ep": latest[0], "s": latest[1], "p": latest[2]}

    rpc.handle("latest", handler)


def latest_fetcher(rpc: Any) -> FetchLatest:
    """The ``fetch_latest`` of a subscriber whose publisher's request channel ``rpc`` (an RpcClient) reaches."""

    def fetch(topic: str, have: tuple[str, int] | None) -> tuple[str, int, Any] | None:
        reply = rpc.call("latest", topic, None if have is None else {"ep": have[0], "s": have[1]})
        if isinstance(reply, dict) and isinstance(reply.get("ep"), str) and isinstance(reply.get("s"), int):
            return reply["ep"], reply["s"], reply.get("p")
        return None

    return fetch


class Subscriber:
    """Subscribes to ``topics`` at ``host:port``; ``callback(payload, {"topic", "seq", "epoch"})`` per message."""

    def __init__(
        self,
        host: str,
        port: int,
        topics: list[str],
        callback: Callback,
        *,
        queue_size: int = DEFAULT_SUBSCRIBER_QUEUE,
        limits: DecodeLimits = DEFAULT_LIMITS,
        heartbeat_ms: int | None = None,
        security: ClientSecurity | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
        fetch_latest: FetchLatest | None = None,
    ) -> None:
        self.topics = set(topics)
        self.fetch_latest = fetch_latest
        self.callback, self.on_error, self.limits = callback, on_error, limits
        self._queue: collections.deque[tuple[Any, dict[str, Any]]] = collections.deque()
        self.queue_size = queue_size
        self._cond = threading.Condition()
        self._last: dict[str, tuple[str, int]] = {}
        self._closed = False
        self.latest: tuple[Any, dict[str, Any]] | None = None
        self.stats = {"received": 0, "delivered": 0, "dropped": 0, "duplicates": 0, "malformed": 0,
                      "callbackErrors": 0}
        sock = transport.context().socket(zmq.SUB)
        transport.common_options(sock, limits.max_message_bytes, heartbeat_ms)
        transport.client_options(sock, security)
        for t in topics:
            sock.setsockopt(zmq.SUBSCRIBE, t.encode())
        # Handshakes are watched so that each (re)connect asks the publisher for the latest value of every topic.
        self._monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self._lock = threading.Lock()
        sock.connect(transport.endpoint(host, port))
        self._waker = transport.Waker()
        self._io = threading.Thread(target=self._loop, args=(sock,), name="edgeml-subscriber", daemon=True)
        self._io.start()
        self._deliver = threading.Thread(target=self._delivery, name="edgeml-subscriber-callback", daemon=True)
        self._deliver.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._waker.wake()
        with self._cond:
            self._cond.notify_all()
        if threading.current_thread() not in (self._io, self._deliver):
            self._io.join(5)
            self._deliver.join(5)
        self._waker.close()

    def _loop(self, sock: zmq.Socket[Any]) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        poller.register(self._waker.fileno(), zmq.POLLIN)
        try:
            while not self._closed:
                events = dict(poller.poll(1000))
                if self._monitor in events:
                    while True:
                        try:
                            self._monitor.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        if self.fetch_latest is not None:
                            threading.Thread(target=self._fetch, name="edgeml-latest", daemon=True).start()
                if sock not in events:
                    continue
                while True:
                    try:
                        msg = transport.recv_frames(sock)
                    except zmq.Again:
                        break
                    self._on_message(msg)
        except Exception:  # pragma: no cover
            log.exception("edgeml subscriber I/O loop failed")
        finally:
            sock.disable_monitor()
            self._monitor.close(0)
            sock.close(0)

    def _fetch(self) -> None:
        """Asks the publisher for the latest message of every topic (after a handshake)."""
        fetch = self.fetch_latest
        for topic in self.topics:
            if self._closed or fetch is None:
                return
            try:
                got = fetch(topic, self._last.get(topic))
            except Exception:  # noqa: BLE001 - the stream still delivers the next message
                continue
            if got is not None:
                self._accept(topic, got[0], got[1], got[2])

    def _on_message(self, msg: list[Any]) -> None:
        try:
            topic = bytes(msg[0]).decode("utf-8")
        except UnicodeDecodeError:
            topic = None
        if topic not in self.topics or len(msg) < 2:
            return  # ZeroMQ filters by prefix; subscriptions are exact
        try:
            env = decode_envelope(msg[1:], self.limits)
        except EdgeMLError:
            self.stats["malformed"] += 1
            return
        if not isinstance(env, Publish) or env.topic != topic:
            self.stats["malformed"] += 1
            return
        self._accept(topic, env.epoch, env.seq, env.payload)

    def _accept(self, topic: str, epoch: str, seq: int, payload: Any) -> None:
        """Takes a message from the stream or a latest-value fetch: duplicates dropped, gaps counted, then queued."""
        with self._lock:
            last = self._last.get(topic)
            if last is not None and last[0] == epoch and seq <= last[1]:
                self.stats["duplicates"] += 1
                return
            if last is not None and last[0] == epoch and seq > last[1] + 1:
                self.stats["dropped"] += seq - last[1] - 1
            self._last[topic] = (epoch, seq)
        self.stats["received"] += 1
        meta = {"topic": topic, "seq": seq, "epoch": epoch}
        self.latest = (payload, meta)
        with self._cond:
            self._queue.append((payload, meta))
            while len(self._queue) > self.queue_size:
                self._queue.popleft()
                self.stats["dropped"] += 1
            self._cond.notify()

    def _delivery(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                payload, meta = self._queue.popleft()
            try:
                self.callback(payload, meta)
            except Exception as e:  # noqa: BLE001 - a throwing callback is counted; the stream goes on
                self.stats["callbackErrors"] += 1
                if self.on_error is not None:
                    try:
                        self.on_error(e)
                    except Exception:  # noqa: BLE001
                        pass
                else:
                    log.warning("subscriber callback raised %r", e)
            self.stats["delivered"] += 1
