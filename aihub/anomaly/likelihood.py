"""Anomaly likelihood of each ensemble component, their combination, and alarms.

Every component of the ``auto`` ensemble produces *raw evidence* on its own
scale: the robust residual components a surprisal ``-log10 P(|Z| >= |z|)``
of their standardised residual, the adaptive-resonance and context
components a novelty in ``[0, 1]``. Thresholds on raw evidence would have to
be tuned per series; instead each component's evidence goes through the
anomaly likelihood of Ahmad, Lavin, Purdy & Agha (2017, "Unsupervised
real-time anomaly detection for streaming data", Neurocomputing 262), the
normalisation Numenta's HTM detector uses on NAB:

* the mean of the point's evidence and that of the previous
  ``short_window - 1`` points (HTM averages the last 10 raw scores; points
  without evidence, such as those between two adaptive-resonance blocks,
  count as none) is compared with the running mean and variance of that
  mean over about ``history_window`` points (HTM: 8640, a month of 5-minute
  data);
* for novelty scores the mean is floored at 0.03 and the variance at 0.0003
  (HTM's ``estimateNormal`` lower bounds, so that the slightest blip after a
  long calm does not look like a catastrophe);
* the Gaussian tail probability ``p`` becomes the score ``-log10(p) / 10``
  in ``[0, 1]``: 0.5 is ``p = 1e-5``, HTM's "0.99999" red zone and our alert
  threshold.

The components' scores are then combined into one score on the same scale:
the two residual components are averaged into one family score (they are
two views of the same evidence, :func:`families`), and the family scores
are combined by :data:`aihub.anomaly.params.COMBINE_RULES`: the geometric
mean of the p-values (``mean``), the Bonferroni-corrected smallest p-value
(``max``, Bonferroni 1936; one strong witness suffices), or Fisher's method
(Fisher 1925, "Statistical Methods for Research Workers": ``-2 sum ln p``
against a chi-square with ``2F`` degrees of freedom; agreement of several
weak witnesses counts).

Alarms follow :mod:`aihub.anomaly.alarms`. An alarmed *incident* is kept out
of what the likelihood learns (see
:func:`aihub.anomaly._kernels.likelihood_alarm_loop`), so a few large
incidents do not make the detector deaf to the next one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import log_ndtr, ndtri

from aihub.anomaly.alarms import cooldown_in, cooldown_out, cooldown_seconds
from aihub.anomaly.params import COMBINE_RULES, DetectorParams

_LN10 = math.log(10.0)
SURPRISAL_CAP = 50.0
"""Largest surprisal (``p = 1e-50``)."""
RESIDUAL_SD_FLOOR = 1e-3
"""Smallest standard deviation of the averaged surprisal."""
NOVELTY_MEAN_FLOOR = 0.03
"""HTM's lower bound on the mean of raw anomaly scores (NuPIC ``anomaly_likelihood.estimateNormal``)."""
NOVELTY_VAR_FLOOR = 0.0003
"""HTM's lower bound on their variance (same source)."""

KINDS = ("residual", "novelty")
"""Evidence kinds: surprisal of a standardised residual, or a novelty score in ``[0, 1]``."""


def surprisal(z: np.ndarray) -> np.ndarray:
    """``-log10 P(|Z| >= |z|)`` for a standard normal Z (NaN stays NaN), capped at :data:`SURPRISAL_CAP`."""
    az = np.abs(z)
    with np.errstate(invalid="ignore"):
        s = -(log_ndtr(-az) + math.log(2.0)) / _LN10
    return np.minimum(s, SURPRISAL_CAP)


def score_from_logp(neg_log10_p: np.ndarray) -> np.ndarray:
    """Score ``-log10(p) / 10`` clipped to ``[0, 1]``."""
    return np.clip(neg_log10_p / 10.0, 0.0, 1.0)


def z_for_score(score: float) -> float:
    """Two-sided normal quantile whose tail probability has the given score (4.42 for 0.5)."""
    p = 10.0 ** (-10.0 * score)
    return float(-ndtri(p / 2.0))


def _settings(names: Sequence[str], kinds: Sequence[str], p: DetectorParams, band: float) -> np.ndarray:
    """Per component (rows): short window, mean floor, sd floor, warm-up, incident cap, hold flag, family."""
    edge = float(surprisal(np.array([band]))[0])
    rows = []
    for k in kinds:
        if k == "residual":
            rows.append([p.short_window, 0.0, RESIDUAL_SD_FLOOR, p.warmup, edge, 0.0])
        else:
            rows.append([p.short_window, NOVELTY_MEAN_FLOOR, math.sqrt(NOVELTY_VAR_FLOOR), p.warmup, math.inf, 0.0])
    cfg = np.array(rows, float).reshape(len(kinds), 6)
    return np.column_stack([cfg, families(names, kinds)])


