"""Figures of the dashboard, aggregated in SQL for the caller's tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from aihub.anomaly.severity import SEVERITIES as ANOMALY_SEVERITIES
from aihub.auth import Principal, require
from aihub.db import anomaly_store, dashboard_store, owner_scans, store
from aihub.db import prediction_store as ps
from aihub.db.session import run_read, tenant_session
from aihub.errors import ValidationError
from aihub.services import insights


@dataclass(frozen=True)
class DashboardSummary:
    """Key figures of one tenant.

    Attributes
    ----------
    datasets : int
    models_active, models_inactive : int
        Models with and without a deployed version.
    jobs_by_status : dict of str to int
    latest_jobs : list of JobRecord
        Newest ten training jobs.
    active_forecasts : list of ModelRecord
        Forecast models with a deployed version.
    """

    datasets: int
    models_active: int
    models_inactive: int
    jobs_by_status: dict[str, int]
    latest_jobs: list[store.JobRecord]
    active_forecasts: list[store.ModelRecord]


def summary(principal: Principal) -> DashboardSummary:
    """Dashboard figures from the database (a handful of aggregate queries). Needs ``read``."""
    require(principal, "read")
    return run_read(principal.tenant_id, _read_summary)


def _read_summary(s) -> DashboardSummary:
    n_datasets, active, inactive, by_status = dashboard_store.summary_counts(s)
    latest = store.list_jobs(s, limit=10)
    forecasts = [m for m in store.list_models(s, "forecast") if m.active_version_id]
    return DashboardSummary(n_datasets, active, inactive, by_status, latest, forecasts)


def anomaly_summary(principal: Principal) -> anomaly_store.AnomalyStats:
    """Open anomalies by severity, median time to resolve and false-positive rate per monitor. Needs ``read``.

    Aggregated in SQL (three queries). Time to resolve runs from detection
    (when the hub stored the anomaly) to its closing as resolved or false
    positive; the false-positive rate is false positives over anomalies an
    analyst closed.
    """
    require(principal, "read")
    return run_read(principal.tenant_id, anomaly_store.anomaly_stats)


@dataclass(frozen=True)
class ModelPerformanceSummary:
    """Deployed predictive models: test vs live accuracy and prediction volume.

    Attributes
    ----------
    models : list of ModelPerformance
        One per predictive model with a champion (see
        :class:`aihub.db.prediction_store.ModelPerformance`).
    daily_volume : list of (day, model name, count)
        Predictions per day over the last 30 days.
    """

    models: list[ps.ModelPerformance]
    daily_volume: list[tuple]


def model_performance(principal: Principal) -> ModelPerformanceSummary:
    """Test vs live accuracy per deployed predictive model and prediction volume, aggregated in SQL. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return ModelPerformanceSummary(ps.model_performance(s), ps.daily_volume(s, 30))


