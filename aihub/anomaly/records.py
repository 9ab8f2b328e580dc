"""Risk scores per record (orders, payments, claims), with the reasons behind each.

The analyst loop: :meth:`RecordScorer.fit` on a table learns what normal rows
look like; :meth:`RecordScorer.score` gives every row a 0-to-1 risk, a band and
its reasons in plain words; analysts confirm or dismiss flagged rows, and
:meth:`RecordScorer.learn` turns those decisions into a supervised model that
is blended into the score. The state is strict JSON plus skops payloads
(:meth:`RecordScorer.to_state`, :meth:`RecordScorer.from_state`).

Features (all robust-scaled, ``(x - median) / IQR``, from the fitted table)
--------------------------------------------------------------------------
* ``num:<col>``: each numeric column.
* ``miss:<col>``: 1 where a numeric column is empty (columns with gaps only).
* ``freq:<col>``: each category column (2 to ``max_categories`` values)
  encoded by how common its value is, a target-free encoding; unseen values
  count as 0.
* ``ctx:<col>``: each numeric value against its context level (for example
  Discount within Furniture): ``(x - level median) / level IQR``. The context
  column is ``context_col`` or, when ``auto_context``, the category column
  whose levels explain most of the numeric columns' variance (eta squared).
* With ``entity_col`` (a customer): ``share:<col>``, how often the entity used
  this category value before (a customer's usual region), ``dev:<col>``, the
  value minus the entity's mean, and with ``time_col`` ``burst:rows`` (rows of
  the entity that day) and, with ``group_col``, ``burst:groups`` (separate
  orders of the entity that day, which exposes one order split into many).

Scores
------
* Unsupervised: scikit-learn's :class:`~sklearn.ensemble.IsolationForest`
  (Liu, Ting & Zhou 2008, "Isolation Forest", ICDM). Its anomaly score is
  turned into the share of fitted rows that look more normal (the empirical
  CDF), so 0.99 means "more unusual than 99% of the rows it learned from".
* Supervised, once at least ``min_labels`` rows of each kind are confirmed and
  dismissed: a logistic regression on the same features plus the
  isolation-forest score, the "unsupervised scores as features" design of
  Micenková, McWilliams & Assent (2014, "Learning outlier ensembles: the best of
  both worlds - supervised and unsupervised", KDD ODD workshop). Its
  probability is blended with the unsupervised score with the weight
  ``n / (n + label_halfway)`` for ``n`` labels.
* Bands on the final score: ``critical`` at or above ``band_critical``
  (default 0.999), ``high`` at or above ``band_high`` (0.99), ``medium`` at
  or above ``band_medium`` (0.95), else ``low``. Before any labels these are
  the top 0.1%, 1% and 5% of the fitted rows.

Reasons
-------
Per-feature contributions are SHAP values (Lundberg & Lee 2017, NeurIPS) of
the isolation forest's path length, computed by ``shap.TreeExplainer``, which
supports scikit-learn's isolation forest (path-dependent TreeSHAP, Lundberg et
al. 2020, Nature Machine Intelligence 2); with a supervised model its exact
linear contributions (coefficient x standardised value) are blended in with the
same weight. Contributions of features from the same column are summed, and the
largest become sentences such as "Discount 0.8 is high for Furniture (usually
0 to 0.2)". They are computed for rows at or above ``explain_from``.
"""

from __future__ import annotations

import base64
import math
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, model_validator

from aihub import jsonsafe
from aihub.anomaly.wording import format_compact
from aihub.errors import ValidationError
from aihub.userconfig import UserConfig, parse

__all__ = ["BANDS", "RecordParams", "RecordScorer", "labels_from_column", "parse_labels", "score_records"]

BANDS: tuple[str, ...] = ("low", "medium", "high", "critical")
STATE_FORMAT = "aihub-record-scorer"
STATE_VERSION = 1
#: Types outside skops' safe set that the state's estimators contain.
TRUSTED_TYPES: tuple[str, ...] = ("sklearn.tree._tree.Tree",)
_POSITIVE = {"1", "true", "yes", "y", "confirmed", "confirm", "fraud", "anomaly", "positive"}
_NEGATIVE = {"0", "false", "no", "n", "dismissed", "dismiss", "not fraud", "normal", "negative", "false positive"}
_CALIBRATION_POINTS = 2001


