"""Cross-language tests on real sockets: Python clients against TypeScript servers and TypeScript clients against
Python servers, in every mode."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

import edgeml
from edgeml import codec
from edgeml.interfaces import (
    ActionClient, ActionConfig, ActionServer, DataTable, InferenceClient, InferenceServer, TrainerClient,
    TrainerConfig, TrainerServer,
)
from helpers import DTYPE_NAMES, array, pattern, ts_peer, wait_for

ERRORS = ["EdgeMLError", "TimeoutError", "AbortError", "ProtocolError", "ConfigMismatchError", "ClosedError",
          "LimitError", "NotFoundError", "InvalidArgumentError", "AuthenticationError"]


def _raise(p: dict[str, Any]) -> Any:
    cls, message = p["cls"], p["message"]
    if cls == "TypeError":
        raise TypeError(message)
    if cls == "ConfigMismatchError":
        raise edgeml.ConfigMismatchError(message, ["a", "b"])
    if cls == "InvalidArgumentError":
        raise edgeml.InvalidArgumentError("field1", message)
    raise getattr(edgeml, cls)(message)


# -- inference ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ts_inference() -> Any:
    with ts_peer("inference_server.ts") as peer:
        port = peer.line()["port"]
        client = InferenceClient("127.0.0.1", port, timeout=30)
        yield client
        client.close()


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_py_client_ts_server_dtypes(ts_inference: InferenceClient, dtype: str) -> None:
    a = array(dtype, (2, 3))
    out = ts_inference.call("echo", {"t": a})["t"]
    assert codec.dtype_name(out.dtype) == dtype and out.shape == (2, 3) and out.tobytes() == a.tobytes()
    assert not out.flags.writeable


def test_py_client_ts_server_made_in_ts(ts_inference: InferenceClient) -> None:
    made = ts_inference.call("dtypes")
    for d in DTYPE_NAMES:
        assert codec.dtype_name(made[d].dtype) == d and made[d].tobytes() == pattern(d, 6)


def test_py_client_ts_server_values(ts_inference: InferenceClient) -> None:
    v = {"n": 3, "f": 2.5, "whole": 2.0, "big": 2**60, "s": "héllo", "b": b"\x01\x02", "nil": None,
         "l": [1, "a", True], "ta": np.arange(3, dtype=np.int16).view(edgeml.TypedArray), "long": b"x" * 5000}
    out = ts_inference.call("echo", v)
    assert out["n"] == 3 and out["f"] == 2.5 and out["big"] == 2**60 and out["s"] == "héllo"
    assert out["whole"] == 2 and type(out["whole"]) is int  # the number model: integral floats travel as ints
    assert out["b"] == b"\x01\x02" and out["nil"] is None and out["l"] == [1, "a", True]
    assert isinstance(out["ta"], edgeml.TypedArray) and out["ta"].tolist() == [0, 1, 2]
    assert out["long"] == b"x" * 5000


@pytest.mark.parametrize("cls", ERRORS + ["TypeError"])
def test_py_client_ts_server_errors(ts_inference: InferenceClient, cls: str) -> None:
    expected = edgeml.RemoteError if cls == "TypeError" else getattr(edgeml, cls)
    with pytest.raises(expected) as info:
        ts_inference.call("raise", {"cls": cls, "message": f"boom {cls}"})
    assert f"boom {cls}" in str(info.value)
    if cls == "TypeError":
        assert info.value.remote_name == "TypeError"
    if cls == "ConfigMismatchError":
        assert info.value.fields == ("a", "b")
    if cls == "InvalidArgumentError":
        assert info.value.field == "field1"


def test_py_client_ts_server_not_found_and_timeout(ts_inference: InferenceClient) -> None:
    with pytest.raises(edgeml.NotFoundError, match="echo"):
        ts_inference.call("missing", None)
    with pytest.raises(edgeml.TimeoutError):
        ts_inference.call("sleep", 2000, timeout=0.3)
    assert "echo" in ts_inference.interfaces()


def test_py_client_ts_server_100mb(ts_inference: InferenceClient) -> None:
    big = np.zeros(100 * 1024 * 1024, np.uint8)
    big[::4096] = np.arange(big.size // 4096, dtype=np.uint8)
    out = ts_inference.call("echo", big, timeout=60)
    assert out.shape == big.shape and np.array_equal(out, big)


def test_ts_client_py_server_inference() -> None:
    server = InferenceServer(0)
    server.register_interface("echo", lambda p: p)
    server.register_interface("raise", _raise)
    server.register_interface("sleep", lambda ms: time.sleep(ms / 1000) or "slept")
    server.register_interface("dtypes", lambda p: {d: array(d, (2, 3)) for d in DTYPE_NAMES})
    server.start(threaded=True)
    try:
        with ts_peer("inference_client.ts", str(server.port)) as peer:
            result = peer.line(120)
    finally:
        server.stop()
    failed = {k: v for k, v in result.items() if v is not True}
    assert not failed, failed


# -- action ---------------------------------------------------------------------------------------------------


def test_py_client_ts_action_server() -> None:
    with ts_peer("action_server.ts") as peer:
        ports = peer.line()
        config = ActionConfig(port_number=ports["port"], broadcast_port=ports["broadcastPort"],
                              action_keys=["publish", "move"], observation_keys=["state", "cam"])
        client = ActionClient("127.0.0.1", config)
        try:
            obs = client.obs(["cam"])
            assert obs["cam"].shape == (4, 5, 3) and obs["cam"].dtype == np.uint8
            assert client.obs()["state"].dtype == np.float32
            assert client.act("move", {"dx": 0.25}) == {"key": "move", "payload": {"dx": 0.25}}
            with pytest.raises(edgeml.NotFoundError):
                client.obs(["nope"])
            seen: list[int] = []
            client.register_obs_callback(lambda o: seen.append(o["frame"]))  # a late joiner
            wait_for(lambda: seen, what="the latest observation")
            assert seen[0] == 0
            assert client.act("publish") == 1
            wait_for(lambda: 1 in seen, what="the next observation")
            bad = ActionClient("127.0.0.1", config.replace(action_keys=["other"]))
            with pytest.raises(edgeml.ConfigMismatchError) as info:
                bad.obs()
            assert info.value.fields == ("actionKeys",)
            bad.close()
        finally:
            client.close()


def test_ts_client_py_action_server() -> None:
    frame = [0]
    config = ActionConfig(port_number=0, broadcast_port=0, action_keys=["move", "publish"],
                          observation_keys=["cam", "state"])

    def obs_cb(keys: list[str]) -> Any:
        full = {"cam": np.zeros((4, 5, 3), np.uint8), "state": np.array([frame[0], 0.5], np.float32),
                "frame": frame[0]}
        return {k: full[k] for k in keys}

    def act_cb(key: str, payload: Any) -> Any:
        if key == "publish":
            frame[0] += 1
            server.publish_obs({"frame": frame[0]})
            return frame[0]
        return {"key": key, "payload": payload}

    server = ActionServer(config, obs_cb, act_cb)
    server.start(threaded=True)
    server.publish_obs({"frame": 0})
    try:
        with ts_peer("action_client.ts", str(server.port), str(server.broadcast_port)) as peer:
            result = peer.line(60)
    finally:
        server.stop()
    assert result["obs"] is True and result["act"] is True and result["unknownKey"] is True
    assert result["lateJoiner"] == 0 and result["stream"][:2] == [0, 1]
    assert result["mismatch"] == ["actionKeys"]


# -- trainer --------------------------------------------------------------------------------------------------


def _trainer_config(d: dict[str, Any]) -> TrainerConfig:
    return TrainerConfig.from_json(d)


def test_py_client_ts_trainer_server() -> None:
    with ts_peer("trainer_server.ts") as peer:
        bound = peer.line()
        config = TrainerConfig(port_number=bound["portNumber"], broadcast_port=bound["broadcastPort"],
                               data_table=[DataTable(name="agent2", size=3, fifo=False), DataTable(name="agent1", size=10)],
                               request_types=["size", "publish"])
        client = TrainerClient("127.0.0.1", config)
        try:
            for i in range(3):
                r = client.train_step("agent1", {"i": i, "obs": np.ones(3, np.float32)})
                assert r["table"] == "agent1" and r["n"] == i + 1 and r["got"]["i"] == i
                assert r["got"]["obs"].tolist() == [1, 1, 1]
            for i in range(3):
                client.train_step("agent2", i)
            with pytest.raises(edgeml.LimitError):
                client.train_step("agent2", 3)  # full, not FIFO
            assert client.request("size", "agent1") == 3
            with pytest.raises(edgeml.NotFoundError):
                client.train_step("nope", 1)
            got: list[Any] = []
            client.recv_weights_callback(lambda w: got.append(w["tag"]))  # a late joiner
            wait_for(lambda: got, what="the latest weights")
            assert got[0] == "first"
            assert client.request("publish", "second") == 2
            wait_for(lambda: "second" in got, what="new weights")
            assert client.weights_version == 2
            bad = TrainerClient("127.0.0.1", config.replace(version="9"))
            with pytest.raises(edgeml.ConfigMismatchError) as info:
                bad.train_step("agent1", 1)
            assert info.value.fields == ("version",)
            bad.close()
        finally:
            client.close()


def test_ts_client_py_trainer_server() -> None:
    config = TrainerConfig(port_number=0, broadcast_port=0, request_types=["size", "publish"],
                           data_table=[DataTable(name="agent1", size=10)])

    def request(kind: str, payload: Any) -> Any:
        if kind == "publish":
            return server.publish_weights({"w": np.ones((2, 2), np.float32), "tag": payload})
        return len(server.get_data(payload) or [])

    server = TrainerServer(config, lambda table, p: {"n": len(server.get_data(table) or []), "i": p["i"]}, request)
    server.start(threaded=True)
    server.publish_weights({"w": np.zeros((2, 2), np.float32), "tag": "first"})
    try:
        with ts_peer("trainer_client.ts", json.dumps(server.bound_config.to_json())) as peer:
            result = peer.line(60)
    finally:
        server.stop()
    assert result["steps"] == [{"n": i + 1, "i": i} for i in range(5)]
    assert result["request"] == 5 and result["unknownTable"] == "NotFoundError"
    assert result["weights"][:2] == ["first", "second"] and result["version"] == 2
    assert [item["i"] for item in server.get_data("agent1") or []] == list(range(5))
