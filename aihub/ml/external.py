"""Models served from outside: predictions and SHAP reasons through an external scoring endpoint.

An :class:`ExternalModel` stands where a :class:`aihub.ml.TrainedModel` stands
(``task``, ``feature_schema``, ``classes``, ``positive_class``,
``output_label``), so the prediction service serves, caches, routes and
records it like any version; :func:`aihub.ml.predict` and
:func:`aihub.ml.predict_one` hand it to :func:`predict` and
:func:`predict_one` here. Calls go through :func:`aihub.connectors.endpoint.post_json`
(allow-list, timeouts, retries, circuit breaker).

Explanations
------------
SHAP's KernelExplainer (Lundberg and Lee, "A Unified Approach to Interpreting
Model Predictions", NeurIPS 2017) on a stored background: a k-means summary
(k <= 20) of the reference data, each cluster represented by its *medoid* (the
real row nearest its centre, so categories stay valid values) weighted by the
cluster's size. The explained output is the positive class's probability
(classification) or the value (regression). The cost is bounded before the
explainer runs: every perturbed row of one explanation goes out batched in at
most ``explain.max_calls`` calls of at most ``calls.max_rows_per_call`` rows,
so ``nsamples`` is lowered to fit; the background's own outputs are fetched
once per process and the explained row's output is the prediction already
made. The answer states the calls and rows it cost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from aihub.connectors._records import _MISSING, get_path
from aihub.connectors.endpoint import CallStats, Limits, post_json
from aihub.connectors.policy import parse_allowed_hosts
from aihub.errors import ArtifactError, ConnectorError, ValidationError
from aihub.jsonsafe import plain
from aihub.ml.explain import Explanation, format_contributions, summarize
from aihub.ml.external_config import EXTERNAL_FORMAT, RECORDS_PLACEHOLDER, ExternalConfig
from aihub.ml.schema import ColumnPlan, FeatureSpec, build_feature_schema
from aihub.ml.targets import match_class, resolve_positive_class, score_name

__all__ = ["EXTERNAL_FORMAT", "ExternalModel", "dump", "load", "predict", "predict_one", "summarize_background"]

_MAGIC = b"AIHUBEXT1\n"


@dataclass(eq=False)
class ExternalModel:
    """A model version served by an external endpoint.

    Attributes
    ----------
    endpoint : ExternalConfig
    key : str
        Circuit-breaker key (tenant and version).
    name : str
        Used in messages ("model 'Churn' version 3").
    feature_schema : list of FeatureSpec
    classes : list or None
    positive_class : Any
    background : pandas.DataFrame of shape (k, n_features)
        k-means medoids of the reference data, k <= 20.
    background_weights : ndarray of shape (k,)
        Share of the reference rows each medoid stands for (sums to 1).
    auth : str or None
        The auth header's value (decrypted; never shown).
    """

    endpoint: ExternalConfig
    key: str
    name: str
    feature_schema: list[FeatureSpec]
    classes: list | None
    positive_class: Any
    background: pd.DataFrame
    background_weights: np.ndarray
    auth: str | None = field(default=None, repr=False)
    _background_out: np.ndarray | None = field(default=None, repr=False)

    #: What :mod:`aihub.services.batch_predictions` reads of a trained model's configuration.
    config = SimpleNamespace(data_prep=None, model_type="external", n_jobs=1)
    algorithm = "external endpoint"
    threshold = None
    interval = None

    def __repr__(self) -> str:
        return f"ExternalModel({self.name!r}, url={self.endpoint.url!r}, auth={'set' if self.auth else 'none'})"

    @property
    def task(self) -> str:
        return self.endpoint.task

    @property
    def features(self) -> list[str]:
        return [f.name for f in self.feature_schema]

    @property
    def score_name(self) -> str | None:
        if self.task != "classification" or self.classes is None or len(self.classes) != 2:
            return None
        return score_name(self.endpoint.target, self.positive_class, self.endpoint.label)

    @property
    def output_label(self) -> str:
        return self.score_name or self.endpoint.label or (f"Predicted {self.endpoint.target}" if self.endpoint.target
                                                          else "Prediction")

    def secrets(self) -> dict[str, Any]:
        return {"auth": self.auth} if self.auth else {}


# ------------------------------------------------------------------ saving
def reference_schema(frame: pd.DataFrame, features: list[str]) -> list[FeatureSpec]:
    """Feature specs of the reference data: numbers are numeric, everything else a category."""
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    plan = ColumnPlan(numeric=numeric, categorical=[c for c in features if c not in numeric])
    order = {c: i for i, c in enumerate(features)}
    return sorted(build_feature_schema(frame, plan), key=lambda s: order[s.name])


def summarize_background(frame: pd.DataFrame, schema: list[FeatureSpec], k: int, seed: int = 0
                         ) -> tuple[pd.DataFrame, np.ndarray]:
    """k-means medoids of ``frame`` with their weights (the background of the explanations).

    Numbers are standardised, categories one-hot encoded; each cluster is
    represented by its real row nearest the centre (categories stay valid).

    Returns
    -------
    rows : pandas.DataFrame of shape (k', n_features), k' <= k
    weights : ndarray of shape (k',), sums to 1
    """
    from sklearn.cluster import KMeans

    clean = fill_missing(frame[[s.name for s in schema]].copy(), schema)
    sample = clean.sample(n=min(len(clean), 5000), random_state=seed) if len(clean) > 5000 else clean
    parts = []
    for spec in schema:
        col = sample[spec.name]
        if spec.kind == "numeric":
            v = col.astype(float).to_numpy()
            parts.append(((v - v.mean()) / (v.std() or 1.0))[:, None])
        else:
            parts.append(pd.get_dummies(col.astype(str)).to_numpy(dtype=float))
    X = np.hstack(parts)
    k = max(1, min(k, len(sample), len(np.unique(X, axis=0))))
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(X)
    rows, weights = [], []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        if not len(members):
            continue
        nearest = members[np.argmin(((X[members] - km.cluster_centers_[c]) ** 2).sum(axis=1))]
        rows.append(nearest)
        weights.append(len(members))
    w = np.asarray(weights, dtype=float)
    return sample.iloc[rows].reset_index(drop=True), w / w.sum()


def fill_missing(frame: pd.DataFrame, schema: list[FeatureSpec]) -> pd.DataFrame:
    """Blanks as the reference median (numbers) or most frequent value (categories), as sent to the endpoint."""
    for spec in schema:
        col = frame[spec.name]
        if spec.kind == "numeric":
            frame[spec.name] = pd.to_numeric(col, errors="coerce").fillna(spec.median if spec.median is not None else 0)
        else:
            frame[spec.name] = col.where(col.notna(), spec.example).astype(object).map(
                lambda v: v if isinstance(v, str) else str(plain(v)))
    return frame


def dump(description: dict[str, Any], key: bytes) -> bytes:
    """Signed JSON artifact of an external version (HMAC-SHA256 with the artifact key)."""
    body = json.dumps(plain(description), sort_keys=True, separators=(",", ":")).encode()
    return _MAGIC + hmac.new(key, body, hashlib.sha256).hexdigest().encode() + b"\n" + body


def load(blob: bytes, key: bytes, *, key_name: str, name: str, auth: str | None) -> ExternalModel:
    """The :class:`ExternalModel` of a signed artifact (:func:`dump`).

    Raises
    ------
    ArtifactError
        The signature does not match (tampered, or another artifact key).
    """
    if not blob.startswith(_MAGIC):
        raise ArtifactError("the artifact is not an external endpoint description")
    digest, _, body = blob[len(_MAGIC):].partition(b"\n")
    if not hmac.compare_digest(digest, hmac.new(key, body, hashlib.sha256).hexdigest().encode()):
        raise ArtifactError("the external endpoint description's signature does not match")
    d = json.loads(body)
    return ExternalModel(
        endpoint=ExternalConfig.model_validate(d["config"]), key=key_name, name=name,
        feature_schema=[FeatureSpec.from_dict(f) for f in d["feature_schema"]], classes=d.get("classes"),
        positive_class=d.get("positive_class"), background=pd.DataFrame(d["background"]),
        background_weights=np.asarray(d["background_weights"], dtype=float), auth=auth)


def classes_of(cfg: ExternalConfig, frame: pd.DataFrame) -> tuple[list | None, Any]:
    """``(classes, positive class)``: the configured ones, else the target's values (sorted, as scikit-learn does).

    Raises
    ------
    ValidationError
        A classification endpoint with neither ``output.classes`` nor a target column.
    """
    if cfg.task != "classification":
        return None, None
    classes = list(cfg.output.classes or [])
    if not classes:
        if not cfg.target:
            raise ValidationError("A classification endpoint needs its class labels: set output.classes (in the "
                                  "order of its probabilities) or target (the dataset's outcome column).",
                                  field="output.classes")
        values = frame[cfg.target].dropna()
        classes = sorted(plain(v) for v in values.unique())
        if len(classes) < 2:
            raise ValidationError(f"Column {cfg.target!r} has fewer than two values; set output.classes.",
                                  field="target")
    return classes, resolve_positive_class(classes, cfg.output.positive_class)


# ------------------------------------------------------------------ calls
def request_body(cfg: ExternalConfig, frame: pd.DataFrame) -> Any:
    """The JSON body for ``frame``'s rows in the configured input format."""
    renamed = frame.rename(columns=cfg.input.columns)
    records = [{k: plain(v) for k, v in row.items()} for row in renamed.to_dict("records")]
    fmt = cfg.input.format
    if fmt == "mlflow_split":
        return {"dataframe_split": {"columns": list(renamed.columns),
                                    "data": [[r[c] for c in renamed.columns] for r in records]}}
    if fmt == "mlflow_records":
        return {"dataframe_records": records}
    if fmt == "bentoml":
        return {cfg.input.field: records}
    return records if cfg.input.template is None else _fill(cfg.input.template, records)


def _fill(node: Any, records: list) -> Any:
    if node == RECORDS_PLACEHOLDER:
        return records
    if isinstance(node, dict):
        return {k: _fill(v, records) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, records) for v in node]
    return node


def _bad(model: ExternalModel, what: str, where: str) -> ConnectorError:
    return ConnectorError(f"{model.name}: {what} Check the output mapping ({where}).", kind="bad_data",
                          details={"source": model.name, "field": where})


def _items(model: ExternalModel, answer: Any, n: int) -> list[Any]:
    path = model.endpoint.output.predictions_path
    items = get_path(answer, path) if path else answer
    if items is _MISSING:
        keys = list(answer)[:10] if isinstance(answer, dict) else type(answer).__name__
        raise _bad(model, f"the answer has no {path!r} (it has {keys}).", "output.predictions_path")
    if isinstance(items, dict) and all(isinstance(v, list) for v in items.values()):  # columns -> records
        items = pd.DataFrame(items).to_dict("records")
    if not isinstance(items, list) or len(items) != n:
        got = len(items) if isinstance(items, list) else type(items).__name__
        raise _bad(model, f"expected a list of {n} predictions at {path or 'the top'}, got {got}.",
                   "output.predictions_path")
    return items


def _field(model: ExternalModel, item: Any, key: str | None, where: str) -> Any:
    if key is None:
        return item
    value = get_path(item, key) if isinstance(item, (dict, list)) else _MISSING
    if value is _MISSING:
        raise _bad(model, f"a prediction has no {key!r} (it is {str(item)[:120]}).", where)
    return value


def _probabilities(model: ExternalModel, item: Any) -> np.ndarray | None:
    """Class probabilities of one answer item in ``model.classes`` order, or None."""
    out = model.endpoint.output
    classes = model.classes or []
    if out.probabilities_key:
        p = _field(model, item, out.probabilities_key, "output.probabilities_key")
        if isinstance(p, dict):
            p = [p.get(str(c), p.get(c)) for c in classes]
        if not isinstance(p, list) or len(p) != len(classes) or any(not isinstance(v, (int, float)) for v in p):
            raise _bad(model, f"the probabilities {str(p)[:80]} are not {len(classes)} numbers for {classes}.",
                       "output.probabilities_key")
        return np.asarray(p, dtype=float)
    if out.probability_key and len(classes) == 2:
        p_pos = float(_field(model, item, out.probability_key, "output.probability_key"))
        pos = classes.index(model.positive_class)
        return np.asarray([p_pos if i == pos else 1 - p_pos for i in range(2)])
    return None


def parse_answer(model: ExternalModel, answer: Any, n: int) -> list[dict[str, Any]]:
    """Per-row outputs (``prediction``, ``probabilities``) of an answer for ``n`` rows.

    Raises
    ------
    ConnectorError
        Kind ``bad_data``: the answer does not fit the output mapping (names the setting).
    """
    rows = []
    for item in _items(model, answer, n):
        proba = _probabilities(model, item) if model.task == "classification" else None
        if model.endpoint.output.prediction_key is None and proba is not None and isinstance(item, dict):
            pred = None
        else:
            pred = _field(model, item, model.endpoint.output.prediction_key, "output.prediction_key")
        rows.append({"prediction": pred, "probabilities": proba})
    return rows


def call(model: ExternalModel, frame: pd.DataFrame, stats: list[CallStats] | None = None) -> list[dict[str, Any]]:
    """Outputs of the endpoint for every row of ``frame`` (prepared features), in calls of at most
    ``calls.max_rows_per_call`` rows. ``stats`` collects one :class:`CallStats` per call."""
    c = model.endpoint.calls
    limits = Limits(c.connect_timeout_seconds, c.read_timeout_seconds, c.retries, c.backoff_seconds,
                    c.breaker_failures, c.breaker_cooldown_seconds)
    headers = {model.endpoint.auth_header_name: model.auth} if model.auth else {}
    allowed = parse_allowed_hosts()
    out: list[dict[str, Any]] = []
    for start in range(0, len(frame), c.max_rows_per_call):
        part = frame.iloc[start:start + c.max_rows_per_call]
        st = CallStats()
        answer = post_json(model.endpoint.url, request_body(model.endpoint, part), name=model.name, key=model.key,
                           limits=limits, headers=headers, allowed_hosts=allowed, secrets=model.secrets(), stats=st)
        if stats is not None:
            stats.append(st)
        out.extend(parse_answer(model, answer, len(part)))
    return out


# ------------------------------------------------------------------ predicting
def _decide(model: ExternalModel, out: dict[str, Any]) -> dict[str, Any]:
    """The output row of one item: prediction, probability of the positive class, confidence."""
    res: dict[str, Any] = {"prediction": plain(out["prediction"])}
    proba = out["probabilities"]
    if model.task == "regression":
        try:
            res["prediction"] = float(res["prediction"])
        except (TypeError, ValueError):
            raise _bad(model, f"the prediction {res['prediction']!r} is not a number.", "output.prediction_key") from None
        return res
    classes = model.classes or []
    if proba is not None:
        if res["prediction"] is None:
            res["prediction"] = classes[int(np.argmax(proba))]
        res["confidence"] = float(np.max(proba))
        if len(classes) == 2:
            res["probability"] = float(proba[classes.index(model.positive_class)])
            res["positive_class"] = model.positive_class
        else:
            res.update({f"probability_{c}": float(p) for c, p in zip(classes, proba)})
    if res["prediction"] is not None and classes:
        try:
            res["prediction"] = match_class(classes, res["prediction"])
        except ValidationError:
            raise _bad(model, f"the predicted class {res['prediction']!r} is not one of {classes}.",
                       "output.classes") from None
    return res


def prepare(model: ExternalModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str | None], list[str | None]]:
    """Rows as sent (blanks filled), with per-row errors and warnings (1-based row numbers in messages)."""
    missing = [f for f in model.features if f not in frame.columns]
    if missing:
        raise ValidationError(f"The input lacks the column(s) {missing} that this model needs.", field=missing[0])
    data = frame[model.features].reset_index(drop=True).copy()
    errors: list[str | None] = [None] * len(data)
    warnings: list[list[str]] = [[] for _ in range(len(data))]
    for spec in model.feature_schema:
        col = data[spec.name]
        blank = col.isna() | col.map(lambda v: isinstance(v, str) and not v.strip())
        if spec.kind == "numeric":
            nums = pd.to_numeric(col.where(~blank), errors="coerce")
            for i in np.flatnonzero(nums.isna() & ~blank):
                errors[i] = f"row {i + 1}: {spec.name} = {col.iloc[i]!r} is not a number; write a number or leave it blank"
        for i in np.flatnonzero(blank):
            warnings[i].append(f"{spec.name} blank: filled with {spec.median if spec.kind == 'numeric' else spec.example}")
    data = fill_missing(data.mask(data.map(lambda v: isinstance(v, str) and not v.strip()), None), model.feature_schema)
    return data, errors, ["; ".join(w) if w else None for w in warnings]


