#!/usr/bin/env python3
"""A Python actor feeding a TypeScript trainer (examples/trainer-learner.ts in the repository).

    npx tsx examples/trainer-learner.ts --port 5555                 # the TypeScript learner (repository root)
    python python/examples/actor.py --port 5555 --seconds 30        # this actor

Plays CartPole (a small NumPy copy of the built-in dynamics) with a linear softmax policy, sends each episode with
``train_step``, and applies the weights the trainer publishes. The config must equal the learner's: pass --table and
--version if you changed them there; a mismatch raises ConfigMismatchError naming the fields.
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from typing import Any

import numpy as np

from edgeml import ConfigMismatchError, DataTable, LimitError, TrainerClient, TrainerConfig, TypedArray
from edgeml import TimeoutError as EdgeMLTimeout


class CartPole:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> np.ndarray:
        self.s = self.rng.uniform(-0.05, 0.05, 4)
        self.t = 0
        return self.s.copy()

    def step(self, action: int) -> tuple[np.ndarray, float, bool]:
        x, xd, th, thd = self.s
        force = 10.0 if action == 1 else -10.0
        cos, sin = math.cos(th), math.sin(th)
        temp = (force + 0.05 * thd * thd * sin) / 1.1
        thacc = (9.8 * sin - cos * temp) / (0.5 * (4 / 3 - 0.1 * cos * cos / 1.1))
        xacc = temp - 0.05 * thacc * cos / 1.1
        self.s = np.array([x + 0.02 * xd, xd + 0.02 * xacc, th + 0.02 * thd, thd + 0.02 * thacc])
        self.t += 1
        done = abs(self.s[0]) > 2.4 or abs(self.s[2]) > 12 * math.pi / 180 or self.t >= 500
        return self.s.copy(), 1.0, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5555)
    ap.add_argument("--broadcast-port", type=int, default=None)
    ap.add_argument("--table", default="episodes")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--version", default="cartpole-reinforce-1")
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    config = TrainerConfig(port_number=args.port, broadcast_port=args.broadcast_port or args.port + 1,
                           data_table=[DataTable(name=args.table, size=args.size)], request_types=["progress"],
                           version=args.version)
    client = TrainerClient(args.host, config)
    weights = {"w": np.zeros((2, 5))}  # 2 actions x (4 observation values + bias), as the TypeScript learner
    lock = threading.Lock()

    def on_weights(new: Any) -> None:
        w = new.get("w") if isinstance(new, dict) else None
        if w is not None:
            with lock:
                weights["w"] = np.asarray(w, dtype=np.float64).reshape(2, 5)
        if isinstance(new, dict) and new.get("done"):
            stop.set()

    stop = threading.Event()
    try:
        client.recv_weights_callback(on_weights)
    except ConfigMismatchError as e:
        raise SystemExit(f"config differs from the trainer's: {e}") from None
    env, rng = CartPole(1), np.random.default_rng(2)
    end = time.time() + args.seconds
    episodes = 0
    while time.time() < end and not stop.is_set():
        obs, done, observations, actions = env.reset(), False, [], []
        version = client.weights_version
        while not done:
            with lock:
                logits = weights["w"] @ np.append(obs, 1.0)
            p = np.exp(logits - logits.max())
            action = int(rng.choice(2, p=p / p.sum()))
            observations.append(obs)
            actions.append(action)
            obs, _, done = env.step(action)
        # The episode as the TypeScript actors send it: obs (T x 4 flat float32 typed array), actions (bytes).
        episode = {"obs": np.array(observations, np.float32).reshape(-1).view(TypedArray),
                   "actions": bytes(actions), "version": version, "actor": 100}
        try:
            client.train_step(args.table, episode)
        except LimitError:  # the trainer is busy: drop this episode, it would be stale anyway
            time.sleep(0.05)
        except EdgeMLTimeout:
            break  # the learner is gone
        episodes += 1
        if episodes % 20 == 0:
            print(f"episodes {episodes}, last return {len(actions)}, weights v{client.weights_version}", flush=True)
    client.stop()


if __name__ == "__main__":
    main()