# ====================================================================== overview
#: Anomaly severities, most severe first (:data:`aihub.anomaly.severity.SEVERITIES` reversed).
SEVERITIES: tuple[str, ...] = tuple(reversed(ANOMALY_SEVERITIES))
#: Insight statuses that still ask for work.
INSIGHT_OPEN_STATUSES: tuple[str, ...] = insights.OPEN_STATUSES
#: Anomaly triage statuses that still ask for work.
ANOMALY_OPEN_STATUSES: tuple[str, ...] = anomaly_store.OPEN_STATUSES


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters; empty tuples and None mean "all".

    Attributes
    ----------
    date_from, date_to : date, optional
        Inclusive days. Predictions, feedback, usage and deployments are
        filtered by when they happened; anomalies by the period they
        describe (``ts``).
    model_types : tuple of str
        Model types (``forecast``, ``churn_prediction``, ...; see :func:`filter_options`).
    severities : tuple of str
        Anomaly severities.
    metrics : tuple of str
        Anomaly metrics (``daily_revenue``, ...).
    """

    date_from: date | None = None
    date_to: date | None = None
    model_types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()

    def check(self) -> Filters:
        """Return self, or raise ValidationError for an unknown severity or a reversed date range."""
        for i, sev in enumerate(self.severities):
            if sev not in SEVERITIES:
                raise ValidationError(f"Unknown severity {sev!r}; choose from {', '.join(SEVERITIES)}.",
                                      field=f"severities[{i}]")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValidationError(f"The date range starts ({self.date_from}) after it ends ({self.date_to}).",
                                  field="date_from")
        return self

    @property
    def granularity(self) -> str:
        """``day`` for ranges up to 62 days, ``week`` up to 550 days, else ``month`` (open ranges: ``month``)."""
        if self.date_from is None or self.date_to is None:
            return "month"
        days = (self.date_to - self.date_from).days + 1
        return "day" if days <= 62 else "week" if days <= 550 else "month"


@dataclass(frozen=True)
class FilterOptions:
    """Choices of the filters and the span of the tenant's activity (the default date range)."""

    model_types: list[str]
    metrics: list[str]
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True)
class KeyFigures:
    """The headline numbers.

    Attributes
    ----------
    models_active, models_inactive : int
        Models of the chosen types with and without a deployed version.
    predictions, prediction_errors : int
        Predictions made in the date range (and how many failed).
    anomalies_detected : int
        Anomalies in the date range (severity and metric filters apply).
    detected_by_severity, unresolved_by_severity : dict of str to int
        All four severities present; unresolved = new, acknowledged or investigating.
    data_sources_active, data_sources : int
        Enabled connectors, and all of them.
    datasets : int
    insights_open : int
        Open (new, acknowledged, in progress) and still-valid insights.
    insights_by_priority : dict of str to int
    """

    models_active: int
    models_inactive: int
    predictions: int
    prediction_errors: int
    anomalies_detected: int
    detected_by_severity: dict[str, int]
    unresolved_by_severity: dict[str, int]
    data_sources_active: int
    data_sources: int
    datasets: int
    insights_open: int
    insights_by_priority: dict[str, int]

    @property
    def anomalies_unresolved(self) -> int:
        return sum(self.unresolved_by_severity.values())


@dataclass(frozen=True)
class ModelRow:
    """A deployed model's test and live quality and its prediction volume.

    Attributes
    ----------
    metric : str
        What ``test`` and ``live`` measure: ``accuracy`` (classification,
        0 to 1), ``MAE`` (regression, target units), ``silhouette``
        (clustering), ``MAPE`` (forecast backtest, 0 to 1).
    test : float or None
        From the deployed version's held-out split (backtest for forecasts).
    live : float or None
        From outcomes recorded in the date range for the deployed version's
        predictions (None without outcomes, and for forecasts and clusters).
    outcomes : int
        Outcomes that ``live`` is computed from.
    predictions : int
        Predictions of the model (any version) in the date range.
    """

    model_id: int
    name: str
    model_type: str
    version: int
    deployed_at: datetime | None
    metric: str
    test: float | None
    live: float | None
    outcomes: int
    predictions: int


@dataclass(frozen=True)
class Overview:
    """Everything the dashboard shows for one set of filters (see :func:`overview`).

    Series are lists of plain tuples so the page can cache them:

    * ``prediction_volume``: ``(period, model name, count)``
    * ``accuracy_trend``: ``(period, model name, outcomes, correct)``
    * ``anomaly_trend``: ``(period, severity, status, count)``
    * ``usage``: ``(period, feature, events, users)``
    * ``usage_by_feature``: ``(feature, events, users)`` over the whole range
    * ``deployments``: ``(when, model, version, action, by)``
    * ``latest_anomalies``: dicts ``id, ts, metric, series, severity, status, impact, monitor``
    """

    filters: Filters
    granularity: str
    figures: KeyFigures
    models: list[ModelRow]
    prediction_volume: list[tuple]
    accuracy_trend: list[tuple]
    latest_jobs: list[store.JobRecord]
    deployments: list[tuple]
    latest_anomalies: list[dict[str, Any]]
    anomalies_by_status: dict[str, int]
    anomaly_trend: list[tuple]
    usage: list[tuple]
    usage_by_feature: list[tuple]
    usage_users: int


def filter_options(principal: Principal) -> FilterOptions:
    """Model types, anomaly metrics and the first and last day with any activity. Needs ``read``.

    The span covers predictions and their outcomes, anomalies (their
    period), usage events, deployments and training jobs; each bound is an
    index lookup.
    """
    require(principal, "read")
    types, metrics, lo, hi = run_read(principal.tenant_id, dashboard_store.filter_choices)
    return FilterOptions(types, metrics, lo, hi)


