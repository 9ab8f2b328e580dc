"""The shared foundations every layer uses: the JSON sanitiser and user-config validation."""

from __future__ import annotations

import datetime as dt
import json
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from pydantic import Field, ValidationInfo, field_validator, model_validator

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


class _Link(userconfig.UserConfig):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    password: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data):
        err = userconfig.unknown_keys(data, ("url", "headers", "password"))
        if err:
            raise err
        return data

    @field_validator("headers")
    @classmethod
    def _no_credentials(cls, value):
        for key in value:
            if key.lower() == "authorization":
                raise userconfig.error_at((key,), "is a credential; put it in password instead", userconfig.HIDDEN)
        return value

    @field_validator("password")
    @classmethod
    def _strong(cls, value, info: ValidationInfo):
        if value is not None and len(value) < (info.context or {}).get("min_length", 8):
            raise userconfig.error_at((), "is too short; use at least 8 characters", userconfig.HIDDEN)
        return value

    @model_validator(mode="after")
    def _https(self):
        if not self.url.startswith("https://"):
            raise userconfig.error_at(("url",), "must start with https://", self.url)
        return self


class _Site(userconfig.UserConfig):
    links: list[_Link]


def test_error_at_places_the_message_at_a_dotted_path_and_hides_secrets():
    with pytest.raises(ValidationError) as err:
        userconfig.parse(_Site, {"links": [{"url": "https://a.example"},
                                           {"url": "https://b.example", "headers": {"Authorization": "Bearer s3cr3t"},
                                            "password": "pw-1"}]}, what="Site")
    fields = [e["field"] for e in err.value.details["errors"]]
    assert fields == ["links.1.headers.Authorization", "links.1.password"]
    assert str(err.value).startswith("Site: links.1.headers.Authorization: is a credential; put it in password instead")
    assert "Value error" not in str(err.value)
    assert "s3cr3t" not in str(err.value) and "pw-1" not in str(err.value) and "(got" not in str(err.value)
    with pytest.raises(ValidationError) as err:  # a model validator's own location, the value shown
        userconfig.parse(_Site, {"links": [{"url": "http://a.example"}]})
    assert err.value.field == "links.0.url" and "(got 'http://a.example')" in str(err.value)


def test_unknown_keys_name_the_allowed_ones_without_showing_the_value():
    with pytest.raises(ValidationError) as err:
        userconfig.parse(_Site, {"links": [{"url": "https://a.example", "pasword": "s3cr3t"}]})
    assert err.value.field == "links.0.pasword"
    assert "allowed: url, headers, password" in str(err.value) and "s3cr3t" not in str(err.value)
    assert userconfig.unknown_keys({"url": 1}, ("url",)) is None


def test_parse_passes_context_to_validators_and_redacts_shown_values():
    site = {"links": [{"url": "https://a.example", "password": "longer-than-8"}]}
    assert userconfig.parse(_Site, site).links[0].password == "longer-than-8"
    with pytest.raises(ValidationError) as err:
        userconfig.parse(_Site, site, context={"min_length": 20})
    assert err.value.field == "links.0.password"
    with pytest.raises(ValidationError) as err:
        userconfig.parse(_Site, {"links": [{"url": "http://u:pw-9@a.example"}]},
                         redact=lambda v: v.replace("pw-9", "***") if isinstance(v, str) else v)
    assert "pw-9" not in str(err.value) and "(got 'http://u:***@a.example')" in str(err.value)


def test_limits_reads_a_fields_bounds_and_default_from_the_model():
    assert userconfig.limits(_Flow, "threshold") == {"ge": 0, "le": 1, "default": 0.5}
    assert userconfig.limits(_Action, "url") == {"min_length": 8}
    assert userconfig.limits(_Flow, "name") == {}
    with pytest.raises(KeyError):
        userconfig.limits(_Flow, "nope")