def predict(model: ExternalModel, frame: pd.DataFrame, *, explain: bool = False, top_k: int = 3,
            positive_class: Any = None) -> pd.DataFrame:
    """:func:`aihub.ml.predict` for an external model: the same columns, rows in input order.

    Valid rows go to the endpoint in calls of at most ``calls.max_rows_per_call``
    rows; ``explain`` adds ``explanation`` and ``top_contributions`` per row
    (one bounded KernelSHAP per row).

    Raises
    ------
    ConnectorError
        The endpoint failed (the message names the reason); no row is predicted.
    ValidationError
        Columns are missing.
    """
    data, errors, warns = prepare(model, frame)
    out = pd.DataFrame({"row": np.arange(1, len(frame) + 1)}, index=frame.index)
    ok = np.asarray([e is None for e in errors])
    rows: list[dict[str, Any]] = [{} for _ in range(len(data))]
    if ok.any():
        for i, res in zip(np.flatnonzero(ok), call(model, data.iloc[np.flatnonzero(ok)])):
            rows[i] = _decide(model, res)
    for col in ("prediction", "probability", "positive_class", "confidence"):
        out[col] = [r.get(col) for r in rows]
    if model.task == "classification" and model.classes and len(model.classes) > 2:
        for c in model.classes:
            out[f"probability_{c}"] = [r.get(f"probability_{c}") for r in rows]
    if explain and model.task != "clustering":
        texts, tops = [], []
        for i in range(len(data)):
            if not ok[i]:
                texts.append(None), tops.append(None)
                continue
            ex, _ = explain_row(model, data.iloc[[i]], rows[i])
            texts.append(summarize(ex, 0) if ex is not None else None)
            tops.append(format_contributions(ex, 0, top_k) if ex is not None else None)
        out["explanation"], out["top_contributions"] = texts, tops
    out["error"], out["warning"] = errors, warns
    if model.score_name:
        out.attrs["score_name"] = model.score_name
    return out


