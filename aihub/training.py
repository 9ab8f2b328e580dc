"""Forecast models: their configuration, their training job and their forecast view.

A forecast model aggregates one value column of a dataset per period
(daily, weekly or monthly; sum or mean), optionally filtered (``Region =
West``), and forecasts ``horizon`` periods with the chosen algorithm.
``auto`` backtests candidates on the series' own history and keeps the best
by MASE (see :mod:`aihub.forecasting`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from aihub import exports, forecasting, registry
from aihub.auth import Principal, require
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import NotFound, ValidationError
from aihub.services import jobs, usage

FREQS = {"D": "daily", "W": "weekly", "M": "monthly"}
AGGS = ("sum", "mean")
MAX_HORIZON = 500
FORECAST_KIND = "forecast"
#: Stored forecast models are JSON from :mod:`aihub.forecasting.serialize` (Prophet's own JSON inside), never pickle.
ARTIFACT_FORMAT = "aihub-forecast-json"


@dataclass(frozen=True)
class ForecastSpec:
    """A forecast model's configuration, validated by :meth:`check`.

    Attributes
    ----------
    model_name : str
    dataset_id : int
    date_column, value_column : str
        Columns of the dataset: the period date and the value to forecast.
    freq : {"D", "W", "M"}
        Aggregation period.
    agg : {"sum", "mean"}
        How values within a period combine.
    horizon : int
        Periods to forecast, 1 to 500.
    algorithm : str
        One of :data:`aihub.forecasting.ALGORITHMS`.
    filters : dict of str to list of str
        Keep only rows whose column takes one of the values.
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

    @staticmethod
    def check(raw: dict[str, Any], columns: dict[str, str] | None = None) -> dict[str, str]:
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
        if raw.get("freq", "M") not in FREQS:
            errors["freq"] = f"Aggregation must be one of {', '.join(FREQS)} ({', '.join(FREQS.values())}); got {raw.get('freq')!r}."
        if raw.get("agg", "sum") not in AGGS:
            errors["agg"] = f"Combine values by one of {', '.join(AGGS)}; got {raw.get('agg')!r}."
        h = raw.get("horizon", 12)
        if not isinstance(h, int) or isinstance(h, bool) or not 1 <= h <= MAX_HORIZON:
            errors["horizon"] = f"Horizon must be a whole number of periods from 1 to {MAX_HORIZON}; got {h!r}."
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
            filters=filters,
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


@jobs.register(FORECAST_KIND)
def _train_forecast(job: store.JobRecord, control: jobs.JobControl) -> jobs.Persist:
    """Job handler: prepare the series, fit, and return the step that stores the version."""
    spec = ForecastSpec(**job.payload["config"])
    dataset_version_id = job.payload["dataset_version_id"]
    control.progress(0.05, "Loading the dataset")
    with tenant_session(control.tenant_id) as s:
        frame = store.load_dataset_frame(s, dataset_version_id)
    control.progress(0.15, f"Building the {FREQS[spec.freq]} series of {spec.value_column}")
    series = _series(frame, spec)
    control.progress(0.3, f"Backtesting and fitting ({spec.algorithm}) on {len(series)} periods")
    t0 = time.perf_counter()
    result = forecasting.fit_forecast(series, horizon=spec.horizon, freq=spec.freq, algorithm=spec.algorithm)
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
        The training series of the version.
    forecast : DataFrame with columns ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95
    actuals : DataFrame with columns ds, y
        Values from the dataset's newest version that fall inside the
        forecast horizon (empty until the horizon has started to pass).
    version : ModelVersionRecord
    spec : ForecastSpec
    """

    history: pd.DataFrame
    forecast: pd.DataFrame
    actuals: pd.DataFrame
    version: store.ModelVersionRecord
    spec: ForecastSpec


def forecast_view(principal: Principal, model_id: int, version_id: int | None = None) -> ForecastView:
    """History, stored forecast and passed actuals of a version (the active one by default). Needs ``read``.

    Raises
    ------
    NotFound
        If ``model_id`` is not a forecast model of the caller's tenant (a prediction model's id included), or
        has no such version.
    """
    version = registry.require_version_of(principal, model_id, version_id)
    with tenant_session(principal.tenant_id) as s:
        model = _forecast_model(s, model_id)
        spec = ForecastSpec(**model.config)
        fc = store.forecast_frame(s, version.id)
        hist_frame = store.load_dataset_frame(s, version.dataset_version_id)
        latest_id = store.latest_dataset_version_id(s, model.dataset_id)
        latest_frame = hist_frame if latest_id == version.dataset_version_id else store.load_dataset_frame(s, latest_id)
    history = _series(hist_frame, spec)
    actuals = _series(latest_frame, spec) if latest_id != version.dataset_version_id else history.iloc[0:0]
    if len(fc):
        actuals = actuals[(actuals["ds"] > history["ds"].max()) & (actuals["ds"] <= fc["ds"].max())]
    return ForecastView(history, fc, actuals.reset_index(drop=True), version, spec)


def forecast_csv(principal: Principal, model_id: int, version_id: int | None = None) -> bytes:
    """The stored forecast as CSV bytes (ds, yhat and the 80%/95% bounds). Needs ``read``."""
    view = forecast_view(principal, model_id, version_id)
    return exports.to_csv_bytes(view.forecast)
