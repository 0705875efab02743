#!/usr/bin/env python3
"""Round trips of the edgeml Python peer (Python client -> Python server echo) against a raw pyzmq DEALER/ROUTER
echo of the same bytes, measured interleaved in one run. Prints the median per size and the ratio.

    python python/bench/bench.py [--rounds 200]

For Python server <-> TypeScript client and openpi's WebSocket policy server in the same run: bench_cross.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

import numpy as np
import zmq

from edgeml import InferenceClient, InferenceServer

SIZES = {
    "small": lambda: {"obs": np.arange(50, dtype=np.float32), "step": 3},
    "img224": lambda: np.zeros((224, 224, 3), np.uint8),
    "cams4": lambda: np.zeros((4, 480, 640, 3), np.uint8),
    "10MB": lambda: np.zeros(10 * 1024 * 1024, np.uint8),
}


def raw_echo(port_box: list[int], stop: threading.Event) -> None:
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    port_box.append(sock.bind_to_random_port("tcp://127.0.0.1"))
    while not stop.is_set():
        if sock.poll(100):
            sock.send_multipart(sock.recv_multipart(copy=False), copy=False)
    sock.close(0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    server = InferenceServer(0)
    server.register_interface("echo", lambda p: p)
    server.start(threaded=True)
    client = InferenceClient("127.0.0.1", server.port, timeout=30)
    stop, box = threading.Event(), []
    threading.Thread(target=raw_echo, args=(box, stop), daemon=True).start()
    while not box:
        time.sleep(0.01)
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{box[0]}")
    print(f"{'payload':8} {'edgeml us':>10} {'raw zmq us':>10} {'ratio':>6}")
    for name, make in SIZES.items():
        payload = make()
        raw = [np.asarray(payload["obs"] if isinstance(payload, dict) else payload).tobytes()]
        rounds = args.rounds if name != "10MB" else max(10, args.rounds // 10)
        ours, theirs = [], []
        for _ in range(3):
            client.call("echo", payload)
        for _ in range(rounds):  # interleaved
            t = time.perf_counter()
            client.call("echo", payload)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            dealer.send_multipart(raw, copy=False)
            dealer.recv_multipart(copy=False)
            theirs.append(time.perf_counter() - t)
        a, b = statistics.median(ours) * 1e6, statistics.median(theirs) * 1e6
        print(f"{name:8} {a:10.0f} {b:10.0f} {a / b:6.2f}")
        sys.stdout.flush()
    dealer.close(0)
    stop.set()
    client.close()
    server.stop()


if __name__ == "__main__":
    main()
