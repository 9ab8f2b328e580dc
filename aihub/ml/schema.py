"""The feature schema: which columns a model reads, what was done to each, and why others were left out.

:class:`ColumnPlan` is decided once during training (column kinds, encodings,
exclusions); :func:`build_feature_schema` describes each input for the
single-prediction form and the feature table ("what was done to each
column"), and :func:`feature_treatments` adds the excluded columns with their
reasons.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aihub.ml.features import parse_date_values
from aihub.ml.preprocess import _is_texty, parse_numeric, to_category_strings

#: Readable reasons for excluded columns, by the code stored in ``TrainedModel.excluded_columns``.
EXCLUSION_REASONS: dict[str, str] = {
    "id_like": "left out: an identifier (different on almost every row), it cannot generalise",
    "target_leak": "left out: a near-copy of the target, probably recorded after the outcome",
    "empty": "left out: every cell is blank",
    "constant": "left out: a single value on every row",
    "exclude": "left out by configuration (column_kinds)",
}


@dataclass
class ColumnPlan:
    """How each candidate column is used, decided during training.

    Attributes
    ----------
    numeric, categorical, dates, texts : list of str
        Inputs by kind, in model order (numeric, categorical, date, text).
    target_encoded : list of str
        Categorical columns with more than ``max_categories`` values.
    log : list of str
        Numeric columns log-transformed.
    date_formats : dict
        ``{date column: format}`` (:func:`aihub.ml.features.date_format`).
    excluded : dict
        ``{column: reason code}`` of columns not used.
    """

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    target_encoded: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    date_formats: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def used(self) -> list[str]:
        """All inputs in model order."""
        return self.numeric + self.categorical + self.dates + self.texts

    def drop(self, column: str, reason: str) -> None:
        """Stop using ``column`` and record why."""
        for group in (self.numeric, self.categorical, self.dates, self.texts, self.target_encoded, self.log):
            if column in group:
                group.remove(column)
        self.excluded[column] = reason


@dataclass
class FeatureSpec:
    """One model input, as the single-prediction form and the feature table need it.

    Attributes
    ----------
    name : str
    kind : {"numeric", "categorical", "date", "text"}
    min, max, median : float or None
        Observed range and median of numeric features (in the column's unit).
    integer : bool
        Numeric values were all whole numbers (form uses step 1).
    categories : list of str
        Categorical values seen in training, most frequent first (at most 200).
    n_categories : int
    example : Any
        Typical value to pre-fill the form (median, most frequent category,
        median date as ISO text, or the first text).
    missing_share : float
        Fraction (0 to 1) of blank cells in training.
    numeric_text : bool
        The column arrived as text and is parsed to numbers.
    unparseable_share : float
        Fraction (0 to 1) of training cells that held non-numeric text in a
        numeric column (treated as blank). When above 0, such cells are
        also accepted (as blank, with a warning) at prediction time.
    date_format : str or None
        Date columns: the format read (``"%d-%m-%Y"``, ``"ISO8601"``...).
    treatment : str
        What was done to the column, in words.
    """

    name: str
    kind: str
    min: float | None = None
    max: float | None = None
    median: float | None = None
    integer: bool = False
    categories: list[str] = field(default_factory=list)
    n_categories: int = 0
    example: Any = None
    missing_share: float = 0.0
    numeric_text: bool = False
    unparseable_share: float = 0.0
    date_format: str | None = None
    treatment: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def _numeric_spec(col: str, values: pd.Series, plan: ColumnPlan, fe: Any) -> FeatureSpec:
    n = max(len(values), 1)
    nums, bad = parse_numeric(values)
    nn = nums.dropna()
    integer = bool(len(nn) and np.all(np.equal(np.mod(nn.to_numpy(), 1), 0)))
    med = float(nn.median()) if len(nn) else None
    example = (round(med) if integer else round(med, 4)) if med is not None else None
    texty = _is_texty(values)
    steps = ["number"]
    if texty:
        steps.append("read from text (currency signs, thousands separators and blank cells handled)")
    if col in plan.log:
        steps.append("log-transformed")
    if nums.isna().any():
        steps.append(f"blanks filled with the {getattr(fe, 'handle_missing', 'median')}")
    if getattr(fe, "normalize", False):
        steps.append("standardised")
    return FeatureSpec(
        name=col, kind="numeric", min=float(nn.min()) if len(nn) else None, max=float(nn.max()) if len(nn) else None,
        median=med, integer=integer, example=example, missing_share=float(nums.isna().sum() / n), numeric_text=texty,
        unparseable_share=float(bad.sum() / n), treatment="; ".join(steps),
    )  # fmt: skip


def _categorical_spec(col: str, values: pd.Series, plan: ColumnPlan, fe: Any) -> FeatureSpec:
    cats = to_category_strings(values)
    counts = cats.value_counts()
    if col in plan.target_encoded:
        how = f"category with {len(counts)} values: target-encoded (cross-fitted average outcome per value)"
    else:
        cap = getattr(fe, "max_categories", 30)
        how = f"category with {len(counts)} values: one-hot encoded" + (f" (rarest pooled beyond {cap})" if len(counts) > cap else "")
    return FeatureSpec(
        name=col, kind="categorical", categories=[str(c) for c in counts.index[:200]], n_categories=len(counts),
        example=str(counts.index[0]) if len(counts) else None, missing_share=float(cats.isna().sum() / max(len(values), 1)),
        treatment=how,
    )  # fmt: skip


def _date_spec(col: str, values: pd.Series, plan: ColumnPlan) -> FeatureSpec:
    fmt = plan.date_formats.get(col, "mixed")
    dates, _ = parse_date_values(values, fmt)
    d = dates.dropna()
    median = d.sort_values().iloc[len(d) // 2] if len(d) else None
    hours = bool(len(d) and ((d.dt.hour != 0) | (d.dt.minute != 0)).any())
    parts = "year, month, day of month, day of week" + (", hour" if hours else "") + f", age in days before {d.max():%Y-%m-%d}" if len(d) else ""
    return FeatureSpec(
        name=col, kind="date", min=float(d.min().timestamp()) if len(d) else None, max=float(d.max().timestamp()) if len(d) else None,
        example=median.isoformat() if median is not None else None, missing_share=float(dates.isna().sum() / max(len(values), 1)),
        date_format=fmt, treatment=f"date (read as {fmt}) -> {parts}",
    )  # fmt: skip


def _text_spec(col: str, values: pd.Series, fe: Any) -> FeatureSpec:
    cells = values.dropna().astype(str)
    cells = cells[cells.str.strip() != ""]
    words = float(cells.str.split().str.len().mean()) if len(cells) else 0.0
    terms = getattr(fe, "text_max_terms", 500)
    return FeatureSpec(
        name=col, kind="text", n_categories=int(cells.nunique()), example=str(cells.iloc[0])[:200] if len(cells) else None,
        missing_share=float(1 - len(cells) / max(len(values), 1)),
        treatment=f"free text ({words:.0f} words per row on average) -> TF-IDF of up to {terms} words and word pairs "
        "+ VADER sentiment (compound, positive, negative)",
    )  # fmt: skip


def build_feature_schema(frame: pd.DataFrame, plan: ColumnPlan, fe: Any = None) -> list[FeatureSpec]:
    """Describe each input column of the training frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw training rows (before coercion).
    plan : ColumnPlan
    fe : FeatureEngineering, optional
        For the treatment wording (imputation, scaling, vocabulary cap).

    Returns
    -------
    list of FeatureSpec
        In model input order (numeric, categorical, date, text).
    """
    specs = [_numeric_spec(c, frame[c], plan, fe) for c in plan.numeric]
    specs += [_categorical_spec(c, frame[c], plan, fe) for c in plan.categorical]
    specs += [_date_spec(c, frame[c], plan) for c in plan.dates]
    specs += [_text_spec(c, frame[c], fe) for c in plan.texts]
    return specs


def feature_treatments(schema: list[FeatureSpec], excluded: dict[str, str]) -> list[dict[str, str]]:
    """One row per column of the training table: ``{"column", "kind", "treatment"}``.

    Inputs first (model order), then the excluded columns with their reason
    (``kind`` ``"excluded"``).
    """
    rows = [{"column": f.name, "kind": f.kind, "treatment": f.treatment} for f in schema]
    for col, why in excluded.items():
        rows.append({"column": col, "kind": "excluded", "treatment": EXCLUSION_REASONS.get(why, f"left out: {why}")})
    return rows
