"""Verified predictive models kept in memory per process, and the prediction cache.

Artifacts are immutable, so a model cached per ``(database, tenant, version
id)`` never goes stale. A model is loaded from its skops artifact, whose
HMAC-SHA256 signature (:meth:`aihub.config.Settings.artifact_key`, kept
outside the database) is checked before every load; a tampered artifact is
refused with :class:`~aihub.errors.ArtifactError`.

**Prediction cache.** The output of a single prediction is kept per
``(database, tenant, model version, explained or not, input hash)``: in Redis
when ``AIHUB_REDIS_URL`` is set (:mod:`aihub.sharedstate`; every app and API
process shares the entries, which expire after
``AIHUB_PREDICTION_CACHE_SECONDS``, default one day), else in this process (a
bounded LRU of :data:`PREDICTION_CACHE_SIZE` entries). The key holds the
version id, so a deploy (a new champion, a challenger share) never serves the
old version's answers, and the tenant id, so organizations never share an
entry. Outputs are immutable for a version and input, so the cache needs no
invalidation. The stored predictions stay the durable cache behind it
(:func:`aihub.db.prediction_store.find_cached`). A Redis server that fails
**fails open**: the lookup misses (the database answers), the write is
skipped, and a warning is logged at most once a minute.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy.orm import Session

from aihub import ml
from aihub.config import load_settings
from aihub.db import store
from aihub.db.engine import get_database
from aihub.db.session import tenant_session
from aihub.errors import ArtifactError, ValidationError
from aihub.ml.external_config import EXTERNAL_FORMAT
from aihub.ml.single_row import row_plan
from aihub.services import external_models
from aihub.services.model_config import ARTIFACT_FORMAT
from aihub.sharedstate import key_prefix, redis_client, redis_url

log = logging.getLogger(__name__)

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
        row_plan(model)  # built with the model, not on its first single prediction
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
    """Empty the in-process model and prediction caches (tests; a restarted process starts empty anyway)."""
    with _cache_lock:
        _cache.clear()
    _memory_outputs.clear()


# ====================================================================== prediction cache
#: Outputs kept per process without Redis.
PREDICTION_CACHE_SIZE = 10_000


def _database_tag() -> str:
    """Short fingerprint of the app database (ids are per database; tests serve two at once)."""
    url = get_database().app.url.render_as_string(hide_password=True)
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def prediction_key(tenant_id: int, version_id: int, input_hash: str, explained: bool) -> str:
    """The cache key of one output: ``<prefix>:pred:<database>:t<tenant>:v<version>:<e|p>:<input hash>``."""
    return (f"{key_prefix()}:pred:{_database_tag()}:t{int(tenant_id)}:v{int(version_id)}:"
            f"{'e' if explained else 'p'}:{input_hash}")


class _MemoryOutputs:
    """In-process LRU of prediction outputs (JSON text, so a caller can never alter a cached entry)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def set(self, key: str, value: str, ttl: int) -> None:  # the ttl is for Redis: outputs never go stale
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class _RedisOutputs:
    """Prediction outputs in Redis (``SET key value EX ttl``); fails open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._warned = 0.0

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned > 60:
            self._warned = now
            log.warning("Redis at AIHUB_REDIS_URL failed (%s); the prediction cache falls back to the database", exc)

    def get(self, key: str) -> str | None:
        try:
            value = redis_client(self.url).get(key)
        except Exception as exc:  # noqa: BLE001 - any Redis failure is a miss
            self._failed(exc)
            return None
        return None if value is None else value.decode()

    def set(self, key: str, value: str, ttl: int) -> None:
        try:
            redis_client(self.url).set(key, value, ex=ttl)
        except Exception as exc:  # noqa: BLE001 - a cache write may be lost
            self._failed(exc)

    def clear(self) -> None:
        """Nothing: entries are shared with other processes and expire by themselves."""


_memory_outputs = _MemoryOutputs(PREDICTION_CACHE_SIZE)
_redis_outputs: dict[str, _RedisOutputs] = {}


def _outputs() -> _MemoryOutputs | _RedisOutputs:
    url = redis_url()
    if url is None:
        return _memory_outputs
    backend = _redis_outputs.get(url)
    if backend is None:
        backend = _redis_outputs.setdefault(url, _RedisOutputs(url))
    return backend


def cached_output(tenant_id: int, version_id: int, input_hash: str, *, explained: bool) -> dict[str, Any] | None:
    """The cached output of this version on this input for this tenant, or None (also when Redis is down).

    ``explained=False`` also accepts an output that carries its explanation.
    """
    backend = _outputs()
    for flag in ((True,) if explained else (False, True)):
        text = backend.get(prediction_key(tenant_id, version_id, input_hash, flag))
        if text is not None:
            return json.loads(text)
    return None


def remember_output(tenant_id: int, version_id: int, input_hash: str, output: dict[str, Any]) -> None:
    """Cache a successful prediction's output (JSON-able dict) for its tenant, version and input."""
    ttl = int(os.environ.get("AIHUB_PREDICTION_CACHE_SECONDS") or 86_400)
    key = prediction_key(tenant_id, version_id, input_hash, bool(output.get("explained")))
    _outputs().set(key, json.dumps(output, separators=(",", ":")), ttl)


def forget_outputs() -> None:
    """Empty this process's prediction cache (tests); Redis entries expire on their own."""
    _memory_outputs.clear()
