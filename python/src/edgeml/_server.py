"""Shared bits of the mode servers and clients: blocking/threaded start, config comparison, the handshake."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from .errors import ConfigMismatchError, ProtocolError
from .rpc import RequestContext, RpcClient, RpcServer

DEFAULT_BIND_HOST = "127.0.0.1"
DEFAULT_CONNECT_TIMEOUT = 5.0


def _normal(v: Any) -> Any:
    """A value in the number model: integral floats as ints (what they are on the wire)."""
    if isinstance(v, float) and v.is_integer() and abs(v) <= 2**53 - 1:
        return int(v)
    if isinstance(v, Mapping):
        return {k: _normal(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_normal(x) for x in v]
    return v


def canonical_json(v: Any) -> str:
    return json.dumps(_normal(v), sort_keys=True, separators=(",", ":"), default=str)


def diff_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Top-level fields whose values differ (map key order does not matter)."""
    return sorted(k for k in set(a) | set(b) if (k in a) != (k in b) or canonical_json(a[k]) != canonical_json(b[k]))


def serve_handshake(rpc: RpcServer, mode: str, config: Any) -> None:
    """Answers ``hello`` with ``{mode, config}``; ``config`` is a callable giving the server's canonical config."""

    def hello(payload: Any, ctx: RequestContext) -> Any:
        if not isinstance(payload, dict) or not isinstance(payload.get("config"), dict):
            raise ProtocolError("hello needs { mode, config }")
        own = config()
        if payload.get("mode") != mode:
            raise ConfigMismatchError(
                f"this server runs mode {mode}, the client expects {str(payload.get('mode'))[:100]}", ["mode"]
            )
        theirs = payload["config"]
        fields = diff_config(theirs, own)
        if fields:
            detail = "; ".join(
                f"{f} (client {canonical_json(theirs.get(f))[:100] if f in theirs else 'unset'}, "
                f"server {canonical_json(own.get(f))[:100] if f in own else 'unset'})"
                for f in fields
            )
            raise ConfigMismatchError(f"config mismatch: {detail}", fields)
        return {"mode": mode, "config": own}

    rpc.handle("hello", hello)


def handshake(rpc: RpcClient, mode: str, config: dict[str, Any], timeout: float) -> dict[str, Any]:
    reply = rpc.call("hello", None, {"mode": mode, "config": config}, timeout)
    if not isinstance(reply, dict) or reply.get("mode") != mode:
        raise ProtocolError(f"hello reply is not {{mode: {mode!r}, config}}")
    return reply


class Runner:
    """``start(threaded=False)`` blocks until ``stop()`` (from another thread, a callback, or Ctrl-C)."""

    def __init__(self) -> None:
        self._stopped = threading.Event()

    def _block(self, threaded: bool) -> None:
        self._stopped.clear()
        if threaded:
            return
        try:
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:  # pragma: no cover - overridden
        self._stopped.set()
