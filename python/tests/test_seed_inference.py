#!/usr/bin/env python3
"""The seed's inference test, ported (runs under pytest or as a script). Errors now raise instead of None."""

import pytest

import edgeml
from edgeml.interfaces import InferenceClient, InferenceServer


def predict(payload):
    return {"prediction": "some_value", "got": payload}


def test_inference():
    server = InferenceServer(port_num=0)
    server.register_interface("voice_reg", predict)
    server.register_interface("face_reg", predict)
    server.start(threaded=True)

    client = InferenceClient("localhost", server.port)
    res = client.call("voice_reg", {"audio": "serialized_audio"})
    assert res == {"prediction": "some_value", "got": {"audio": "serialized_audio"}}
    res = client.call("face_reg", {"image": "serialized_image"})
    assert res["prediction"] == "some_value"
    assert sorted(client.interfaces()) == ["face_reg", "voice_reg"]

    # The seed returned None for an unknown interface; now it raises.
    with pytest.raises(edgeml.NotFoundError):
        client.call("unknown", {})

    client.close()
    server.stop()
    print("[test_inference] passed")


if __name__ == "__main__":
    test_inference()
