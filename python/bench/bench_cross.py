#!/usr/bin/env python3
"""Round trips with a Python server (issue 12, item 6): Python <-> Python and TypeScript client -> Python server,
against a raw pyzmq echo of the same bytes (the floor) and against openpi's WebSocket policy server and client, all
measured interleaved in one run.

    python python/bench/bench_cross.py [--quick] [--cases small,img224,cams4,10mb] [--json FILE]

Run from anywhere; the TypeScript client (``ts_client.ts``) is started with ``npx tsx`` from the repository root and
needs ``npm ci`` there. Needs ``openpi-client`` and ``websockets`` (``pip install openpi-client websockets``).

Processes: the servers run in one child process (``--serve``): edgeml's ``InferenceServer`` with an ``echo``
interface, a raw pyzmq ROUTER that sends every message straight back, and openpi's WebSocket policy server with a
policy that echoes. The Python clients run in this process; the TypeScript clients (edgeml ``InferenceClient`` and a
raw zeromq.js DEALER) in a Node process driven over stdin/stdout. Every target runs one batch per round, in a random
order each round; the TypeScript process times its own round trips.

Targets, each a client -> server pair:
  py-edgeml   edgeml InferenceClient.call("echo", {"x": array}) -> InferenceServer
  py-raw      pyzmq DEALER -> pyzmq ROUTER echo, sending the frames of the same edgeml request (encoded once)
  ts-edgeml   TypeScript InferenceClient.call('echo', {x: tensor}) -> the same Python InferenceServer
  ts-raw      zeromq.js DEALER -> the same pyzmq ROUTER echo, the frames of the same request (encoded once)
  openpi      openpi_client WebsocketClientPolicy.infer({"x": array}) -> openpi-style WebsocketPolicyServer

The raw sockets get the options edgeml sets on its own (``edgeml/transport.py``, ``edgeml/rpc.py``,
``src/transport/zmq/zmq-transport.ts``): linger 0, max message size 256 MiB, heartbeats 1 s / 3 s, high-water marks
10 000, and on the DEALER immediate and reconnect 100 ms .. 1 s. Large frames go without a copy on every side.

openpi's ``WebsocketPolicyServer`` is in the openpi repository (``src/openpi/serving/websocket_policy_server.py``),
not in the ``openpi-client`` package on PyPI, so ``OpenpiStyleServer`` below does what it does: a
``websockets.asyncio`` server (compression off, no size limit) that sends the metadata on connect, then for each
message ``msgpack_numpy.unpackb``, ``policy.infer(obs)``, adds ``server_timing`` and sends ``Packer().pack(action)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zmq

REPO = Path(__file__).resolve().parents[2]

#: case -> (dtype, shape, batch size, rounds, quick rounds). Every payload is sent as {"x": array}.
CASES: dict[str, tuple[str, tuple[int, ...], int, int, int]] = {
    "small": ("float32", (7,), 20, 60, 15),
    "img224": ("uint8", (224, 224, 3), 10, 60, 15),
    "cams4": ("uint8", (4, 480, 640, 3), 3, 60, 15),
    "10mb": ("uint8", (10 * 1024 * 1024,), 2, 50, 12),
}
TARGETS = ["py-edgeml", "py-raw", "ts-edgeml", "ts-raw", "openpi"]
FLOOR = {"py-edgeml": "py-raw", "py-raw": "py-raw", "ts-edgeml": "ts-raw", "ts-raw": "ts-raw", "openpi": "py-raw"}
#: Issue 12, item 6: cams4 and 10 MB within 1.25x of the raw floor and at least 5x faster than openpi.
TARGET_CASES = ("cams4", "10mb")
FLOOR_CEILING = 1.25
OPENPI_SPEEDUP = 5.0

MAX_MESSAGE_BYTES = 256 * 1024**2  # edgeml's default limit, on both sides


def make_array(dtype: str, shape: tuple[int, ...]) -> np.ndarray:  # type: ignore[type-arg]
    """The same byte pattern ts_client.ts builds (nothing along the way can shortcut zeros)."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    b = ((np.arange(n, dtype=np.uint64) * 37 + 11) & 0xFF).astype(np.uint8)
    return b.view(dtype).reshape(shape)


