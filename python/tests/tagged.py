"""The tagged JSON form of docs/protocol.md ("Golden vectors"), both ways."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from edgeml.codec import DTYPES, MAX_SAFE, Tensor, TypedArray, dtype_name
from edgeml.image import Image

VECTORS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "vectors")


def load(name: str) -> Any:
    with open(os.path.join(VECTORS_DIR, name)) as f:
        # A JSON integer beyond 2^53 - 1 is a float 64 (bigints are tagged).
        return json.load(f, parse_int=lambda s: int(s) if abs(int(s)) <= MAX_SAFE else float(s))


def _hex(a: np.ndarray) -> str:
    return np.ascontiguousarray(a).tobytes().hex()


def to_tagged(v: Any) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if -MAX_SAFE <= v <= MAX_SAFE else {"$bigint": str(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"$float": "NaN"}
        if math.isinf(v):
            return {"$float": "Infinity" if v > 0 else "-Infinity"}
        if v == 0 and math.copysign(1, v) < 0:
            return {"$float": "-0"}
        return v
    if isinstance(v, bytes):
        return {"$bytes": v.hex()}
    if isinstance(v, Image):
        return {"$image": {"format": v.format, "shape": list(v.shape), "hex": v.bytes.hex()}}
    if isinstance(v, TypedArray):
        return {"$array": {"dtype": dtype_name(v.dtype), "hex": _hex(v)}}
    if isinstance(v, np.ndarray):
        return {"$tensor": {"dtype": dtype_name(v.dtype), "shape": list(v.shape), "hex": _hex(v)}}
    if isinstance(v, list):
        return [to_tagged(x) for x in v]
    if isinstance(v, dict):
        out = {k: to_tagged(x) for k, x in v.items()}
        return {"$map": out} if len(out) == 1 and next(iter(out)).startswith("$") else out
    raise TypeError(type(v))


def from_tagged(v: Any) -> Any:
    if isinstance(v, list):
        return [from_tagged(x) for x in v]
    if isinstance(v, dict):
        if len(v) == 1:
            (k, x), = v.items()
            if k == "$float":
                return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}[x]
            if k == "$bigint":
                return int(x)
            if k == "$bytes":
                return bytes.fromhex(x)
            if k == "$array":
                return np.frombuffer(bytes.fromhex(x["hex"]), DTYPES[x["dtype"]]).view(TypedArray)
            if k == "$tensor":
                data = np.frombuffer(bytes.fromhex(x["hex"]), np.uint8)
                dt = DTYPES[x["dtype"]]
                if x["dtype"] == "bfloat16":
                    return Tensor("bfloat16", data.view(np.uint16).reshape(x["shape"]))
                return data.view(dt).reshape(x["shape"])
            if k == "$image":
                image = Image(x["format"], bytes.fromhex(x["hex"]))
                if list(image.shape) != x["shape"]:
                    raise ValueError(f"$image shape {x['shape']} differs from its header {list(image.shape)}")
                return image
            if k == "$map":
                return {kk: from_tagged(xx) for kk, xx in x.items()}
        return {k: from_tagged(x) for k, x in v.items()}
    return v
