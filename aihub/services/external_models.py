"""Model versions served from outside: register an external endpoint as a version, load it, see its circuit.

An external version is an ordinary row of ``model_versions`` of a predictive
model: ``artifact_format`` :data:`aihub.ml.external_config.EXTERNAL_FORMAT`,
its artifact the signed JSON description (configuration, feature schema,
classes, the explanations' background, and the auth header Fernet-encrypted
with the data-source key, :func:`aihub.services.alerts.secret_box`). So it
deploys, rolls back, takes a challenger's share, is cached, stores its
predictions, outcomes and drift like any version
(:mod:`aihub.services.predictions` serves it; :mod:`aihub.services.model_cache`
loads it through :func:`load_in`).

The URL's host must be on ``AIHUB_ALLOWED_HOSTS`` when the version is saved
and before each call.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from aihub.auth import Principal, require_in
from aihub.connectors import endpoint, policy
from aihub.db import prediction_store as ps
from aihub.db import store
from aihub.db.engine import get_database
from aihub.db.session import tenant_session
from aihub.errors import ArtifactError, ConnectorError, ValidationError
from aihub.jsonsafe import plain
from aihub.ml import external
from aihub.ml.external_config import EXTERNAL_ALGORITHM, EXTERNAL_FORMAT, ExternalConfig
from aihub.services.alerts import secret_box
from aihub.services.model_config import ML_KIND, columns_phrase, dataset_frame, require_ml
from aihub.userconfig import parse

__all__ = ["EXTERNAL_FORMAT", "circuit", "load_in", "parse_config", "register"]

#: Longest auth header value accepted (characters).
MAX_AUTH_CHARS = 4000


def parse_config(raw: dict[str, Any] | str) -> ExternalConfig:
    """Validate an external endpoint configuration (a dict or JSON text).

    Raises
    ------
    ValidationError
        ``field`` is the dotted path of the first bad setting (``output.classes``), the
        message says what is allowed; ``details["errors"]`` lists every problem.
    """
    return parse(ExternalConfig, raw, what="The external model configuration")


def check_host(cfg: ExternalConfig) -> None:
    """Refuse a URL whose host is not on ``AIHUB_ALLOWED_HOSTS`` (``field`` = ``url``)."""
    try:
        policy.check_url_allowed(cfg.url, policy.parse_allowed_hosts(), source="external model",
                                 what="scoring endpoint")
    except ConnectorError as exc:
        raise ValidationError(str(exc), field="url", details=exc.details) from None


def _features(cfg: ExternalConfig, columns: list[str]) -> list[str]:
    if cfg.target and cfg.target not in columns:
        raise ValidationError(f"The dataset has no column {cfg.target!r}; its columns are "
                              f"{columns_phrase(columns)}.", field="target")
    features = cfg.features or [c for c in columns if c != cfg.target]
    missing = [f for f in features if f not in columns]
    if missing:
        raise ValidationError(f"The dataset has no column(s) {missing}; choose features among "
                              f"{columns_phrase(columns)}.", field="features")
    return features


def _description(cfg: ExternalConfig, frame, auth_header: str | None) -> dict[str, Any]:
    features = _features(cfg, [str(c) for c in frame.columns])
    schema = external.reference_schema(frame, features)
    background, weights = external.summarize_background(frame, schema, cfg.explain.background_size)
    classes, positive = external.classes_of(cfg, frame)
    token = secret_box().encrypt({"auth_header": auth_header}) if auth_header else None
    return {"config": cfg.public(), "feature_schema": [s.to_dict() for s in schema], "classes": classes,
            "positive_class": positive, "background": background.to_dict("list"),
            "background_weights": weights.tolist(), "auth_encrypted": token}


def _check_auth(auth_header: str | None) -> str | None:
    if auth_header is None or not str(auth_header).strip():
        return None
    value = str(auth_header).strip()
    if len(value) > MAX_AUTH_CHARS or any(ch in value for ch in "\r\n\0"):
        raise ValidationError(f"The auth header must be one line of at most {MAX_AUTH_CHARS} characters.",
                              field="auth_header")
    return value


def register(principal: Principal, raw: dict[str, Any] | str, *, dataset_id: int, auth_header: str | None = None,
             model_id: int | None = None, model_name: str | None = None) -> store.ModelVersionRecord:
    """Save an external endpoint as the next version of a predictive model. Needs ``create``.

    The new version does not serve until deployed (or set as challenger).

    Parameters
    ----------
    raw : dict or str
        :class:`aihub.ml.external_config.ExternalConfig` as a dict or JSON text.
    dataset_id : int
        Reference data: the feature columns and their types, the background of
        the explanations (k-means summary) and the drift baseline.
    auth_header : str, optional
        Value of ``config.auth_header_name`` sent with each call (``"Bearer ..."``);
        stored encrypted, never shown again.
    model_id : int, optional
        Add the version to this model (e.g. beside an internal champion).
    model_name : str, optional
        Without ``model_id``: the name of a new model.

    Returns
    -------
    ModelVersionRecord

    Raises
    ------
    ValidationError
        A bad setting (``field`` names it), a host not on the allow-list
        (``field="url"``), a column the dataset lacks, no model name.
    NotFound
        The model or dataset is not in the caller's organization.
    Conflict
        A model of that name exists.
    """
    with tenant_session(principal.tenant_id) as s:
        require_in(s, principal, "create")
    cfg = parse_config(raw)
    auth = _check_auth(auth_header)
    if model_id is None and not (model_name or "").strip():
        raise ValidationError("Name the new model, or choose the model this version joins.", field="model_name")
    dataset_version_id, frame = dataset_frame(principal, dataset_id)  # ids of another organization: NotFound first
    if model_id is not None:
        with tenant_session(principal.tenant_id) as s:
            require_ml(store.get_model(s, model_id))
    check_host(cfg)
    description = _description(cfg, frame, auth)
    from aihub.services.model_cache import artifact_key

    blob = external.dump(description, artifact_key())
    params = plain({"task": cfg.task, "model_type": "external", "target": cfg.target,
                    "classes": description["classes"], "positive_class": description["positive_class"],
                    "score_name": _score_name(cfg, description), "label": cfg.label, "endpoint_host":
                    policy.split_host_port(cfg.url.split("/", 3)[2])[0], "input_format": cfg.input.format})
    with tenant_session(principal.tenant_id) as s:
        if model_id is None:
            model = store.create_model(s, tenant_id=principal.tenant_id, name=model_name.strip(), kind=ML_KIND,
                                       dataset_id=dataset_id, config={"source": "external"}, user_id=principal.user_id)
        else:
            model = store.get_model(s, model_id)
            require_ml(model)
        dataset = store.get_dataset_version(s, dataset_version_id)
        version = store.add_model_version(
            s, tenant_id=principal.tenant_id, model_id=model.id, algorithm=EXTERNAL_ALGORITHM, params=params,
            metrics={}, training_data_hash=dataset.sha256, library_versions={},
            artifact_format=EXTERNAL_FORMAT, artifact=blob, training_seconds=0.0,
            dataset_version_id=dataset_version_id, user_id=principal.user_id)
        ps.set_version_extras(s, version.id, feature_schema=description["feature_schema"], config=cfg.public())
    return version


def _score_name(cfg: ExternalConfig, description: dict[str, Any]) -> str | None:
    classes = description["classes"]
    if cfg.task != "classification" or not classes or len(classes) != 2:
        return None
    from aihub.ml.targets import score_name

    return score_name(cfg.target, description["positive_class"], cfg.label)


def breaker_key(tenant_id: int, version_id: int) -> str:
    """The circuit breaker's key of a version (database, tenant, version)."""
    return f"{get_database().app.url.render_as_string(hide_password=True)}|{tenant_id}|{version_id}"


