"""Python <-> Python: servers and clients of every mode, robustness, persistence, CURVE."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np
import pytest
import zmq

import edgeml
from edgeml import codec, persist, protocol
from edgeml.interfaces import (
    ActionClient, ActionConfig, ActionServer, DataTable, InferenceClient, InferenceServer, TrainerClient,
    TrainerConfig, TrainerServer,
)
from helpers import REPO, wait_for


@pytest.fixture
def inference() -> Any:
    server = InferenceServer(0)
    server.register_interface("echo", lambda p: p)
    server.register_interface("sleep", lambda s: time.sleep(s) or s)
    server.register_interface("exit", lambda p: (_ for _ in ()).throw(SystemExit(3)))
    server.register_interface("kb", lambda p: (_ for _ in ()).throw(KeyboardInterrupt()))
    server.register_interface("bad", lambda p: object())
    server.start(threaded=True)
    yield server
    server.stop()


def test_concurrent_calls_are_served_concurrently(inference: InferenceServer) -> None:
    client = InferenceClient("127.0.0.1", inference.port)
    results: list[Any] = []
    t = time.monotonic()
    threads = [threading.Thread(target=lambda: results.append(client.call("sleep", 0.3))) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 8 and time.monotonic() - t < 1.5
    client.close()


def test_any_handler_exception_is_an_error_reply(inference: InferenceServer) -> None:
    client = InferenceClient("127.0.0.1", inference.port)
    with pytest.raises(edgeml.RemoteError, match="SystemExit"):
        client.call("exit")
    with pytest.raises(edgeml.RemoteError, match="KeyboardInterrupt"):
        client.call("kb")
    with pytest.raises(edgeml.InvalidArgumentError):
        client.call("bad")
    assert client.call("echo", 1) == 1  # still serving
    client.close()


def test_garbage_does_not_kill_the_server(inference: InferenceServer) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{inference.port}")
    sock.send_multipart([b"\xc1\x00garbage"])
    good = protocol.encode_request(5, "call", "echo", 1)
    sock.send_multipart([good[0][:-1] + b"\xc1"])  # undecodable, but the id can be read
    assert sock.poll(5000)
    env = protocol.decode_envelope(sock.recv_multipart())
    assert env.kind == "err" and env.id == 5 and env.error.code == "EDGEML_PROTOCOL"
    sock.send_multipart(protocol.encode_request(6, "nope", None, None))
    assert sock.poll(5000)
    env = protocol.decode_envelope(sock.recv_multipart())
    assert env.error.code == "EDGEML_INVALID_ARGUMENT" and env.error.fields == ["method"]
    sock.close()
    client = InferenceClient("127.0.0.1", inference.port)
    assert client.call("echo", "still") == "still" and client.ping() < 5
    client.close()


def test_timeout_then_late_reply_is_dropped(inference: InferenceServer) -> None:
    client = InferenceClient("127.0.0.1", inference.port)
    with pytest.raises(edgeml.TimeoutError):
        client.call("sleep", 0.5, timeout=0.1)
    assert client.call("echo", 2) == 2
    wait_for(lambda: client.rpc.late_replies >= 1, what="the late reply to arrive and be dropped")
    assert client.call("echo", 3) == 3
    client.close()
    with pytest.raises(edgeml.ClosedError):
        client.call("echo", 1)


def test_no_server_times_out() -> None:
    with InferenceClient("127.0.0.1", 1, timeout=0.2) as client:
        with pytest.raises(edgeml.TimeoutError):
            client.call("echo", 1)


def test_reconnect_after_server_restart() -> None:
    server = InferenceServer(0)
    server.register_interface("who", lambda p: "first")
    server.start(threaded=True)
    port = server.port
    client = InferenceClient("127.0.0.1", port, timeout=10)
    assert client.call("who") == "first"
    server.stop()
    server2 = InferenceServer(port)
    server2.register_interface("who", lambda p: "second")
    server2.start(threaded=True)
    try:
        assert wait_for(lambda: _try(client), what="reconnect") == "second"
    finally:
        client.close()
        server2.stop()


def _try(client: InferenceClient) -> Any:
    try:
        return client.call("who", timeout=1)
    except edgeml.TimeoutError:
        return None


def test_blocking_start_and_stop_from_another_thread() -> None:
    server = InferenceServer(0)
    threading.Timer(0.3, server.stop).start()
    t = time.monotonic()
    server.start()  # blocks until stop()
    assert time.monotonic() - t < 5


def test_message_limit_is_enforced() -> None:
    server = InferenceServer(0, limits=codec.DecodeLimits(max_message_bytes=1 << 20))
    server.register_interface("echo", lambda p: p)
    server.start(threaded=True)
    client = InferenceClient("127.0.0.1", server.port, timeout=1)
    try:
        with pytest.raises(edgeml.TimeoutError):  # libzmq drops the connection before allocating the frame
            client.call("echo", np.zeros(2 << 20, np.uint8))
        assert wait_for(lambda: _echo(client), what="service after the refusal")
    finally:
        client.close()
        server.stop()


def _echo(c: InferenceClient) -> bool:
    try:
        return c.call("echo", 1, timeout=1) == 1
    except edgeml.TimeoutError:
        return False


def test_action_python_python() -> None:
    config = ActionConfig(port_number=0, broadcast_port=0, action_keys=["move"], observation_keys=["cam"])
    server = ActionServer(config, lambda keys: {"cam": np.ones((2, 2), np.uint8)}, lambda k, p: {"did": p})
    with pytest.raises(edgeml.ClosedError):
        server.publish_obs({"x": 1})
    server.start(threaded=True)
    try:
        server.publish_obs({"n": 0})
        client = ActionClient("127.0.0.1", server.config)
        assert client.obs()["cam"].sum() == 4
        assert client.act("move", 5) == {"did": 5}
        assert client.send_action(6) == {"did": 6}
        with pytest.raises(edgeml.NotFoundError):
            client.act("jump", 1)
        got: list[Any] = []
        client.register_obs_callback(got.append)
        wait_for(lambda: got, what="late joiner obs")
        for i in range(1, 4):
            server.publish_obs({"n": i})
        wait_for(lambda: got and got[-1]["n"] == 3, what="streamed obs")
        assert client.stream_stats()["duplicates"] >= 0
        client.close()
        no_stream = ActionServer(config.replace(broadcast_port=None), lambda k: {}, lambda k, p: None)
        no_stream.start(threaded=True)
        assert no_stream.publish_obs({}) is False
        no_stream.stop()
    finally:
        server.stop()


def test_config_validation() -> None:
    with pytest.raises(edgeml.InvalidArgumentError) as info:
        ActionConfig(port_number=1, action_keys=[], observation_keys=["a"])
    assert info.value.field == "actionKeys"
    with pytest.raises(edgeml.InvalidArgumentError) as info:
        TrainerConfig(data_table=[DataTable(name="a", size=1)], rate_limit=-1)
    assert info.value.field == "rateLimit"
    with pytest.raises(edgeml.InvalidArgumentError):
        DataTable(name="a", size=0)


def test_trainer_python_python_and_persistence(tmp_path: Any) -> None:
    config = TrainerConfig(port_number=0, broadcast_port=0, data_table=[DataTable(name="t", size=3)],
                           request_types=["r"])
    order: list[int] = []
    server = TrainerServer(config, lambda table, p: order.append(p["i"]) or len(order), lambda t, p: p * 2)
    server.start(threaded=True)
    try:
        client = TrainerClient("127.0.0.1", server.bound_config)
        for i in range(5):
            client.train_step("t", {"i": i, "x": np.arange(3, dtype=np.float64)})
        assert order == list(range(5)) and [x["i"] for x in server.get_data("t")] == [2, 3, 4]
        assert client.request("r", 21) == 42
        assert server.table_stats("t")["dropped"] == 2 and server.table_names() == ["t"]
        assert server.get_data("nope") is None
        got: list[Any] = []
        client.recv_weights_callback(got.append)
        assert server.publish_weights({"w": np.eye(2, dtype=np.float32)}) == 1
        wait_for(lambda: got, what="weights")
        assert got[0]["w"].tolist() == [[1, 0], [0, 1]]
        path = str(tmp_path / "run.edgeml")
        server.save_data(path)
        client.close()
    finally:
        server.stop()
    restored = TrainerServer.make_from_file(path)
    assert [x["i"] for x in restored.get_data("t")] == [2, 3, 4] and restored.weights_version == 1
    assert restored.table_stats("t")["dropped"] == 2
    assert restored.get_data("t")[0]["x"].tolist() == [0, 1, 2]
    with pytest.raises(edgeml.NotFoundError):
        TrainerServer.make_from_file(str(tmp_path / "missing"))
    data = bytearray(open(path, "rb").read())
    data[-40] ^= 1
    (tmp_path / "corrupt").write_bytes(bytes(data))
    with pytest.raises(edgeml.ProtocolError, match="corrupt"):
        TrainerServer.make_from_file(str(tmp_path / "corrupt"))
    (tmp_path / "trunc").write_bytes(bytes(data[:-1]))
    with pytest.raises(edgeml.ProtocolError):
        TrainerServer.make_from_file(str(tmp_path / "trunc"))


def test_trainer_file_from_typescript(tmp_path: Any) -> None:
    """A file written by the TypeScript TrainerServer loads here, and one written here loads there."""
    from helpers import ts_peer

    out = tmp_path / "ts.edgeml"
    with ts_peer("trainer_file.ts", "write", str(out)) as peer:
        assert peer.line()["ok"] is True
    server = TrainerServer.make_from_file(str(out))
    item = server.get_data("a")[0]
    assert item["n"] == 1 and item["t"].tolist() == [1.0, 2.0]
    server._weights_version = 7
    again = tmp_path / "py.edgeml"
    server.save_data(str(again))
    with ts_peer("trainer_file.ts", "read", str(again)) as peer:
        assert peer.line() == {"n": 1, "t": [1, 2], "version": 7}


def test_non_fifo_table_and_busy() -> None:
    config = TrainerConfig(port_number=0, broadcast_port=0, data_table=[DataTable(name="t", size=1, fifo=False)])
    gate = threading.Event()
    server = TrainerServer(config, lambda t, p: gate.wait(5))
    server.start(threaded=True)
    client = TrainerClient("127.0.0.1", server.bound_config)
    try:
        threading.Thread(target=lambda: _swallow(lambda: client.train_step("t", 1))).start()
        wait_for(lambda: server.pending_train_steps == 1, what="pending step")
        with pytest.raises(edgeml.LimitError):
            client.train_step("t", 2)  # full, not FIFO
        gate.set()
    finally:
        client.close()
        server.stop()


def _swallow(fn: Any) -> None:
    try:
        fn()
    except edgeml.EdgeMLError:
        pass


def test_curve(tmp_path: Any) -> None:
    server_pub, server_sec = edgeml.write_key_files(str(tmp_path / "server"))
    client_pub, client_sec = edgeml.write_key_files(str(tmp_path / "robot1"))
    assert oct(os.stat(server_sec).st_mode & 0o777) == "0o600"
    sec = edgeml.ServerSecurity(server_sec, allowed_clients=[client_pub])
    server = InferenceServer(0, security=sec)
    server.register_interface("echo", lambda p: p)
    server.start(threaded=True)
    try:
        good = InferenceClient("127.0.0.1", server.port, security=edgeml.ClientSecurity(server_pub, client_sec))
        assert good.call("echo", "secret") == "secret"
        good.close()
        stranger = InferenceClient("127.0.0.1", server.port, timeout=0.5,
                                   security=edgeml.ClientSecurity(server_pub))
        with pytest.raises(edgeml.TimeoutError):
            stranger.call("echo", 1)
        stranger.close()
    finally:
        server.stop()
    with pytest.raises(edgeml.InvalidArgumentError):
        edgeml.ServerSecurity(server_pub)  # a public key cannot serve