class RecordParams(UserConfig):
    """Settings of :class:`RecordScorer`, validated in one place.

    Attributes
    ----------
    id_col : str, optional
        Row identifier (labels refer to it); never a feature.
    entity_col : str, optional
        Who the row belongs to (customer, account); enables the per-entity features.
    time_col : str, optional
        Date of the row; with ``entity_col`` enables the same-day burst features.
    time_format : str, optional
        ``strftime`` format of ``time_col`` (``"%d/%m/%y"``); else parsed by pandas.
    group_col : str, optional
        Order or transaction id grouping several rows; never a feature itself.
    label_col : str, optional
        Column of known outcomes where the table has them (1/true/yes/fraud
        for a fraud, 0/false/no/normal for none, blank where unknown). Never
        a feature; its known rows train the supervised model together with
        analysts' decisions (see :func:`labels_from_column`).
    context_col : str, optional
        Category column whose levels set what is usual (Category in orders).
    auto_context : bool, default True
        Choose a context column when ``context_col`` is not given.
    exclude : list of str
        Columns never used.
    max_categories : int, default 100
        Text columns with more distinct values are skipped (names, free text).
    n_estimators, max_samples, random_state
        Of the isolation forest (Liu et al. 2008 recommend 256 samples per tree).
    band_medium, band_high, band_critical : float
        Band cut-offs on the 0-1 score, strictly increasing in (0, 1).
    min_labels : int, default 5
        Confirmed and dismissed rows each needed before a supervised model is trained.
    label_halfway : int, default 50
        Number of labels at which the supervised model gets half the weight.
    explain_from : {"low", "medium", "high", "critical"}, default "medium"
        Lowest band whose rows get reasons.
    top_reasons : int, default 3
    """

    model_config = ConfigDict(frozen=True)

    id_col: str | None = None
    entity_col: str | None = None
    time_col: str | None = None
    time_format: str | None = None
    group_col: str | None = None
    label_col: str | None = None
    context_col: str | None = None
    auto_context: bool = True
    exclude: tuple[str, ...] = ()
    max_categories: int = Field(default=100, ge=2, le=10_000)
    n_estimators: int = Field(default=200, ge=10, le=2_000)
    max_samples: int = Field(default=256, ge=16, le=1_000_000)
    random_state: int = Field(default=0, ge=0, le=2**32 - 1)
    band_medium: float = Field(default=0.95, gt=0, lt=1)
    band_high: float = Field(default=0.99, gt=0, lt=1)
    band_critical: float = Field(default=0.999, gt=0, lt=1)
    min_labels: int = Field(default=5, ge=1, le=100_000)
    label_halfway: int = Field(default=50, ge=1, le=1_000_000)
    explain_from: Literal["low", "medium", "high", "critical"] = "medium"
    top_reasons: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _bands_increase(self) -> RecordParams:
        if not self.band_medium < self.band_high < self.band_critical:
            raise ValueError(f"band cut-offs must increase: band_medium {self.band_medium} < band_high "
                             f"{self.band_high} < band_critical {self.band_critical}")
        return self

    def roles(self) -> dict[str, str]:
        """Column -> role for every column named in the settings."""
        out = {c: "exclude" for c in self.exclude}
        for role in ("id_col", "entity_col", "time_col", "group_col", "label_col", "context_col"):
            if getattr(self, role):
                out[getattr(self, role)] = role
        return out


def _params(params: RecordParams | dict | None) -> RecordParams:
    if isinstance(params, RecordParams):
        return params
    return parse(RecordParams, params or {}, what="Record scoring settings")


# --------------------------------------------------------------------------- columns and stats
def _numeric(col: pd.Series) -> pd.Series | None:
    """The column as floats if it is numeric (at least 95% of non-empty cells parse), else None."""
    if pd.api.types.is_bool_dtype(col):
        return col.astype(float)
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(float)
    text = col.dropna().astype(str).str.strip().str.replace(",", "", regex=False)
    text = text[text != ""]
    if text.empty:
        return None
    parsed = pd.to_numeric(text, errors="coerce")
    if parsed.notna().mean() < 0.95:
        return None
    out = pd.to_numeric(col.astype(str).str.strip().str.replace(",", "", regex=False), errors="coerce")
    return out.astype(float)


def _as_fitted_numeric(col: pd.Series) -> pd.Series | None:
    """A column the scorer was fitted on as numeric, as floats: cells that do not parse become NaN.

    The fit decided the column is numeric (:func:`_numeric` on the whole table), so the scored rows are not
    judged again by their own share of numbers: a part of the table (a Dask partition, a few new rows) with
    more text cells than the whole (Superstore's Canadian postal codes) is scored like the same rows within
    the whole table. None when no non-empty cell parses (the column is not numeric any more).
    """
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.astype(float)
    out = pd.to_numeric(col.astype(str).str.strip().str.replace(",", "", regex=False), errors="coerce").astype(float)
    text = col.dropna().astype(str).str.strip()
    if out.notna().any() or (text == "").all():
        return out.where(col.notna(), np.nan)
    return None


def _signed_log(v: pd.Series) -> pd.Series:
    """``sign(x) log(1 + |x|)``: heavy-tailed amounts (skewness above 2) are compared on this scale."""
    return np.sign(v) * np.log1p(v.abs())


def _robust(v: np.ndarray) -> tuple[float, float]:
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    med = float(np.median(v))
    q1, q3 = np.percentile(v, [25, 75])
    scale = float(q3 - q1)
    if scale <= 0:
        scale = float(np.mean(np.abs(v - med))) * 1.2533 or float(np.std(v)) or 1.0
    return med, scale


def _quantiles(v: np.ndarray) -> list[float]:
    v = v[np.isfinite(v)]
    return [float(x) for x in np.percentile(v, [5, 95])] if v.size else [float("nan"), float("nan")]