def load_in(s: Session, tenant_id: int, version_id: int, blob: bytes, key: bytes) -> external.ExternalModel:
    """The :class:`~aihub.ml.external.ExternalModel` of a stored external version (its auth header decrypted).

    Raises
    ------
    ArtifactError
        The description's signature does not match (tampered, or the artifact key changed).
    """
    record = store.get_model_version(s, version_id)
    name = f"External model '{store.get_model(s, record.model_id).name}' version {record.version}"
    try:
        description = external.load(blob, key, key_name=breaker_key(tenant_id, version_id), name=name, auth=None)
    except ArtifactError as exc:
        raise ArtifactError(f"{name} was refused and not loaded: {exc}. Register the endpoint again.",
                            details={"version_id": version_id}) from exc
    import json

    token = json.loads(blob.partition(b"\n")[2].partition(b"\n")[2]).get("auth_encrypted")
    if token:
        description.auth = secret_box().decrypt(token).get("auth_header")
    return description


def circuit(principal: Principal, version_id: int) -> dict[str, Any]:
    """The circuit breaker of an external version in this process. Needs ``read``.

    Returns
    -------
    dict
        ``state`` (closed, open, half_open), ``consecutive_failures``, ``last_error``,
        ``retry_in_seconds``.
    """
    with tenant_session(principal.tenant_id) as s:
        require_in(s, principal, "read")
        record = store.get_model_version(s, version_id)
        _, config = ps.version_extras(s, version_id)
    if record.artifact_format != EXTERNAL_FORMAT:
        raise ValidationError(f"Version {record.version} is not an external endpoint.", field="version_id")
    cfg = ExternalConfig.model_validate(config)
    b = endpoint.breaker(breaker_key(principal.tenant_id, version_id), cfg.calls.breaker_failures,
                         cfg.calls.breaker_cooldown_seconds)
    return {"state": b.state, "consecutive_failures": b.consecutive, "last_error": b.last_error,
            "retry_in_seconds": round(b.retry_in(), 1), "checked_at": time.time()}
