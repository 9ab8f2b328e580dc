"""Input drift between training data and recent inputs, and a model health summary.

Pure numpy/pandas/scipy; no database, no Streamlit. The model page calls::

    report = detect_drift(training_frame[features], recent_inputs[features])
    report.to_frame()          # one row per feature: test, statistic, p-value, threshold, drifted
    report.dataset_drift       # feeds the "drift detected" workflow trigger
    health = assess_health(latency_p95_ms=..., error_rate=..., live_accuracy=..., test_accuracy=...,
                           drift_report=report)

Tests per feature
-----------------
Numeric features (numeric dtype, not boolean)
    * **PSI**, population stability index, over quantile bins of the
      *reference*: the ``bins - 1`` interior cut points are the reference's
      ``1/bins, ..., (bins-1)/bins`` quantiles, taken without interpolation
      so that cut points are observed values (duplicates dropped, so a
      discrete feature gets one bin per value); the outer bins are open
      (``<= first cut``, ``> last cut``) so current values beyond the
      reference's range are counted. Bins are right-closed.
    * **KS**, two-sample Kolmogorov–Smirnov test
      (:func:`scipy.stats.ks_2samp`, two-sided, ``method="auto"``).
Categorical features (text, category, boolean)
    * **chi2**, Pearson's chi-squared test of homogeneity on the 2 x k table of
      reference and current counts (:func:`scipy.stats.chi2_contingency`, with
      its default Yates correction, which applies only when k = 2).
    * **PSI** over categories (categories seen only in current data count
      too). With more than ``max_categories`` reference categories the rarest
      are pooled into ``"(other)"``.

PSI = sum over bins of ``(c_i - r_i) * ln(c_i / r_i)``, where ``r_i`` and
``c_i`` are the shares of reference and current values in bin ``i``.
**Epsilon**: a share of zero (an empty bin on either side) is replaced by
``epsilon`` (default 1e-4) before the sum, without renormalising the other
shares; this is what Evidently's ``get_binned_data(feel_zeroes=True)`` does,
and it keeps PSI finite while a bin that empties out (or appears) still
counts heavily.

PSI thresholds follow Siddiqi (2006): PSI < 0.1 no significant change,
0.1 to 0.25 a moderate change worth watching, >= 0.25 a significant shift.
Reference: N. Siddiqi, *Credit Risk Scorecards: Developing and Implementing
Intelligent Credit Scoring*, Wiley, 2006 (chapter on scorecard monitoring,
the "system stability report").

Which test decides
------------------
``DriftThresholds.decision`` (default ``"psi"``): ``"psi"`` flags a feature
when PSI >= ``psi`` (0.25); ``"test"`` when the KS/chi-squared p-value <
``p_value`` (0.05); ``"both"`` needs both; ``"either"`` needs one. PSI is the
default because hypothesis tests flag trivial differences once samples reach
thousands of rows (every feature "drifts"), while PSI measures the size of
the shift. Every test is reported whatever decides, as Evidently's column
drift table shows the test, its statistic and threshold.

Dataset verdict: drift when the share of drifted features is at least
``dataset_share`` (0.5), Evidently's ``drift_share`` default.

Missing values are left out of every test; each feature reports its missing
shares. A feature that has values in the reference but none in current data
is reported drifted. Features that cannot be compared are listed in
``DriftReport.skipped`` with the reason (dates; identifier-like text where
every value is distinct; no reference values).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from aihub.errors import ValidationError

#: Ways a feature is declared drifted (see the module docs).
DECISIONS: tuple[str, ...] = ("psi", "test", "both", "either")
#: Health statuses.
STATUSES: tuple[str, ...] = ("healthy", "degraded")
#: Label of pooled rare categories.
OTHER = "(other)"
#: Label of values only present in the current data for a categorical feature.
_SEVERITIES = ("none", "moderate", "significant")


# ---------------------------------------------------------------------------
# thresholds: validated in one place
# ---------------------------------------------------------------------------


def _bad(name: str, value: Any, allowed: str) -> ValidationError:
    return ValidationError(
        f"Drift setting {name} is {value!r}; allowed: {allowed}.",
        field=name,
        details={"value": value if isinstance(value, (int, float, str, type(None))) else repr(value),
                 "allowed": allowed},
    )


def _real(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = True, hi_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(
        float(value))
    if ok:
        v = float(value)
        ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        allowed = f"a number {'>' if lo_open else '>='} {lo:g} and {'<' if hi_open else '<='} {hi:g}"
        raise _bad(name, value, allowed)
    return float(value)


def _whole(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise _bad(name, value, f"a whole number from {lo} to {hi}")
    return int(value)


@dataclass(frozen=True)
class DriftThresholds:
    """Settings of :func:`detect_drift`; validated when built.

    Attributes
    ----------
    psi : float, default 0.25
        PSI at or above which a feature has drifted ("significant shift",
        Siddiqi 2006).
    psi_moderate : float, default 0.1
        PSI at or above which the shift is "moderate" (Siddiqi 2006); only
        the ``severity`` label uses it.
    p_value : float, default 0.05
        KS / chi-squared p-value below which the test flags drift.
    dataset_share : float, default 0.5
        Share of drifted features (0-1] at which the dataset has drifted.
    bins : int, default 10
        Quantile bins of numeric PSI (2 to 100).
    epsilon : float, default 1e-4
        Share given to empty bins in PSI (0 < epsilon < 0.01).
    max_categories : int, default 50
        Categories kept per categorical feature (most frequent in the
        reference); the rest are pooled into ``"(other)"``.
    decision : {"psi", "test", "both", "either"}, default "psi"
        Which test decides ``drifted``.

    Raises
    ------
    ValidationError
        A value is out of range; ``field`` names it.
    """

    psi: float = 0.25
    psi_moderate: float = 0.1
    p_value: float = 0.05
    dataset_share: float = 0.5
    bins: int = 10
    epsilon: float = 1e-4
    max_categories: int = 50
    decision: str = "psi"

    def __post_init__(self) -> None:
        _real("psi", self.psi, 0.0, 100.0)
        _real("psi_moderate", self.psi_moderate, 0.0, 100.0)
        if self.psi_moderate > self.psi:
            raise _bad("psi_moderate", self.psi_moderate, f"a number <= psi ({self.psi:g})")
        _real("p_value", self.p_value, 0.0, 1.0, hi_open=True)
        _real("dataset_share", self.dataset_share, 0.0, 1.0)
        _whole("bins", self.bins, 2, 100)
        _real("epsilon", self.epsilon, 0.0, 0.01, hi_open=True)
        _whole("max_categories", self.max_categories, 2, 10_000)
        if self.decision not in DECISIONS:
            raise _bad("decision", self.decision, ", ".join(DECISIONS))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DriftThresholds:
        """Build from a JSON object; unknown keys are refused."""
        data = dict(data or {})
        allowed = [f for f in cls.__dataclass_fields__]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise _bad(unknown[0], data[unknown[0]], f"known settings are {', '.join(allowed)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    """One statistical test on one feature.

    Attributes
    ----------
    test : {"psi", "ks", "chi2"}
    statistic : float
        PSI (>= 0, unitless), KS D (0-1, largest gap between the two
        empirical CDFs) or chi-squared statistic.
    p_value : float or None
        None for PSI (it is a distance, not a test).
    threshold : float
        PSI threshold, or the p-value level.
    drifted : bool
        ``statistic >= threshold`` for PSI; ``p_value < threshold`` otherwise.
    """

    __test__ = False  # not a pytest class

    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.test, "statistic": _num(self.statistic), "p_value": _num(self.p_value),
                "threshold": self.threshold, "drifted": self.drifted}


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature.

    Attributes
    ----------
    feature : str
    kind : {"numeric", "categorical"}
    test : str
        The deciding test (``"psi"`` or ``"ks"``/``"chi2"``; for decisions
        ``both``/``either`` the PSI row is shown here and ``rule`` says how
        the tests combine).
    statistic, p_value, threshold
        Of the deciding test.
    drifted : bool
    severity : {"none", "moderate", "significant"}
        PSI band (Siddiqi 2006).
    rule : str
        The decision in words, e.g. ``"PSI >= 0.25"``.
    tests : tuple of TestResult
        Every test run (PSI first).
    reference_count, current_count : int
        Non-missing values compared.
    reference_missing, current_missing : float
        Share of missing values (0-1).
    bins : tuple of str
        PSI bin labels (``"<= 12"``, ``"(12, 29]"``, ``"> 70"``) or categories.
    reference_shares, current_shares : tuple of float
        Share of values per bin (before epsilon), for charts.
    note : str or None
        Something to know (few values, constant reference, unparseable
        current values, no current values).
    """

    feature: str
    kind: str
    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    severity: str
    rule: str
    tests: tuple[TestResult, ...]
    reference_count: int
    current_count: int
    reference_missing: float
    current_missing: float
    bins: tuple[str, ...] = ()
    reference_shares: tuple[float, ...] = ()
    current_shares: tuple[float, ...] = ()
    note: str | None = None

    def result(self, test: str) -> TestResult | None:
        """The result of ``test`` (``"psi"``, ``"ks"``, ``"chi2"``), or None."""
        return next((t for t in self.tests if t.test == test), None)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "feature", "kind", "test", "threshold", "drifted", "severity", "rule", "reference_count",
            "current_count", "note")}
        out.update(
            statistic=_num(self.statistic), p_value=_num(self.p_value),
            reference_missing=_num(self.reference_missing), current_missing=_num(self.current_missing),
            tests=[t.to_dict() for t in self.tests], bins=list(self.bins),
            reference_shares=[_num(x) for x in self.reference_shares],
            current_shares=[_num(x) for x in self.current_shares],
        )
        return out


