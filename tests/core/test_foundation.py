"""The shared foundations every layer uses: the JSON sanitiser and user-config validation."""

from __future__ import annotations

import datetime as dt
import json
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

from aihub import jsonsafe, userconfig
from aihub.errors import ValidationError


def test_plain_gives_strict_json_for_numpy_pandas_and_dates():
    value = {"f": np.float32(1.5), "n": [np.nan, np.int64(3), pd.Timestamp("2020-01-01")], "t": (1, 2),
             "nat": pd.NaT, "arr": np.array([1.0, np.inf]), 7: dt.date(2020, 1, 2), "b": np.bool_(True)}
    out = jsonsafe.plain(value)
    assert out == {"f": 1.5, "n": [None, 3, "2020-01-01T00:00:00"], "t": [1, 2], "nat": None,
                   "arr": [1.0, None], "7": "2020-01-02", "b": True}
    json.dumps(out, allow_nan=False)  # raises if anything non-standard slipped through
    with pytest.raises(TypeError):
        jsonsafe.plain({"x": object()}, strict=True)


def test_lossless_round_trip_keeps_types_and_non_finite_values():
    value = {"a": np.array([[1.0, np.nan], [np.inf, -np.inf]]), "s": np.float32(2.5), "t": (1, "x")}
    back = jsonsafe.from_jsonable(json.loads(json.dumps(jsonsafe.to_jsonable(value), allow_nan=False)))
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["s"].dtype == np.float32 and back["t"] == (1, "x")


class _Action(userconfig.UserConfig):
    kind: Literal["webhook", "email"]
    url: str = Field(min_length=8)


class _Flow(userconfig.UserConfig):
    name: str
    actions: list[_Action]
    threshold: float = Field(default=0.5, ge=0, le=1)


def test_parse_names_the_dotted_path_the_bad_value_and_the_allowed_set():
    with pytest.raises(ValidationError) as err:
        userconfig.parse(_Flow, {"name": "x", "actions": [{"kind": "webhook", "url": "https://a.example"},
                                                          {"kind": "sms", "url": "https://b.example"}]}, what="Workflow")
    assert err.value.field == "actions.1.kind"
    assert "'webhook' or 'email'" in str(err.value) and "'sms'" in str(err.value)


def test_parse_lists_every_problem_and_refuses_unknown_keys():
    with pytest.raises(ValidationError) as err:
        userconfig.parse(_Flow, '{"name": "x", "actions": [], "threshold": 2, "colour": "red"}')
    fields = {e["field"] for e in err.value.details["errors"]}
    assert fields == {"threshold", "colour"}


def test_parse_json_text_reports_line_and_column():
    with pytest.raises(ValidationError) as err:
        userconfig.parse(_Flow, '{\n  "name": "x",\n  "actions": [}\n')
    assert err.value.details["line"] == 3
    assert userconfig.parse(_Flow, b'{"name": " x ", "actions": []}').name == "x"
