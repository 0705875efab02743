#!/usr/bin/env python3
"""Serves a small PyTorch model to TypeScript (or Python) clients, batching concurrent calls dynamically.

    python python/examples/torch_server.py --port 5555            # CUDA when available, else CPU
    npx tsx python/examples/ts_client.ts --port 5555 --clients 8  # from the repository root

Calls arriving within ``--window-ms`` of each other (up to ``--max-batch``) run as one forward pass; each caller
gets its own row of the result. Interface ``classify``: payload ``{"x": float32 [16]}`` -> ``{"logits": float32
[4], "batch": n}``.
"""

from __future__ import annotations

import argparse
import queue
import threading
from concurrent.futures import Future
from typing import Any

import numpy as np
import torch

from edgeml import InferenceServer


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Batcher:
    """Gathers calls for up to ``window`` seconds (or ``max_batch`` calls) and runs them in one forward pass."""

    def __init__(self, model: torch.nn.Module, device: torch.device, max_batch: int, window: float) -> None:
        self.model, self.device, self.max_batch, self.window = model, device, max_batch, window
        self.calls: queue.Queue[tuple[np.ndarray, Future[Any]]] = queue.Queue()
        threading.Thread(target=self._loop, daemon=True).start()

    def __call__(self, payload: Any) -> Any:
        x = np.asarray(payload["x"], dtype=np.float32)
        if x.shape != (16,):
            raise ValueError(f"x must be float32 [16], got {x.shape}")
        fut: Future[Any] = Future()
        self.calls.put((x, fut))
        return fut.result()  # runs on an edgeml handler thread; other calls are gathered meanwhile

    def _loop(self) -> None:
        while True:
            batch = [self.calls.get()]
            try:
                while len(batch) < self.max_batch:
                    batch.append(self.calls.get(timeout=self.window))
            except queue.Empty:
                pass
            try:
                xs = torch.from_numpy(np.stack([x for x, _ in batch])).to(self.device)
                with torch.no_grad():
                    out = self.model(xs).cpu().numpy()
                for i, (_, fut) in enumerate(batch):
                    fut.set_result({"logits": out[i].copy(), "batch": len(batch)})
            except Exception as e:  # every caller of a failed batch gets the error
                for _, fut in batch:
                    fut.set_exception(e)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=5555)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--window-ms", type=float, default=3.0)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = Model().to(device).eval()
    server = InferenceServer(args.port, args.host, workers=max(64, args.max_batch * 2))
    server.register_interface("classify", Batcher(model, device, args.max_batch, args.window_ms / 1000))
    server.start(threaded=True)
    print(f"serving classify on {args.host}:{server.port} ({device}); Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
