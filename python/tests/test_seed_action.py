#!/usr/bin/env python3
"""The seed's action test, ported (runs under pytest or as a script). Errors now raise instead of None."""

import time

import pytest

import edgeml
from edgeml.interfaces import ActionClient, ActionConfig, ActionServer


def action_callback(key, action):
    return {"status": "received", "key": key, "action": action}


def observation_callback(keys):
    return {"cam1": "some_value"}


def test_action():
    config = ActionConfig(port_number=0, action_keys=["move"], observation_keys=["cam1"], broadcast_port=0)
    server = ActionServer(config, observation_callback, action_callback)
    server.start(threaded=True)

    client = ActionClient("localhost", server.config)
    assert client.obs() == {"cam1": "some_value"}
    assert client.act("move", {"dx": 1})["status"] == "received"

    received = []
    client.register_obs_callback(lambda obs: received.append(obs))
    deadline = time.time() + 10
    while not received and time.time() < deadline:
        server.publish_obs({"cam1": "streamed"})
        time.sleep(0.05)
    assert received and received[-1] == {"cam1": "streamed"}

    # The seed returned None for an unknown key; now it raises.
    with pytest.raises(edgeml.NotFoundError):
        client.act("jump", {})

    client.stop()
    server.stop()
    print("[test_action] passed")


if __name__ == "__main__":
    test_action()