#: Headline figure of each business analytic: (label, metrics key).
ANALYTIC_HEADLINES = {"recommend": ("NDCG@k (validation)", "ndcg_at_k"),
                      "pricing": ("log error (validation)", "validation_mean_abs_log_error"),
                      "inventory": ("stock-out risk", "mean_stockout_probability"),
                      "sentiment": ("mean sentiment", "mean_score"),
                      "clv": ("probability alive", "mean_probability_alive")}


def _headline(model_type: str, task: str | None, metrics: dict[str, Any]) -> tuple[str, float | None]:
    def num(key: str) -> float | None:
        v = metrics.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    if model_type == "forecast":
        mape = num("mape")  # stored in percent by aihub.forecasting
        return "MAPE", None if mape is None else mape / 100.0
    if model_type in ANALYTIC_HEADLINES:  # business analytics (aihub.services.analytics)
        label, key = ANALYTIC_HEADLINES[model_type]
        return label, num(key)
    if task == "regression":
        return "MAE", num("mae")
    if task == "clustering":
        return "silhouette", num("silhouette")
    return "accuracy", num("accuracy")


def _live_accuracy(fb: list[tuple]) -> dict[int, list[float]]:
    """Per deployed version: ``[outcomes, correct, sum of absolute errors, outcomes with an error]``."""
    live: dict[int, list[float]] = {}
    for _, _, vid, n, correct, mae in fb:
        acc = live.setdefault(vid, [0, 0, 0.0, 0])
        acc[0] += n
        acc[1] += correct
        if mae is not None:
            acc[2] += float(mae) * n
            acc[3] += n
    return live


def _model_rows(models: list[tuple], live: dict[int, list[float]], per_model: dict[int, int]) -> list[ModelRow]:
    """One row per model with a deployed version: headline metric on the test set and live."""
    rows = []
    for mid, name, mtype, vid, version, metrics, task, deployed in (m for m in models if m[3] is not None):
        metric, test = _headline(mtype, task, metrics or {})
        n, correct, mae_sum, mae_n = live.get(vid, [0, 0, 0.0, 0])
        value = (correct / n if n and metric == "accuracy" else mae_sum / mae_n if mae_n and metric == "MAE"
                 else None)
        rows.append(ModelRow(mid, name, mtype, version, deployed, metric, test, value,
                             n if value is not None else 0, per_model.get(mid, 0)))
    return rows


def _overview_rows(s, f: Filters) -> tuple:
    """The rows :func:`overview` reads, in one transaction (run again on the primary by ``run_read``)."""
    unit, days = f.granularity, (f.date_from, f.date_to)
    dashboard_store.without_jit(s)
    models = dashboard_store.models_with_versions(s)
    if f.model_types:
        models = [m for m in models if m[2] in f.model_types]
    names = {m[0]: m[1] for m in models}
    ids = list(names) if f.model_types else None
    vol, errors = dashboard_store.prediction_volume(s, unit, days, ids)
    mae_versions = [m[3] for m in models if m[3] is not None and _headline(m[2], m[6], m[5] or {})[0] == "MAE"]
    fb = dashboard_store.outcome_accuracy(s, unit, days, ids, mae_versions)
    agg, latest = dashboard_store.anomalies(s, unit, days, f.severities, f.metrics)
    src_active, src_all, n_datasets, ins = dashboard_store.data_counts(s, INSIGHT_OPEN_STATUSES)
    jobs = [j for j in store.list_jobs(s, limit=50) if not f.model_types or j.model_id in names][:10]
    deployments = dashboard_store.deployments(s, days, ids)
    usage, usage_features, users = dashboard_store.usage(s, unit, days)
    return (models, names, vol, errors, fb, agg, latest, src_active, src_all, n_datasets, ins, jobs, deployments,
            usage, usage_features, users)


