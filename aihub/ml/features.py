"""Column kinds beyond numbers and categories: dates and free text.

* :func:`looks_like_text` tells free text (several words per cell, many
  distinct values) from categories; :func:`aihub.ml.preprocess.detect_column_kind`
  uses it to decide how each column is used.
* :func:`date_format` and :func:`parse_date_values` read date columns with
  one format fixed at training (day-first ``dd-mm-yyyy`` detected).
* Dates become calendar and age features (:class:`DateFeatures`): year,
  month, day of month, day of week, hour (when the column holds times) and
  the age in days before the latest training date.
* Free text becomes TF-IDF word features with a bounded vocabulary
  (:class:`TextTerms`) plus the VADER lexicon's sentiment scores
  (:class:`aihub.ml.text.LexiconFeatures`), instead of a category per
  distinct sentence.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.base import BaseEstimator, TransformerMixin

#: Mean words per non-blank cell from which a text column is free text.
TEXT_MIN_WORDS = 3.0
#: Distinct values a free-text column needs (at least this many, and a fifth of the non-blank rows).
TEXT_MIN_DISTINCT = 10

_DAYFIRST = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d-%m-%y", "%d.%m.%Y", "%d.%m.%y")
_MONTHFIRST = ("%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y", "%m-%d-%y", "%m.%d.%Y", "%m.%d.%y")


def _is_texty(s: pd.Series) -> bool:
    return ptypes.is_object_dtype(s.dtype) or ptypes.is_string_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype)


def _cells(values: pd.Series) -> pd.Series:
    text = values.astype(object).where(values.notna(), None)
    out = pd.Series([None if v is None else str(v).strip() for v in text], index=values.index, dtype=object)
    return out.where(out != "", None)


def looks_like_text(values: pd.Series) -> bool:
    """Free text: text cells averaging at least :data:`TEXT_MIN_WORDS` words, with many distinct values.

    Reviews, comments and descriptions qualify; categories such as
    ``"Bank transfer (automatic)"`` (few distinct values) and names or ids
    (one or two words) do not.
    """
    if not _is_texty(values):
        return False
    cells = _cells(values).dropna()
    if cells.empty:
        return False
    words = cells.str.split().str.len().mean()
    distinct = cells.nunique()
    return bool(words >= TEXT_MIN_WORDS and distinct >= max(TEXT_MIN_DISTINCT, 0.2 * len(cells)))


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------


def date_format(values: pd.Series) -> str:
    """The format a date column is written in, detected once at training.

    ISO dates give ``"ISO8601"``; ``a/b/c`` (also ``-`` and ``.``) dates a
    day-first format when a first part exceeds 12, else a month-first one
    (pandas' default reading); anything else ``"mixed"`` (pandas' per-cell
    parser). Datetime columns give ``"datetime"``.

    Returns
    -------
    str
        A ``strftime`` pattern, ``"ISO8601"``, ``"mixed"`` or ``"datetime"``.
    """
    if ptypes.is_datetime64_any_dtype(values.dtype):
        return "datetime"
    cells = _cells(values).dropna()
    if cells.empty:
        return "mixed"
    if cells.str.match(r"^\d{4}-\d{1,2}-\d{1,2}").mean() >= 0.95:
        return "ISO8601"
    parts = cells.str.extract(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})(?:\s|$)")
    if parts.notna().all(axis=1).mean() >= 0.95:
        first = pd.to_numeric(parts[0], errors="coerce")
        formats = _DAYFIRST if (first > 12).any() else _MONTHFIRST
        for fmt in formats:
            if _parse(cells, fmt).notna().mean() >= 0.95:
                return fmt
    return "mixed"


def _parse(cells: pd.Series, fmt: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "mixed":
            out = pd.to_datetime(cells, errors="coerce", format="mixed")
        elif fmt == "ISO8601":
            out = pd.to_datetime(cells, errors="coerce", format="ISO8601")
        else:
            head = cells.str.split().str[0] if fmt.count(" ") == 0 else cells
            out = pd.to_datetime(head, errors="coerce", format=fmt)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def parse_date_values(values: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """Parse a date column with the format :func:`date_format` found.

    Returns
    -------
    dates : pandas.Series of datetime64[ns], same index (NaT where blank or unreadable)
    unreadable : pandas.Series of bool
        True where a non-blank cell is not a date.
    """
    if ptypes.is_datetime64_any_dtype(values.dtype):
        out = pd.to_datetime(values)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("UTC").dt.tz_localize(None)
        return out.astype("datetime64[ns]"), pd.Series(False, index=values.index)
    cells = _cells(values)
    parsed = _parse(cells, "mixed" if fmt == "datetime" else fmt).astype("datetime64[ns]")
    bad = parsed.isna() & cells.notna()
    return parsed, bad


class DateFeatures(TransformerMixin, BaseEstimator):
    """Parsed date columns -> calendar and age features (floats; NaN where the date is blank).

    Per column: year, month (1-12), day of month, day of week (0 = Monday),
    hour (only when the training dates carry times of day) and the age in
    days before the latest training date (``reference_``), which lets a
    model use how old a record is.

    Parameters
    ----------
    columns : list of str
        Date columns, already parsed to ``datetime64`` by
        :class:`aihub.ml.preprocess.FrameCoercer`.
    """

    def __init__(self, columns=()):
        self.columns = columns

    def fit(self, X, y=None):
        frame = self._frame(X)
        self.reference_ = {}
        self.with_hour_ = {}
        for c in self.columns:
            d = frame[c].dropna()
            self.reference_[c] = float(d.max().value // 10**9) if len(d) else 0.0
            self.with_hour_[c] = bool(len(d) and ((d.dt.hour != 0) | (d.dt.minute != 0)).any())
        self.n_features_in_ = len(self.columns)
        return self

    def _frame(self, X) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        return pd.DataFrame(np.asarray(X, dtype="datetime64[ns]").reshape(len(X), -1), columns=list(self.columns))

    def transform(self, X):
        frame = self._frame(X)
        blocks = []
        for c in self.columns:
            d = pd.to_datetime(frame[c])
            parts = [d.dt.year, d.dt.month, d.dt.day, d.dt.dayofweek]
            if self.with_hour_[c]:
                parts.append(d.dt.hour + d.dt.minute / 60.0)
            seconds = d.astype("int64").where(d.notna()).astype(float) / 1e9
            parts.append((self.reference_[c] - seconds) / 86400.0)
            blocks.append(np.column_stack([np.asarray(p, dtype=float) for p in parts]))
        return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))

    def get_feature_names_out(self, input_features=None):
        names = []
        for c in self.columns:
            parts = ["year", "month", "day of month", "day of week"] + (["hour"] if self.with_hour_[c] else []) + ["age (days)"]
            names += [f"{c} {p}" for p in parts]
        return np.asarray(names, dtype=object)


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------


def tfidf(max_terms: int):
    """TF-IDF word and word-pair features of one text column, vocabulary capped at ``max_terms``.

    Sublinear term frequency, accents stripped, terms in at least 2 rows
    (Salton & Buckley 1988; scikit-learn ``TfidfVectorizer``).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        max_features=int(max_terms), min_df=2, ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", lowercase=True
    )


