"""JSON serialisation of fitted forecasting models (never pickle).

A stored model is one JSON object::

    {"format": "aihub.forecast.model", "format_version": 1,
     "algorithm": "arima", "freq": "W", "last_ds": "2019-12-30", "n_obs": 520,
     "horizon": 13, "nonnegative": true, "params": {...}, "selection": {...},
     "library_versions": {...}, "state": {...}, "interval_scale": {"80": 1.1, "95": 1.3}}

``state`` holds, for Prophet, the string of :func:`prophet.serialize.model_to_json`
(Prophet's own JSON format, which stores the history and fitted parameters); for
statsforecast models the fitted ``model_`` dictionary (coefficients, states,
residuals) encoded by :mod:`aihub.forecasting._json`; for ``combination`` the
states of its members. Loading rebuilds the model without refitting, so a stored
version regenerates exactly the forecast it was saved with. Nothing in the file is
executed: algorithm names are checked against a fixed list and only plain arrays
are decoded.
"""

from __future__ import annotations

import functools
import json
import platform
from importlib import metadata
from typing import Any

import pandas as pd

from aihub.errors import ArtifactError, ValidationError
from aihub.jsonsafe import from_jsonable, to_jsonable

from .frequency import FREQUENCIES
from .models import LEVELS, MODEL_ALGORITHMS, FittedModel, forecast_frame, rebuild_model

FORMAT = "aihub.forecast.model"
FORMAT_VERSION = 1

_VERSIONED = ("aihub", "prophet", "statsforecast", "cmdstanpy", "pandas", "numpy", "scipy")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a forecast depends on, plus Python (a new dict each call).

    Read once per process: ``importlib.metadata.version`` parses each package's METADATA file, about 8 ms for
    the seven packages, which was a quarter of ``auto``'s cost per weekly series in bulk runs (issue 16).
    """
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "aihub":
                import aihub

                out[name] = aihub.__version__
    return out


def model_to_json(
    fitted: FittedModel,
    *,
    horizon: int,
    nonnegative: bool,
    selection: dict[str, Any] | None = None,
    versions: dict[str, str] | None = None,
    interval_scale: dict[int, float] | None = None,
) -> str:
    """Serialise a fitted model to the JSON string described in the module docstring.

    ``interval_scale`` (level -> factor) is the conformal calibration of the intervals
    (:mod:`aihub.forecasting.conformal`), applied again whenever the model forecasts.
    """
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "algorithm": fitted.algorithm,
        "freq": fitted.freq,
        "last_ds": pd.Timestamp(fitted.last_ds).isoformat(),
        "n_obs": int(fitted.n_obs),
        "horizon": int(horizon),
        "nonnegative": bool(nonnegative),
        "params": to_jsonable(fitted.params()),
        "selection": to_jsonable(selection or {}),
        "library_versions": versions or library_versions(),
        "state": to_jsonable(fitted.state()),
        "interval_scale": {str(k): float(v) for k, v in (interval_scale or {}).items()},
    }
    return json.dumps(doc, allow_nan=False, separators=(",", ":"))


class StoredModel:
    """A model loaded from JSON; call :meth:`forecast` to regenerate its forecast.

    Attributes
    ----------
    algorithm, freq, horizon, nonnegative, params, selection, library_versions
        As stored.
    fitted : FittedModel
        The rebuilt model.
    """

    def __init__(self, doc: dict[str, Any], fitted: FittedModel) -> None:
        self.doc = doc
        self.fitted = fitted
        self.algorithm: str = doc["algorithm"]
        self.freq: str = doc["freq"]
        self.horizon: int = int(doc["horizon"])
        self.nonnegative: bool = bool(doc.get("nonnegative", False))
        self.params: dict[str, Any] = from_jsonable(doc.get("params", {}))
        self.selection: dict[str, Any] = from_jsonable(doc.get("selection", {}))
        self.library_versions: dict[str, str] = dict(doc.get("library_versions", {}))
        self.interval_scale: dict[int, float] = {
            int(k): float(v) for k, v in (doc.get("interval_scale") or {}).items() if int(k) in LEVELS
        }

    def forecast(self, horizon: int | None = None) -> pd.DataFrame:
        """DataFrame with columns ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95.

        ``horizon`` defaults to the horizon the model was trained for.
        """
        h = self.horizon if horizon is None else horizon
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            raise ValidationError(f"horizon must be a positive integer; got {h!r}.", field="horizon")
        try:
            return forecast_frame(self.fitted, h, nonnegative=self.nonnegative, interval_scale=self.interval_scale)
        except Exception as exc:
            raise ArtifactError(
                f"The stored {self.algorithm} model could not produce a forecast ({type(exc).__name__}: {exc}). "
                f"It was saved with {_versions_text(self.library_versions)}; retrain it with the installed libraries.",
                details={"algorithm": self.algorithm},
            ) from exc


def _versions_text(v: dict[str, str]) -> str:
    return ", ".join(f"{k} {v[k]}" for k in ("statsforecast", "prophet") if k in v) or "unknown library versions"


def load_model_json(model_json: str | bytes | dict) -> StoredModel:
    """Parse and rebuild a model stored by :func:`model_to_json`.

    Parameters
    ----------
    model_json : str, bytes or dict
        The JSON text (or an already-parsed object, e.g. from a ``jsonb`` column).

    Returns
    -------
    StoredModel

    Raises
    ------
    ArtifactError
        When the text is not JSON, not an aihub forecasting model, of a newer format
        version, names an unknown algorithm, or cannot be rebuilt.
    """
    if isinstance(model_json, dict):
        doc = model_json
    else:
        try:
            doc = json.loads(model_json)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"The stored model is not valid JSON ({exc}).") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArtifactError(f"The stored object is not an aihub forecasting model (expected format {FORMAT!r}).")
    if not isinstance(doc.get("format_version"), int) or doc["format_version"] > FORMAT_VERSION:
        raise ArtifactError(
            f"The stored model has format version {doc.get('format_version')!r}; this aihub reads up to "
            f"{FORMAT_VERSION}. Upgrade aihub."
        )
    algorithm, freq = doc.get("algorithm"), doc.get("freq")
    if algorithm not in MODEL_ALGORITHMS or freq not in FREQUENCIES:
        raise ArtifactError(
            f"The stored model names algorithm {algorithm!r} and freq {freq!r}; allowed are "
            f"{', '.join(MODEL_ALGORITHMS)} and {', '.join(FREQUENCIES)}."
        )
    try:
        state = from_jsonable(doc["state"])
        fitted = rebuild_model(algorithm, freq, pd.Timestamp(doc["last_ds"]), int(doc["n_obs"]), state)
    except Exception as exc:
        raise ArtifactError(
            f"The stored {algorithm} model could not be rebuilt ({type(exc).__name__}: {exc}). "
            f"It was saved with {_versions_text(doc.get('library_versions', {}))}; retrain it.",
            details={"algorithm": algorithm},
        ) from exc
    return StoredModel(doc, fitted)


def forecast_from_json(model_json: str | bytes | dict, horizon: int | None = None) -> pd.DataFrame:
    """Regenerate a stored model's forecast: ``load_model_json(model_json).forecast(horizon)``.

    Returns
    -------
    DataFrame with columns ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95.

    Raises
    ------
    ArtifactError, ValidationError
    """
    return load_model_json(model_json).forecast(horizon)
