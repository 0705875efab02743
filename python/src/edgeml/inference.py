"""Inference mode: ``InferenceServer`` serves named interfaces, ``InferenceClient`` calls them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._server import DEFAULT_BIND_HOST, Runner
from .codec import DEFAULT_ENCODE, DEFAULT_LIMITS, DecodeLimits, EncodeOptions
from .errors import InvalidArgumentError, NotFoundError
from .rpc import DEFAULT_TIMEOUT, DEFAULT_WORKERS, RequestContext, RpcClient, RpcServer
from .security import ClientSecurity, ServerSecurity


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("name", "interface names are non-empty strings")


class InferenceServer(Runner):
    """Serves ``register_interface(name, fn)`` handlers; ``fn(payload)`` runs on a thread pool, concurrently."""

    def __init__(
        self,
        port_num: int = 5555,
        host: str = DEFAULT_BIND_HOST,
        *,
        limits: DecodeLimits = DEFAULT_LIMITS,
        encode: EncodeOptions = DEFAULT_ENCODE,
        security: ServerSecurity | None = None,
        workers: int = DEFAULT_WORKERS,
        heartbeat_ms: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(port_num, int) or isinstance(port_num, bool) or not 0 <= port_num <= 65535:
            raise InvalidArgumentError("port", f"must be an integer in 0..65535, got {port_num!r}")
        self.host, self._requested_port = host, port_num
        self.handlers: dict[str, Callable[[Any], Any]] = {}
        self.rpc = RpcServer(limits=limits, encode=encode, security=security, workers=workers,
                             heartbeat_ms=heartbeat_ms)
        self.rpc.handle("call", self._call)
        self.rpc.handle("interfaces", lambda p, c: list(self.handlers))

    def _call(self, payload: Any, ctx: RequestContext) -> Any:
        fn = self.handlers.get(ctx.name) if ctx.name is not None else None
        if fn is None:
            known = ", ".join(self.handlers) or "(none)"
            raise NotFoundError(f"unknown interface {str(ctx.name)[:100]!r}; available: {known}")
        return fn(payload)

    def register_interface(self, name: str, fn: Callable[[Any], Any]) -> InferenceServer:
        _check_name(name)
        if not callable(fn):
            raise InvalidArgumentError("fn", "must be callable")
        self.handlers[name] = fn
        return self

    def unregister_interface(self, name: str) -> bool:
        return self.handlers.pop(name, None) is not None

    def interfaces(self) -> list[str]:
        return list(self.handlers)

    @property
    def port(self) -> int:
        """The bound port once started (useful with port 0)."""
        return self.rpc.port or self._requested_port

    def start(self, threaded: bool = False) -> None:
        """Binds and serves; blocks until ``stop()`` unless ``threaded``."""
        self._requested_port = self.rpc.start(self.host, self._requested_port)
        self._block(threaded)

    def stop(self) -> None:
        self.rpc.stop()
        super().stop()

    def __enter__(self) -> InferenceServer:
        self.start(threaded=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class InferenceClient:
    """Calls an InferenceServer. Errors raise (TimeoutError, NotFoundError, RemoteError, ...)."""

    def __init__(
        self,
        server_ip: str,
        port_num: int = 5555,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        limits: DecodeLimits = DEFAULT_LIMITS,
        encode: EncodeOptions = DEFAULT_ENCODE,
        security: ClientSecurity | None = None,
    ) -> None:
        self.rpc = RpcClient(server_ip, port_num, timeout=timeout, limits=limits, encode=encode, security=security)

    def call(self, name: str, payload: Any = None, timeout: float | None = None) -> Any:
        _check_name(name)
        return self.rpc.call("call", name, payload, timeout)

    def interfaces(self, timeout: float | None = None) -> list[str]:
        return self.rpc.call("interfaces", None, None, timeout)  # type: ignore[no-any-return]

    def ping(self, timeout: float | None = None) -> float:
        """Round-trip time in seconds."""
        import time

        t = time.perf_counter()
        self.rpc.call("ping", None, None, timeout)
        return time.perf_counter() - t

    def close(self) -> None:
        self.rpc.close()

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
