"""Per-row validation of prediction input against a model's feature schema.

One bad row never sinks a batch: each problem becomes a :class:`RowIssue`
naming the 1-based row, the column and the value; fatal issues keep the row
from being predicted, the others are warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import ValidationError
from aihub.ml.features import parse_date_values
from aihub.ml.model import TrainedModel
from aihub.ml.preprocess import SMALL_FRAME, category_codes, cells_of, parse_numeric, to_category_strings
from aihub.ml.rfm import apply_data_prep


@dataclass
class RowIssue:
    """A problem with one input row.

    Attributes
    ----------
    row : int
        1-based position in the input frame (CSV line = row + 1 with a header).
    column : str
    value : Any
    message : str
    fatal : bool
        True: the row is not predicted. False: a warning (e.g. unseen category).
    """

    row: int
    column: str
    value: Any
    message: str
    fatal: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": None if self.value is None else str(self.value), "message": self.message, "fatal": self.fatal}


def _known_categories(model: TrainedModel) -> dict[str, set]:
    cache = model._cache.get("known_categories")
    if cache is not None:
        return cache
    out: dict[str, set] = {}
    pre = model.pipeline.named_steps["preprocess"]
    for name, trans, cols in pre.transformers_:
        if name in ("cat", "te"):
            enc = trans.named_steps["onehot" if name == "cat" else "target"]
            for col, cats in zip(cols, enc.categories_):
                out[col] = {str(c) for c in cats}
    model._cache["known_categories"] = out
    return out


def prepare_input(model: TrainedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the model's ``data_prep`` (orders -> customer table) when the input is an orders table.

    Segmentation and CLV models accept either the per-customer table they were
    trained on or the raw orders (detected by the configured customer, date
    and amount columns); in the latter case the output has one row per customer.
    """
    prep = model.config.data_prep
    if prep is None:
        return frame
    needed = [prep["customer_column"], prep["date_column"], prep["amount_column"]]
    if all(c in frame.columns for c in needed) and not all(f in frame.columns for f in model.features):
        return apply_data_prep(prep, frame, with_target=False)
    return frame