def overview(principal: Principal, filters: Filters | None = None) -> Overview:
    """Every dashboard figure for the filters, aggregated in SQL in one transaction. Needs ``read``.

    Each table is read by one aggregate over its indexed range
    (``prediction_results (tenant_id, created_at, model_id)``, the partial
    feedback index, ``anomalies (tenant_id, ts)``, ``usage_events
    (tenant_id, created_at)``); series by day, week or month
    (:attr:`Filters.granularity`). Row-level security limits every query to
    the caller's tenant.

    Raises
    ------
    ValidationError
        For an unknown severity or a reversed date range.
    """
    require(principal, "read")
    f = (filters or Filters()).check()
    unit = f.granularity
    (models, names, vol, errors, fb, agg, latest, src_active, src_all, n_datasets, ins, jobs, deployments, usage,
     usage_features, users) = run_read(principal.tenant_id, partial(_overview_rows, f=f))
    per_model: dict[int, int] = {}
    for _, mid, n in vol:
        per_model[mid] = per_model.get(mid, 0) + n
    rows = _model_rows(models, _live_accuracy(fb), per_model)
    detected = {k: 0 for k in SEVERITIES}
    unresolved = {k: 0 for k in SEVERITIES}
    by_status: dict[str, int] = {}
    for _, sev, status, n in agg:
        detected[sev] = detected.get(sev, 0) + n
        by_status[status] = by_status.get(status, 0) + n
        if status in ANOMALY_OPEN_STATUSES:
            unresolved[sev] = unresolved.get(sev, 0) + n

    figures = KeyFigures(
        models_active=sum(1 for m in models if m[3] is not None),
        models_inactive=sum(1 for m in models if m[3] is None),
        predictions=sum(per_model.values()), prediction_errors=int(errors),
        anomalies_detected=sum(detected.values()), detected_by_severity=detected, unresolved_by_severity=unresolved,
        data_sources_active=src_active, data_sources=src_all, datasets=n_datasets,
        insights_open=sum(ins.values()), insights_by_priority=ins,
    )
    accuracy = {}
    for period, mid, _vid, n, correct, _mae in fb:
        key = (period, names.get(mid, str(mid)))
        a = accuracy.setdefault(key, [0, 0])
        a[0] += n
        a[1] += correct
    return Overview(
        filters=f, granularity=unit, figures=figures, models=rows,
        prediction_volume=[(p, names.get(m, str(m)), int(n)) for p, m, n in vol],
        accuracy_trend=[(p, name, n, c) for (p, name), (n, c) in sorted(accuracy.items())],
        latest_jobs=jobs, deployments=[tuple(r) for r in deployments],
        latest_anomalies=[
            {"id": i, "ts": ts, "metric": metric, "series": _series_label(sl), "severity": sev,
             "status": status, "impact": impact, "monitor": mon}
            for i, ts, metric, sl, sev, status, impact, mon in latest
        ],
        anomalies_by_status=by_status, anomaly_trend=[tuple(r) for r in agg],
        usage=[tuple(r) for r in usage], usage_by_feature=[tuple(r) for r in usage_features], usage_users=int(users),
    )


# ====================================================================== rollups (the worker)
def refresh_rollups(tenant_id: int) -> dict[str, int]:
    """Rebuild the marked days of one organization's dashboard rollups (system task: no principal).

    Run by the worker (:func:`refresh_all_rollups`); the dashboard's figures are
    exact without it (marked days are read raw), it only keeps them fast. See
    :func:`aihub.db.dashboard_store.refresh_rollups`.

    Returns
    -------
    dict of str to int
        Days recomputed per kind.
    """
    with tenant_session(tenant_id) as s:
        return dashboard_store.refresh_rollups(s)


def refresh_all_rollups() -> dict[str, int]:
    """:func:`refresh_rollups` for every organization with marked days; ``{"rollup_tenants", "rollup_days"}``."""
    tenants = owner_scans.rollup_tenants()
    days = 0
    for tenant_id in tenants:
        days += sum(refresh_rollups(tenant_id).values())
    return {"rollup_tenants": len(tenants), "rollup_days": days}


def _series_label(slice_key: str) -> str:
    """``"all rows"`` or ``"Region = West"`` from a stored slice key."""
    if not slice_key or slice_key in ("total", "total=total"):
        return "all rows"
    dim, _, value = slice_key.partition("=")
    return f"{dim} = {value}" if value else dim
