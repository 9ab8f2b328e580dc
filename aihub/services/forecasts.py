"""Forecast models: their configuration, their training job and their forecast view.

A forecast model aggregates one value column of a dataset per period (15 minutes to
a year, :data:`aihub.forecasting.FREQUENCY_TABLE`; sum or mean), optionally filtered
(``Region = West`` and ``Type = conventional``), and forecasts ``horizon`` periods
with the chosen algorithm. ``auto`` backtests candidates on the series' own history
and keeps the best by MASE (see :mod:`aihub.forecasting`). With ``split_by`` the
model holds one series per value of those columns (per product, per category x
region), optionally the ``top_n`` by volume, each with its own backtest and method.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from aihub import exports, forecasting, jsonsafe
from aihub.auth import Principal, require
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import NotFound, TrainingError, ValidationError
from aihub.services import jobs, registry, usage

FREQS = forecasting.FREQUENCIES
AGGS = ("sum", "mean")
FORECAST_KIND = "forecast"
#: Stored forecast models are JSON from :mod:`aihub.forecasting.serialize` (Prophet's own JSON inside), never pickle.
ARTIFACT_FORMAT = "aihub-forecast-json"
#: A version of many series stores each series' summary and backtest as JSON (the forecasts are rows).
PANEL_ARTIFACT_FORMAT = "aihub-forecast-panel-json"
#: Fits the series of a model of many series: :func:`aihub.forecasting.fit_panel`'s signature (:func:`use_panel_fitter`).
_panel_fitter: Callable[..., forecasting.PanelResult] | None = None


def use_panel_fitter(fit: Callable[..., forecasting.PanelResult] | None) -> None:
    """Fit models of many series with ``fit`` (same signature and result as :func:`aihub.forecasting.fit_panel`).

    :func:`aihub.runtime.wiring.wire` sets the runtime's, which runs the per-series fits on Dask when a cluster
    is configured (:func:`aihub.runtime.cluster_jobs.fit_panel_routed`); None fits in this process.
    """
    global _panel_fitter
    _panel_fitter = fit


@dataclass(frozen=True)
class ForecastSpec:
    """A forecast model's configuration, validated by :meth:`check`.

    Attributes
    ----------
    model_name : str
    dataset_id : int
    date_column, value_column : str
        Columns of the dataset: the period date and the value to forecast.
    freq : str
        Aggregation period, a key of :data:`aihub.forecasting.FREQUENCY_TABLE`.
    agg : {"sum", "mean"}
        How values within a period combine.
    horizon : int
        Periods to forecast, 1 to the frequency's ``max_horizon``.
    algorithm : str
        One of :data:`aihub.forecasting.ALGORITHMS`.
    filters : dict of str to list of str
        Keep only rows whose column takes one of the values (every column must match).
    holidays : str or None
        Country code whose public holidays are modelled (daily and faster data).
    split_by : list of str
        Columns whose value combinations each get their own series (empty: one series).
    top_n : int or None
        With ``split_by``: keep the largest ``top_n`` series by volume (None: all).
    """

    model_name: str
    dataset_id: int
    date_column: str
    value_column: str
    freq: str = "M"
    agg: str = "sum"
    horizon: int = 12
    algorithm: str = "auto"
    filters: dict[str, list[str]] = field(default_factory=dict)
    holidays: str | None = None
    split_by: list[str] = field(default_factory=list)
    top_n: int | None = None

    @property
    def many(self) -> bool:
        """Whether the model holds one series per value of the ``split_by`` columns."""
        return bool(self.split_by)

    @staticmethod
    def check(raw: dict[str, Any], columns: dict[str, str] | None = None) -> dict[str, str]:  # noqa: C901 - over the complexity ceiling before it existed; split pending (forecast config)
        """Every problem of a raw configuration, as ``{field: message}`` (empty when valid).

        Parameters
        ----------
        raw : dict
            Form or JSON values.
        columns : dict of str to str, optional
            The dataset's columns and their kinds (``date``, ``number``, ...);
            when given, column choices are checked against them.
        """
        errors: dict[str, str] = {}
        name = str(raw.get("model_name") or "").strip()
        if not name or len(name) > 200:
            errors["model_name"] = "Give the model a name of 1 to 200 characters."
        if not isinstance(raw.get("dataset_id"), int):
            errors["dataset_id"] = "Choose a dataset."
        for key, kinds, what in (("date_column", {"date"}, "date"), ("value_column", {"number", "integer"}, "numeric")):
            col = raw.get(key)
            if not col:
                errors[key] = f"Choose the {what} column."
            elif columns is not None and col not in columns:
                errors[key] = f"Column '{col}' is not in the dataset; choose one of: {', '.join(columns)}."
            elif columns is not None and columns[col] not in kinds:
                errors[key] = f"Column '{col}' is {columns[col]}, not {what}; choose a {what} column or correct its type on the Data sources page."
        freq = raw.get("freq", "M")
        if freq not in FREQS:
            errors["freq"] = f"Aggregation must be one of {', '.join(FREQS)} ({', '.join(FREQS.values())}); got {freq!r}."
        if raw.get("agg", "sum") not in AGGS:
            errors["agg"] = f"Combine values by one of {', '.join(AGGS)}; got {raw.get('agg')!r}."
        h = raw.get("horizon", 12)
        top = forecasting.MAX_HORIZON.get(freq, 1)
        if not isinstance(h, int) or isinstance(h, bool) or not 1 <= h <= top:
            unit = forecasting.FREQUENCY_TABLE[freq].period if freq in FREQS else "period"
            errors["horizon"] = f"Horizon must be a whole number of periods from 1 to {top} ({unit}s); got {h!r}."
        if freq in FREQS:
            try:
                forecasting.check_holidays(raw.get("holidays"), freq)
            except ValidationError as exc:
                errors["holidays"] = exc.message
        split = raw.get("split_by") or []
        if not isinstance(split, list | tuple) or not all(isinstance(c, str) for c in split):
            errors["split_by"] = "Split by must be a list of column names."
        elif len(split) > forecasting.MAX_SPLIT_COLUMNS:
            errors["split_by"] = f"Split by at most {forecasting.MAX_SPLIT_COLUMNS} columns; got {len(split)}."
        elif columns is not None and any(c not in columns for c in split):
            errors["split_by"] = f"Split column '{next(c for c in split if c not in columns)}' is not in the dataset."
        elif set(split) & {raw.get("date_column"), raw.get("value_column")}:
            errors["split_by"] = "Split by other columns than the date and the value."
        n = raw.get("top_n")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= forecasting.MAX_SERIES):
            errors["top_n"] = f"Top N must be a whole number of series from 1 to {forecasting.MAX_SERIES}; got {n!r}."
        if raw.get("algorithm", "auto") not in forecasting.ALGORITHMS:
            errors["algorithm"] = f"Algorithm must be one of {', '.join(forecasting.ALGORITHMS)}; got {raw.get('algorithm')!r}."
        filters = raw.get("filters") or {}
        if not isinstance(filters, dict):
            errors["filters"] = "Filters must map a column to the values to keep."
        elif columns is not None:
            for col in filters:
                if col not in columns:
                    errors["filters"] = f"Filter column '{col}' is not in the dataset."
        return errors

    @classmethod
    def from_dict(cls, raw: dict[str, Any], columns: dict[str, str] | None = None) -> ForecastSpec:
        """Validated spec from form or JSON values.

        Raises
        ------
        ValidationError
            For the first invalid field, with ``field`` set and every problem in ``details``.
        """
        errors = cls.check(raw, columns)
        if errors:
            key = next(iter(errors))
            raise ValidationError(errors[key], field=key, details={"errors": errors})
        filters = {str(k): [str(x) for x in (v if isinstance(v, list | tuple) else [v])]
                   for k, v in (raw.get("filters") or {}).items()}
        return cls(
            model_name=str(raw["model_name"]).strip(), dataset_id=raw["dataset_id"],
            date_column=raw["date_column"], value_column=raw["value_column"], freq=raw.get("freq", "M"),
            agg=raw.get("agg", "sum"), horizon=raw.get("horizon", 12), algorithm=raw.get("algorithm", "auto"),
            filters=filters, holidays=forecasting.check_holidays(raw.get("holidays"), raw.get("freq", "M")),
            split_by=list(raw.get("split_by") or []), top_n=raw.get("top_n") if raw.get("split_by") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as stored in ``models.config``."""
        return asdict(self)