def families(names: Sequence[str], kinds: Sequence[str]) -> np.ndarray:
    """Family index of each component: the residual components form one family, every other is its own.

    ``robust_seasonal`` and ``forecast_band`` judge the same thing - how far
    a value is from what was expected - so they are two views of one witness
    and their scores are averaged (as the previous ``auto`` did) before the
    families are combined; adaptive resonance and context novelty are
    separate witnesses.
    """
    keys = ["residual" if k == "residual" else n for n, k in zip(names, kinds)]
    order = list(dict.fromkeys(keys))
    return np.array([order.index(k) for k in keys], np.int64)


def _state_in(names: Sequence[str], likes: Mapping[str, Any], km1: int):
    C = len(names)
    buf = np.full((C, km1), np.nan)
    mom = np.zeros((C, 6))
    for c, name in enumerate(names):
        st = likes.get(name) or {}
        old = [np.nan if v is None else float(v) for v in (st.get("s") or [])][-km1:] if km1 else []
        if old:
            buf[c, km1 - len(old):] = old
        mm = st.get("moments") or {}
        n0 = int(mm.get("n", 0))
        mean, sq = mm.get("mean"), mm.get("sq")
        mom[c] = [n0, float(mm.get("sum", 0.0)), float(mm.get("sumsq", 0.0)),
                  np.nan if not n0 or mean is None else float(mean), np.nan if not n0 or sq is None else float(sq),
                  float(st.get("last") or 0.0)]
    return buf, mom


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _state_out(names: Sequence[str], likes: Mapping[str, Any], buf, mom) -> dict[str, Any]:
    out = dict(likes)
    for c, name in enumerate(names):
        n_c = int(mom[c, 0])
        out[name] = {
            "s": [_num(v) for v in buf[c]],
            "moments": {"n": n_c, "sum": float(mom[c, 1]), "sumsq": float(mom[c, 2]),
                        "mean": _num(mom[c, 3]) if n_c else None, "sq": _num(mom[c, 4]) if n_c else None},
            "last": float(mom[c, 5]),
        }
    return out


def likelihood_alarms(
    names: Sequence[str],
    kinds: Sequence[str],
    evidence: Sequence[np.ndarray],
    masks: Mapping[str, np.ndarray],
    pblock: np.ndarray,
    rule_thr: float,
    ts: np.ndarray,
    medgap: np.ndarray,
    likes: Mapping[str, Any],
    cooldown_state: Mapping[str, Any] | None,
    p: DetectorParams,
    H: int,
    alert: float,
    band: float,
):
    """Score, combine and alarm (see the module docstring).

    Parameters
    ----------
    names, kinds : sequence of str, length C
        Component names (state keys) and their evidence kinds (:data:`KINDS`).
    evidence : sequence of ndarray, each shape (n,)
        Raw evidence per component (NaN: none at the point).
    masks : dict of ndarray of bool, shape (n,)
        ``learn`` (the models learn from the point), ``clipped`` (an
        outlier of the robust model), ``force`` (the spatial rule) and
        ``quiet`` (probationary period).
    pblock, rule_thr
        Suppress-pattern matches and the raised threshold of feedback rules.
    ts, medgap : ndarray, shape (n,)
        Seconds and the sampling interval before each point.
    likes, cooldown_state : dict
        Stored likelihood states per component and the cooldown state.
    p : DetectorParams
        Resolved parameters (``short_window``, ``warmup``, ``cooldown``,
        ``combine``).
    H : int
        Likelihood memory in points.
    alert, band : float
        Alert threshold and the expected-range half-width (robust SDs).

    Returns
    -------
    raw, alarm, in_cooldown, blocked : ndarray, shape (n,)
    new_likes, new_cooldown : dict
    """
    from aihub.anomaly._kernels import likelihood_alarm_loop

    n, C = len(ts), len(names)
    km1 = int(p.short_window) - 1
    S = np.column_stack(evidence) if n else np.empty((0, C))
    buf, mom = _state_in(names, likes, km1)
    cd = cooldown_in(cooldown_state)
    M = np.vstack([np.asarray(masks[k], bool) for k in ("learn", "clipped", "force", "quiet")] + [pblock]) if n \
        else np.zeros((5, 0), bool)
    raw, alarm, in_cd, blocked = likelihood_alarm_loop(
        np.ascontiguousarray(S, float), _settings(names, kinds, p, band), COMBINE_RULES.index(p.combine),
        np.ascontiguousarray(M, bool), float(rule_thr), np.ascontiguousarray(ts, np.int64),
        cooldown_seconds(p.cooldown, medgap), float(alert), int(H), 0, buf, mom, cd,
    )
    return raw, alarm, in_cd, blocked, _state_out(names, likes, buf, mom), cooldown_out(cd)