# -- servers (child process) ------------------------------------------------------------------------------------


def raw_socket_options(sock: zmq.Socket[Any]) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
    sock.setsockopt(zmq.SNDHWM, 10_000)
    sock.setsockopt(zmq.RCVHWM, 10_000)


def raw_echo(port_box: list[int], stop: threading.Event) -> None:
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    raw_socket_options(sock)
    port_box.append(sock.bind_to_random_port("tcp://127.0.0.1"))
    while not stop.is_set():
        if sock.poll(100):
            sock.send_multipart(sock.recv_multipart(copy=False), copy=False)
    sock.close(0)


class EchoPolicy:
    """An openpi policy that returns the observation (``BasePolicy.infer``)."""

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        return dict(obs)

    def reset(self) -> None:
        pass


class OpenpiStyleServer:
    """What openpi's ``WebsocketPolicyServer`` does, for a benchmark (it is not on PyPI): see the module docstring."""

    def __init__(self, policy: EchoPolicy, metadata: dict[str, Any] | None = None) -> None:
        self.policy, self.metadata = policy, metadata or {}
        self.port: int | None = None
        self.ready = threading.Event()

    async def _handler(self, websocket: Any) -> None:
        import websockets
        from openpi_client import msgpack_numpy

        packer = msgpack_numpy.Packer()
        await websocket.send(packer.pack(self.metadata))
        prev_total_time = None
        while True:
            try:
                start = time.monotonic()
                obs = msgpack_numpy.unpackb(await websocket.recv())
                t = time.monotonic()
                action = self.policy.infer(obs)
                action["server_timing"] = {"infer_ms": (time.monotonic() - t) * 1000}
                if prev_total_time is not None:
                    action["server_timing"]["prev_total_ms"] = prev_total_time * 1000
                await websocket.send(packer.pack(action))
                prev_total_time = time.monotonic() - start
            except websockets.ConnectionClosed:
                break

    async def _run(self) -> None:
        import websockets.asyncio.server as ws_server

        async with ws_server.serve(self._handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self.ready.set()
            await server.serve_forever()

    def start(self) -> int:
        threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True).start()
        self.ready.wait(10)
        assert self.port is not None
        return self.port


def serve() -> None:
    from edgeml import InferenceServer

    server = InferenceServer(0)
    server.register_interface("echo", lambda p: p)
    server.start(threaded=True)
    stop, box = threading.Event(), []
    threading.Thread(target=raw_echo, args=(box, stop), daemon=True).start()
    openpi_port = OpenpiStyleServer(EchoPolicy()).start()
    while not box:
        time.sleep(0.01)
    print(json.dumps({"edgeml": server.port, "raw": box[0], "openpi": openpi_port}), flush=True)
    sys.stdin.read()  # until the parent closes it
    stop.set()
    server.stop()


# -- clients ----------------------------------------------------------------------------------------------------


