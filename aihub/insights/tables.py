"""Input contract for insights on any table: :class:`TableInput`.

The caller (service, worker, tests) loads a dataset version as a typed
frame, takes the roles the analyst confirmed (:class:`~aihub.insights.roles.TableRoles`,
proposed by :func:`~aihub.insights.roles.infer_roles`) and builds a
:class:`TableInput`; the any-table detectors of
:mod:`aihub.insights.table_detectors` read it. Building it checks every
named column against the table and raises one
:class:`~aihub.errors.ValidationError` whose ``field`` is the role's path
(``roles.outcome``, ``roles.money.Income``) and whose message lists what
exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from aihub.errors import ValidationError
from aihub.frames import date_column, numeric_column, require_frame
from aihub.insights.roles import MAX_DIMENSION_VALUES, TableRoles, default_aggregation, infer_roles, parse_roles

__all__ = ["MAX_OUTCOME_CLASSES", "OUTCOME_KINDS", "TableInput", "labels_of"]

#: Kinds of outcome the detectors handle.
OUTCOME_KINDS: tuple[str, ...] = ("binary", "categorical", "numeric")

#: Most classes of a categorical outcome.
MAX_OUTCOME_CLASSES = 30

_POSITIVE_WORDS = ("1", "yes", "y", "true", "t")


def labels_of(values: pd.Series) -> pd.Series:
    """Values as text labels, missing as None: whole floats lose their ``.0`` (``2.0`` -> ``"2"``).

    Parameters
    ----------
    values : pandas.Series, shape (n,)

    Returns
    -------
    pandas.Series of object (str or None), shape (n,), same index.
    """
    na = values.isna().to_numpy()
    if ptypes.is_bool_dtype(values.dtype):
        text = np.where(values.fillna(False).to_numpy(dtype=bool), "true", "false").astype(object)
    elif ptypes.is_numeric_dtype(values.dtype):
        x = values.to_numpy(dtype=float, na_value=np.nan)
        whole = np.isfinite(x) & (np.mod(x, 1) == 0) & (np.abs(x) < 2**53)
        text = np.array([repr(float(v)) for v in x], dtype=object) if (~whole & ~na).any() else np.empty(len(x), object)
        text[whole] = x[whole].astype(np.int64).astype(str)
    else:
        text = values.astype(object).to_numpy()
        text = (
            np.array([str(v) for v in text], dtype=object) if not all(isinstance(v, str) for v in text[~na]) else text
        )
    out = text.astype(object)
    out[na] = None
    return pd.Series(out, index=values.index, dtype=object)


def _missing(frame: pd.DataFrame, column: str | None, path: str) -> None:
    if column is not None and column not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:30]))
        raise ValidationError(
            f"Table roles: {path} names column {column!r}, which is not in the table; columns: {cols}.",
            field=path,
            details={"value": column, "allowed": [str(c) for c in frame.columns]},
        )


@dataclass
class TableInput:
    """Any table, with the roles of its columns, for the any-table detectors.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        The typed table: dates as datetime64 (or ISO-8601 text), numbers
        numeric; e.g. ``read_upload(...).typed()`` or a stored dataset version.
    roles : TableRoles, dict or JSON text
        The analyst's confirmed roles (:class:`~aihub.insights.roles.TableRoles`).
        ``dimensions``/``measures`` left as None are taken from
        :func:`~aihub.insights.roles.infer_roles`.
    dataset_id : int or str, optional
        Linked as ``{"kind": "dataset", "id": dataset_id}`` evidence.
    dataset_name : str, optional
        Named in narratives and in each insight's subject (so two tables
        never share a fingerprint).
    version : int or str, optional
        The dataset version read. Findings about the whole table (drivers,
        outliers, segments) are keyed by it, so a new version is judged
        afresh; without it they are keyed by the number of rows.

    Attributes
    ----------
    roles_ : TableRoles
    data : pandas.DataFrame, shape (n_rows, n_used)
        The used columns: measures and a numeric outcome as float64,
        dimensions and a categorical outcome as text labels (None when
        missing), the date as naive datetime64.
    outcome_kind_ : {"binary", "categorical", "numeric"} or None
    positive_ : str or None
        The outcome label counted as the event (binary outcomes, or the
        class the analyst chose).
    positive_reason_ : str
        Why this label (chosen by the analyst, named like yes/1/true, or the
        rarer value).
    classes_ : tuple of str
        Outcome labels, most frequent first (categorical and binary outcomes).
    dimensions_, measures_ : tuple of str
    features_ : tuple of str
        Columns examined as drivers of the outcome: dimensions and measures
        other than the outcome, the date and ignored columns.

    Raises
    ------
    ValidationError
        A role names a missing column (``field`` is the role's path), the
        outcome has fewer than two values or too many classes, ``positive``
        is not one of its values, a money column or a measure is not
        numeric, or the date column holds no dates.
    """

    frame: pd.DataFrame
    roles: Any = None
    dataset_id: Any = None
    dataset_name: str | None = None
    version: Any = None
    roles_: TableRoles = field(init=False, repr=False)
    data: pd.DataFrame = field(init=False, repr=False)
    outcome_kind_: str | None = field(init=False, default=None)
    positive_: str | None = field(init=False, default=None)
    positive_reason_: str = field(init=False, default="")
    classes_: tuple[str, ...] = field(init=False, default=())
    dimensions_: tuple[str, ...] = field(init=False, default=())
    measures_: tuple[str, ...] = field(init=False, default=())
    features_: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        frame = require_frame(self.frame, "table").rename(columns=str)
        r = parse_roles(self.roles)
        self.roles_ = r
        self._check_columns(frame, r)
        proposal = None
        if r.dimensions is None or r.measures is None:
            proposal = infer_roles(frame)
        dims = list(r.dimensions) if r.dimensions is not None else proposal.suggested().dimensions or []
        measures = list(r.measures) if r.measures is not None else proposal.suggested().measures or []
        excluded = set(r.ignore) | {r.outcome, r.date}
        money_first = [c for c in r.money if c not in measures and c not in excluded]
        self.dimensions_ = tuple(dict.fromkeys(c for c in dims if c not in excluded))
        self.measures_ = tuple(dict.fromkeys(c for c in money_first + measures if c not in excluded))
        overlap = set(self.dimensions_) & set(self.measures_)
        if overlap:
            col = min(overlap)
            raise ValidationError(
                f"Table roles: column {col!r} is both a dimension and a measure; choose one.", field="roles.dimensions"
            )
        data: dict[str, Any] = {}
        for c in self.measures_:
            data[c] = self._numbers(frame, c, "roles.measures")
        for c in self.dimensions_:
            data[c] = labels_of(frame[c])
            n = int(data[c].nunique())
            if n > 1000:
                raise ValidationError(
                    f"Table roles: dimension {c!r} has {n:,} values; a dimension needs at most 1,000 "
                    f"(at most {MAX_DIMENSION_VALUES} are compared at once). Use it as an identifier (ignore).",
                    field="roles.dimensions",
                )
        if r.date is not None:
            data[r.date] = self._dates(frame, r.date)
            if data[r.date].notna().sum() == 0:
                raise ValidationError(f"Table roles: date column {r.date!r} holds no dates.", field="roles.date")
        if r.outcome is not None:
            data[r.outcome] = self._outcome(frame, r)
        self.data = pd.DataFrame(data, index=frame.index).reset_index(drop=True)
        self.features_ = tuple(c for c in (*self.dimensions_, *self.measures_) if c not in excluded)

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_columns(frame: pd.DataFrame, r: TableRoles) -> None:
        _missing(frame, r.outcome, "roles.outcome")
        _missing(frame, r.date, "roles.date")
        for key in ("money", "units", "aggregations"):
            for c in getattr(r, key):
                _missing(frame, c, f"roles.{key}.{c}")
        for key in ("dimensions", "measures", "ignore"):
            for i, c in enumerate(getattr(r, key) or ()):
                _missing(frame, c, f"roles.{key}.{i}")
        if r.outcome is not None and r.outcome == r.date:
            raise ValidationError("Table roles: the outcome cannot also be the date column.", field="roles.outcome")
        if r.positive is not None and r.outcome is None:
            raise ValidationError("Table roles: positive needs an outcome column.", field="roles.positive")

    @staticmethod
    def _numbers(frame: pd.DataFrame, column: str, path: str) -> pd.Series:
        """Typed numbers as float64; anything else through the hub's one number parser (:mod:`aihub.frames`)."""
        s = frame[column]
        if ptypes.is_datetime64_any_dtype(s.dtype):
            raise ValidationError(f"Table roles: {column!r} holds dates, not numbers.", field=path)
        if ptypes.is_numeric_dtype(s.dtype) or ptypes.is_bool_dtype(s.dtype):
            return pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index)
        try:
            return pd.Series(numeric_column(frame, column, what="table", allow_missing=True), index=s.index)
        except ValidationError as exc:
            raise ValidationError(
                f"Table roles: {column!r} must be numeric to be a measure or money: {exc}", field=path
            ) from None

    @staticmethod
    def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
        """Typed dates as naive UTC datetime64 (missing kept); text through the hub's date parser."""
        s = frame[column]
        if not ptypes.is_datetime64_any_dtype(s.dtype):
            try:
                s = date_column(frame, column)
            except ValidationError as exc:
                raise ValidationError(f"Table roles: date column: {exc}", field="roles.date") from None
        s = pd.to_datetime(s)
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s.astype("datetime64[ns]")

    def _outcome(self, frame: pd.DataFrame, r: TableRoles) -> pd.Series:
        s = frame[r.outcome]
        values = s.dropna()
        n_unique = int(values.nunique())
        if n_unique < 2:
            raise ValidationError(
                f"Table roles: outcome {r.outcome!r} has {n_unique} distinct value(s); an outcome needs at least two.",
                field="roles.outcome",
            )
        numeric = ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype)
        if numeric and n_unique > 2 and r.positive is None:
            self.outcome_kind_ = "numeric"
            return self._numbers(frame, r.outcome, "roles.outcome")
        labels = labels_of(s)
        counts = labels.value_counts()
        if len(counts) > MAX_OUTCOME_CLASSES:
            raise ValidationError(
                f"Table roles: outcome {r.outcome!r} has {len(counts):,} classes; at most {MAX_OUTCOME_CLASSES} can be "
                "compared. Choose a numeric outcome or group the classes.",
                field="roles.outcome",
            )
        self.classes_ = tuple(str(k) for k in counts.index)
        self.outcome_kind_ = "binary" if len(counts) == 2 else "categorical"
        if r.positive is not None:
            if r.positive not in self.classes_:
                raise ValidationError(
                    f"Table roles: positive {r.positive!r} is not a value of {r.outcome!r}; values: "
                    f"{', '.join(self.classes_[:20])}.",
                    field="roles.positive",
                    details={"value": r.positive, "allowed": list(self.classes_)},
                )
            self.positive_, self.positive_reason_ = r.positive, "chosen by the analyst"
        elif self.outcome_kind_ == "binary":
            lowered = {c.lower(): c for c in self.classes_}
            named = next((lowered[w] for w in _POSITIVE_WORDS if w in lowered), None)
            if named is not None:
                self.positive_, self.positive_reason_ = named, f"{named!r} reads as yes"
            else:
                rare = str(counts.index[-1])
                self.positive_, self.positive_reason_ = rare, f"{rare!r} is the rarer value"
        return labels

    # ------------------------------------------------------------------ accessors
    @property
    def label(self) -> str:
        """The table's name for narratives ("this table" without a name)."""
        return self.dataset_name or (f"dataset {self.dataset_id}" if self.dataset_id is not None else "this table")

    @property
    def key(self) -> str:
        """Stable part of each insight's subject that tells tables apart."""
        return str(self.dataset_id if self.dataset_id is not None else self.dataset_name or "table")

    def currency_of(self, column: str) -> str | None:
        """ISO 4217 code of a confirmed money column, else None."""
        return self.roles_.money.get(column)

    def unit_of(self, column: str) -> str:
        """The unit the analyst gave a column ("" when none; the currency of money is not a unit)."""
        return self.roles_.units.get(column, "")

    def aggregation_of(self, column: str) -> str:
        """``sum`` or ``mean``: the analyst's choice, else as :func:`~aihub.insights.roles.infer_roles` proposes."""
        agg = self.roles_.aggregations.get(column)
        if agg:
            return agg
        return default_aggregation(column, self.data[column]) if column in self.data else "sum"

    def dataset_link(self) -> list[dict[str, Any]]:
        """Dataset evidence link, empty without a dataset id."""
        if self.dataset_id is None:
            return []
        return [{"kind": "dataset", "id": self.dataset_id, "name": self.dataset_name or ""}]

    def outcome_words(self) -> Mapping[str, str]:
        """Plain words for the outcome: ``label`` ("Response = 1"), ``name`` ("Response")."""
        r = self.roles_
        if r.outcome is None:
            return {"label": "", "name": ""}
        if self.positive_ is not None:
            return {"label": f"{r.outcome} = {self.positive_}", "name": r.outcome}
        return {"label": r.outcome, "name": r.outcome}