def predict_one(model: ExternalModel, values: dict[str, Any], *, explain: bool = True) -> dict[str, Any]:
    """:func:`aihub.ml.predict_one` for an external model; with ``explain`` also ``contributions``,
    ``explanation`` (ending with the cost), ``output_space`` and ``explanation_cost``.

    Raises
    ------
    ValidationError
        A value does not fit (``field`` is the feature).
    ConnectorError
        The endpoint failed; the message says why.
    """
    data, errors, warns = prepare(model, pd.DataFrame([{f: values.get(f) for f in model.features}]))
    if errors[0]:
        bad = next(s.name for s in model.feature_schema if f" {s.name} = " in errors[0])
        raise ValidationError(errors[0].replace("row 1: ", ""), field=bad)
    res = _decide(model, call(model, data)[0])
    res["warning"] = warns[0]
    if explain and model.endpoint.explain.enabled:
        ex, cost = _explain_or_why_not(model, data, res)
        res["explanation_cost"] = cost
        if cost.get("error"):
            res["explained"] = False  # not stored as explained: the next identical request tries again
        if ex is not None:
            res["explanation"] = summarize(ex, 0) + " " + cost["statement"]
            res["contributions"] = ex.for_row(0).to_dict("records")
            res["output_space"] = ex.output_space
        else:
            res["explanation"] = cost["statement"]
    return res