class TsClient:
    """The Node process running ts_client.ts."""

    def __init__(self, edgeml_port: int, raw_port: int) -> None:
        self.proc = subprocess.Popen(
            ["npx", "tsx", "python/bench/ts_client.ts", str(edgeml_port), str(raw_port)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"ts_client.ts exited (rc {self.proc.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        try:
            self.ask_quit()
        finally:
            self.proc.wait(10)

    def ask_quit(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.write('{"cmd":"quit"}\n')
        self.proc.stdin.close()


def frames_nbytes(frames: list[Any]) -> int:
    return sum(memoryview(f).nbytes for f in frames)


def timed(trip: Callable[[], Any]) -> Callable[[int], list[float]]:
    def run(n: int) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            trip()
            out.append((time.perf_counter() - t) * 1000)
        return out

    return run


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(np.ceil(p / 100 * len(s))) - 1))]


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("pyzmq", "numpy", "websockets", "msgpack", "openpi-client", "edgeml"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    versions["libzmq"] = zmq.zmq_version()
    try:
        versions["node"] = subprocess.run(
            ["node", "--version"], check=False, capture_output=True, text=True
        ).stdout.strip()
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit,
        "loadStart": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--quick", action="store_true", help="fewer rounds (a quarter: about 10 s instead of 30 s on 2 cores)"
    )
    ap.add_argument("--rounds", type=int, help="rounds per case (default 50-60, --quick 12-15)")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ",".join(CASES))
    ap.add_argument("--targets", default=",".join(TARGETS), help="comma-separated: " + ",".join(TARGETS))
    ap.add_argument("--json", metavar="FILE", help="write machine, options and every row as JSON")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.serve:
        serve()
        return

    from edgeml import InferenceClient
    from edgeml.protocol import encode_request
    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    cases = [c.strip().lower() for c in args.cases.split(",") if c.strip()]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case {c!r}")
    for t in targets:
        if t not in TARGETS:
            ap.error(f"unknown target {t!r}")
    for t in list(targets):  # the floors always run
        if FLOOR[t] not in targets:
            targets.append(FLOOR[t])
    rng = random.Random(args.seed)
    info = machine()
    t_start = time.monotonic()

    srv = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert srv.stdout is not None
    ports = json.loads(srv.stdout.readline())
    client = InferenceClient("127.0.0.1", ports["edgeml"], timeout=60)
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    raw_socket_options(dealer)
    dealer.setsockopt(zmq.IMMEDIATE, 1)
    dealer.setsockopt(zmq.RECONNECT_IVL, 100)
    dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
    dealer.connect(f"tcp://127.0.0.1:{ports['raw']}")
    policy = WebsocketClientPolicy("127.0.0.1", ports["openpi"]) if "openpi" in targets else None
    ts = TsClient(ports["edgeml"], ports["raw"]) if any(t.startswith("ts-") for t in targets) else None

    rows: list[dict[str, Any]] = []
    try:
        for name in cases:
            dtype, shape, batch, rounds, quick_rounds = CASES[name]
            if args.rounds:
                rounds = args.rounds
            elif args.quick:
                rounds = quick_rounds
            arr = make_array(dtype, shape)
            payload = {"x": arr}
            frames = [
                bytes(f) if memoryview(f).nbytes < 65536 else f for f in encode_request(1, "call", "echo", payload)
            ]
            msg_bytes = frames_nbytes(frames)

            def py_edgeml(payload: Any = payload, arr: Any = arr) -> None:
                r = client.call("echo", payload)
                assert r["x"].nbytes == arr.nbytes

            def py_raw(frames: list[Any] = frames) -> None:
                dealer.send_multipart(frames, copy=False)
                dealer.recv_multipart(copy=False)

            def openpi(payload: Any = payload, arr: Any = arr) -> None:
                assert policy is not None
                r = policy.infer(payload)
                assert r["x"].nbytes == arr.nbytes

            runners: dict[str, Callable[[int], list[float]]] = {
                "py-edgeml": timed(py_edgeml),
                "py-raw": timed(py_raw),
                "openpi": timed(openpi),
            }
            if ts is not None:
                ts.ask({"cmd": "prepare", "case": name, "dtype": dtype, "shape": list(shape)})
                runners["ts-edgeml"] = lambda n: ts.ask({"cmd": "run", "target": "edgeml", "n": n})["t"]
                runners["ts-raw"] = lambda n: ts.ask({"cmd": "run", "target": "raw", "n": n})["t"]
            # Check sizes, then warm up every target.
            dealer.send_multipart(frames, copy=False)
            if frames_nbytes(dealer.recv_multipart(copy=False)) != msg_bytes:
                raise RuntimeError("raw echo came back with another size")
            for t in targets:
                runners[t](3)
            times: dict[str, list[float]] = {t: [] for t in targets}
            batch_medians: dict[str, list[float]] = {t: [] for t in targets}
            for _ in range(rounds):
                order = list(targets)
                rng.shuffle(order)
                for t in order:
                    # In a batch of 5 or more, the first trip is run but not kept (it finds the caches full of
                    # the previous target's code and data), as in the TypeScript benchmark.
                    got = runners[t](batch + 1 if batch >= 5 else batch)
                    got = got[1:] if batch >= 5 else got
                    times[t].extend(got)
                    batch_medians[t].append(statistics.median(got))
            for t in targets:
                med = statistics.median(times[t])
                floor = FLOOR[t]
                paired = statistics.median(a / b for a, b in zip(batch_medians[t], batch_medians[floor]))
                row: dict[str, Any] = {
                    "case": name,
                    "target": t,
                    "messageBytes": msg_bytes,
                    "n": len(times[t]),
                    "p50": med,
                    "p90": pct(times[t], 90),
                    "min": min(times[t]),
                    "floor": floor,
                    "ratioToFloor": paired,
                    "p50OverFloorP50": med / statistics.median(times[floor]),
                }
                if "openpi" in targets and t != "openpi":
                    row["openpiOverThis"] = statistics.median(times["openpi"]) / med
                rows.append(row)
            print(f"{name}: done ({time.monotonic() - t_start:.0f} s)", file=sys.stderr, flush=True)
    finally:
        if ts is not None:
            ts.close()
        client.close()
        dealer.close(0)
        if srv.stdin:
            srv.stdin.close()
        srv.wait(10)
    info["loadEnd"] = os.getloadavg()[0]
    info["seconds"] = time.monotonic() - t_start
    verdicts = report(rows, info)
    if args.json:
        doc = {"machine": info, "options": vars(args), "rows": rows, "targets": verdicts}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")