def strip_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with column names stripped of surrounding spaces, as training names them."""
    if any(str(c) != str(c).strip() for c in frame.columns):
        return frame.rename(columns=lambda c: str(c).strip())
    return frame


def validate_rows(model: TrainedModel, frame: pd.DataFrame) -> tuple[np.ndarray, list[RowIssue]]:
    """Check every row against the feature schema (see :func:`validate`).

    Returns
    -------
    ok : ndarray of bool, shape (n_rows,)
        Rows that can be predicted.
    issues : list of RowIssue
        In row order.
    """
    ok, issues, _ = validate(model, frame)
    return ok, issues


class _Checker:
    """Collects issues for one frame."""

    def __init__(self, model: TrainedModel, frame: pd.DataFrame):
        self.frame = frame
        self.ok = np.ones(len(frame), dtype=bool)
        self.issues: list[RowIssue] = []
        self.drop_mode = model.config.feature_engineering.handle_missing == "drop"
        self.known = _known_categories(model)

    def fatal(self, i: int, column: str, value: Any, message: str) -> None:
        self.ok[i] = False
        self.issues.append(RowIssue(int(i) + 1, column, value, f"row {i + 1}: {message}"))

    def warn(self, i: int, column: str, value: Any, message: str) -> None:
        self.issues.append(RowIssue(int(i) + 1, column, value, f"row {i + 1}: {message}", fatal=False))

    def blanks(self, name: str, blank: np.ndarray) -> None:
        if self.drop_mode:
            for i in np.flatnonzero(blank):
                self.fatal(i, name, None, f"{name} is blank and this model needs a value")

    def numeric(self, spec) -> np.ndarray:
        col = self.frame[spec.name]
        nums, bad = parse_numeric(col)
        tolerated = spec.unparseable_share > 0 and not self.drop_mode
        for i in np.flatnonzero(bad.to_numpy()):
            if tolerated:  # training had such text too and treated it as blank
                self.warn(i, spec.name, col.iloc[i], f"{spec.name} = {col.iloc[i]!r} is not a number; treated as blank as in training")
            else:
                self.fatal(i, spec.name, col.iloc[i], f"{spec.name} = {col.iloc[i]!r} is not a number")
        self.blanks(spec.name, nums.isna().to_numpy() & ~bad.to_numpy())
        return nums.to_numpy(dtype="float64")

    def categorical(self, spec) -> np.ndarray:
        col = self.frame[spec.name]
        coded = category_codes(col) if len(col) > SMALL_FRAME else None
        if coded is not None:
            return self._coded_categories(spec, *coded)
        cats = to_category_strings(col)
        if len(cats) <= SMALL_FRAME:
            return self._few_categories(spec, cats.to_numpy(dtype=object))
        blank = cats.isna().to_numpy()
        self.blanks(spec.name, blank)
        allowed = self.known.get(spec.name)
        if allowed:
            for i in np.flatnonzero(~blank & ~cats.isin(allowed).to_numpy()):
                self.warn(i, spec.name, cats.iloc[i], f"{spec.name} = {cats.iloc[i]!r} was not seen in training; predicted as an unknown value")
        return cats.to_numpy(dtype=object)

    def _coded_categories(self, spec, codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """:meth:`categorical` of a repeating text column: blank and unseen are decided once per distinct text."""
        cats = cells_of(codes, labels)
        safe = np.where(codes >= 0, codes, 0)
        text = np.fromiter((isinstance(v, str) for v in labels), dtype=bool, count=len(labels))
        self.blanks(spec.name, (codes < 0) | ~text[safe])
        allowed = self.known.get(spec.name)
        if allowed:
            unseen = np.fromiter((isinstance(v, str) and v not in allowed for v in labels), dtype=bool, count=len(labels))
            for i in np.flatnonzero((codes >= 0) & unseen[safe]):
                self.warn(i, spec.name, cats[i], f"{spec.name} = {cats[i]!r} was not seen in training; predicted as an unknown value")
        return cats

    def _few_categories(self, spec, values: np.ndarray) -> np.ndarray:
        """:meth:`categorical` cell by cell for a form row (same issues, in the same order)."""
        allowed = self.known.get(spec.name)
        for i, v in enumerate(values):
            if not isinstance(v, str):  # blank
                if self.drop_mode:
                    self.fatal(i, spec.name, None, f"{spec.name} is blank and this model needs a value")
            elif allowed and v not in allowed:
                self.warn(i, spec.name, v, f"{spec.name} = {v!r} was not seen in training; predicted as an unknown value")
        return values

    def date(self, spec) -> np.ndarray:
        col = self.frame[spec.name]
        dates, bad = parse_date_values(col, spec.date_format or "mixed")
        for i in np.flatnonzero(bad.to_numpy()):
            self.fatal(i, spec.name, col.iloc[i], f"{spec.name} = {col.iloc[i]!r} is not a date (training dates were written as {spec.date_format})")
        self.blanks(spec.name, dates.isna().to_numpy() & ~bad.to_numpy())
        return dates.to_numpy()

    def text(self, spec) -> np.ndarray:
        values = self.frame[spec.name].to_numpy(dtype=object)
        return np.asarray(["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values], dtype=object)


def validate(model: TrainedModel, frame: pd.DataFrame) -> tuple[np.ndarray, list[RowIssue], pd.DataFrame]:
    """Check every row against the feature schema.

    Checks: numeric cells must parse as numbers (blank is allowed and imputed,
    except for models trained with ``handle_missing="drop"``; text is only
    tolerated, as blank with a warning, in columns whose training data held
    such text too); date cells must be dates in the training format; category
    values not seen in training are allowed (they match no one-hot column)
    but reported as warnings; text cells are taken as they are.

    Parameters
    ----------
    model : TrainedModel
    frame : pandas.DataFrame of shape (n_rows, n_columns)

    Returns
    -------
    ok : ndarray of bool, shape (n_rows,)
    issues : list of RowIssue
    clean : pandas.DataFrame of shape (n_rows, n_features)
        The feature columns already parsed (floats, category text, datetimes,
        text); the model's ``FrameCoercer`` is idempotent, so predicting on
        ``clean`` equals predicting on ``frame`` without parsing twice.

    Raises
    ------
    ValidationError
        When feature columns are missing altogether (``field`` is the first
        missing column; ``details["missing"]`` lists all).
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"input must be a table (pandas DataFrame); got {type(frame).__name__}", field="input")
    frame = strip_columns(frame)
    missing = [f.name for f in model.feature_schema if f.name not in frame.columns]
    if missing:
        raise ValidationError(
            f"the input lacks column(s) the model needs: {', '.join(missing)}",
            field=missing[0],
            details={"missing": missing, "required": model.features},
        )
    checker = _Checker(model, frame)
    clean = {spec.name: getattr(checker, spec.kind)(spec) for spec in model.feature_schema}
    checker.issues.sort(key=lambda x: (x.row, not x.fatal))
    return checker.ok, checker.issues, pd.DataFrame(clean, index=frame.index, columns=model.features)