def dataset_columns(version: store.DatasetVersionRecord) -> dict[str, str]:
    """``{column: kind}`` of a dataset version's saved schema."""
    return {c["name"]: c["kind"] for c in version.column_schema}


def create_forecast_model(principal: Principal, raw: dict[str, Any], *, run: bool = True
                          ) -> tuple[store.ModelRecord, store.JobRecord]:
    """Create a forecast model from form/JSON values and queue its first training.

    Returns
    -------
    (ModelRecord, JobRecord)

    Raises
    ------
    ValidationError
        Naming the first bad field (all of them in ``details["errors"]``).
    Conflict
        If the tenant has a model of that name.
    PermissionDenied
        Without ``create``.
    """
    require(principal, "create")
    with tenant_session(principal.tenant_id) as s:
        columns = None
        if isinstance(raw.get("dataset_id"), int):
            version_id = store.latest_dataset_version_id(s, raw["dataset_id"])
            columns = dataset_columns(store.get_dataset_version(s, version_id))
        spec = ForecastSpec.from_dict(raw, columns)
        model = store.create_model(s, tenant_id=principal.tenant_id, name=spec.model_name, kind=FORECAST_KIND,
                                   dataset_id=spec.dataset_id, config=spec.to_dict(), user_id=principal.user_id)
    job = train(principal, model.id, run=run)
    return model, job