class TextTerms(TransformerMixin, BaseEstimator):
    """One free-text column -> TF-IDF features of its words and word pairs.

    Wraps :func:`tfidf` (vocabulary capped at ``max_terms``,
    terms seen in at least 2 rows); on tiny samples where no term repeats,
    terms seen once are kept, and a column with no words at all gives no
    features.

    Parameters
    ----------
    max_terms : int, default 500
    """

    def __init__(self, max_terms=500):
        self.max_terms = max_terms

    def fit(self, X, y=None):
        docs = self._docs(X)
        self.vectorizer_ = None
        for min_df in (2, 1):
            vec = tfidf(self.max_terms).set_params(min_df=min_df)
            try:
                vec.fit(docs)
            except ValueError:  # empty vocabulary
                continue
            self.vectorizer_ = vec
            break
        self.n_features_in_ = 1
        return self

    @staticmethod
    def _docs(X) -> list[str]:
        arr = np.asarray(X, dtype=object).ravel()
        return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in arr]

    def transform(self, X):
        docs = self._docs(X)
        if self.vectorizer_ is None:
            return np.zeros((len(docs), 0))
        return self.vectorizer_.transform(docs).toarray()

    def get_feature_names_out(self, input_features=None):
        if self.vectorizer_ is None:
            return np.asarray([], dtype=object)
        return np.asarray(self.vectorizer_.get_feature_names_out(), dtype=object)
