"""Isolation-forest detector: multivariate rows, or one metric with local features.

An isolation forest (Liu, Ting & Zhou 2008, "Isolation Forest", ICDM) is
refitted every ``iforest_refit`` points on the previous ``iforest_window``
points; features are the metric values (multivariate) or value, deviation
from the local level and first difference (univariate), whitened with the
training window's principal components so that axis-parallel splits can
isolate points that break a correlation (the bias Hariri et al. 2019,
"Extended Isolation Forest", describe). ``contamination`` sets the
training-score quantile that maps to the alert threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from aihub.anomaly.alarms import lagged_rolling as _lagged_rolling
from aihub.anomaly.likelihood import score_from_logp as _score_from_logp
from aihub.anomaly.likelihood import surprisal as _surprisal
from aihub.anomaly.likelihood import z_for_score as _z_for_score
from aihub.anomaly.params import DetectorParams
from aihub.anomaly.residual import _arr, _json_list, _tail

_MAD_TO_SD = 1.4826  # 1 / Phi^-1(3/4): MAD of a normal sample -> standard deviation


def iforest_features(x: np.ndarray, st: Mapping[str, Any], p: DetectorParams):
    """Univariate features: value, deviation from local level, first difference."""
    x_old = _arr(st.get("x"))
    X = np.r_[x_old, x]
    level = _lagged_rolling(X, p.level_window, 1, "median")[len(x_old) :]
    prev = np.r_[x_old[-1] if len(x_old) else np.nan, x[:-1]] if len(x) else x
    F = np.column_stack([x, x - level, x - prev])
    return F, _json_list(_tail(X, p.level_window))


def iforest_component(F: np.ndarray, st: Mapping[str, Any] | None, p: DetectorParams, alert: float):
    """Score rows of ``F`` with forests refitted on the preceding rows.

    A forest is fitted before global row ``i`` whenever ``i >= start`` and
    ``(i - start) % iforest_refit == 0`` (``start = max(64, warmup)``) on the
    last ``iforest_window`` complete rows before ``i``; rows before the first
    fit are not scored. The state keeps the rows the current forest was fitted
    on, so a streaming update refits the identical forest (fixed seed).
    """
    from sklearn.ensemble import IsolationForest

    st = st or {}
    n0 = int(st.get("n", 0))
    k = F.shape[1]
    buf = np.asarray(st.get("buffer") or np.empty((0, k)), float).reshape(-1, k)
    train = st.get("train")
    train = None if train is None else np.asarray(train, float).reshape(-1, k)
    start = max(64, p.warmup)
    z_alert = _z_for_score(alert)
    scores = np.zeros(len(F))
    raw = np.full(len(F), np.nan)
    model = cal = None

    def fit(rows: np.ndarray):
        rows = rows[np.all(np.isfinite(rows), axis=1)]
        if len(rows) < 16:
            return None, None
        # whiten (PCA rotation + unit variance) so that axis-parallel splits can
        # isolate points that break a correlation between metrics
        mu = rows.mean(axis=0)
        cov = np.atleast_2d(np.cov(rows - mu, rowvar=False))
        vals, vecs = np.linalg.eigh(cov)
        vals = np.maximum(vals, 1e-9 * max(float(vals.max()), 1e-300) + 1e-300)
        w = vecs / np.sqrt(vals)
        f = IsolationForest(
            n_estimators=p.n_estimators,
            max_samples=min(256, len(rows)),
            random_state=p.random_state,
        ).fit((rows - mu) @ w)
        s_tr = -f.score_samples((rows - mu) @ w)
        q = float(np.quantile(s_tr, 1.0 - p.contamination))
        mad = float(np.median(np.abs(s_tr - np.median(s_tr)))) * _MAD_TO_SD
        return (f, mu, w), (q, max(mad, 1e-9))

    if train is not None:
        model, cal = fit(train)
    full = np.r_[buf, F] if len(F) else buf
    off = len(buf)
    i = 0
    while i < len(F):
        g = n0 + i
        if g >= start and (g - start) % p.iforest_refit == 0:
            train = full[max(0, off + i - p.iforest_window) : off + i]
            model, cal = fit(train)
        # score until the next refit boundary
        if g < start:
            j = min(len(F), i + (start - g))
        else:
            j = min(len(F), i + p.iforest_refit - (g - start) % p.iforest_refit)
        if model is not None:
            block = F[i:j]
            ok = np.all(np.isfinite(block), axis=1)
            if ok.any():
                f, mu, w = model
                s = -f.score_samples((block[ok] - mu) @ w)
                zz = z_alert + (s - cal[0]) / cal[1]
                sc = np.where(zz > 0, _score_from_logp(_surprisal(zz)), 0.0)
                tmp = np.zeros(j - i)
                tmp[ok] = sc
                scores[i:j] = tmp
                tmp2 = np.full(j - i, np.nan)
                tmp2[ok] = s
                raw[i:j] = tmp2
        i = j
    new = {
        "n": n0 + len(F),
        "buffer": _json_list(_tail(full, p.iforest_window)),
        "train": None if train is None else _json_list(np.asarray(train)),
    }
    return scores, new
