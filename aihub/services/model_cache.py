"""Verified predictive models kept in memory per process.

Artifacts are immutable, so a model cached per ``(database, tenant, version
id)`` never goes stale. A model is loaded from its skops artifact, whose
HMAC-SHA256 signature (:meth:`aihub.config.Settings.artifact_key`, kept
outside the database) is checked before every load; a tampered artifact is
refused with :class:`~aihub.errors.ArtifactError`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy.orm import Session

from aihub import ml
from aihub.config import load_settings
from aihub.db import store
from aihub.db.engine import get_database
from aihub.db.session import tenant_session
from aihub.errors import ArtifactError, ValidationError
from aihub.ml.external_config import EXTERNAL_FORMAT
from aihub.services import external_models
from aihub.services.model_config import ARTIFACT_FORMAT

#: Loaded models kept in memory per process.
MODEL_CACHE_SIZE = 8

_cache: OrderedDict[tuple[str, int, int], ml.TrainedModel] = OrderedDict()
_cache_lock = threading.Lock()


def artifact_key() -> bytes:
    """The key that signs and verifies model artifacts."""
    return load_settings().artifact_key()


def _key(tenant_id: int, version_id: int) -> tuple[str, int, int]:
    """Cache key: the database too, since a process may serve more than one (tests use two backends)."""
    return get_database().app.url.render_as_string(hide_password=True), tenant_id, version_id


def cached(tenant_id: int, version_id: int) -> ml.TrainedModel | None:
    """The model of a version if this process holds it (no database access)."""
    key = _key(tenant_id, version_id)
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
        return model


def load_in(s: Session, tenant_id: int, version_id: int) -> ml.TrainedModel:
    """The verified model of a version, from memory or read in the open session ``s``.

    Raises
    ------
    ValidationError
        The version is not a predictive model.
    ArtifactError
        The artifact failed its signature check (the message says what to do).
    NotFound
        No such version in the tenant.
    """
    model = cached(tenant_id, version_id)
    if model is not None:
        return model
    fmt, blob = store.get_artifact(s, version_id)
    if fmt == EXTERNAL_FORMAT:  # served from outside: its signed endpoint description
        model = external_models.load_in(s, tenant_id, version_id, blob, artifact_key())
    elif fmt != ARTIFACT_FORMAT:
        number = store.get_model_version(s, version_id).version
        raise ValidationError(f"Version {number} is not a predictive model (its artifact is {fmt}).",
                              field="model_id")
    else:
        model = _verified(s, version_id, blob)
    with _cache_lock:
        _cache[_key(tenant_id, version_id)] = model
        while len(_cache) > MODEL_CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def _verified(s: Session, version_id: int, blob: bytes) -> ml.TrainedModel:
    try:
        return ml.load_artifact(blob, artifact_key())
    except ArtifactError as exc:
        number = store.get_model_version(s, version_id).version
        raise ArtifactError(
            f"Version {number} of this model was refused and not loaded: {exc}. The stored model may have been "
            "tampered with, or the artifact key (AIHUB_ARTIFACT_KEY or artifact.key in the data folder) changed "
            "since it was trained. Restore the key, or retrain and deploy a new version.",
            details={"version_id": version_id, **exc.details},
        ) from exc


def load(tenant_id: int, version_id: int) -> ml.TrainedModel:
    """:func:`load_in` in its own read transaction when the model is not in memory."""
    model = cached(tenant_id, version_id)
    if model is not None:
        return model
    with tenant_session(tenant_id) as s:
        return load_in(s, tenant_id, version_id)


def forget() -> None:
    """Empty the in-process model cache (tests; a restarted process starts empty anyway)."""
    with _cache_lock:
        _cache.clear()
