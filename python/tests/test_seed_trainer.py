#!/usr/bin/env python3
"""The seed's trainer test, ported (runs under pytest or as a script). Errors now raise instead of None."""

import time

import pytest

import edgeml
from edgeml.interfaces import DataTable, TrainerClient, TrainerConfig, TrainerServer


def train_step(table_name, payload):
    return {"table": table_name}


def request_callback(type, payload):
    return {"type": type, "payload": payload}


def test_trainer():
    config = TrainerConfig(port_number=0, broadcast_port=0, data_table=[DataTable(name="agent1", size=2)],
                           request_types=["get-stats"])
    server = TrainerServer(config, train_step, request_callback)
    server.start(threaded=True)

    client = TrainerClient("localhost", server.bound_config)
    weights = []
    client.register_callback(lambda w: weights.append(w))

    for i in range(3):
        assert client.train_step("agent1", {"observation": i}) == {"table": "agent1"}
    assert [d["observation"] for d in server.get_data("agent1")] == [1, 2]  # size 2: oldest dropped
    assert server.table_names() == ["agent1"]
    assert client.request("get-stats", {"x": 1}) == {"type": "get-stats", "payload": {"x": 1}}

    server.publish_weights({"w": [1.0, 2.0]})
    deadline = time.time() + 10
    while not weights and time.time() < deadline:
        time.sleep(0.01)
    assert weights == [{"w": [1, 2]}]

    # The seed returned None for an unknown table or request type; now they raise.
    with pytest.raises(edgeml.NotFoundError):
        client.train_step("agent2", {})
    with pytest.raises(edgeml.NotFoundError):
        client.request("nope", {})

    client.stop()
    server.stop()
    print("[test_trainer] passed")


if __name__ == "__main__":
    test_trainer()
