"""Trainer mode (docs/trainer.md): actors stream experience to a ``TrainerServer`` (bounded data tables, a train
callback run one step at a time in arrival order) and receive the weights it publishes."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ._server import DEFAULT_BIND_HOST, DEFAULT_CONNECT_TIMEOUT, Runner, handshake, serve_handshake
from .broadcast import Publisher, Subscriber, latest_fetcher, serve_latest
from .codec import DEFAULT_ENCODE, DEFAULT_LIMITS, DecodeLimits, EncodeOptions
from .errors import InvalidArgumentError, LimitError, NotFoundError, ProtocolError
from .persist import TRAINER_FILE_KIND, read_message_file, write_message_file
from .rpc import DEFAULT_TIMEOUT, DEFAULT_WORKERS, RequestContext, RpcClient, RpcServer
from .security import ClientSecurity, ServerSecurity

TRAINER_MODE = "trainer"
WEIGHTS_TOPIC = "weights"
DEFAULT_TRAINER_PORT = 5555
DEFAULT_TRAINER_BROADCAST_PORT = 5556
DEFAULT_TRAINER_CONFIG_VERSION = "0.0.1"
DEFAULT_MAX_PENDING_TRAIN_STEPS = 64
DEFAULT_MAX_PENDING_TRAIN_STEPS_PER_CLIENT = 16


@dataclasses.dataclass(frozen=True)
class DataTable:
    """A bounded table of ``size`` items; full: drop the oldest (``fifo``) or refuse the new one."""

    name: str
    size: int
    fifo: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidArgumentError("name", "must be a non-empty string")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            raise InvalidArgumentError("size", "must be a positive integer")
        if not isinstance(self.fifo, bool):
            raise InvalidArgumentError("fifo", "must be a boolean")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "fifo": self.fifo}


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    port_number: int = DEFAULT_TRAINER_PORT
    broadcast_port: int = DEFAULT_TRAINER_BROADCAST_PORT
    data_table: Sequence[DataTable] = ()
    request_types: Sequence[str] = ()
    rate_limit: float | None = None
    version: str = DEFAULT_TRAINER_CONFIG_VERSION

    def __post_init__(self) -> None:
        for f, v in (("portNumber", self.port_number), ("broadcastPort", self.broadcast_port)):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 65535:
                raise InvalidArgumentError(f, f"must be an integer in 0..65535, got {v!r}")
        if self.port_number != 0 and self.port_number == self.broadcast_port:
            raise InvalidArgumentError("broadcastPort", f"must differ from portNumber ({self.port_number})")
        tables = list(self.data_table)
        if not tables:
            raise InvalidArgumentError("dataTable", "must be a non-empty list of DataTable")
        for i, t in enumerate(tables):
            if isinstance(t, dict):
                try:
                    tables[i] = DataTable(**t)
                except InvalidArgumentError as e:
                    raise InvalidArgumentError(f"dataTable[{i}].{e.field}", e.reason) from None
                except TypeError as e:
                    raise InvalidArgumentError(f"dataTable[{i}]", str(e)) from None
            elif not isinstance(t, DataTable):
                raise InvalidArgumentError(f"dataTable[{i}]", "must be a DataTable")
        if len({t.name for t in tables}) != len(tables):
            raise InvalidArgumentError("dataTable", "table names must be distinct")
        object.__setattr__(self, "data_table", tuple(tables))
        types = self.request_types
        if isinstance(types, str) or not isinstance(types, Sequence):
            raise InvalidArgumentError("requestTypes", "must be a list of strings")
        for i, t in enumerate(types):
            if not isinstance(t, str) or not t:
                raise InvalidArgumentError(f"requestTypes[{i}]", "must be a non-empty string")
        if len(set(types)) != len(types):
            raise InvalidArgumentError("requestTypes", "names must be distinct")
        object.__setattr__(self, "request_types", tuple(types))
        r = self.rate_limit
        if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < float("inf")):
            raise InvalidArgumentError("rateLimit", f"must be a positive number of calls per second, or None, got {r!r}")
        if not isinstance(self.version, str):
            raise InvalidArgumentError("version", "must be a string")

    def table(self, name: str) -> DataTable | None:
        return next((t for t in self.data_table if t.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "portNumber": self.port_number,
            "broadcastPort": self.broadcast_port,
            "dataTable": [t.to_json() for t in self.data_table],
            "requestTypes": list(self.request_types),
            "rateLimit": self.rate_limit,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, v: Any) -> TrainerConfig:
        if not isinstance(v, dict):
            raise InvalidArgumentError("config", "must be a map")
        names = {"portNumber": "port_number", "broadcastPort": "broadcast_port", "dataTable": "data_table",
                 "requestTypes": "request_types", "rateLimit": "rate_limit", "version": "version"}
        for k in v:
            if k not in names:
                raise InvalidArgumentError(k, "unknown field")
        return cls(**{names[k]: x for k, x in v.items()})

    def canonical(self) -> dict[str, Any]:
        """The handshake form: tables sorted by name, request types sorted, ``rateLimit`` nil when unset."""
        out = self.to_json()
        out["dataTable"] = sorted(out["dataTable"], key=lambda t: t["name"])
        out["requestTypes"] = sorted(out["requestTypes"])
        return out

    def replace(self, **changes: Any) -> TrainerConfig:
        return dataclasses.replace(self, **changes)


class _Table:
    def __init__(self, spec: DataTable) -> None:
        self.spec = spec
        self.items: collections.deque[Any] = collections.deque()
        self.inserted = self.dropped = self.rejected = self.taken = 0

    def insert(self, item: Any) -> None:
        if len(self.items) >= self.spec.size:
            if not self.spec.fifo:
                self.rejected += 1
                raise LimitError(f"table {self.spec.name!r} is full ({self.spec.size} items, fifo off)")
            self.items.popleft()
            self.dropped += 1
        self.items.append(item)
        self.inserted += 1

    def stats(self) -> dict[str, Any]:
        return {"size": len(self.items), "capacity": self.spec.size, "fifo": self.spec.fifo,
                "inserted": self.inserted, "dropped": self.dropped, "rejected": self.rejected, "taken": self.taken}


class TrainerServer(Runner):
    """``train_callback(table, payload)`` runs for each ``train_step`` after the payload is stored, one at a time
    in arrival order; ``request_callback(type, payload)`` serves ``request``, concurrently."""

    def __init__(
        self,
        config: TrainerConfig,
        train_callback: Callable[[str, Any], Any] | None = None,
        request_callback: Callable[[str, Any], Any] | None = None,
        host: str = DEFAULT_BIND_HOST,
        *,
        limits: DecodeLimits = DEFAULT_LIMITS,
        encode: EncodeOptions = DEFAULT_ENCODE,
        security: ServerSecurity | None = None,
        workers: int = DEFAULT_WORKERS,
        max_pending_train_steps: int = DEFAULT_MAX_PENDING_TRAIN_STEPS,
        max_pending_train_steps_per_client: int = DEFAULT_MAX_PENDING_TRAIN_STEPS_PER_CLIENT,
    ) -> None:
        super().__init__()
        if not isinstance(config, TrainerConfig):
            raise InvalidArgumentError("config", "must be a TrainerConfig")
        self._config, self.host = config, host
        self.train_callback, self.request_callback = train_callback, request_callback
        self._tables = {t.name: _Table(t) for t in config.data_table}
        self._lock = threading.Condition()
        self._pending = 0
        self._pending_by: dict[bytes, int] = {}
        self.max_pending, self.max_pending_per_client = max_pending_train_steps, max_pending_train_steps_per_client
        self.busy_rejections = 0
        self._weights_version = 0
        self._encode, self._security, self._limits = encode, security, limits
        self.rpc = RpcServer(limits=limits, encode=encode, security=security, workers=workers)
        self.publisher: Publisher | None = None
        serve_handshake(self.rpc, TRAINER_MODE, lambda: self._config.canonical())
        self.rpc.handle("train", self._train, serial=True, admit=self._admit)
        self.rpc.handle("request", self._request)

    # -- serving -----------------------------------------------------------------------------------------------

    def _admit(self, payload: Any, ctx: RequestContext) -> None:
        table = self._tables.get(ctx.name) if ctx.name is not None else None
        if table is None:
            raise NotFoundError(f"unknown table {str(ctx.name)[:100]!r}")
        with self._lock:
            mine = self._pending_by.get(ctx.peer, 0)
            if self._pending >= self.max_pending or mine >= self.max_pending_per_client:
                self.busy_rejections += 1
                raise LimitError("trainer busy: too many train steps pending; retry later")
            table.insert(payload)
            self._pending += 1
            self._pending_by[ctx.peer] = mine + 1
            self._lock.notify_all()

    def _train(self, payload: Any, ctx: RequestContext) -> Any:
        try:
            return None if self.train_callback is None else self.train_callback(ctx.name, payload)  # type: ignore
        finally:
            with self._lock:
                self._pending -= 1
                left = self._pending_by.get(ctx.peer, 1) - 1
                if left <= 0:
                    self._pending_by.pop(ctx.peer, None)
                else:
                    self._pending_by[ctx.peer] = left

    def _request(self, payload: Any, ctx: RequestContext) -> Any:
        if ctx.name not in self._config.request_types:
            raise NotFoundError(f"unknown request type {str(ctx.name)[:100]!r}")
        if self.request_callback is None:
            raise NotFoundError("this trainer serves no requests")
        return self.request_callback(ctx.name, payload)  # type: ignore[arg-type]

    def start(self, threaded: bool = False) -> None:
        self.publisher = Publisher(encode=self._encode, security=self._security,
                                   max_message_bytes=self._limits.max_message_bytes)
        serve_latest(self.rpc, self.publisher)
        bport = self.publisher.start(self.host, self._config.broadcast_port)
        try:
            port = self.rpc.start(self.host, self._config.port_number)
        except Exception:
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

    @property
    def port(self) -> int:
        return self._config.port_number

    @property
    def broadcast_port(self) -> int:
        return self._config.broadcast_port

    @property
    def bound_config(self) -> TrainerConfig:
        """The config with the bound ports: give it to clients."""
        return self._config

    config = bound_config

    def publish_weights(self, payload: Any) -> int:
        """Broadcasts ``payload`` as the next weights version (1, 2, ...) and returns the version."""
        if self.publisher is None:
            from .errors import ClosedError

            raise ClosedError("server is not started")
        with self._lock:
            self._weights_version += 1
            version = self._weights_version
        self.publisher.publish(WEIGHTS_TOPIC, {"version": version, "weights": payload})
        return version

    @property
    def weights_version(self) -> int:
        return self._weights_version

    # -- tables -------------------------------------------------------------------------------------------------

    def _table(self, name: str) -> _Table:
        t = self._tables.get(name)
        if t is None:
            raise NotFoundError(f"unknown table {name!r}")
        return t

    def get_data(self, table: str) -> list[Any] | None:
        """The items of ``table``, oldest first; None for an unknown table."""
        t = self._tables.get(table)
        if t is None:
            return None
        with self._lock:
            return list(t.items)

    def table_names(self) -> list[str]:
        return [t.name for t in self._config.data_table]

    def insert(self, table: str, item: Any) -> None:
        with self._lock:
            self._table(table).insert(item)
            self._lock.notify_all()

    def take(self, table: str, n: int | None = None) -> list[Any]:
        with self._lock:
            t = self._table(table)
            k = len(t.items) if n is None else min(n, len(t.items))
            out = [t.items.popleft() for _ in range(k)]
            t.taken += k
            return out

    def sample(self, table: str, n: int, replace: bool = True) -> list[Any]:
        with self._lock:
            items = list(self._table(table).items)
        if not items:
            return []
        return random.choices(items, k=n) if replace else random.sample(items, min(n, len(items)))

    def table_stats(self, table: str) -> dict[str, Any] | None:
        t = self._tables.get(table)
        return None if t is None else t.stats()

    def wait_for_size(self, table: str, n: int, timeout: float | None = None) -> None:
        t = self._table(table)
        if n > t.spec.size:
            raise InvalidArgumentError("n", f"table {table!r} holds at most {t.spec.size} items")
        with self._lock:
            if not self._lock.wait_for(lambda: len(t.items) >= n, timeout):
                from .errors import TimeoutError

                raise TimeoutError(f"table {table!r} did not reach {n} items", timeout)

    @property
    def pending_train_steps(self) -> int:
        return self._pending

    # -- persistence --------------------------------------------------------------------------------------------

    def save_data(self, path: str) -> None:
        """Writes config, tables, counters and weights version (docs/file-format.md), atomically."""
        with self._lock:
            tables = [
                {"name": t.spec.name, "inserted": t.inserted, "dropped": t.dropped, "rejected": t.rejected,
                 "taken": t.taken, "items": list(t.items)}
                for t in self._tables.values()
            ]
            version = self._weights_version
        saved_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        write_message_file(path, {
            "kind": TRAINER_FILE_KIND,
            "savedAt": saved_at.replace("+00:00", "Z"),
            "config": self._config.to_json(),
            "weightsVersion": version,
            "tables": tables,
        })

    @classmethod
    def make_from_file(
        cls,
        path: str,
        train_callback: Callable[[str, Any], Any] | None = None,
        request_callback: Callable[[str, Any], Any] | None = None,
        ports: tuple[int, int] | None = None,
        **options: Any,
    ) -> TrainerServer:
        """A server (not started) with the saved config, tables, counters and weights version."""
        v = read_message_file(path)
        if not isinstance(v, dict) or v.get("kind") != TRAINER_FILE_KIND:
            raise ProtocolError(f"{path} does not hold trainer data")
        try:
            config = TrainerConfig.from_json(v.get("config"))
        except InvalidArgumentError as e:
            raise ProtocolError(f"{path} holds an invalid config: {e}") from None
        if ports is not None:
            config = config.replace(port_number=ports[0], broadcast_port=ports[1])

        def count(r: dict[str, Any], key: str, where: str) -> int:
            x = r.get(key)
            if type(x) is not int or x < 0:
                raise ProtocolError(f"{where}.{key} must be a non-negative integer")
            return x

        version = count(v, "weightsVersion", "file")
        tables = v.get("tables")
        if not isinstance(tables, list):
            raise ProtocolError("file.tables must be an array")
        server = cls(config, train_callback, request_callback, **options)
        seen: set[str] = set()
        for i, t in enumerate(tables):
            where = f"file.tables[{i}]"
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise ProtocolError(f"{where} needs a name")
            name = t["name"]
            spec = config.table(name)
            if spec is None:
                raise ProtocolError(f"{where}: table {name!r} is not in the file's config")
            if name in seen:
                raise ProtocolError(f"{where}: table {name} appears twice")
            seen.add(name)
            items = t.get("items")
            if not isinstance(items, list):
                raise ProtocolError(f"{where}.items must be an array")
            if len(items) > spec.size:
                raise ProtocolError(f"{where}: {len(items)} items exceed the table's size {spec.size}")
            table = server._tables[name]
            table.items.extend(items)
            for k in ("inserted", "dropped", "rejected", "taken"):
                setattr(table, k, count(t, k, where))
        missing = set(server._tables) - seen
        if missing:
            raise ProtocolError(f"file has no table {sorted(missing)[0]!r}")
        server._weights_version = version
        return server


class TrainerClient:
    """An actor's side: ``train_step``, ``request``, and weights through ``recv_weights_callback``."""

    def __init__(
        self,
        server_ip: str,
        config: TrainerConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        limits: DecodeLimits = DEFAULT_LIMITS,
        encode: EncodeOptions = DEFAULT_ENCODE,
        security: ClientSecurity | None = None,
    ) -> None:
        if not isinstance(config, TrainerConfig):
            raise InvalidArgumentError("config", "must be a TrainerConfig")
        self.host, self.config, self.connect_timeout = server_ip, config, connect_timeout
        self._limits, self._security = limits, security
        self.rpc = RpcClient(server_ip, config.port_number, timeout=timeout, limits=limits, encode=encode,
                             security=security)
        self._shaken = False
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._callbacks: list[Callable[[Any], Any]] = []
        self.subscriber: Subscriber | None = None
        self.weights_version = 0
        self._latest: Any = None
        self._weights_cond = threading.Condition()

    def connect(self) -> TrainerClient:
        with self._lock:
            if not self._shaken:
                handshake(self.rpc, TRAINER_MODE, self.config.canonical(), self.connect_timeout)
                self._shaken = True
        return self

    def _rate(self, timeout: float | None) -> None:
        r = self.config.rate_limit
        if r is None:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            if slot - now > (timeout or self.rpc.timeout):
                raise LimitError(f"rateLimit {r}/s: no slot before the call's deadline")
            self._next_slot = slot + 1.0 / r
        if slot > now:
            time.sleep(slot - now)

    def train_step(self, table: str, data: Any = None, timeout: float | None = None) -> Any:
        if self.config.table(table) is None:
            raise NotFoundError(f"unknown table {table!r}")
        self.connect()
        self._rate(timeout)
        return self.rpc.call("train", table, data, timeout)

    def request(self, type: str, payload: Any = None, timeout: float | None = None) -> Any:  # noqa: A002
        if type not in self.config.request_types:
            raise NotFoundError(f"unknown request type {type!r}")
        self.connect()
        self._rate(timeout)
        return self.rpc.call("request", type, payload, timeout)

    send_request = request

    def _on_weights(self, payload: Any, meta: dict[str, Any]) -> None:
        if not isinstance(payload, dict) or "weights" not in payload:
            return
        with self._weights_cond:
            v = payload.get("version")
            self.weights_version = v if isinstance(v, int) else self.weights_version
            self._latest = payload["weights"]
            self._weights_cond.notify_all()
        for cb in list(self._callbacks):
            cb(payload["weights"])

    def recv_weights_callback(self, fn: Callable[[Any], Any]) -> Callable[[], None]:
        """``fn(weights)`` for every new weights (the latest at once when some were published). Returns an
        unregister function."""
        self._callbacks.append(fn)
        if self.subscriber is None:
            self.subscriber = Subscriber(self.host, self.config.broadcast_port, [WEIGHTS_TOPIC], self._on_weights,
                                         queue_size=1, limits=self._limits, security=self._security,
                                         fetch_latest=latest_fetcher(self.rpc))
        elif self._latest is not None:
            fn(self._latest)
        return lambda: self._callbacks.remove(fn) if fn in self._callbacks else None

    register_callback = recv_weights_callback

    def latest_weights(self) -> Any:
        return self._latest

    def wait_for_weights(self, min_version: int = 1, timeout: float | None = None) -> Any:
        if self.subscriber is None:
            self.recv_weights_callback(lambda w: None)
        with self._weights_cond:
            if not self._weights_cond.wait_for(lambda: self.weights_version >= min_version, timeout):
                from .errors import TimeoutError

                raise TimeoutError(f"no weights version {min_version} in time", timeout)
            return self._latest

    def stop(self) -> None:
        if self.subscriber is not None:
            self.subscriber.close()
            self.subscriber = None
        self.rpc.close()

    close = stop

    def __enter__(self) -> TrainerClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
