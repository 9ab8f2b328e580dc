"""Every tunable of the insight engine, validated in one place.

All checks raise :class:`aihub.errors.ValidationError` with ``field`` set to
the parameter's name and a message that shows the bad value and what is
allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from aihub.errors import ValidationError
from aihub.insights.model import CATEGORIES, INSIGHT_TYPES, PRIORITIES

#: Period frequencies the detectors aggregate to.
FREQUENCIES: dict[str, str] = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}

#: Periods per year of each frequency.
PERIODS_PER_YEAR: dict[str, float] = {"D": 365.25, "W": 52.1775, "M": 12.0, "Q": 4.0, "Y": 1.0}

#: Default weight of each insight type in the priority score (0 to 1).
DEFAULT_TYPE_WEIGHTS: dict[str, float] = {
    "anomaly_digest": 1.0,
    "churn_risk": 1.0,
    "forecast": 0.9,
    "unusual_change": 0.85,
    "drivers": 0.85,
    "trend": 0.75,
    "concentration": 0.7,
    "segment_movement": 0.7,
    "outcome_drivers": 0.8,
    "period_shift": 0.85,
    "outliers": 0.6,
    "outcome_segments": 0.8,
    "sentiment_drop": 0.85,
}

#: Days an insight of each type stays valid (period-based types default to one period of their frequency).
DEFAULT_VALIDITY_DAYS: dict[str, float] = {
    "trend": 31,
    "unusual_change": 31,
    "drivers": 92,
    "concentration": 90,
    "forecast": 31,
    "churn_risk": 14,
    "segment_movement": 30,
    "anomaly_digest": 1,
    "outcome_drivers": 30,
    "period_shift": 7,
    "outliers": 30,
    "outcome_segments": 30,
    "sentiment_drop": 31,
}


# ---------------------------------------------------------------- primitive checks
def check_choice(value: Any, allowed: Iterable[Any], field_name: str) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise a ValidationError naming both."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValidationError(
            f"{field_name} must be one of {', '.join(map(repr, allowed))}; got {value!r}",
            field=field_name,
            details={"value": repr(value), "allowed": list(map(str, allowed))},
        )
    return value


def check_number(
    value: Any,
    field_name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    allow_none: bool = False,
) -> Any:
    """Return ``value`` as float (int when ``integer``) if it lies in the range, else raise.

    The message states the range, e.g. ``"alpha must be a number in (0, 1); got 1.5"``.
    """
    if value is None and allow_none:
        return None
    lo = "" if low is None else f"{'(' if low_open else '['}{low:g}"
    hi = "" if high is None else f"{high:g}{')' if high_open else ']'}"
    rng = f"{lo or '(-inf'}, {hi or 'inf)'}"
    kind = "a whole number" if integer else "a number"
    bad = isinstance(value, bool) or not isinstance(value, (int, float))
    if not bad:
        v = float(value)
        bad = not math.isfinite(v) or (integer and v != int(v))
        if not bad:
            bad = (low is not None and (v < low or (low_open and v == low))) or (
                high is not None and (v > high or (high_open and v == high))
            )
    if bad:
        raise ValidationError(
            f"{field_name} must be {kind} in {rng}; got {value!r}",
            field=field_name,
            details={"value": repr(value), "allowed": rng},
        )
    return int(value) if integer else float(value)


def check_weights(weights: Mapping[str, Any] | None, field_name: str = "type_weights") -> dict[str, float]:
    """Validate ``{insight_type: weight >= 0}``; returns defaults updated with ``weights``."""
    out = dict(DEFAULT_TYPE_WEIGHTS)
    if weights is None:
        return out
    if not isinstance(weights, Mapping):
        raise ValidationError(
            f"{field_name} must map insight types to weights; got {type(weights).__name__}", field=field_name
        )
    for k, v in weights.items():
        check_choice(k, INSIGHT_TYPES, f"{field_name} key")
        out[k] = check_number(v, f"{field_name}.{k}", low=0.0, high=10.0)
    return out


def check_feedback(feedback: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    """Validate ``{insight_type: {"useful": int >= 0, "dismissed": int >= 0, "not_useful": int >= 0}}``.

    Missing counts are 0. Returns a dict with all three keys per given type.
    """
    if feedback is None:
        return {}
    if not isinstance(feedback, Mapping):
        raise ValidationError(
            f"feedback must map insight types to counts; got {type(feedback).__name__}", field="feedback"
        )
    out: dict[str, dict[str, int]] = {}
    for t, counts in feedback.items():
        check_choice(t, INSIGHT_TYPES, "feedback key")
        if not isinstance(counts, Mapping):
            raise ValidationError(
                f"feedback[{t!r}] must be like {{'useful': 3, 'dismissed': 5}}; got {counts!r}", field=f"feedback.{t}"
            )
        row = {"useful": 0, "dismissed": 0, "not_useful": 0}
        for k, v in counts.items():
            check_choice(k, tuple(row), f"feedback.{t} key")
            row[k] = check_number(v, f"feedback.{t}.{k}", low=0, integer=True)
        out[t] = row
    return out


def check_categories(categories: Any) -> tuple[str, ...] | None:
    """``None`` (all), one category name or a list of them."""
    if categories is None:
        return None
    if isinstance(categories, str):
        categories = [categories]
    try:
        items = list(categories)
    except TypeError:
        raise ValidationError(
            f"categories must be a category name or a list of them ({', '.join(CATEGORIES)}); got {categories!r}",
            field="categories",
        ) from None
    return tuple(check_choice(c, CATEGORIES, "categories") for c in items)


def check_now(now: Any) -> datetime:
    """``now`` as a timezone-aware UTC datetime (naive values are taken as UTC); default the current time."""
    if now is None:
        return datetime.now(UTC)
    if hasattr(now, "to_pydatetime"):
        now = now.to_pydatetime()
    if not isinstance(now, datetime):
        raise ValidationError(f"now must be a datetime; got {now!r}", field="now")
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


# ---------------------------------------------------------------- the parameters
@dataclass(frozen=True)
class InsightParams:
    """Thresholds and windows of the detectors.

    Parameters
    ----------
    alpha : float, default 0.05
        Significance level of the trend test and the segment-movement test, in (0, 0.5].
    trend_freq : {"D", "W", "M", "Q", "Y"}, default "M"
    trend_window : int, default 24
        Most recent complete periods tested, 4 to 500.
    trend_season : int, optional
        Season length for the seasonal Mann-Kendall test (12 for monthly
        data); default plain Mann-Kendall.
    change_freq : str, default "M"
    change_lag : int, default 1
        Compare each period with the one ``change_lag`` periods earlier (1:
        previous period; 12 with monthly data: same month last year).
    change_z : float, default 3.5
        Robust z-score beyond which a change is unusual (Iglewicz & Hoaglin's 3.5).
    change_min_history : int, default 8
        Fewest earlier changes the latest one is compared with.
    drivers_freq : str, default "Q"
    drivers_compare : {"previous", "year_ago"}, default "previous"
    drivers_min_change : float, default 0.05
        Smallest relative change of the total (0 to 1) worth explaining.
    drivers_min_confidence : float, default 0.9
        Bootstrap share of resamples in which the change keeps its sign and
        the top slice still contributes in its direction (the change itself
        must also keep its sign in ``1 - alpha / 2`` of them).
    bootstrap : int, default 500
        Resamples for bootstrap confidences, 50 to 5000.
    concentration_top_n : int, default 10
    concentration_window_days : int, default 365
        Trailing window of revenue measured, ending at the last complete day.
    concentration_top_share : float, default 0.5
        Fires when the top N hold at least this share of revenue, or
    concentration_top1_share : float, default 0.1
        one holder has at least this share (the 10% customer disclosure level
        of US GAAP, ASC 280-10-50-42), or
    concentration_hhi : float, default 0.15
        the HHI reaches this (US DOJ/FTC "moderately concentrated", 1,500).
    pareto_level : float, default 0.8
    forecast_baseline : {"auto", "run_rate", "last_year", "target"}, default "auto"
        ``auto``: a target when given, else the same periods one year earlier
        when the history has them (seasonality-safe), else the run rate
        (the last ``horizon`` periods).
    forecast_min_gap : float, default 0.05
        Smallest relative gap between forecast and baseline (0 to 1).
    forecast_min_confidence : float, default 0.8
    churn_threshold : float, default 0.5
        Churn probability at or above which a customer is high risk.
    churn_top_reasons : int, default 3
    segment_min_change : float, default 0.1
        Smallest relative change of a segment's size (0 to 10).
    segment_min_customers : int, default 5
        Smallest absolute change of a segment's size.
    risk_segments : tuple of str, default ("at-risk", "dormant")
        Segments whose growth is bad news (name prefixes, case-insensitive).
    anomaly_severities : tuple of str, default ("critical", "high")
    min_confidence : float, default 0.0
        Drop insights less confident than this.
    money_scale : float, optional
        Money at which the magnitude factor reaches 0.5 (currency). Default:
        5% of the last 12 months' revenue of the orders, else 10,000.
    validity_days : dict, optional
        Days each type stays valid; defaults :data:`DEFAULT_VALIDITY_DAYS`.
    seed : int, default 0
        Base seed of the bootstrap (each insight also mixes in its fingerprint).
    table_max_columns : int, default 40
        Most columns of a table examined as drivers and segment conditions
        (and as measures for shifts and outliers), in table order.
    table_max_rows : int, default 100000
        Above this many rows drivers and segments use a seeded random sample
        of this size (stated in the narrative).
    table_bins : int, default 5
        Quantile groups of a numeric column when it is compared as a driver.
    table_min_effect : float, default 0.01
        Smallest share of the outcome a driver must explain (0 to 1).
    outlier_iqr : float, default 3.0
        Rows beyond the quartiles by this many interquartile ranges are
        outliers (Tukey's far-out fences, 3; his inner fences are 1.5).
    outlier_z : float, default 3.5
        Modified z-score beyond which a segment's median is an outlier among
        the segments' medians (Iglewicz & Hoaglin).
    segment_depth : int, default 2
        Depth of the decision tree that proposes segments (conditions per segment), 1 to 4.
    segment_min_share : float, default 0.05
        Smallest share of the rows a segment must hold.
    segment_holdout : float, default 0.4
        Share of rows kept out of the tree and used to test its segments, 0.2 to 0.6.
    segment_min_lift : float, default 1.5
        Smallest ratio of the segment's rate to the rest's rate (or its
        inverse for a low segment), measured on the held-out rows.

    Raises
    ------
    ValidationError
        Any value outside its range or set; ``field`` is the parameter name.
    """

    alpha: float = 0.05
    trend_freq: str = "M"
    trend_window: int = 24
    trend_season: int | None = None
    change_freq: str = "M"
    change_lag: int = 1
    change_z: float = 3.5
    change_min_history: int = 8
    drivers_freq: str = "Q"
    drivers_compare: str = "previous"
    drivers_min_change: float = 0.05
    drivers_min_confidence: float = 0.9
    bootstrap: int = 500
    concentration_top_n: int = 10
    concentration_window_days: int = 365
    concentration_top_share: float = 0.5
    concentration_top1_share: float = 0.1
    concentration_hhi: float = 0.15
    pareto_level: float = 0.8
    forecast_baseline: str = "auto"
    forecast_min_gap: float = 0.05
    forecast_min_confidence: float = 0.8
    churn_threshold: float = 0.5
    churn_top_reasons: int = 3
    segment_min_change: float = 0.1
    segment_min_customers: int = 5
    risk_segments: tuple[str, ...] = ("at-risk", "dormant")
    anomaly_severities: tuple[str, ...] = ("critical", "high")
    min_confidence: float = 0.0
    money_scale: float | None = None
    validity_days: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_VALIDITY_DAYS))
    seed: int = 0
    table_max_columns: int = 40
    table_max_rows: int = 100_000
    table_bins: int = 5
    table_min_effect: float = 0.01
    outlier_iqr: float = 3.0
    outlier_z: float = 3.5
    segment_depth: int = 2
    segment_min_share: float = 0.05
    segment_holdout: float = 0.4
    segment_min_lift: float = 1.5

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)
        set_("alpha", check_number(self.alpha, "alpha", low=0, high=0.5, low_open=True))
        for k in ("trend_freq", "change_freq", "drivers_freq"):
            check_choice(getattr(self, k), tuple(FREQUENCIES), k)
        set_("trend_window", check_number(self.trend_window, "trend_window", low=4, high=500, integer=True))
        set_(
            "trend_season",
            check_number(self.trend_season, "trend_season", low=2, high=366, integer=True, allow_none=True),
        )
        set_("change_lag", check_number(self.change_lag, "change_lag", low=1, high=366, integer=True))
        set_("change_z", check_number(self.change_z, "change_z", low=1, high=20))
        set_(
            "change_min_history",
            check_number(self.change_min_history, "change_min_history", low=3, high=1000, integer=True),
        )
        check_choice(self.drivers_compare, ("previous", "year_ago"), "drivers_compare")
        set_("drivers_min_change", check_number(self.drivers_min_change, "drivers_min_change", low=0, high=10))
        set_(
            "drivers_min_confidence", check_number(self.drivers_min_confidence, "drivers_min_confidence", low=0, high=1)
        )
        set_("bootstrap", check_number(self.bootstrap, "bootstrap", low=50, high=5000, integer=True))
        set_(
            "concentration_top_n",
            check_number(self.concentration_top_n, "concentration_top_n", low=1, high=10000, integer=True),
        )
        set_(
            "concentration_window_days",
            check_number(self.concentration_window_days, "concentration_window_days", low=7, high=3660, integer=True),
        )
        for k in ("concentration_top_share", "concentration_top1_share", "concentration_hhi"):
            set_(k, check_number(getattr(self, k), k, low=0, high=1, low_open=True))
        set_(
            "pareto_level",
            check_number(self.pareto_level, "pareto_level", low=0, high=1, low_open=True, high_open=True),
        )
        check_choice(self.forecast_baseline, ("auto", "run_rate", "last_year", "target"), "forecast_baseline")
        set_("forecast_min_gap", check_number(self.forecast_min_gap, "forecast_min_gap", low=0, high=10))
        set_(
            "forecast_min_confidence",
            check_number(self.forecast_min_confidence, "forecast_min_confidence", low=0.5, high=1),
        )
        set_("churn_threshold", check_number(self.churn_threshold, "churn_threshold", low=0, high=1, low_open=True))
        set_(
            "churn_top_reasons", check_number(self.churn_top_reasons, "churn_top_reasons", low=1, high=10, integer=True)
        )
        set_("segment_min_change", check_number(self.segment_min_change, "segment_min_change", low=0, high=10))
        set_(
            "segment_min_customers",
            check_number(self.segment_min_customers, "segment_min_customers", low=0, integer=True),
        )
        if isinstance(self.risk_segments, str):
            set_("risk_segments", (self.risk_segments,))
        set_("risk_segments", tuple(str(s) for s in self.risk_segments))
        if isinstance(self.anomaly_severities, str):
            set_("anomaly_severities", (self.anomaly_severities,))
        set_(
            "anomaly_severities",
            tuple(
                check_choice(s, ("low", "medium", "high", "critical"), "anomaly_severities")
                for s in self.anomaly_severities
            ),
        )
        set_("min_confidence", check_number(self.min_confidence, "min_confidence", low=0, high=1))
        set_("money_scale", check_number(self.money_scale, "money_scale", low=0, low_open=True, allow_none=True))
        days = dict(DEFAULT_VALIDITY_DAYS)
        if not isinstance(self.validity_days, Mapping):
            raise ValidationError(
                f"validity_days must map insight types to days; got {self.validity_days!r}", field="validity_days"
            )
        for k, v in self.validity_days.items():
            check_choice(k, INSIGHT_TYPES, "validity_days key")
            days[k] = check_number(v, f"validity_days.{k}", low=0, high=3660, low_open=True)
        set_("validity_days", days)
        set_("seed", check_number(self.seed, "seed", low=0, integer=True))
        set_(
            "table_max_columns",
            check_number(self.table_max_columns, "table_max_columns", low=1, high=500, integer=True),
        )
        set_(
            "table_max_rows",
            check_number(self.table_max_rows, "table_max_rows", low=100, high=10_000_000, integer=True),
        )
        set_("table_bins", check_number(self.table_bins, "table_bins", low=2, high=20, integer=True))
        set_("table_min_effect", check_number(self.table_min_effect, "table_min_effect", low=0, high=1))
        set_("outlier_iqr", check_number(self.outlier_iqr, "outlier_iqr", low=1, high=20))
        set_("outlier_z", check_number(self.outlier_z, "outlier_z", low=1, high=20))
        set_("segment_depth", check_number(self.segment_depth, "segment_depth", low=1, high=4, integer=True))
        set_(
            "segment_min_share",
            check_number(self.segment_min_share, "segment_min_share", low=0, high=0.5, low_open=True),
        )
        set_("segment_holdout", check_number(self.segment_holdout, "segment_holdout", low=0.2, high=0.6))
        set_("segment_min_lift", check_number(self.segment_min_lift, "segment_min_lift", low=1, high=100))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | InsightParams | None) -> InsightParams:
        """Build from a mapping; unknown keys are rejected with the list of known ones."""
        if data is None:
            return cls()
        if isinstance(data, InsightParams):
            return data
        if not isinstance(data, Mapping):
            raise ValidationError(f"params must be a mapping; got {type(data).__name__}", field="params")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                f"unknown insight parameter(s) {unknown}; allowed: {sorted(known)}",
                field=str(unknown[0]),
                details={"allowed": sorted(known)},
            )
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_request(
    categories: Any,
    min_priority: Any,
    limit: Any,
    now: Any,
    type_weights: Any,
    feedback: Any,
) -> tuple[tuple[str, ...] | None, str | None, int | None, datetime, dict[str, float], dict[str, dict[str, int]]]:
    """Validate the arguments of :func:`aihub.insights.generate_insights` together."""
    cats = check_categories(categories)
    if min_priority is not None:
        check_choice(min_priority, PRIORITIES, "min_priority")
    lim = check_number(limit, "limit", low=1, high=10000, integer=True, allow_none=True)
    return cats, min_priority, lim, check_now(now), check_weights(type_weights), check_feedback(feedback)
