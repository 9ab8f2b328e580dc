"""The one JSON sanitiser of :mod:`aihub`: values to standard JSON, lossy or lossless.

Standard JSON has no ``NaN``/``Infinity`` literals and PostgreSQL ``jsonb``
rejects them, and numpy, pandas and datetime values are not JSON types. Two
conversions cover every use in the hub:

* :func:`plain` (lossy, for payloads, records and display): numpy and pandas
  scalars become Python numbers, arrays and tuples become lists, dates become
  ISO 8601 text, and non-finite numbers or missing values become ``None``.
* :func:`to_jsonable` / :func:`from_jsonable` (lossless, for fitted-model and
  detector state): what JSON cannot express is tagged and restored exactly.
  Only these tagged objects are decoded; nothing is imported or called while
  loading, unlike pickle.

This module imports nothing from :mod:`aihub`, so every layer may use it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import namedtuple
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

_FLOAT_TAGS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _float(x: float) -> Any:
    if math.isfinite(x):
        return x
    return {"__float__": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def plain(obj: Any, *, strict: bool = False) -> Any:
    """``obj`` as plain JSON types; non-finite numbers and missing values become ``None``.

    Parameters
    ----------
    obj : Any
        Nested dicts, lists, tuples and sets of numbers, strings, booleans,
        numpy/pandas scalars and arrays, dates, datetimes and ``Decimal``.
    strict : bool, default False
        When False, a value of any other type becomes ``str(value)``; when
        True it raises.

    Returns
    -------
    Any
        ``None``, bool, int, float (finite), str, list or dict with str keys.

    Raises
    ------
    TypeError
        With ``strict=True``, for a value of a type listed nowhere above.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): plain(v, strict=strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [plain(v, strict=strict) for v in obj]
    if isinstance(obj, np.ndarray):
        return [plain(v, strict=strict) for v in obj.tolist()]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating, Decimal)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is pd.NaT or obj is pd.NA:
        return None
    if isinstance(obj, (dt.datetime, dt.date, dt.time, pd.Timestamp)):
        return obj.isoformat()
    if isinstance(obj, (pd.Timedelta, dt.timedelta)):
        return pd.Timedelta(obj).isoformat()
    if strict:
        raise TypeError(f"cannot convert a value of type {type(obj).__name__} to JSON")
    return str(obj)


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
