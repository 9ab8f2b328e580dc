"""Business analytics as stored models: create from a template, train as a job, load a version.

Recommendations, pricing, inventory, sentiment and lifetime value are models
of kinds :data:`aihub.services.analytics_specs.KINDS` in the same ``models``,
``model_versions`` and ``training_jobs`` tables as forecasts and predictive
models, so they share jobs (progress, cancel, failure reasons), versions,
deploy and rollback (:mod:`aihub.services.registry`) and usage events.

A version's artifact is the fitted state as strict JSON (:mod:`aihub.jsonsafe`,
never pickle), HMAC-SHA256-signed with the artifact key
(:meth:`aihub.config.Settings.artifact_key`, outside the database) and
verified before every load; a tampered artifact is refused. Loaded states are
cached in-process per ``(tenant, version id)`` after the tenant-bound lookup
of the version, so the cache never answers another tenant. The first version
of an analytic is deployed when it is stored; later versions wait for a deploy.
Result functions are in :mod:`aihub.services.analytics_results`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from aihub import events, jsonsafe
from aihub.auth import Principal, require
from aihub.config import load_settings
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import ArtifactError, ValidationError
from aihub.services import jobs, registry, usage
from aihub.services.analytics_specs import KINDS, TEMPLATES, check_spec, require_fitted_rows, suggest_columns, template

#: ``model_versions.artifact_format`` of analytics: a 32-byte HMAC-SHA256 tag, then the state's JSON.
ARTIFACT_FORMAT = "aihub-analytics-json-v1"
TAG_BYTES = 32
CACHE_SIZE = 16
_cache: OrderedDict[tuple[int, int], dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class AnalyticResult:
    """A loaded analytic version.

    Attributes
    ----------
    model : ModelRecord
    version : ModelVersionRecord
    spec : UserConfig
        The validated settings it was trained with.
    state : dict
        The fitted state (see each ``fit_*`` of :mod:`aihub.services.analytics_specs`).
    """

    model: store.ModelRecord
    version: store.ModelVersionRecord
    spec: Any
    state: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.model.kind


def templates() -> list[dict[str, Any]]:
    """Every analytic template: kind, title, description and its settings' JSON schema (limits included)."""
    return [{"kind": t.kind, "title": t.title, "description": t.description,
             "settings": t.spec.model_json_schema()} for t in TEMPLATES.values()]


def _columns_of(s, dataset_id: int) -> list[str]:
    version = store.get_dataset_version(s, store.latest_dataset_version_id(s, dataset_id))
    return [c["name"] for c in version.column_schema]


def suggest_config(principal: Principal, kind: str, dataset_id: int, **overrides: Any) -> dict[str, Any]:
    """A starting configuration for ``kind`` on a dataset: its columns guessed from their names. Needs ``read``.

    Returns
    -------
    dict
        ``dataset_id``, a ``model_name`` and every column setting a hint
        matched (others left out), with ``overrides`` applied; check it with
        :func:`create_analytic`.
    """
    require(principal, "read")
    template(kind)
    with tenant_session(principal.tenant_id) as s:
        columns = _columns_of(s, dataset_id)
        name = next(d.name for d in store.list_datasets(s) if d.id == dataset_id)
    return {"model_name": f"{TEMPLATES[kind].title} - {name}", "dataset_id": dataset_id,
            **suggest_columns(kind, columns), **overrides}


def _check_columns(spec: Any, columns: list[str]) -> None:
    for key, value in spec.model_dump().items():
        if not key.endswith(("_column", "_columns")) or value in (None, []):
            continue
        for col in value if isinstance(value, list) else [value]:
            if col not in columns:
                shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
                raise ValidationError(f"{key}: column '{col}' is not in the dataset; choose one of: {shown}.",
                                      field=key)