def report(rows: list[dict[str, Any]], info: dict[str, Any]) -> list[dict[str, Any]]:
    def ms(v: float) -> str:
        return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"

    print(
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, pyzmq {info['versions']['pyzmq']}"
        f" (libzmq {info['versions']['libzmq']}), node {info['versions'].get('node')}, commit {info['commit']},"
        f" load {info['loadStart']:.2f} -> {info['loadEnd']:.2f}, {info['seconds']:.0f} s\n"
    )
    print("| case | target | message | p50 ms | p90 ms | vs floor (paired) | p50 / floor p50 | openpi p50 / this p50 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        size = r["messageBytes"]
        sz = f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB" if size < 1024**2 else f"{size / 1024**2:.2f} MiB"
        floor = "floor" if r["target"] == r["floor"] else f"{r['ratioToFloor']:.2f}x {r['floor']}"
        plain = "" if r["target"] == r["floor"] else f"{r['p50OverFloorP50']:.2f}x"
        vs = f"{r['openpiOverThis']:.1f}x" if "openpiOverThis" in r else ""
        print(f"| {r['case']} | {r['target']} | {sz} | {ms(r['p50'])} | {ms(r['p90'])} | {floor} | {plain} | {vs} |")
    verdicts = []
    print()
    for r in rows:
        if r["case"] not in TARGET_CASES or r["target"] not in ("py-edgeml", "ts-edgeml"):
            continue
        v = {
            "case": r["case"],
            "target": r["target"],
            "ratioToFloor": r["ratioToFloor"],
            "floorMet": r["ratioToFloor"] <= FLOOR_CEILING,
            "openpiOverThis": r.get("openpiOverThis"),
            "openpiMet": r.get("openpiOverThis") is not None and r["openpiOverThis"] >= OPENPI_SPEEDUP,
        }
        verdicts.append(v)
        print(
            f"- {r['case']} {r['target']}: {r['ratioToFloor']:.2f}x the floor (target <= {FLOOR_CEILING}:"
            f" {'met' if v['floorMet'] else 'missed'}); openpi / this {v['openpiOverThis'] or float('nan'):.1f}x"
            f" (target >= {OPENPI_SPEEDUP:g}: {'met' if v['openpiMet'] else 'missed'})"
        )
    for r in rows:
        if r["case"] in TARGET_CASES and r["target"] == "py-raw" and "openpiOverThis" in r:
            print(f"- {r['case']}: the raw pyzmq floor itself is {r['openpiOverThis']:.1f}x faster than openpi")
    sys.stdout.flush()
    return verdicts


if __name__ == "__main__":
    main()