def _forecast_model(s: Any, model_id: int) -> store.ModelRecord:
    """The tenant's model ``model_id`` if it is a forecast model; NotFound otherwise (a prediction model's id too)."""
    model = store.get_model(s, model_id)
    if model.kind != FORECAST_KIND:
        raise NotFound(f"Model {model_id} ('{model.name}') is a prediction model, not a forecast; "
                       "open it on the Models screen.")
    return model


def train(principal: Principal, model_id: int, *, run: bool = True) -> store.JobRecord:
    """Queue a training of a forecast model on its dataset's newest version. Needs ``create``.

    Raises
    ------
    NotFound
        If ``model_id`` is not a forecast model of the caller's tenant.
    """
    require(principal, "create")
    with tenant_session(principal.tenant_id) as s:
        model = _forecast_model(s, model_id)
        version_id = store.latest_dataset_version_id(s, model.dataset_id)
    usage.record(principal, "forecast", "train")
    return registry.start_job(principal, model_id, FORECAST_KIND,
                              {"config": model.config, "dataset_version_id": version_id}, run=run)


def _series(frame: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    return forecasting.prepare_series(frame, spec.date_column, spec.value_column, freq=spec.freq, agg=spec.agg,
                                      filters=spec.filters or None)


def _panel(frame: pd.DataFrame, spec: ForecastSpec) -> forecasting.Panel:
    return forecasting.prepare_panel(frame, spec.date_column, spec.value_column, freq=spec.freq, agg=spec.agg,
                                     filters=spec.filters or None, split_by=spec.split_by, top_n=spec.top_n)


def _panel_metrics(series: list[dict[str, Any]], horizon: int) -> dict[str, Any]:
    """Version metrics of a model of many series: volume-weighted backtest scores and counts."""
    ok = [r for r in series if not r["error"] and r["mase"] is not None]
    weights = [max(r["volume"], 0.0) for r in ok]
    total = sum(weights) or 1.0

    def mean(key: str) -> float | None:
        vals = [(r[key], w) for r, w in zip(ok, weights, strict=True) if r[key] is not None]
        return sum(v * w for v, w in vals) / total if vals else None

    return {"mase": mean("mase"), "mase_naive": mean("mase_naive"),
            "mase_seasonal_naive": mean("mase_seasonal_naive"), "horizon": horizon, "series": len(series),
            "series_failed": len(series) - len(ok),
            "series_worse_than_naive": sum(1 for r in ok if r["mase_naive"] is not None and r["mase"] > r["mase_naive"]),
            "weighting": "volume"}


def _train_panel(job: store.JobRecord, control: jobs.JobControl, spec: ForecastSpec,
                 frame: pd.DataFrame, dataset_version_id: int) -> jobs.Persist:
    control.progress(0.15, f"Building one {FREQS[spec.freq]} series per {' × '.join(spec.split_by)}")
    panel = _panel(frame, spec)
    total = len(panel.keys)
    control.progress(0.2, f"Backtesting and fitting {total} series")

    def progress(done: int, n: int) -> None:
        if done == n or done % max(1, n // 50) == 0:
            control.progress(0.2 + 0.7 * done / max(n, 1), f"Forecast {done} of {n} series")

    fit = _panel_fitter or forecasting.fit_panel
    result = fit(panel, horizon=spec.horizon, freq=spec.freq, algorithm=spec.algorithm, progress=progress,
                 fit_kwargs={"holidays": spec.holidays})
    if len(result.failed) == len(result.series):
        raise TrainingError("No series could be forecast: " + str(result.series[0]["error"]), field="horizon")
    control.progress(0.92, "Saving the version")
    data_hash = hashlib.sha256(panel.frame.to_csv(index=False).encode()).hexdigest()
    metrics = _panel_metrics(result.series, spec.horizon)
    metrics["series_dropped"] = panel.dropped
    chosen = Counter(r["algorithm"] for r in result.series if r["algorithm"])
    params = {"per_series": True, "split_by": spec.split_by, "algorithms": dict(chosen.most_common())}
    algorithm = f"{spec.algorithm} per series" if spec.algorithm == "auto" else spec.algorithm

    def persist(s) -> int:
        version = store.add_model_version(
            s, tenant_id=control.tenant_id, model_id=job.model_id, algorithm=algorithm, params=params,
            metrics=jsonsafe.plain(metrics), training_data_hash=data_hash,
            library_versions=forecasting.library_versions(), artifact_format=PANEL_ARTIFACT_FORMAT,
            artifact=json.dumps(jsonsafe.plain({"series": result.series})).encode(), training_seconds=result.seconds,
            dataset_version_id=dataset_version_id, user_id=job.payload.get("user_id"),
        )
        store.add_forecast_points(s, tenant_id=control.tenant_id, version_id=version.id, forecast=result.forecast)
        store.add_forecast_series(s, tenant_id=control.tenant_id, version_id=version.id,
                                  series=jsonsafe.plain(result.series))
        return version.id

    return persist


@jobs.register(FORECAST_KIND)
def _train_forecast(job: store.JobRecord, control: jobs.JobControl) -> jobs.Persist:
    """Job handler: prepare the series, fit, and return the step that stores the version."""
    spec = ForecastSpec(**job.payload["config"])
    dataset_version_id = job.payload["dataset_version_id"]
    control.progress(0.05, "Loading the dataset")
    with tenant_session(control.tenant_id) as s:
        frame = store.load_dataset_frame(s, dataset_version_id)
    if spec.many:
        return _train_panel(job, control, spec, frame, dataset_version_id)
    control.progress(0.15, f"Building the {FREQS[spec.freq]} series of {spec.value_column}")
    series = _series(frame, spec)
    control.progress(0.3, f"Backtesting and fitting ({spec.algorithm}) on {len(series)} periods")
    t0 = time.perf_counter()
    result = forecasting.fit_forecast(series, horizon=spec.horizon, freq=spec.freq, algorithm=spec.algorithm,
                                      holidays=spec.holidays)
    seconds = time.perf_counter() - t0
    control.progress(0.9, "Saving the version")
    data_hash = hashlib.sha256(series.to_csv(index=False).encode()).hexdigest()
    metrics = dict(result.metrics)
    metrics["training_periods"] = len(series)

    def persist(s) -> int:
        version = store.add_model_version(
            s, tenant_id=control.tenant_id, model_id=job.model_id, algorithm=result.algorithm,
            params=result.params, metrics=metrics, training_data_hash=data_hash,
            library_versions=result.library_versions, artifact_format=ARTIFACT_FORMAT,
            artifact=(result.model_json or "").encode(), training_seconds=seconds,
            dataset_version_id=dataset_version_id, user_id=job.payload.get("user_id"),
        )
        store.add_forecast_points(s, tenant_id=control.tenant_id, version_id=version.id, forecast=result.forecast)
        return version.id

    return persist


@dataclass(frozen=True)
class ForecastView:
    """Everything the forecast chart needs.

    Attributes
    ----------
    history : DataFrame with columns ds, y
        The training series of the version (for a model of many series: the chosen
        series, or the sum of all of them).
    forecast : DataFrame with columns ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95
        For the sum of many series the bounds are the sums of the series' bounds, wider than
        the sum's own interval (they assume the series move together).
    actuals : DataFrame with columns ds, y
        Values from the dataset's newest version that fall inside the
        forecast horizon (empty until the horizon has started to pass).
    version : ModelVersionRecord
    spec : ForecastSpec
    series_key : str or None
        The series shown, for a model of many series (None: one series, or their sum).
    """

    history: pd.DataFrame
    forecast: pd.DataFrame
    actuals: pd.DataFrame
    version: store.ModelVersionRecord
    spec: ForecastSpec
    series_key: str | None = None


_BOUNDS = ["yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"]


def _one_of_panel(panel_frame: pd.DataFrame, keys: list[str], series_key: str | None) -> pd.DataFrame:
    """``ds, y`` of one series of a panel, or the sum of ``keys``."""
    if series_key is not None:
        part = panel_frame[panel_frame["series_key"] == series_key]
    else:
        part = panel_frame[panel_frame["series_key"].isin(keys)]
    return part.groupby("ds", as_index=False)["y"].sum()[["ds", "y"]]


def forecast_view(principal: Principal, model_id: int, version_id: int | None = None,
                  series_key: str | None = None) -> ForecastView:
    """History, stored forecast and passed actuals of a version (the active one by default). Needs ``read``.

    For a model of many series, ``series_key`` picks one series; None shows their sum.

    Raises
    ------
    NotFound
        If ``model_id`` is not a forecast model of the caller's tenant (a prediction model's id included), has
        no such version, or (for many series) no such ``series_key``.
    """
    version = registry.require_version_of(principal, model_id, version_id)
    with tenant_session(principal.tenant_id) as s:
        model = _forecast_model(s, model_id)
        spec = ForecastSpec(**model.config)
        if spec.many:
            fc = store.forecast_frame(s, version.id, all_series=True)
        else:
            fc = store.forecast_frame(s, version.id)
        hist_frame = store.load_dataset_frame(s, version.dataset_version_id)
        latest_id = store.latest_dataset_version_id(s, model.dataset_id)
        latest_frame = hist_frame if latest_id == version.dataset_version_id else store.load_dataset_frame(s, latest_id)
    newer = latest_id != version.dataset_version_id
    if spec.many:
        keys = list(dict.fromkeys(fc["series_key"]))
        if series_key is not None and series_key not in keys:
            raise NotFound(f"This forecast has no series {series_key!r}; pick one from the table.",
                           field="series_key")
        chosen = fc[fc["series_key"] == series_key] if series_key is not None else fc
        fc = chosen.groupby("ds", as_index=False)[_BOUNDS].sum()
        history = _one_of_panel(_panel(hist_frame, spec).frame, keys, series_key)
        actuals = _one_of_panel(_panel(latest_frame, spec).frame, keys, series_key) if newer else history.iloc[0:0]
    else:
        history = _series(hist_frame, spec)
        actuals = _series(latest_frame, spec) if newer else history.iloc[0:0]
    if len(fc):
        actuals = actuals[(actuals["ds"] > history["ds"].max()) & (actuals["ds"] <= fc["ds"].max())]
    return ForecastView(history, fc, actuals.reset_index(drop=True), version, spec, series_key)


#: Columns of :func:`forecast_series` besides one per ``split_by`` column.
SERIES_FIELDS: tuple[str, ...] = ("series_key", "algorithm", "n_obs", "volume", "growth", "mase", "mase_naive",
                                  "mase_seasonal_naive", "backtest", "error")


def forecast_series(principal: Principal, model_id: int, version_id: int | None = None) -> pd.DataFrame:
    """The series of a version of many series, largest volume first. Needs ``read``.

    Returns
    -------
    DataFrame with columns series_key, one column per ``split_by`` column, algorithm, n_obs,
    volume, growth (fraction), mase, mase_naive, mase_seasonal_naive, backtest (records), error.
    Empty for a model of one series.
    """
    version = registry.require_version_of(principal, model_id, version_id)
    with tenant_session(principal.tenant_id) as s:
        spec = ForecastSpec(**_forecast_model(s, model_id).config)
        table = store.forecast_series_frame(s, version.id)
    dims = pd.DataFrame([d or {} for d in table["dims"]], columns=spec.split_by, index=table.index)
    return pd.concat([table[["series_key"]], dims, table.drop(columns=["series_key", "dims"])], axis=1)


def forecast_csv(principal: Principal, model_id: int, version_id: int | None = None) -> bytes:
    """The stored forecast as CSV bytes (ds, yhat and the 80%/95% bounds; every series with its
    ``series_key`` and column values for a model of many series). Needs ``read``."""
    version = registry.require_version_of(principal, model_id, version_id)
    with tenant_session(principal.tenant_id) as s:
        spec = ForecastSpec(**_forecast_model(s, model_id).config)
        if not spec.many:
            return exports.to_csv_bytes(store.forecast_frame(s, version.id))
        fc = store.forecast_frame(s, version.id, all_series=True)
        dims = store.forecast_series_frame(s, version.id)[["series_key", "dims"]]
    values = pd.DataFrame([d or {} for d in dims["dims"]], columns=spec.split_by).assign(series_key=dims["series_key"])
    return exports.to_csv_bytes(fc.merge(values, on="series_key", how="left")[["series_key", *spec.split_by,
                                                                               "ds", *_BOUNDS]])