def create_analytic(principal: Principal, kind: str, raw: dict[str, Any] | str, *, run: bool = True
                    ) -> tuple[store.ModelRecord, store.JobRecord]:
    """Create an analytic from template settings and queue its first training. Needs ``create``.

    Parameters
    ----------
    kind : str
        One of :data:`~aihub.services.analytics_specs.KINDS`.
    raw : dict or JSON text
        The template's settings (the guided form's values or pasted JSON).
    run : bool
        False only queues the job (a worker or a test runs it).

    Raises
    ------
    ValidationError
        An unknown kind, a bad setting (named) or a column not in the dataset.
    Conflict
        The organization has a model of that name.
    NotFound
        The dataset is not in the caller's organization.
    """
    require(principal, "create")
    spec = check_spec(kind, raw)
    with tenant_session(principal.tenant_id) as s:
        _check_columns(spec, _columns_of(s, spec.dataset_id))
        model = store.create_model(s, tenant_id=principal.tenant_id, name=spec.model_name, kind=kind,
                                   dataset_id=spec.dataset_id, config=spec.model_dump(), user_id=principal.user_id)
    return model, train(principal, model.id, run=run)


def _require_analytic(model: store.ModelRecord) -> None:
    if model.kind not in KINDS:
        raise ValidationError(f"'{model.name}' is a {model.kind} model, not one of the analytics "
                              f"({', '.join(KINDS)}).", field="model_id")


def train(principal: Principal, model_id: int, *, run: bool = True) -> store.JobRecord:
    """Queue a training of an analytic on its dataset's newest version. Needs ``create``."""
    require(principal, "create")
    with tenant_session(principal.tenant_id) as s:
        model = store.get_model(s, model_id)
        _require_analytic(model)
        version_id = store.latest_dataset_version_id(s, model.dataset_id)
    usage.record(principal, model.kind, "train")
    return registry.start_job(principal, model_id, model.kind,
                              {"config": model.config, "dataset_version_id": version_id}, run=run)


def get_analytic(principal: Principal, model_id: int) -> store.ModelRecord:
    """One analytic of the caller's organization. Needs ``read``.

    Raises
    ------
    NotFound
        No such model in the organization.
    ValidationError
        The model is a prediction or forecast model, not an analytic (``field="model_id"``).
    """
    model = registry.get_model(principal, model_id)
    _require_analytic(model)
    return model


def list_analytics(principal: Principal, kind: str | None = None) -> list[store.ModelRecord]:
    """Analytics of the caller's organization (one kind, or all), newest first. Needs ``read``."""
    if kind is not None:
        template(kind)
    return [m for m in registry.list_models(principal, kind) if m.kind in KINDS]


# ------------------------------------------------------------------ artifacts
def _key() -> bytes:
    return load_settings().artifact_key()


def sign_state(state: dict[str, Any]) -> bytes:
    """Strict JSON of ``state`` (lossless, :func:`aihub.jsonsafe.to_jsonable`) behind its HMAC-SHA256 tag."""
    body = json.dumps(jsonsafe.to_jsonable(state), allow_nan=False, separators=(",", ":")).encode()
    return hmac.new(_key(), body, hashlib.sha256).digest() + body


def verify_state(blob: bytes) -> dict[str, Any]:
    """The state of a signed artifact.

    Raises
    ------
    ArtifactError
        When the tag does not match (tampered, or another key) or the body is not JSON.
    """
    blob = bytes(blob)
    tag, body = blob[:TAG_BYTES], blob[TAG_BYTES:]
    if len(blob) <= TAG_BYTES or not hmac.compare_digest(tag, hmac.new(_key(), body, hashlib.sha256).digest()):
        raise ArtifactError("its signature does not match: the stored state was changed or the artifact key differs")
    try:
        return jsonsafe.from_jsonable(json.loads(body))
    except ValueError as exc:
        raise ArtifactError(f"its state is not valid JSON ({exc})") from exc