@dataclass(frozen=True)
class DriftReport:
    """Per-feature drift and the dataset verdict.

    Attributes
    ----------
    features : tuple of FeatureDrift
        In the order of the compared columns.
    skipped : dict of str to str
        Feature -> reason it was not compared.
    n_features : int
        Features compared.
    n_drifted : int
    share_drifted : float
        ``n_drifted / n_features`` (0 when nothing was compared).
    dataset_drift : bool
        ``share_drifted >= thresholds.dataset_share`` (and at least one
        feature compared).
    reference_rows, current_rows : int
    thresholds : DriftThresholds
    """

    features: tuple[FeatureDrift, ...]
    skipped: dict[str, str]
    n_features: int
    n_drifted: int
    share_drifted: float
    dataset_drift: bool
    reference_rows: int
    current_rows: int
    thresholds: DriftThresholds

    @property
    def drifted_features(self) -> list[str]:
        """Names of drifted features, most shifted (highest PSI) first."""
        hit = [f for f in self.features if f.drifted]
        return [f.feature for f in sorted(hit, key=lambda f: -_psi_of(f))]

    def feature(self, name: str) -> FeatureDrift:
        """The result for one feature.

        Raises
        ------
        KeyError
            ``name`` was not compared.
        """
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    @property
    def summary(self) -> str:
        """One sentence for the model page."""
        t = self.thresholds
        if not self.n_features:
            return "No feature could be compared for drift."
        verdict = "Input drift detected" if self.dataset_drift else "No dataset-level input drift"
        names = self.drifted_features
        listed = f": {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}" if names else ""
        return (f"{verdict}: {self.n_drifted} of {self.n_features} features drifted "
                f"({self.share_drifted:.0%}; the dataset threshold is {t.dataset_share:.0%}){listed}.")

    def to_frame(self) -> pd.DataFrame:
        """One row per compared feature.

        Columns: feature, kind, test, statistic, p_value, threshold, drifted,
        severity, psi, stat_test, stat_statistic, stat_p_value,
        reference_count, current_count, reference_missing, current_missing, note.
        """
        rows = []
        for f in self.features:
            psi = f.result("psi")
            other = next((t for t in f.tests if t.test != "psi"), None)
            rows.append({
                "feature": f.feature, "kind": f.kind, "test": f.test, "statistic": f.statistic,
                "p_value": f.p_value, "threshold": f.threshold, "drifted": f.drifted, "severity": f.severity,
                "psi": psi.statistic if psi else np.nan,
                "stat_test": other.test if other else None,
                "stat_statistic": other.statistic if other else np.nan,
                "stat_p_value": other.p_value if other else np.nan,
                "reference_count": f.reference_count, "current_count": f.current_count,
                "reference_missing": f.reference_missing, "current_missing": f.current_missing, "note": f.note,
            })
        columns = ["feature", "kind", "test", "statistic", "p_value", "threshold", "drifted", "severity", "psi",
                   "stat_test", "stat_statistic", "stat_p_value", "reference_count", "current_count",
                   "reference_missing", "current_missing", "note"]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (NaN as null)."""
        return {
            "features": [f.to_dict() for f in self.features],
            "skipped": dict(self.skipped),
            "n_features": self.n_features,
            "n_drifted": self.n_drifted,
            "share_drifted": self.share_drifted,
            "dataset_drift": self.dataset_drift,
            "drifted_features": self.drifted_features,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "thresholds": self.thresholds.to_dict(),
            "summary": self.summary,
        }


def _num(v: Any) -> Any:
    if v is None:
        return None
    v = float(v)
    return None if not math.isfinite(v) else v


def _psi_of(f: FeatureDrift) -> float:
    r = f.result("psi")
    return r.statistic if r is not None and math.isfinite(r.statistic) else math.inf


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------


def psi_from_counts(reference_counts: Sequence[float], current_counts: Sequence[float],
                    epsilon: float = 1e-4) -> float:
    """Population stability index of two binned distributions.

    Parameters
    ----------
    reference_counts, current_counts : array-like, shape (n_bins,)
        Counts (or shares) per bin, same bins in the same order.
    epsilon : float
        Share substituted for a zero share (see the module docs).

    Returns
    -------
    float
        ``sum((c - r) * ln(c / r))`` over bins, with ``r``, ``c`` the shares; >= 0.
    """
    r = np.asarray(reference_counts, dtype=float)
    c = np.asarray(current_counts, dtype=float)
    r = r / r.sum() if r.sum() > 0 else r
    c = c / c.sum() if c.sum() > 0 else c
    r = np.where(r == 0, epsilon, r)
    c = np.where(c == 0, epsilon, c)
    return float(np.sum((c - r) * np.log(c / r)))


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Interior cut points of PSI bins: distinct reference quantiles at ``1/bins .. (bins-1)/bins``.

    Quantiles are taken without interpolation (numpy's ``inverted_cdf``), so
    every cut point is an observed reference value and a discrete feature
    gets one bin per value instead of empty in-between bins.

    Parameters
    ----------
    reference : numpy.ndarray of float, shape (n,)
        Finite reference values, n >= 1.
    bins : int

    Returns
    -------
    numpy.ndarray, shape (k,), 1 <= k <= bins - 1
        Increasing cut points; bin ``i`` holds ``edges[i-1] < x <= edges[i]``
        with open ends.
    """
    qs = np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="inverted_cdf")
    return np.unique(qs)


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the right-closed bins cut at ``edges`` (``len(edges) + 1`` bins)."""
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _bin_labels(edges: np.ndarray) -> tuple[str, ...]:
    labels = [f"<= {_fmt(edges[0])}"]
    labels += [f"({_fmt(a)}, {_fmt(b)}]" for a, b in itertools.pairwise(edges)]
    labels.append(f"> {_fmt(edges[-1])}")
    return tuple(labels)


def _severity(psi: float, t: DriftThresholds) -> str:
    if not math.isfinite(psi) or psi >= t.psi:
        return "significant"
    return "moderate" if psi >= t.psi_moderate else "none"


def _decide(psi: TestResult, stat: TestResult, t: DriftThresholds) -> tuple[TestResult, bool, str]:
    p_rule = f"p-value < {t.p_value:g} ({stat.test.upper()})"
    psi_rule = f"PSI >= {t.psi:g}"
    if t.decision == "psi":
        return psi, psi.drifted, psi_rule
    if t.decision == "test":
        return stat, stat.drifted, p_rule
    if t.decision == "both":
        return psi, psi.drifted and stat.drifted, f"{psi_rule} and {p_rule}"
    return psi, psi.drifted or stat.drifted, f"{psi_rule} or {p_rule}"


def _numeric(name: str, ref: pd.Series, cur: pd.Series, t: DriftThresholds) -> FeatureDrift:
    r_all = pd.to_numeric(ref, errors="coerce").astype("float64").to_numpy()
    cur_num = pd.to_numeric(cur, errors="coerce").astype("float64")
    c_all = cur_num.to_numpy()
    r = r_all[np.isfinite(r_all)]
    c = c_all[np.isfinite(c_all)]
    notes = []
    unparsed = int((cur.notna().to_numpy() & cur_num.isna().to_numpy()).sum())
    if unparsed:
        notes.append(f"{unparsed:,} current value(s) are not numbers and were left out")
    edges = quantile_edges(r, t.bins)
    if len(edges) == 1 and r.min() == r.max():
        notes.append("constant in the reference")
    rc = bin_counts(r, edges)
    cc = bin_counts(c, edges)
    psi = psi_from_counts(rc, cc, t.epsilon)
    ks = stats.ks_2samp(r, c)
    psi_res = TestResult("psi", psi, None, t.psi, psi >= t.psi)
    ks_res = TestResult("ks", float(ks.statistic), float(ks.pvalue), t.p_value, float(ks.pvalue) < t.p_value)
    return _feature(name, "numeric", psi_res, ks_res, t, ref, cur, len(r), len(c), _bin_labels(edges),
                    rc / rc.sum(), cc / cc.sum(), notes)


def _labels(s: pd.Series) -> pd.Series:
    """Non-missing values as text labels (booleans ``True``/``False``, numbers as written by Python)."""
    s = s[s.notna()]
    return pd.Series([str(v) for v in s.to_numpy(dtype=object)], dtype=object)


def _categorical(name: str, ref: pd.Series, cur: pd.Series, t: DriftThresholds) -> FeatureDrift:
    r = _labels(ref)
    c = _labels(cur)
    notes = []
    r_counts = r.value_counts(sort=False)
    order = sorted(r_counts.index, key=lambda k: (-int(r_counts[k]), k))
    if len(order) > t.max_categories:
        keep = set(order[: t.max_categories - 1])
        notes.append(f"{len(order) - len(keep):,} rare categories pooled into {OTHER!r}")
        r = r.where(r.isin(keep), OTHER)
        c = c.where(c.isin(keep) | ~c.isin(set(order)), OTHER)
        order = [k for k in order if k in keep] + [OTHER]
    new = sorted(set(c.unique()) - set(order))
    if new:
        shown = ", ".join(map(repr, new[:5])) + (" ..." if len(new) > 5 else "")
        notes.append(f"{len(new)} categor{'y' if len(new) == 1 else 'ies'} not seen in the reference: {shown}")
    cats = order + new
    rc = r.value_counts().reindex(cats, fill_value=0).to_numpy(dtype=float)
    cc = c.value_counts().reindex(cats, fill_value=0).to_numpy(dtype=float)
    psi = psi_from_counts(rc, cc, t.epsilon)
    if len(cats) < 2:
        chi2, p = 0.0, 1.0
        notes.append("a single category: the chi-squared test has nothing to compare")
    else:
        res = stats.chi2_contingency(np.vstack([rc, cc]))
        chi2, p = float(res.statistic), float(res.pvalue)
    psi_res = TestResult("psi", psi, None, t.psi, psi >= t.psi)
    chi_res = TestResult("chi2", chi2, p, t.p_value, p < t.p_value)
    return _feature(name, "categorical", psi_res, chi_res, t, ref, cur, len(r), len(c), tuple(cats),
                    rc / rc.sum(), cc / cc.sum() if cc.sum() else cc, notes)


def _feature(name: str, kind: str, psi: TestResult, stat: TestResult, t: DriftThresholds, ref: pd.Series,
             cur: pd.Series, n_ref: int, n_cur: int, bins: tuple[str, ...], r_share: np.ndarray,
             c_share: np.ndarray, notes: list[str]) -> FeatureDrift:
    main, drifted, rule = _decide(psi, stat, t)
    if min(n_ref, n_cur) < 30:
        notes.append(f"few values ({n_ref:,} reference, {n_cur:,} current): the tests have little power")
    return FeatureDrift(
        feature=name, kind=kind, test=main.test, statistic=main.statistic, p_value=main.p_value,
        threshold=main.threshold, drifted=bool(drifted), severity=_severity(psi.statistic, t), rule=rule,
        tests=(psi, stat), reference_count=n_ref, current_count=n_cur,
        reference_missing=float(ref.isna().mean()) if len(ref) else 0.0,
        current_missing=float(cur.isna().mean()) if len(cur) else 0.0,
        bins=bins, reference_shares=tuple(float(x) for x in r_share), current_shares=tuple(float(x) for x in c_share),
        note="; ".join(notes) or None,
    )


def _all_missing(name: str, kind: str, ref: pd.Series, cur: pd.Series, n_ref: int, t: DriftThresholds
                 ) -> FeatureDrift:
    psi = TestResult("psi", math.inf, None, t.psi, True)
    stat = TestResult("ks" if kind == "numeric" else "chi2", math.nan, None, t.p_value, True)
    return FeatureDrift(
        feature=name, kind=kind, test="psi", statistic=math.inf, p_value=None, threshold=t.psi, drifted=True,
        severity="significant", rule="no current values", tests=(psi, stat), reference_count=n_ref,
        current_count=0, reference_missing=float(ref.isna().mean()), current_missing=1.0,
        note="every current value is missing (or not a number) while the reference has values",
    )


def _kind(name: str, ref: pd.Series, numeric: set[str], categorical: set[str]) -> str | None:
    if name in categorical:
        return "categorical"
    if name in numeric:
        return "numeric"
    dtype = ref.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype) or \
            pd.api.types.is_timedelta64_dtype(dtype):
        return None
    return "categorical"


def detect_drift(  # noqa: C901 - over the complexity ceiling before it existed; split pending (drift)
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    thresholds: DriftThresholds | Mapping[str, Any] | None = None,
) -> DriftReport:
    """Compare each feature's distribution in ``current`` with ``reference``.

    Parameters
    ----------
    reference : pandas.DataFrame, shape (n_ref, n_columns)
        Training data (typed: numbers numeric, categories text/category/boolean).
    current : pandas.DataFrame, shape (n_cur, n_columns)
        Recent prediction inputs. Values of a numeric feature that arrive as
        text are parsed; unparseable ones are left out (and noted).
    features : sequence of str, optional
        Columns to compare; default every column of ``reference`` that
        ``current`` also has.
    categorical, numeric : sequence of str, optional
        Force a feature's kind (e.g. an integer-coded category).
    thresholds : DriftThresholds or mapping, optional
        Default :class:`DriftThresholds()`.

    Returns
    -------
    DriftReport

    Raises
    ------
    ValidationError
        Inputs are not DataFrames or are empty, a listed feature is missing
        from either frame, a feature is forced to both kinds, or a threshold is
        out of range.
    """
    if not isinstance(thresholds, DriftThresholds):
        thresholds = DriftThresholds.from_dict(thresholds)
    t = thresholds
    for label, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise ValidationError(f"The {label} data must be a pandas DataFrame, got {type(frame).__name__}.",
                                  field=label)
        if len(frame) == 0:
            raise ValidationError(
                f"The {label} data has no rows, so drift cannot be measured. "
                + ("Check the model's training dataset." if label == "reference" else
                   "Wait until the model has received inputs, or widen the time window."),
                field=label,
            )
    cat, num = {str(c) for c in categorical}, {str(c) for c in numeric}
    both = sorted(cat & num)
    if both:
        raise ValidationError(f"Feature {both[0]!r} is listed as both categorical and numeric; pick one.",
                              field="categorical", details={"value": both[0]})
    ref_cols = [str(c) for c in reference.columns]
    cur_cols = {str(c) for c in current.columns}
    if features is None:
        names = [c for c in ref_cols if c in cur_cols]
        if not names:
            raise ValidationError(
                "The reference and current data share no column, so there is nothing to compare. Check that the "
                "recent inputs are the model's features.",
                field="features", details={"reference": ref_cols[:50], "current": sorted(cur_cols)[:50]},
            )
    else:
        names = [str(f) for f in features]
        for label, cols in (("reference", set(ref_cols)), ("current", cur_cols)):
            missing = [f for f in names if f not in cols]
            if missing:
                raise ValidationError(
                    f"Feature {missing[0]!r} is not in the {label} data; its columns are: "
                    f"{', '.join(sorted(cols)[:30])}.",
                    field="features", details={"value": missing[0], "allowed": sorted(cols)},
                )
        if len(set(names)) != len(names):
            dup = next(f for f in names if names.count(f) > 1)
            raise ValidationError(f"Feature {dup!r} is listed twice.", field="features", details={"value": dup})
    unknown = sorted((cat | num) - set(names))
    if unknown:
        raise ValidationError(f"Feature {unknown[0]!r} is given a kind but is not compared.",
                              field="categorical" if unknown[0] in cat else "numeric",
                              details={"value": unknown[0], "allowed": names})

    ref_by = {str(c): c for c in reference.columns}
    cur_by = {str(c): c for c in current.columns}
    results: list[FeatureDrift] = []
    skipped: dict[str, str] = {}
    for name in names:
        ref = reference[ref_by[name]]
        cur = current[cur_by[name]]
        if isinstance(ref, pd.DataFrame) or isinstance(cur, pd.DataFrame):
            raise ValidationError(f"Column {name!r} appears twice; rename one.", field="features",
                                  details={"value": name})
        ref = ref.reset_index(drop=True)
        cur = cur.reset_index(drop=True)
        kind = _kind(name, ref, num, cat)
        if kind is None:
            skipped[name] = "dates and durations are not compared; derive a numeric feature (e.g. age in days)"
            continue
        if kind == "numeric":
            r_vals = pd.to_numeric(ref, errors="coerce").astype("float64")
            n_ref = int(np.isfinite(r_vals.to_numpy()).sum())
            c_vals = pd.to_numeric(cur, errors="coerce").astype("float64")
            n_cur = int(np.isfinite(c_vals.to_numpy()).sum())
        else:
            n_ref, n_cur = int(ref.notna().sum()), int(cur.notna().sum())
        if n_ref == 0:
            skipped[name] = "the reference has no values"
            continue
        if kind == "categorical" and name not in cat:
            distinct = ref.nunique(dropna=True)
            if distinct > t.max_categories and distinct >= 0.9 * n_ref:
                skipped[name] = (f"every value is (almost) distinct ({distinct:,} of {n_ref:,}): it looks like an "
                                 "identifier, not a feature")
                continue
        if n_cur == 0:
            results.append(_all_missing(name, kind, ref, cur, n_ref, t))
            continue
        results.append((_numeric if kind == "numeric" else _categorical)(name, ref, cur, t))

    n = len(results)
    k = sum(f.drifted for f in results)
    share = k / n if n else 0.0
    return DriftReport(
        features=tuple(results), skipped=skipped, n_features=n, n_drifted=k, share_drifted=share,
        dataset_drift=bool(n) and share >= t.dataset_share, reference_rows=len(reference),
        current_rows=len(current), thresholds=t,
    )


# ---------------------------------------------------------------------------
# model health
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthThresholds:
    """Limits of :func:`assess_health`; validated when built.

    Attributes
    ----------
    latency_p95_ms : float, default 1000
        95th-percentile prediction latency (milliseconds) above which the
        model is degraded.
    error_rate : float, default 0.05
        Share (0-1) of prediction requests that failed, above which the model
        is degraded.
    accuracy_drop : float, default 0.05
        Tolerated drop of live accuracy below test accuracy, in the metric's
        own units (0.05 = five points of accuracy).
    """

    latency_p95_ms: float = 1000.0
    error_rate: float = 0.05
    accuracy_drop: float = 0.05

    def __post_init__(self) -> None:
        _real("latency_p95_ms", self.latency_p95_ms, 0.0, 3_600_000.0)
        _real("error_rate", self.error_rate, 0.0, 1.0, lo_open=False)
        _real("accuracy_drop", self.accuracy_drop, 0.0, 1e9, lo_open=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> HealthThresholds:
        data = dict(data or {})
        allowed = list(cls.__dataclass_fields__)
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise _bad(unknown[0], data[unknown[0]], f"known settings are {', '.join(allowed)}")
        return cls(**data)


@dataclass(frozen=True)
class HealthCheck:
    """One line of the health summary.

    Attributes
    ----------
    name : {"latency_p95", "error_rate", "live_accuracy", "drift"}
    value : float or None
        Observed value (None when unknown).
    threshold : float or None
    ok : bool or None
        None when the value is unknown (it then does not degrade the model).
    message : str
    """

    name: str
    value: float | None
    threshold: float | None
    ok: bool | None
    message: str


@dataclass(frozen=True)
class HealthReport:
    """Outcome of :func:`assess_health`.

    Attributes
    ----------
    status : {"healthy", "degraded"}
    reasons : tuple of str
        Why: the failed checks when degraded; otherwise what was checked and
        what is unknown.
    checks : tuple of HealthCheck
    """

    status: str
    reasons: tuple[str, ...]
    checks: tuple[HealthCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": list(self.reasons), "checks": [asdict(c) for c in self.checks]}


def _observed(name: str, value: Any, *, lo: float | None = None, hi: float | None = None) -> float | None:
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (lo is None or v >= lo) and (hi is None or v <= hi)
    if not ok:
        rng = f"a number from {lo:g} to {hi:g}" if lo is not None and hi is not None else (
            f"a number >= {lo:g}" if lo is not None else "a finite number")
        raise ValidationError(f"{name} is {value!r}; allowed: {rng}, or None when unknown.", field=name,
                              details={"value": repr(value), "allowed": rng})
    return float(value)


def assess_health(
    latency_p95_ms: float | None = None,
    error_rate: float | None = None,
    live_accuracy: float | None = None,
    test_accuracy: float | None = None,
    drift_report: DriftReport | None = None,
    thresholds: HealthThresholds | Mapping[str, Any] | None = None,
) -> HealthReport:
    """Summarise a deployed model's health as healthy or degraded, with reasons.

    Parameters
    ----------
    latency_p95_ms : float, optional
        95th-percentile prediction latency over the recent window, in ms.
    error_rate : float, optional
        Failed / total prediction requests over the window (0-1).
    live_accuracy, test_accuracy : float, optional
        The model's quality metric (higher is better: accuracy, ROC AUC, R²)
        measured on recent labelled outcomes, and on the test split at
        training time. Compared only when both are given.
    drift_report : DriftReport, optional
        Its ``dataset_drift`` degrades the model.
    thresholds : HealthThresholds or mapping, optional

    Returns
    -------
    HealthReport
        ``degraded`` when any known check fails; unknown values (None) do not
        degrade, and are named in ``reasons``.

    Raises
    ------
    ValidationError
        A value is negative, not finite, an error rate outside 0-1, or
        ``drift_report`` is not a :class:`DriftReport`.
    """
    t = thresholds if isinstance(thresholds, HealthThresholds) else HealthThresholds.from_dict(thresholds)
    lat = _observed("latency_p95_ms", latency_p95_ms, lo=0.0)
    err = _observed("error_rate", error_rate, lo=0.0, hi=1.0)
    live = _observed("live_accuracy", live_accuracy)
    test = _observed("test_accuracy", test_accuracy)
    if drift_report is not None and not isinstance(drift_report, DriftReport):
        raise ValidationError(f"drift_report must be a DriftReport from detect_drift, got "
                              f"{type(drift_report).__name__}.", field="drift_report")
    checks: list[HealthCheck] = []
    if lat is None:
        checks.append(HealthCheck("latency_p95", None, t.latency_p95_ms, None, "Latency p95 is not known yet."))
    else:
        ok = lat <= t.latency_p95_ms
        checks.append(HealthCheck(
            "latency_p95", lat, t.latency_p95_ms, ok,
            f"Latency p95 is {lat:,.0f} ms, {'within' if ok else 'above'} the {t.latency_p95_ms:,.0f} ms limit.",
        ))
    if err is None:
        checks.append(HealthCheck("error_rate", None, t.error_rate, None, "Error rate is not known yet."))
    else:
        ok = err <= t.error_rate
        checks.append(HealthCheck(
            "error_rate", err, t.error_rate, ok,
            f"{err:.1%} of prediction requests failed, {'within' if ok else 'above'} the {t.error_rate:.1%} limit.",
        ))
    if live is None or test is None:
        missing = "live accuracy" if live is None else "test accuracy"
        checks.append(HealthCheck("live_accuracy", live, None, None,
                                  f"Accuracy is not compared: the {missing} is not known yet."))
    else:
        floor = test - t.accuracy_drop
        ok = live >= floor
        drop = test - live
        msg = (f"Live accuracy {live:.3f} is {drop:.3f} below the test accuracy {test:.3f}, more than the "
               f"{t.accuracy_drop:.3f} tolerated." if not ok else
               f"Live accuracy {live:.3f} is within {t.accuracy_drop:.3f} of the test accuracy {test:.3f}.")
        checks.append(HealthCheck("live_accuracy", live, floor, ok, msg))
    if drift_report is None:
        checks.append(HealthCheck("drift", None, None, None, "Input drift has not been measured yet."))
    else:
        d = drift_report
        ok = not d.dataset_drift
        checks.append(HealthCheck("drift", d.share_drifted, d.thresholds.dataset_share, ok, d.summary))
    failed = [c.message for c in checks if c.ok is False]
    status = "degraded" if failed else "healthy"
    reasons = tuple(failed) if failed else tuple(c.message for c in checks)
    return HealthReport(status=status, reasons=reasons, checks=tuple(checks))
