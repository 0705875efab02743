"""Test helpers: byte patterns shared with the TypeScript peers, waiting on conditions, running TS peers."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from edgeml.codec import DTYPES

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ts_peers")
DTYPE_NAMES = list(DTYPES)


def pattern(dtype: str, n: int) -> bytes:
    size = DTYPES[dtype].itemsize * n
    if dtype == "bool":
        return bytes(i & 1 for i in range(size))
    return bytes((i * 37 + 11) & 0xFF for i in range(size))


def array(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(pattern(dtype, int(np.prod(shape))), DTYPES[dtype]).reshape(shape)


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Polls ``cond`` until it is truthy; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _tsx() -> list[str]:
    if not os.path.exists(os.path.join(REPO, "node_modules", ".bin", "tsx")) or shutil.which("npx") is None:
        if os.environ.get("EDGEML_REQUIRE_TS") == "1":
            raise AssertionError("TypeScript peers need `npm ci` at the repository root")
        pytest.skip("TypeScript peers need node and `npm ci` at the repository root")
    return ["npx", "--no-install", "tsx"]


class Peer:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def line(self, timeout: float = 60.0) -> Any:
        """The next JSON line the peer prints."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("TypeScript peer printed nothing in time") from None
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"TypeScript peer exited ({self.proc.wait()}): {err[-3000:]}")
            if line.startswith("{"):
                return json.loads(line)


@contextmanager
def ts_peer(script: str, *args: str) -> Iterator[Peer]:
    """Runs ``python/tests/ts_peers/<script>`` with ``npx tsx`` from the repository root; ends it on exit."""
    proc = subprocess.Popen(
        [*_tsx(), os.path.join(PEERS, script), *args],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield Peer(proc)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