# ------------------------------------------------------------------ the job
def _train_analytic(job: store.JobRecord, control: jobs.JobControl) -> jobs.Persist:
    """Job handler of every analytic kind: load the dataset, fit, and return the step that stores the version."""
    spec = check_spec(job.kind, job.payload["config"])
    dataset_version_id = job.payload["dataset_version_id"]
    control.progress(0.05, "Loading the dataset")
    with tenant_session(control.tenant_id) as s:
        frame = store.load_dataset_frame(s, dataset_version_id)
    require_fitted_rows(frame)
    t0 = time.perf_counter()
    fitted = TEMPLATES[job.kind].fit(spec, frame, control.progress)
    seconds = time.perf_counter() - t0
    control.progress(0.92, "Saving the version")
    blob = sign_state({"kind": job.kind, **fitted.state})
    data_hash = hashlib.sha256(pd.util.hash_pandas_object(fitted.data, index=False).to_numpy().tobytes()).hexdigest()
    versions = {"python-libraries": _library_versions()}

    def persist(s) -> int:
        version = store.add_model_version(
            s, tenant_id=control.tenant_id, model_id=job.model_id, algorithm=fitted.algorithm[:60],
            params=fitted.params, metrics=fitted.metrics, training_data_hash=data_hash, library_versions=versions,
            artifact_format=ARTIFACT_FORMAT, artifact=blob, training_seconds=seconds,
            dataset_version_id=dataset_version_id, user_id=job.payload.get("user_id"))
        if store.get_model(s, job.model_id).active_version_id is None:
            store.set_active_version(s, tenant_id=control.tenant_id, model_id=job.model_id, version_id=version.id,
                                     action="deploy", user_id=job.payload.get("user_id"))
        if fitted.events:
            events = [(t, {**p, "model_id": job.model_id, "version_id": version.id,
                           "dedupe_key": f"{job.model_id}:{version.id}:{p.get('product', i)}"})
                      for i, (t, p) in enumerate(fitted.events)]
            sa.event.listen(s, "after_commit", lambda _s: _emit(control.tenant_id, events), once=True)
        return version.id

    return persist


def _emit(tenant_id: int, published: list[tuple[str, dict[str, Any]]]) -> None:
    for event_type, payload in published:
        events.publish(tenant_id, event_type, payload)


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for lib in ("numpy", "pandas", "scipy", "scikit-learn", "implicit", "vaderSentiment", "statsforecast"):
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            continue
    return out


for _kind in KINDS:
    jobs.register(_kind)(_train_analytic)


# ------------------------------------------------------------------ loading
def load(principal: Principal, model_id: int, version_id: int | None = None, *,
         kind: str | None = None) -> AnalyticResult:
    """A version of an analytic (the deployed one by default), verified and cached. Needs ``read``.

    Raises
    ------
    NotFound
        No such model or version in the caller's organization, or nothing deployed yet.
    ValidationError
        The model is not an analytic, or not of ``kind``.
    ArtifactError
        The stored state fails its signature check.
    """
    version = registry.require_version_of(principal, model_id, version_id)
    model = registry.get_model(principal, model_id)
    _require_analytic(model)
    if kind is not None and model.kind != kind:
        raise ValidationError(f"'{model.name}' is a {TEMPLATES[model.kind].title} analytic, not "
                              f"{TEMPLATES[kind].title}.", field="model_id")
    key = (principal.tenant_id, version.id)
    with _cache_lock:
        state = _cache.get(key)
        if state is not None:
            _cache.move_to_end(key)
    if state is None:
        with tenant_session(principal.tenant_id) as s:
            fmt, blob = store.get_artifact(s, version.id)
        if fmt != ARTIFACT_FORMAT:
            raise ValidationError(f"Version {version.version} of '{model.name}' is not an analytic ({fmt}).",
                                  field="version_id")
        try:
            state = verify_state(blob)
        except ArtifactError as exc:
            raise ArtifactError(f"Version {version.version} of '{model.name}' was refused: {exc}. Restore the "
                                "artifact key, or train a new version.", details={"version_id": version.id}) from exc
        with _cache_lock:
            _cache[key] = state
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    fields = TEMPLATES[model.kind].spec.model_fields
    raw = {k: v for k, v in version.params.items() if k in fields} if "model_name" in version.params else model.config
    return AnalyticResult(model, version, check_spec(model.kind, raw), state)


def forget_cache() -> None:
    """Empty the in-process cache of loaded states (tests; a restarted process starts empty anyway)."""
    with _cache_lock:
        _cache.clear()