# ------------------------------------------------------------------ explaining
def _explain_or_why_not(model: ExternalModel, row: pd.DataFrame, res: dict[str, Any]
                        ) -> tuple[Explanation | None, dict[str, Any]]:
    """:func:`explain_row`, or no reasons with the failure's reason: a prediction made is not lost to its reasons."""
    try:
        return explain_row(model, row, res)
    except ConnectorError as exc:
        lim = model.endpoint.explain
        return None, {"calls": None, "rows": None, "nsamples": 0, "background": len(model.background),
                      "max_calls": lim.max_calls, "error": str(exc),
                      "statement": f"No reasons: the endpoint failed while they were estimated ({exc})"}


def _explained_value(model: ExternalModel, res: dict[str, Any]) -> float | None:
    if model.task == "regression":
        return float(res["prediction"])
    if res.get("probability") is not None:
        return float(res["probability"])
    return None


class _Budget(Exception):
    pass


def _encoder(model: ExternalModel, row: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], pd.DataFrame]]:
    """Codes of the background and the row (each column's values numbered) and the decoder of code matrices."""
    vocab = []
    for f in model.features:
        values = list(dict.fromkeys([*model.background[f].tolist(), *row[f].tolist()]))
        vocab.append(values)
    index = [{v: i for i, v in enumerate(vs)} for vs in vocab]
    bg = np.asarray([[index[j][v] for j, v in enumerate(r)] for r in model.background[model.features].itertuples(
        index=False)], dtype=float)
    x = np.asarray([[index[j][v] for j, v in enumerate(row[model.features].iloc[0].tolist())]], dtype=float)

    def decode(codes: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({f: [vocab[j][int(c)] for c in codes[:, j]] for j, f in enumerate(model.features)})

    return bg, x, decode


def explain_row(model: ExternalModel, row: pd.DataFrame, res: dict[str, Any]
                ) -> tuple[Explanation | None, dict[str, Any]]:
    """Bounded KernelSHAP of one prepared row whose output ``res`` is known.

    Returns
    -------
    explanation : Explanation or None
        None when the endpoint gives no number to explain (a classifier without probabilities)
        or the budget did not allow it.
    cost : dict
        ``calls``, ``rows``, ``nsamples``, ``background``, ``max_calls`` and ``statement``
        ("Reasons estimated by SHAP's KernelExplainer from 2 calls ...").
    """
    import shap
    from shap.utils._legacy import DenseData

    lim = model.endpoint.explain
    value = _explained_value(model, res)
    k = len(model.background)
    cost: dict[str, Any] = {"calls": 0, "rows": 0, "nsamples": 0, "background": k, "max_calls": lim.max_calls}
    if value is None:
        cost["statement"] = "No reasons: the endpoint returns no probability or value to explain."
        return None, cost
    bg, x, decode = _encoder(model, row)
    room = lim.max_calls - (0 if model._background_out is not None else 1)
    nsamples = min(lim.nsamples, room * model.endpoint.calls.max_rows_per_call // max(k, 1))
    if nsamples < 2:
        cost["statement"] = (f"No reasons: {lim.max_calls} calls of {model.endpoint.calls.max_rows_per_call} rows "
                             f"cannot hold an explanation over {k} background rows; raise explain.max_calls.")
        return None, cost

    def f(codes: np.ndarray) -> np.ndarray:
        if codes.shape == x.shape and np.array_equal(codes, x):
            return np.asarray([value])
        if codes.shape == bg.shape and np.array_equal(codes, bg) and model._background_out is not None:
            return model._background_out
        stats: list[CallStats] = []
        if cost["calls"] + math.ceil(len(codes) / model.endpoint.calls.max_rows_per_call) > lim.max_calls:
            raise _Budget
        outs = call(model, decode(codes), stats)
        cost["calls"] += len(stats)
        cost["rows"] += len(codes)
        vals = np.asarray([_explained_value(model, _decide(model, o)) for o in outs], dtype=float)
        if codes.shape == bg.shape and np.array_equal(codes, bg):
            model._background_out = vals
        return vals

    m = len(model.features)
    try:
        explainer = shap.KernelExplainer(f, DenseData(bg, model.features, None, model.background_weights.copy()))
        phi = np.asarray(explainer.shap_values(x, nsamples=nsamples, silent=True,
                                               l1_reg=False if nsamples >= 2 * m + 2 else f"num_features({min(m, 10)})"))
    except _Budget:
        cost["statement"] = f"No reasons: they needed more than {lim.max_calls} calls to the endpoint."
        return None, cost
    cost["nsamples"] = nsamples
    cost["statement"] = (f"Reasons estimated by SHAP's KernelExplainer from {cost['calls']} call"
                         f"{'s' if cost['calls'] != 1 else ''} to the endpoint ({cost['rows']:,} rows; {nsamples} "
                         f"samples over {k} background rows; at most {lim.max_calls} calls).")
    base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
    contributions = pd.DataFrame(phi.reshape(1, m), columns=model.features)
    ex = Explanation(contributions=contributions, values=row[model.features].reset_index(drop=True),
                     base_value=base, output=np.asarray([base + float(phi.sum())]), prediction=np.asarray([value]),
                     output_space="value" if model.task == "regression" else "probability",
                     method="kernel (external endpoint)", label=model.output_label,
                     target_class=model.positive_class)
    return ex, cost