def _as_key(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna("(empty)").astype(object)


def _dates(frame: pd.DataFrame, p: RecordParams) -> pd.Series:
    raw = frame[p.time_col]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ts = pd.to_datetime(raw, format=p.time_format, errors="coerce") if p.time_format else \
            pd.to_datetime(raw, errors="coerce")
    bad = ts.isna() & raw.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValidationError(f"Column '{p.time_col}' row {i + 2} is not a date: {raw.iloc[i]!r}"
                              + (f" (expected {p.time_format!r})." if p.time_format else "; set time_format."),
                              field="time_col", details={"column": p.time_col, "row": i + 2})
    return ts.dt.normalize()


@dataclass
class _Spec:
    """What the features are and the fitted statistics they need (all JSON)."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    context: str | None = None
    num_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    cat_freq: dict[str, dict[str, float]] = field(default_factory=dict)
    ctx_stats: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ent_cat: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    ent_num: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    ent_rows: dict[str, int] = field(default_factory=dict)
    feat_stats: dict[str, list[float]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)


def _choose_columns(frame: pd.DataFrame, p: RecordParams, spec: _Spec) -> dict[str, pd.Series]:
    roles = p.roles()
    missing = [c for c in roles if c not in frame.columns]
    if missing:
        role = roles[missing[0]]
        raise ValidationError(f"Column '{missing[0]}' ({role}) is not in the table; its columns are "
                              f"{list(frame.columns)}.", field=role, details={"value": missing[0]})
    nums = {}
    for c in frame.columns:
        if roles.get(c) in ("id_col", "entity_col", "time_col", "group_col", "label_col", "exclude"):
            continue
        col = frame[c]
        num = _numeric(col)
        if num is not None and roles.get(c) != "context_col":
            if num.nunique() > 1:
                nums[c] = num
                spec.numeric.append(c)
            else:
                spec.skipped[c] = "the same value in every row"
            continue
        n = col.nunique(dropna=True)
        if 2 <= n <= p.max_categories:
            spec.categorical.append(c)
        else:
            spec.skipped[c] = f"{n:,} different values" if n > p.max_categories else "the same value in every row"
    if not spec.numeric and not spec.categorical:
        raise ValidationError("No column can be scored: every column is an id, a date, free text or constant "
                              f"({spec.skipped}).", field="columns")
    return nums


def _eta2(num: np.ndarray, groups: pd.Series) -> float:
    ok = np.isfinite(num)
    if ok.sum() < 10:
        return 0.0
    d = pd.DataFrame({"v": num[ok], "g": groups.to_numpy()[ok]})
    total = float(np.var(d["v"])) * len(d)
    if total <= 0:
        return 0.0
    means = d.groupby("g")["v"].transform("mean")
    return float(np.sum((means - d["v"].mean()) ** 2) / total)


def _pick_context(frame: pd.DataFrame, nums: dict[str, pd.Series], p: RecordParams, spec: _Spec) -> str | None:
    if p.context_col:
        return p.context_col
    if not p.auto_context or not nums:
        return None
    best, best_score = None, 0.05
    for c in spec.categorical:
        counts = frame[c].value_counts()
        if not 2 <= len(counts) <= 30 or counts.min() < 20:
            continue
        scores = []
        for col, v in nums.items():
            med, scale = spec.num_stats[col]["median"], spec.num_stats[col]["scale"]
            scores.append(_eta2(np.clip((v.to_numpy() - med) / scale, -10, 10), _as_key(frame[c])))
        s = float(np.mean(scores))
        if s > best_score:
            best, best_score = c, s
    return best


# --------------------------------------------------------------------------- features
def _fit_stats(frame: pd.DataFrame, p: RecordParams) -> tuple[_Spec, dict[str, pd.Series]]:
    spec = _Spec()
    nums = _choose_columns(frame, p, spec)
    for c, v in list(nums.items()):
        skew = float(v.skew()) if v.notna().sum() > 2 else 0.0
        log = bool(math.isfinite(skew) and abs(skew) > 2.0)
        spec.num_stats[c] = {"usual": _quantiles(v.to_numpy()), "filled": float(v.notna().mean()), "log": log}
        nums[c] = _signed_log(v) if log else v
        med, scale = _robust(nums[c].to_numpy())
        spec.num_stats[c].update(median=med, scale=scale)
    for c in spec.categorical:
        spec.cat_freq[c] = {str(k): float(v) for k, v in _as_key(frame[c]).value_counts(normalize=True).items()}
    spec.context = _pick_context(frame, nums, p, spec)
    if spec.context:
        keys = _as_key(frame[spec.context])
        for c, v in nums.items():
            per = {}
            original = _numeric(frame[c])
            for level, part in v.groupby(keys):
                med, scale = _robust(part.to_numpy())
                per[str(level)] = {"median": med, "scale": scale,
                                   "usual": _quantiles(original[part.index].to_numpy())}
            spec.ctx_stats[c] = per
    if p.entity_col:
        ent = _as_key(frame[p.entity_col])
        spec.ent_rows = {str(k): int(v) for k, v in ent.value_counts().items()}
        for c in spec.categorical:
            if c == spec.context:
                continue
            counts = pd.crosstab(ent, _as_key(frame[c]))
            spec.ent_cat[c] = {str(e): {str(k): int(n) for k, n in row.items() if n} for e, row in counts.iterrows()}
        for c, v in nums.items():
            g = v.groupby(ent)
            spec.ent_num[c] = {str(e): [float(s), int(n)] for e, s, n in zip(g.sum().index, g.sum(), g.count())}
    return spec, nums


def _raw_features(frame: pd.DataFrame, spec: _Spec, p: RecordParams, nums: dict[str, pd.Series] | None = None
                  ) -> pd.DataFrame:
    """The unscaled feature table (one column per feature, NaN where unknown)."""
    if nums is None:
        nums = {}
        for c in spec.numeric:
            v = _as_fitted_numeric(frame[c]) if c in frame.columns else None
            if v is None:
                raise ValidationError(f"Column '{c}' (numeric when the scorer was fitted) is missing or not "
                                      "numeric.", field=c)
            nums[c] = _signed_log(v) if spec.num_stats[c].get("log") else v
    out: dict[str, np.ndarray] = {}
    for c in spec.numeric:
        v = nums[c].to_numpy(float)
        out[f"num:{c}"] = v
        if spec.num_stats[c]["filled"] < 1.0:
            out[f"miss:{c}"] = np.isnan(v).astype(float)
    for c in spec.categorical:
        if c not in frame.columns:
            raise ValidationError(f"Column '{c}' (used when the scorer was fitted) is missing.", field=c)
        out[f"freq:{c}"] = _as_key(frame[c]).map(spec.cat_freq[c]).fillna(0.0).to_numpy(float)
    if spec.context:
        keys = _as_key(frame[spec.context]).astype(str)
        for c in spec.numeric:
            st = spec.ctx_stats[c]
            med = keys.map({k: s["median"] for k, s in st.items()}).to_numpy(float)
            scale = keys.map({k: s["scale"] for k, s in st.items()}).to_numpy(float)
            out[f"ctx:{c}"] = (nums[c].to_numpy(float) - med) / scale
    if p.entity_col:
        out.update(_entity_features(frame, spec, p, nums))
    return pd.DataFrame(out, index=frame.index)


def _entity_features(frame: pd.DataFrame, spec: _Spec, p: RecordParams, nums: dict[str, pd.Series]
                     ) -> dict[str, np.ndarray]:
    ent = _as_key(frame[p.entity_col]).astype(str)
    rows = ent.map(spec.ent_rows).to_numpy(float)
    out = {}
    for c, table in spec.ent_cat.items():
        vals = _as_key(frame[c]).astype(str)
        hits = np.array([table.get(e, {}).get(v, 0) for e, v in zip(ent, vals)], dtype=float)
        out[f"share:{c}"] = np.where(rows > 0, hits / np.where(rows > 0, rows, 1), np.nan)
    for c, table in spec.ent_num.items():
        sums = ent.map({e: s for e, (s, n) in table.items()}).to_numpy(float)
        cnt = ent.map({e: n for e, (s, n) in table.items()}).to_numpy(float)
        mean = np.where(cnt > 0, sums / np.where(cnt > 0, cnt, 1), np.nan)
        out[f"dev:{c}"] = nums[c].to_numpy(float) - mean
    if p.time_col:
        day = _dates(frame, p)
        key = pd.DataFrame({"e": ent.to_numpy(), "d": day.to_numpy()})
        out["burst:rows"] = key.groupby(["e", "d"])["d"].transform("size").to_numpy(float)
        if p.group_col:
            key["g"] = _as_key(frame[p.group_col]).to_numpy()
            out["burst:groups"] = key.groupby(["e", "d"])["g"].transform("nunique").to_numpy(float)
    return out


def _scale(raw: pd.DataFrame, spec: _Spec) -> np.ndarray:
    X = np.empty(raw.shape, dtype=float)
    for j, name in enumerate(spec.names):
        med, scale = spec.feat_stats[name]
        X[:, j] = (raw[name].to_numpy(float) - med) / scale
    X = np.nan_to_num(X, nan=0.0, posinf=1e6, neginf=-1e6)
    return np.clip(X, -1e6, 1e6)


# --------------------------------------------------------------------------- labels
def parse_labels(labels: Any, id_col: str | None) -> pd.Series:
    """Analyst decisions as a Series of 0/1 indexed by row id (as text).

    Parameters
    ----------
    labels : pandas.Series, mapping, or DataFrame
        A Series or mapping ``{row id: decision}``, or a table with the id
        column (``id_col`` or ``id``) and a ``label`` (or ``decision``)
        column. Decisions: 1/true/yes/confirmed/fraud for a confirmed row,
        0/false/no/dismissed/normal for a dismissed one.
    id_col : str or None

    Returns
    -------
    pandas.Series of int, indexed by id text; the last decision per id wins.

    Raises
    ------
    aihub.errors.ValidationError
        Missing columns or a decision that is neither (naming the row).
    """
    if isinstance(labels, pd.DataFrame):
        idc = next((c for c in (id_col, "id", "row_id") if c and c in labels.columns), None)
        lab = next((c for c in ("label", "decision", "is_fraud", "status") if c in labels.columns), None)
        if idc is None or lab is None:
            raise ValidationError(f"The labels need an id column ({id_col or 'id'}) and a label column (label or "
                                  f"decision); they have {list(labels.columns)}.", field="labels")
        series = pd.Series(labels[lab].to_numpy(), index=labels[idc].astype(str).to_numpy())
    elif isinstance(labels, pd.Series):
        series = labels.copy()
        series.index = series.index.astype(str)
    elif isinstance(labels, dict):
        series = pd.Series(list(labels.values()), index=[str(k) for k in labels])
    else:
        raise ValidationError(f"labels must be a table or a mapping of row id to decision; got "
                              f"{type(labels).__name__}.", field="labels")
    out = []
    for i, v in enumerate(series.to_numpy()):
        text = str(v).strip().lower()
        if text in ("1.0",):
            text = "1"
        if text in ("0.0",):
            text = "0"
        if text in _POSITIVE:
            out.append(1)
        elif text in _NEGATIVE:
            out.append(0)
        else:
            raise ValidationError(f"Label row {i + 2} ({series.index[i]}): {v!r} is neither confirmed nor dismissed; "
                                  "use 1/confirmed or 0/dismissed.", field="labels", details={"row": i + 2})
    s = pd.Series(out, index=series.index, dtype=int)
    return s[~s.index.duplicated(keep="last")]


def labels_from_column(frame: pd.DataFrame, label_col: str, id_col: str | None) -> pd.Series:
    """Known outcomes of a table's own label column as 0/1 indexed by row id.

    Parameters
    ----------
    frame : pandas.DataFrame
        The scored table; rows with a blank ``label_col`` are unknown and left out.
    label_col : str
        Column holding 1/true/yes/fraud/confirmed or 0/false/no/normal/dismissed.
    id_col : str or None
        Row id column; the frame's index (as text) when None, as in :meth:`RecordScorer.learn`.

    Returns
    -------
    pandas.Series of int indexed by row id text (empty when no row is known).

    Raises
    ------
    aihub.errors.ValidationError
        ``field="label_col"``: the column is missing, or a value is neither
        outcome (the message names the table row, counted from 2 for the header).
    """
    if label_col not in frame.columns:
        raise ValidationError(f"Column '{label_col}' (label_col) is not in the table; its columns are "
                              f"{list(frame.columns)}.", field="label_col", details={"value": label_col})
    col = frame[label_col]
    known = col.notna() & (col.astype(str).str.strip() != "")
    ids = frame[id_col].astype(str) if id_col else pd.Series(frame.index.astype(str), index=frame.index)
    try:
        return parse_labels(pd.Series(col[known].to_numpy(), index=ids[known].to_numpy()), None)
    except ValidationError as exc:
        row = exc.details.get("row") if exc.details else None
        table_row = int(np.flatnonzero(known.to_numpy())[row - 2]) + 2 if row else None
        raise ValidationError(f"Column '{label_col}' row {table_row}: "
                              f"{exc.message.split(': ', 1)[-1]}", field="label_col",
                              details={"row": table_row}) from None


# --------------------------------------------------------------------------- scorer
class RecordScorer:
    """Score every row of a table for risk; learn from analysts' confirmations.

    Parameters
    ----------
    params : RecordParams or dict, optional

    Attributes
    ----------
    params : RecordParams
    spec_ : _Spec
        Feature definitions and fitted statistics.
    forest_ : sklearn.ensemble.IsolationForest
    calibration_ : numpy.ndarray
        Quantiles of the fitted rows' isolation-forest scores.
    supervised_ : sklearn.linear_model.LogisticRegression or None
    n_labels_ : dict
        ``{"confirmed": int, "dismissed": int}`` used by the supervised model.
    notes_ : list of str
        What the scorer could not do (a column skipped, too few labels).

    Examples
    --------
    >>> scorer = RecordScorer({"id_col": "Row ID", "entity_col": "Customer ID"}).fit(orders)  # doctest: +SKIP
    >>> scored = scorer.score(orders)  # doctest: +SKIP
    >>> scorer.learn(orders, {"17": "confirmed", "230": "dismissed", ...})  # doctest: +SKIP
    """

    def __init__(self, params: RecordParams | dict | None = None) -> None:
        self.params = _params(params)
        self.spec_: _Spec | None = None
        self.forest_ = None
        self.calibration_: np.ndarray | None = None
        self.supervised_ = None
        self.sup_stats_: dict[str, list[float]] = {}
        self.n_labels_ = {"confirmed": 0, "dismissed": 0}
        self.notes_: list[str] = []

    # ---------------------------------------------------------------- fit / score / learn
    def fit(self, frame: pd.DataFrame) -> RecordScorer:
        """Learn what normal rows look like.

        Parameters
        ----------
        frame : pandas.DataFrame
            The table, one row per record (at least 20 rows).

        Returns
        -------
        self

        Raises
        ------
        aihub.errors.ValidationError
            Too few rows, a named column missing, no usable column, bad dates.
        """
        from sklearn.ensemble import IsolationForest

        p = self.params
        _check_frame(frame, 20)
        spec, nums = _fit_stats(frame, p)
        raw = _raw_features(frame, spec, p, nums)
        spec.names = list(raw.columns)
        spec.feat_stats = {c: list(_robust(raw[c].to_numpy(float))) for c in spec.names}
        X = _scale(raw, spec)
        forest = IsolationForest(n_estimators=p.n_estimators, max_samples=min(p.max_samples, len(frame)),
                                 random_state=p.random_state, n_jobs=1)
        forest.fit(X)
        self.spec_, self.forest_ = spec, forest
        self.calibration_ = np.quantile(-forest.score_samples(X), np.linspace(0, 1, _CALIBRATION_POINTS))
        self.supervised_, self.n_labels_ = None, {"confirmed": 0, "dismissed": 0}
        self.notes_ = [f"Column '{c}' not used: {why}." for c, why in spec.skipped.items()]
        return self

    def _check_fitted(self) -> None:
        if self.forest_ is None:
            raise ValidationError("The scorer is not fitted yet: call fit(frame) first.", field="scorer")

    def _unsupervised(self, X: np.ndarray) -> np.ndarray:
        raw = -self.forest_.score_samples(X)
        grid = self.calibration_
        q = np.linspace(0, 1, len(grid))
        grid, first = np.unique(grid, return_index=True)
        return np.interp(raw, grid, q[first] if len(grid) > 1 else [1.0], left=0.0, right=1.0)

    def _design(self, X: np.ndarray, u: np.ndarray) -> np.ndarray:
        logit = np.log(np.clip(u, 1e-4, 1 - 1e-4) / (1 - np.clip(u, 1e-4, 1 - 1e-4)))
        Z = np.column_stack([X, logit])
        mean, std = np.asarray(self.sup_stats_["mean"]), np.asarray(self.sup_stats_["std"])
        return (Z - mean) / std

    @property
    def label_weight(self) -> float:
        """Weight of the supervised model in the score: ``n / (n + label_halfway)`` (0 without one)."""
        if self.supervised_ is None:
            return 0.0
        n = self.n_labels_["confirmed"] + self.n_labels_["dismissed"]
        return n / (n + self.params.label_halfway)

    def learn(self, frame: pd.DataFrame, labels: Any) -> RecordScorer:
        """Train the supervised model from analysts' decisions.

        Parameters
        ----------
        frame : pandas.DataFrame
            Rows that include the labelled ones (matched on ``id_col``, or on
            the frame's index when there is no ``id_col``).
        labels : Series, mapping or DataFrame
            See :func:`parse_labels`.

        Returns
        -------
        self
            Without enough labels of both kinds (``min_labels``) no model is
            trained and :attr:`notes_` says so.

        Raises
        ------
        aihub.errors.ValidationError
            Not fitted, bad labels, or labels naming no row of ``frame``.
        """
        from sklearn.linear_model import LogisticRegression

        self._check_fitted()
        y_all = parse_labels(labels, self.params.id_col)
        ids = self._ids(frame)
        hit = ids.isin(y_all.index).to_numpy()
        if not hit.any():
            raise ValidationError(f"None of the {len(y_all):,} labelled ids is a row of the table (id column "
                                  f"{self.params.id_col or 'the index'}).", field="labels")
        rows = frame[hit]
        y = y_all.reindex(ids[hit].to_numpy()).to_numpy(int)
        pos, neg = int(y.sum()), int(len(y) - y.sum())
        self.notes_ = [n for n in self.notes_ if not n.startswith("Supervised")]
        if min(pos, neg) < self.params.min_labels:
            self.supervised_, self.n_labels_ = None, {"confirmed": pos, "dismissed": neg}
            self.notes_.append(f"Supervised model not trained: {pos} confirmed and {neg} dismissed rows; at least "
                               f"{self.params.min_labels} of each are needed.")
            return self
        X = _scale(_raw_features(rows, self.spec_, self.params), self.spec_)
        u = self._unsupervised(X)
        logit = np.log(np.clip(u, 1e-4, 1 - 1e-4) / (1 - np.clip(u, 1e-4, 1 - 1e-4)))
        Z = np.column_stack([X, logit])
        std = Z.std(axis=0)
        self.sup_stats_ = {"mean": Z.mean(axis=0).tolist(), "std": np.where(std > 0, std, 1.0).tolist()}
        model = LogisticRegression(C=0.5, class_weight="balanced", max_iter=2000)
        model.fit(self._design(X, u), y)
        self.supervised_, self.n_labels_ = model, {"confirmed": pos, "dismissed": neg}
        return self

    def _ids(self, frame: pd.DataFrame) -> pd.Series:
        idc = self.params.id_col
        if idc is None:
            return pd.Series(frame.index.astype(str), index=frame.index)
        if idc not in frame.columns:
            raise ValidationError(f"Column '{idc}' (id_col) is not in the table.", field="id_col")
        return frame[idc].astype(str)

    def score(self, frame: pd.DataFrame, *, explain: bool = True) -> pd.DataFrame:
        """Risk of every row.

        Parameters
        ----------
        frame : pandas.DataFrame
            Rows with the fitted columns.
        explain : bool, default True
            Compute reasons for rows at or above ``explain_from``.

        Returns
        -------
        pandas.DataFrame
            Same index and order as ``frame``; columns ``id`` (the id column as
            text, or the index), ``score`` (0 to 1), ``unsupervised``
            (isolation forest, 0 to 1), ``supervised`` (probability or NaN),
            ``band`` (:data:`BANDS`), ``reasons`` (list of sentences) and
            ``reason_text`` (the sentences joined by "; ").

        Raises
        ------
        aihub.errors.ValidationError
            Not fitted, or a fitted column missing.
        """
        self._check_fitted()
        _check_frame(frame, 1)
        raw = _raw_features(frame, self.spec_, self.params)
        X = _scale(raw, self.spec_)
        u = self._unsupervised(X)
        sup = np.full(len(frame), np.nan)
        risk = u
        w = self.label_weight
        if self.supervised_ is not None:
            sup = self.supervised_.predict_proba(self._design(X, u))[:, 1]
            risk = (1 - w) * u + w * sup
        band = self.bands(risk)
        out = pd.DataFrame({"id": self._ids(frame).to_numpy(), "score": risk, "unsupervised": u, "supervised": sup,
                            "band": band}, index=frame.index)
        reasons = [[] for _ in range(len(frame))]
        if explain:
            todo = np.flatnonzero(np.isin(band, BANDS[BANDS.index(self.params.explain_from):]))
            if len(todo):
                for i, r in zip(todo, self._reasons(frame, raw, X, u, todo, w)):
                    reasons[i] = r
        out["reasons"] = reasons
        out["reason_text"] = ["; ".join(r) for r in reasons]
        return out

    def bands(self, scores: Any) -> np.ndarray:
        """Band of each score: low, medium, high or critical, at the cut-offs of :class:`RecordParams`."""
        s = np.asarray(scores, dtype=float)
        p = self.params
        out = np.full(s.shape, "low", dtype=object)
        out[s >= p.band_medium] = "medium"
        out[s >= p.band_high] = "high"
        out[s >= p.band_critical] = "critical"
        return out

    # ---------------------------------------------------------------- reasons
    def _contributions(self, X: np.ndarray, u: np.ndarray, w: float) -> np.ndarray:
        """Per-feature push towards "unusual", each row's absolute values summing to 1."""
        import shap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sv = np.asarray(shap.TreeExplainer(self.forest_).shap_values(X))
        c = -sv  # a shorter path is more unusual
        c = c / np.maximum(np.abs(c).sum(axis=1, keepdims=True), 1e-12)
        if self.supervised_ is not None and w > 0:
            lin = self._design(X, u)[:, :-1] * self.supervised_.coef_[0][:-1]
            lin = lin / np.maximum(np.abs(lin).sum(axis=1, keepdims=True), 1e-12)
            c = (1 - w) * c + w * lin
        return c

    def _reasons(self, frame: pd.DataFrame, raw: pd.DataFrame, X: np.ndarray, u: np.ndarray, rows: np.ndarray,
                 w: float) -> list[list[str]]:
        contrib = self._contributions(X[rows], u[rows], w)
        names = self.spec_.names
        groups: dict[str, list[int]] = {}
        for j, n in enumerate(names):
            kind, col = n.split(":", 1)
            groups.setdefault("(same day)" if kind == "burst" else col, []).append(j)
        out = []
        for k, i in enumerate(rows):
            per_col = {}
            for c, idx in groups.items():
                vals = contrib[k, idx]
                per_col[c] = (float(vals.sum()), idx[int(np.argmax(vals))])
            ranked = sorted(per_col.items(), key=lambda kv: -kv[1][0])
            texts = []
            for _c, (total, j) in ranked[: self.params.top_reasons]:
                if total <= 0.02:
                    break
                texts.append(self._sentence(frame.iloc[i], names[j], raw.iloc[i], X[i, j]))
            out.append(texts)
        return out

    def _sentence(self, row: pd.Series, feature: str, raw: pd.Series, z: float) -> str:
        kind, col = feature.split(":", 1)
        spec, p = self.spec_, self.params
        high = "high" if z > 0 else "low"
        if kind in ("num", "ctx", "dev"):
            x = float(pd.to_numeric(str(row[col]).replace(",", ""), errors="coerce"))
            if not np.isfinite(x):
                return f"{col} is empty"
        if kind == "num":
            lo, hi = spec.num_stats[col]["usual"]
            return f"{col} {format_compact(x)} is {high} (usually {format_compact(lo)} to {format_compact(hi)})"
        if kind == "ctx":
            level = str(row[spec.context]) if pd.notna(row[spec.context]) else "(empty)"
            st = spec.ctx_stats[col].get(level)
            usual = f" (usually {format_compact(st['usual'][0])} to {format_compact(st['usual'][1])})" if st else ""
            return f"{col} {format_compact(x)} is {high} for {level}{usual}"
        if kind == "miss":
            return f"{col} is empty (filled in {spec.num_stats[col]['filled']:.0%} of rows)"
        if kind == "freq":
            v = row[col]
            share = spec.cat_freq[col].get(str(v) if pd.notna(v) else "(empty)", 0.0)
            return f"{col} '{v}' is rare ({share:.1%} of rows)" if share else f"{col} '{v}' was never seen before"
        ent = row[p.entity_col]
        n = spec.ent_rows.get(str(ent), 0)
        if kind == "share":
            hits = spec.ent_cat.get(col, {}).get(str(ent), {}).get(str(row[col]), 0)
            if n == 0:
                return f"{p.entity_col} {ent} has no history"
            return f"{col} '{row[col]}' is unusual for {p.entity_col} {ent} ({hits} of their {n} rows)"
        if kind == "dev":
            s, cnt = spec.ent_num[col].get(str(ent), [float("nan"), 0])
            usual = s / cnt if cnt else float("nan")
            if spec.num_stats[col].get("log") and math.isfinite(usual):
                usual = math.copysign(math.expm1(abs(usual)), usual)
            word = "above" if x > usual else "below"
            return f"{col} {format_compact(x)} is far {word} {p.entity_col} {ent}'s usual {format_compact(usual)}"
        what = "separate " + str(p.group_col) + "s" if col == "groups" else "rows"
        return f"{p.entity_col} {ent} has {format_compact(raw[feature])} {what} that day"

    # ---------------------------------------------------------------- state
    def to_state(self) -> dict[str, Any]:
        """Strict-JSON state: settings, fitted statistics and the estimators as base64 skops payloads."""
        self._check_fitted()
        spec = self.spec_.__dict__
        return {
            "format": STATE_FORMAT, "version": STATE_VERSION,
            "params": self.params.model_dump(mode="json"),
            "spec": jsonsafe.plain(spec),
            "calibration": [float(v) for v in self.calibration_],
            "forest": _dump_estimator(self.forest_),
            "supervised": None if self.supervised_ is None else _dump_estimator(self.supervised_),
            "sup_stats": self.sup_stats_, "n_labels": dict(self.n_labels_), "notes": list(self.notes_),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RecordScorer:
        """Rebuild a scorer from :meth:`to_state`, loading only the trusted estimator types.

        Raises
        ------
        aihub.errors.ValidationError
            Not a record-scorer state, another version, or untrusted types in a payload.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValidationError("This is not a record scorer state.", field="state")
        if state.get("version") != STATE_VERSION:
            raise ValidationError(f"Record scorer state version {state.get('version')!r} is not supported "
                                  f"(expected {STATE_VERSION}).", field="state")
        self = cls(state["params"])
        spec = _Spec(**{k: v for k, v in state["spec"].items()})
        spec.num_stats = _nan_back(spec.num_stats)
        spec.ctx_stats = _nan_back(spec.ctx_stats)
        self.spec_ = spec
        self.calibration_ = np.asarray(state["calibration"], dtype=float)
        from sklearn.ensemble import IsolationForest
        from sklearn.linear_model import LogisticRegression

        self.forest_ = _load_estimator(state["forest"], IsolationForest)
        self.supervised_ = _load_estimator(state["supervised"], LogisticRegression) if state.get("supervised") else None
        self.sup_stats_ = state.get("sup_stats") or {}
        self.n_labels_ = dict(state.get("n_labels") or {"confirmed": 0, "dismissed": 0})
        self.notes_ = list(state.get("notes") or [])
        return self


def _nan_back(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nan_back(v) for k, v in value.items()}
    if isinstance(value, list):
        return [float("nan") if v is None else _nan_back(v) for v in value]
    return value


def _dump_estimator(estimator: Any) -> str:
    import skops.io as sio

    return base64.b64encode(sio.dumps(estimator, compression=zipfile.ZIP_DEFLATED)).decode("ascii")


def _load_estimator(text: str, kind: type) -> Any:
    import skops.io as sio

    try:
        payload = base64.b64decode(text.encode("ascii"), validate=True)
        untrusted = sio.get_untrusted_types(data=payload)
    except (ValueError, TypeError, KeyError, OSError, AttributeError, zipfile.BadZipFile) as exc:
        raise ValidationError(f"The scorer's estimator payload is unreadable: {type(exc).__name__}.",
                              field="state") from None
    refused = [t for t in untrusted if t not in TRUSTED_TYPES]
    if refused:
        raise ValidationError(f"The scorer state holds types that are not trusted: {sorted(refused)}; not loaded.",
                              field="state", details={"untrusted_types": sorted(refused)})
    obj = sio.loads(payload, trusted=list(untrusted))
    if not isinstance(obj, kind):
        raise ValidationError(f"The scorer state holds a {type(obj).__name__} where a {kind.__name__} belongs; "
                              "not loaded.", field="state")
    return obj


def _check_frame(frame: Any, min_rows: int) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"Expected a table (pandas DataFrame); got {type(frame).__name__}.", field="frame")
    if len(frame) < min_rows:
        raise ValidationError(f"The table has {len(frame):,} rows; at least {min_rows} are needed.", field="frame")


def score_records(frame: pd.DataFrame, params: RecordParams | dict | None = None, labels: Any = None
                  ) -> tuple[pd.DataFrame, RecordScorer]:
    """Fit on ``frame``, learn from ``labels`` if given, and score ``frame`` (file mode).

    Returns
    -------
    scored : pandas.DataFrame
        As :meth:`RecordScorer.score`.
    scorer : RecordScorer
    """
    scorer = RecordScorer(params).fit(frame)
    if labels is not None:
        scorer.learn(frame, labels)
    return scorer.score(frame), scorer
