"""Strict JSON encoding of fitted-model state (numpy arrays, tuples, NaN).

The output is standard JSON (no ``NaN``/``Infinity`` literals, so PostgreSQL
``jsonb`` accepts it). Only these tagged objects are decoded; nothing is
imported or called while loading, unlike pickle.
"""

from __future__ import annotations

import math
from collections import namedtuple
from typing import Any

import numpy as np

_FLOAT_TAGS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _float(x: float) -> Any:
    if math.isfinite(x):
        return x
    return {"__float__": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` to plain JSON types, tagging what JSON cannot express.

    ndarray -> ``{"__ndarray__": flat list, "dtype": str, "shape": list}``; numpy scalar ->
    ``{"__scalar__": value, "dtype": str}``; tuple ->
    ``{"__tuple__": [...]}``; namedtuple -> ``{"__namedtuple__": name, "fields": {...}}``;
    non-finite float -> ``{"__float__": "nan"|"inf"|"-inf"}``.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.generic):
        # numpy scalars keep their type: under NEP 50 a float64 scalar and a Python
        # float promote float32 arrays differently, which changes results.
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"cannot serialise numpy scalar of dtype {obj.dtype}")
        value = _float(float(obj)) if obj.dtype.kind == "f" else obj.item()
        return {"__scalar__": value, "dtype": obj.dtype.str}
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return _float(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"cannot serialise array of dtype {obj.dtype}")
        flat = [_float(float(v)) if obj.dtype.kind == "f" else v for v in obj.ravel().tolist()]
        return {"__ndarray__": flat, "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return {"__namedtuple__": type(obj).__name__, "fields": {f: to_jsonable(getattr(obj, f)) for f in obj._fields}}
    if isinstance(obj, tuple):
        return {"__tuple__": [to_jsonable(v) for v in obj]}
    if isinstance(obj, list):
        return [to_jsonable(v) for v in obj]
    raise TypeError(f"cannot serialise object of type {type(obj).__name__}")


def from_jsonable(obj: Any) -> Any:
    """Inverse of :func:`to_jsonable`."""
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__float__" in obj and len(obj) == 1:
        return _FLOAT_TAGS[obj["__float__"]]
    if "__scalar__" in obj:
        dtype = np.dtype(obj["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"unsupported scalar dtype {dtype}")
        return dtype.type(from_jsonable(obj["__scalar__"]))
    if "__ndarray__" in obj:
        dtype = np.dtype(obj["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"unsupported array dtype {dtype}")
        values = [from_jsonable(v) for v in obj["__ndarray__"]]
        return np.asarray(values, dtype=dtype).reshape(obj["shape"])
    if "__tuple__" in obj:
        return tuple(from_jsonable(v) for v in obj["__tuple__"])
    if "__namedtuple__" in obj:
        fields = {k: from_jsonable(v) for k, v in obj["fields"].items()}
        cls = namedtuple(str(obj["__namedtuple__"]), list(fields))  # plain record, no behaviour
        return cls(**fields)
    return {k: from_jsonable(v) for k, v in obj.items()}
