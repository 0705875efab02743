"""Action mode (docs/action.md): the edge device runs ``ActionServer``; clients ask for observations (``obs``),
send actions (``act``) and subscribe to the observation stream (``publish_obs``)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ._server import DEFAULT_BIND_HOST, DEFAULT_CONNECT_TIMEOUT, Runner, handshake, serve_handshake
from .broadcast import DEFAULT_SUBSCRIBER_QUEUE, Publisher, Subscriber, latest_fetcher, serve_latest
from .codec import DEFAULT_ENCODE, DEFAULT_LIMITS, DecodeLimits, EncodeOptions
from .errors import ClosedError, InvalidArgumentError, NotFoundError
from .rpc import DEFAULT_TIMEOUT, DEFAULT_WORKERS, RequestContext, RpcClient, RpcServer
from .security import ClientSecurity, ServerSecurity

ACTION_MODE = "action"
OBS_TOPIC = "obs"


def _port(v: Any, field: str, optional: bool) -> int | None:
    if v is None and optional:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 65535:
        raise InvalidArgumentError(field, f"must be an integer in 1..65535 (0: any free port), got {v!r}")
    return v


def _keys(v: Any, field: str) -> tuple[str, ...]:
    if isinstance(v, str) or not isinstance(v, Sequence) or len(v) == 0:
        raise InvalidArgumentError(field, "must be a non-empty list of strings")
    for i, k in enumerate(v):
        if not isinstance(k, str) or not k:
            raise InvalidArgumentError(f"{field}[{i}]", "must be a non-empty string")
    if len(set(v)) != len(v):
        raise InvalidArgumentError(field, "keys must be distinct")
    return tuple(v)


@dataclasses.dataclass(frozen=True)
class ActionConfig:
    """``port_number`` (requests), ``action_keys``, ``observation_keys``, optional ``broadcast_port`` (stream) and
    ``version``. Validated at construction (InvalidArgumentError naming the field)."""

    port_number: int
    action_keys: Sequence[str]
    observation_keys: Sequence[str]
    broadcast_port: int | None = None
    version: str | int | float | None = None

    def __post_init__(self) -> None:
        _port(self.port_number, "portNumber", False)
        _port(self.broadcast_port, "broadcastPort", True)
        if self.broadcast_port is not None and self.broadcast_port == self.port_number and self.port_number != 0:
            raise InvalidArgumentError("broadcastPort", f"must differ from portNumber ({self.port_number})")
        object.__setattr__(self, "action_keys", _keys(self.action_keys, "actionKeys"))
        object.__setattr__(self, "observation_keys", _keys(self.observation_keys, "observationKeys"))
        v = self.version
        if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int, float)) or v != v):
            raise InvalidArgumentError("version", "must be a string or a finite number")

    def canonical(self) -> dict[str, Any]:
        """The form the handshake compares: key lists sorted, ``broadcastPort`` and ``version`` when set."""
        out: dict[str, Any] = {"actionKeys": sorted(self.action_keys), "observationKeys": sorted(self.observation_keys)}
        if self.broadcast_port is not None:
            out["broadcastPort"] = self.broadcast_port
        if self.version is not None:
            out["version"] = self.version
        return out

    def replace(self, **changes: Any) -> ActionConfig:
        return dataclasses.replace(self, **changes)


class ActionServer(Runner):
    """``obs_callback(keys)`` returns the observation; ``act_callback(key, payload)`` runs an action. Both run on a
    thread pool, concurrently; an exception becomes a RemoteError for the caller."""

    def __init__(
        self,
        config: ActionConfig,
        obs_callback: Callable[[list[str]], Any],
        act_callback: Callable[[str, Any], Any],
        host: str = DEFAULT_BIND_HOST,
        *,
        limits: DecodeLimits = DEFAULT_LIMITS,
        encode: EncodeOptions = DEFAULT_ENCODE,
        security: ServerSecurity | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        super().__init__()
        if not isinstance(config, ActionConfig):
            raise InvalidArgumentError("config", "must be an ActionConfig")
        self._config, self.host = config, host
        self.obs_callback, self.act_callback = obs_callback, act_callback
        self.rpc = RpcServer(limits=limits, encode=encode, security=security, workers=workers)
        self.publisher: Publisher | None = None
        self._encode, self._security, self._limits = encode, security, limits
        serve_handshake(self.rpc, ACTION_MODE, lambda: self._config.canonical())
        self.rpc.handle("obs", self._obs)
        self.rpc.handle("act", self._act)

    @property
    def config(self) -> ActionConfig:
        """The effective config (with the bound ports once started)."""
        return self._config

    @property
    def port(self) -> int:
        return self._config.port_number

    @property
    def broadcast_port(self) -> int | None:
        return self._config.broadcast_port

    def _obs(self, payload: Any, ctx: RequestContext) -> Any:
        keys = payload.get("keys") if isinstance(payload, dict) else None
        if keys is None:
            keys = list(self._config.observation_keys)
        elif not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise InvalidArgumentError("keys", "must be a list of observation keys")
        unknown = [k for k in keys if k not in self._config.observation_keys]
        if unknown:
            raise NotFoundError(f"unknown observation key {unknown[0][:100]!r}")
        return self.obs_callback(keys)

    def _act(self, payload: Any, ctx: RequestContext) -> Any:
        if ctx.name not in self._config.action_keys:
            raise NotFoundError(f"unknown action key {str(ctx.name)[:100]!r}")
        return self.act_callback(ctx.name, payload)  # type: ignore[arg-type]

    def start(self, threaded: bool = False) -> None:
        """Binds the stream port (if any), then the request port; blocks until ``stop()`` unless ``threaded``."""
        bport = self._config.broadcast_port
        if bport is not None:
            self.publisher = Publisher(encode=self._encode, security=self._security,
                                       max_message_bytes=self._limits.max_message_bytes)
            serve_latest(self.rpc, self.publisher)
            bport = self.publisher.start(self.host, bport)
        try:
            port = self.rpc.start(self.host, self._config.port_number)
        except Exception:
            if self.publisher:
                self.publisher.stop()
            raise
        self._config = self._config.replace(port_number=port, broadcast_port=bport)
        self._block(threaded)

    def stop(self) -> None:
        self.rpc.stop()
        if self.publisher is not None:
            self.publisher.stop()
            self.publisher = None
        super().stop()

    def publish_obs(self, payload: Any) -> bool:
        """Sends ``payload`` to every subscribed client; False when the config has no broadcast port."""
        if self._config.broadcast_port is None:
            return False
        if self.publisher is None:
            raise ClosedError("server is not started")
        self.publisher.publish(OBS_TOPIC, payload)
        return True


class ActionClient:
    """Talks to an ActionServer; the handshake happens on first use (and again after it failed)."""

    def __init__(
        self,
        server_ip: str,
        config: ActionConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        limits: DecodeLimits = DEFAULT_LIMITS,
        encode: EncodeOptions = DEFAULT_ENCODE,
        security: ClientSecurity | None = None,
    ) -> None:
        if not isinstance(config, ActionConfig):
            raise InvalidArgumentError("config", "must be an ActionConfig")
        if config.port_number == 0:
            raise InvalidArgumentError("portNumber", "a client needs the server's real port")
        self.host, self.config = server_ip, config
        self.connect_timeout, self._limits, self._security = connect_timeout, limits, security
        self.rpc = RpcClient(server_ip, config.port_number, timeout=timeout, limits=limits, encode=encode,
                             security=security)
        self._shaken = False
        self._lock = threading.Lock()
        self.subscriber: Subscriber | None = None

    def connect(self) -> ActionClient:
        """Performs the handshake now (ConfigMismatchError, TimeoutError)."""
        with self._lock:
            if not self._shaken:
                handshake(self.rpc, ACTION_MODE, self.config.canonical(), self.connect_timeout)
                self._shaken = True
        return self

    def obs(self, keys: Sequence[str] | None = None, timeout: float | None = None) -> Any:
        """The observation for ``keys`` (all observation keys when None)."""
        if keys is not None:
            if isinstance(keys, str) or not isinstance(keys, Sequence):
                raise InvalidArgumentError("keys", "must be a list of observation keys")
            for k in keys:
                if k not in self.config.observation_keys:
                    raise NotFoundError(f"unknown observation key {k!r}")
        self.connect()
        return self.rpc.call("obs", None, {"keys": None if keys is None else list(keys)}, timeout)

    def act(self, key: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Runs action ``key`` on the server; returns what its act callback returned."""
        if key not in self.config.action_keys:
            raise NotFoundError(f"unknown action key {key!r}")
        self.connect()
        return self.rpc.call("act", key, payload, timeout)

    def register_obs_callback(self, fn: Callable[[Any], Any], queue_size: int = DEFAULT_SUBSCRIBER_QUEUE) -> None:
        """``fn(obs)`` for every streamed observation (newest wins when ``fn`` is slow). Replaces a previous one."""
        if self.config.broadcast_port is None:
            raise InvalidArgumentError("broadcastPort", "the config has no broadcastPort to stream from")
        if self.subscriber is not None:
            self.subscriber.close()
        self.subscriber = Subscriber(self.host, self.config.broadcast_port, [OBS_TOPIC],
                                     lambda payload, meta: fn(payload), queue_size=queue_size,
                                     limits=self._limits, security=self._security,
                                     fetch_latest=latest_fetcher(self.rpc))

    def latest_obs(self) -> Any:
        return None if self.subscriber is None or self.subscriber.latest is None else self.subscriber.latest[0]

    def stream_stats(self) -> dict[str, int]:
        return dict(self.subscriber.stats) if self.subscriber else {}

    def ping(self, timeout: float | None = None) -> Any:
        return self.rpc.call("ping", None, None, timeout)

    # The seed's spellings
    def get_observation(self, keys: Sequence[str] | None = None) -> Any:
        return self.obs(keys)

    def send_action(self, *args: Any) -> Any:
        if len(args) == 1:
            if len(self.config.action_keys) != 1:
                raise InvalidArgumentError("key", "send_action(payload) needs a config with exactly one action key")
            return self.act(self.config.action_keys[0], args[0])
        return self.act(*args)

    def stop(self) -> None:
        if self.subscriber is not None:
            self.subscriber.close()
            self.subscriber = None
        self.rpc.close()

    close = stop

    def __enter__(self) -> ActionClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
