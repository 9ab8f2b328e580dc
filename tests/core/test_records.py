"""Rows as stored with a batch prediction: :func:`aihub.ingest.json_lines` against pandas' own encoder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.ingest import json_lines
from aihub.services.batch_predictions import _stack
from tests.conftest import shared_file


def _pandas(frame: pd.DataFrame) -> list[dict]:
    return [json.loads(x) for x in frame.to_json(orient="records", lines=True, date_format="iso").splitlines()]


def _ours(frame: pd.DataFrame) -> list[dict]:
    lines = json_lines(frame)
    assert all("\n" not in x for x in lines)
    return [json.loads(x) for x in lines]


def test_text_cells_with_quotes_backslashes_control_characters_and_unicode_match_pandas():
    frame = pd.DataFrame({
        "plain": ["a", "b c", "", "7"],
        'quo"te': ['say "hi"', "back\\slash", "tab\there", "line\nbreak"],
        "uni": ["naïve", "日本", "emoji 🙂", "\x01ctrl"],
        "slash": ["a/b", "</script>", "x", "y"],
    })
    assert _ours(frame) == _pandas(frame)
    assert list(_ours(frame)[0]) == ["plain", 'quo"te', "uni", "slash"]  # keys keep the columns' order


def test_missing_cells_become_null_and_numbers_or_dates_use_pandas():
    text = pd.DataFrame({"a": ["x", None, np.nan], "b": [None, "y", "z"]}, dtype=object)
    assert _ours(text) == [{"a": "x", "b": None}, {"a": None, "b": "y"}, {"a": None, "b": "z"}]
    mixed = pd.DataFrame({"n": [1, 2], "f": [0.5, np.nan], "d": pd.to_datetime(["2024-01-02", "2024-03-04"]),
                          "t": ["u", "v"]})
    assert _ours(mixed) == _pandas(mixed)


def test_empty_frames_column_names_as_text_and_duplicates_refused():
    assert json_lines(pd.DataFrame({"a": pd.Series([], dtype=object)})) == []
    assert json_lines(pd.DataFrame(index=range(2))) == ["{}", "{}"]
    assert _ours(pd.DataFrame({1: ["a"], "b": ["c"]})) == [{"1": "a", "b": "c"}]
    with pytest.raises(ValueError, match="columns appear twice"):
        json_lines(pd.DataFrame([["a", "b"]], columns=["x", "x"]))


def test_telco_rows_match_pandas():
    frame = pd.read_csv(shared_file("telco_churn", "telco_customer_churn.csv"), dtype=str, keep_default_na=False)
    assert _ours(frame) == _pandas(frame)


def _chunk(n: int, start: int, *, errors: bool = False) -> pd.DataFrame:
    return pd.DataFrame({
        "row": np.arange(start, start + n), "tenure": [str(i) for i in range(n)],
        "prediction": ["Yes" if i % 2 else "No" for i in range(n)], "probability": np.linspace(0, 1, n),
        "error": [f"row {i}: bad" if errors and i == 0 else None for i in range(n)],
        "warning": [None] * n,
    })


def test_stacked_chunks_equal_pandas_concat_also_when_chunks_differ():
    same = [_chunk(5, 1), _chunk(3, 6, errors=True), _chunk(4, 9)]
    pd.testing.assert_frame_equal(_stack(same), pd.concat(same, ignore_index=True))
    other = [_chunk(2, 1), _chunk(2, 3).drop(columns=["warning"])]  # columns differ: pandas decides
    pd.testing.assert_frame_equal(_stack(other), pd.concat(other, ignore_index=True))
    typed = [_chunk(2, 1).astype({"prediction": "category"}), _chunk(2, 3).astype({"prediction": "category"})]
    pd.testing.assert_frame_equal(_stack(typed), pd.concat(typed, ignore_index=True))
    pd.testing.assert_frame_equal(_stack([_chunk(3, 1)]), _chunk(3, 1))
