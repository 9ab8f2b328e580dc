"""Sequential inner loops of the detectors, compiled with numba.

Two stages cannot be vectorised, because what they learn from a point
depends on how the point was judged:

* :func:`robust_seasonal_loop`, the robust seasonal model, learns each value
  winsorised to its expected range (so an incident does not drag the level
  and seasonal profile or inflate the residual scale), gated by a twin that
  learns the raw values (so a lasting change is adopted);
* :func:`likelihood_alarm_loop`, the anomaly likelihood with the alarm rule,
  keeps an alarmed incident out of what the likelihood learns (so incidents
  do not make the detector deaf to the next one).

numba is pinned in requirements.txt (statsforecast needs it); without it the
same functions run as plain Python and give the same numbers, only much more
slowly (minutes instead of seconds for a million points).
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is pinned in requirements.txt (statsforecast needs it); stay optional
    from numba import njit as _njit

    def _jit(fn):
        return _njit(cache=True, nogil=True)(fn)

    def _inline(fn):
        """A helper of a hot loop, inlined into its caller at compile time."""
        return _njit(cache=True, nogil=True, inline="always")(fn)

except ImportError:  # pragma: no cover - exercised only without numba

    def _jit(fn):
        return fn

    _inline = _jit


_LN10 = math.log(10.0)
_SQRT2 = math.sqrt(2.0)


@_inline
def _score_of(zz: float) -> float:
    """``clip(-log10 P(Z >= zz) / 10, 0, 1)`` for a standard normal Z."""
    if not np.isfinite(zz):
        return 0.0
    if zz > 8.0:  # p < 1e-15: far beyond the top of the score scale
        return 1.0
    p = 0.5 * math.erfc(zz / _SQRT2)
    s = -math.log(p) / _LN10 / 10.0
    if s < 0.0:
        return 0.0
    if s > 1.0:
        return 1.0
    return s


@_inline
def _alarm_step(i, t, hit, blk, cd_sec, min_points, armed, until, cur_pos):
    """One point of the alarm rule; returns ``alarm, in_cooldown, armed, until, cur_pos``.

    A point alarms when its score reaches the threshold (``hit``), no rule
    blocks it, the cooldown (``until`` seconds and ``cur_pos`` points) is
    over and the detector is *armed*: the score has been below the threshold
    at some point since the last alarm, so one long episode raises one alarm.
    Points that would alarm but for these conditions are "in cooldown".
    """
    if hit and not blk and t >= until and i > cur_pos and armed:
        return True, False, False, t + cd_sec, i + min_points
    incd = t < until or i <= cur_pos or (hit and not blk and not armed)
    if not hit:
        armed = True
    return False, incd, armed, until, cur_pos


@_inline
def _window_sum(row, short):
    """Sum and count of the last ``short - 1`` finite values of a component's learned window ``row``."""
    km1 = row.shape[0]
    bs = 0.0
    bc = 0.0
    for j in range(km1 - (short - 1), km1):
        if np.isfinite(row[j]):
            bs += row[j]
            bc += 1.0
    return bs, bc


@_inline
def _tail_score(avg, mean, sq, mfloor, sfloor):
    """Score of an averaged value under the running Gaussian (mean floored at ``mfloor``, sd at ``sfloor``)."""
    var = sq - mean * mean
    sd = math.sqrt(var) if var > 0.0 else 0.0
    if not sd >= sfloor:  # also NaN
        sd = sfloor
    return _score_of((avg - max(mean, mfloor)) / sd)


@_inline
def _fisher(fam_scores):
    """Fisher's method on the family scores: ``-2 sum ln p`` against a chi-square with ``2F`` degrees of freedom."""
    x = fam_scores.sum() * 10.0 * _LN10  # -sum ln p = chi2 / 2
    term = 1.0
    tot = 1.0
    for j in range(1, fam_scores.shape[0]):
        term *= x / j
        tot += term
    return min(1.0, max(0.0, (x - math.log(tot)) / _LN10 / 10.0))


@_inline
def _combine(scores, family, rule, fam_scores, fam_n):
    """One score from the components' scores (``-log10 p / 10`` each).

    Components of the same ``family`` (two views of the same evidence) are
    averaged first; the ``F`` family scores are then combined by ``rule`` 0:
    mean (the geometric mean of the p-values); 1: max with a Bonferroni
    correction (``F * min p``); 2: Fisher's method (:func:`_fisher`).
    """
    F = fam_scores.shape[0]
    fam_scores[:] = 0.0
    for c in range(scores.shape[0]):
        fam_scores[family[c]] += scores[c] / fam_n[family[c]]
    if rule == 0 or F == 1:
        return fam_scores.sum() / F
    if rule == 1:
        return max(0.0, fam_scores.max() - math.log10(F) / 10.0)
    return _fisher(fam_scores)


@_inline
def _learn_moments(mom, c, a, H):
    """Add ``a`` to component ``c``'s running moments (expanding mean up to ``H`` samples, then weight 1/H)."""
    cnt = mom[c, 0] + 1.0
    if cnt <= H:
        mom[c, 1] += a
        mom[c, 2] += a * a
        mom[c, 3] = mom[c, 1] / cnt
        mom[c, 4] = mom[c, 2] / cnt
    else:
        al = 1.0 / H
        mom[c, 3] = (1.0 - al) * mom[c, 3] + al * a
        mom[c, 4] = (1.0 - al) * mom[c, 4] + al * a * a
    mom[c, 0] = cnt


@_inline
def _shift_in(row, v):
    """Drop the oldest value of a window and append ``v``."""
    km1 = row.shape[0]
    for j in range(km1 - 1):
        row[j] = row[j + 1]
    if km1 > 0:
        row[km1 - 1] = v


@_jit
def likelihood_alarm_loop(
    S,  # float64 (n, C): raw evidence of each component (surprisal or novelty; NaN: none at the point)
    cfg,  # float64 (C, 7): per component short window, mean floor, sd floor, warm-up, incident cap, hold, family
    rule,  # int: combination rule across families, see _combine
    masks,  # bool (5, n): learn, clipped (an outlier of the robust model), force (spatial rule),
    #         quiet (probationary period), pblock (a suppress-pattern feedback rule matches)
    rule_thr,  # float: largest raised threshold of matching threshold rules (-inf: none)
    ts,  # int64 (n): seconds
    cd_sec,  # float64 (n): cooldown duration after an alarm at the point
    alert,  # float: alert threshold
    H,  # int: likelihood memory (points)
    min_points,  # int: points after an alarm that are always inside the cooldown
    buf,  # float64 (C, k-1): learned evidence of the previous k-1 points (oldest first, NaN: none); updated
    mom,  # float64 (C, 6): n, sum, sumsq, mean, sq of the running moments, last score; updated
    cd,  # float64 (4): cooldown end (seconds, -inf: none), last point inside it (relative index), incident, armed; updated
):
    """Anomaly likelihood of each component, their combination, alarms and cooldown, and what the likelihood learns.

    Per component (Ahmad et al. 2017): the mean of the point's evidence and
    the previous ``short - 1`` learned values is compared with the running
    mean and variance of that mean; its Gaussian tail probability ``p``
    becomes the score ``-log10(p) / 10``. A point without evidence scores 0
    (or keeps the last score, for components that ``hold``) and enters the
    short window as "none" (held components skip it). The scores are
    combined by ``rule`` (:func:`_combine`).

    An *incident* starts at an alarm and lasts while the following points
    are outliers (``clipped``). Its points are scored as they are, but they
    stay out of the short window of later points (no echo of an alarm in the
    next scores) and enter the running moments with their evidence capped
    at ``cap``. So an incident does not widen the distribution the next
    incident is judged by, while incidents that keep recurring are still
    slowly absorbed. Outliers that raise no alarm are learned as they are:
    the likelihood keeps adapting to how noisy the series is.
    """
    n, C = S.shape
    raw = np.zeros(n)
    alarm = np.zeros(n, np.bool_)
    incd = np.zeros(n, np.bool_)
    blocked = np.zeros(n, np.bool_)
    until, cur_pos, incident, armed = cd[0], cd[1], cd[2] > 0.0, cd[3] > 0.0
    family = cfg[:, 6].astype(np.int64)
    fam_scores = np.zeros(family.max() + 1 if C else 1)
    fam_n = np.zeros(fam_scores.shape[0])
    for c in range(C):
        fam_n[family[c]] += 1.0
    scores = np.zeros(C)
    bsum = np.zeros(C)
    bcnt = np.zeros(C)
    for i in range(n):
        for c in range(C):
            bsum[c], bcnt[c] = _window_sum(buf[c], int(cfg[c, 0]))
            s = S[i, c]
            if np.isfinite(s) and mom[c, 0] >= cfg[c, 3]:
                mom[c, 5] = _tail_score((bsum[c] + s) / (bcnt[c] + 1.0), mom[c, 3], mom[c, 4], cfg[c, 1], cfg[c, 2])
            elif np.isfinite(s) or cfg[c, 5] == 0.0:
                mom[c, 5] = 0.0
            scores[c] = mom[c, 5]
        r = _combine(scores, family, rule, fam_scores, fam_n)
        r = alert if masks[2, i] and r < alert else r
        raw[i] = r = 0.0 if masks[3, i] else r
        hit = r >= alert
        blocked[i] = blk = hit and (masks[4, i] or r < rule_thr)
        alarm[i], incd[i], armed, until, cur_pos = _alarm_step(
            i, ts[i], hit, blk, cd_sec[i], min_points, armed, until, cur_pos)
        incident = alarm[i] or (incident and masks[1, i])
        for c in range(C):
            s = S[i, c]
            if not np.isfinite(s) and cfg[c, 5] != 0.0:
                continue
            if incident and s > cfg[c, 4]:
                s = cfg[c, 4]
            if masks[0, i] and np.isfinite(s):
                _learn_moments(mom, c, (bsum[c] + s) / (bcnt[c] + 1.0), H)
            _shift_in(buf[c], s if masks[0, i] and not incident else np.nan)
    cd[0] = until
    cd[1] = cur_pos - n
    cd[2] = 1.0 if incident else 0.0
    cd[3] = 1.0 if armed else 0.0
    return raw, alarm, incd, blocked


@_jit
def alarm_loop(ts, raw, alert, blocked, cd_sec, min_points, cd):
    """Alarms and cooldown only (see :func:`_alarm_step`); ``cd`` as in :func:`likelihood_alarm_loop`."""
    n = len(raw)
    alarm = np.zeros(n, np.bool_)
    incd = np.zeros(n, np.bool_)
    until = cd[0]
    cur_pos = cd[1]
    armed = cd[3] > 0.0
    for i in range(n):
        hit = raw[i] >= alert
        a_i, c_i, armed, until, cur_pos = _alarm_step(
            i, ts[i], hit, hit and blocked[i], cd_sec[i], min_points, armed, until, cur_pos
        )
        alarm[i] = a_i
        incd[i] = c_i
    cd[0] = until
    cd[1] = cur_pos - n
    cd[3] = 1.0 if armed else 0.0
    return alarm, incd


@_inline
def _sorted_insert(arr, n, v):
    """Insert ``v`` into the sorted prefix ``arr[:n]`` (returns the new length)."""
    j = np.searchsorted(arr[:n], v)
    for q in range(n, j, -1):
        arr[q] = arr[q - 1]
    arr[j] = v
    return n + 1


@_inline
def _sorted_remove(arr, n, v):
    """Remove one ``v`` from the sorted prefix ``arr[:n]`` (returns the new length)."""
    j = np.searchsorted(arr[:n], v)
    for q in range(j, n - 1):
        arr[q] = arr[q + 1]
    return n - 1


@_inline
def _median_sorted(arr, n):
    if n == 0:
        return np.nan
    h = n // 2
    if n % 2:
        return arr[h]
    return 0.5 * (arr[h - 1] + arr[h])


@_inline
def _nanmedian_small(a, tmp):
    """Median of the finite values of a short array (NaN if none), using ``tmp`` as scratch space."""
    m = 0
    for v in a:
        if np.isfinite(v):  # insertion sort into tmp[:m]
            j = m
            while j > 0 and tmp[j - 1] > v:
                tmp[j] = tmp[j - 1]
                j -= 1
            tmp[j] = v
            m += 1
    if m == 0:
        return np.nan
    h = m // 2
    if m % 2:
        return tmp[h]
    return 0.5 * (tmp[h - 1] + tmp[h])


@_inline
def _sorted_replace(arr, n, old, new):
    """Replace one ``old`` by ``new`` in the sorted prefix ``arr[:n]``, shifting only what lies between."""
    if new == old:
        return
    i = np.searchsorted(arr[:n], old)
    if new > old:
        j = np.searchsorted(arr[:n], new)  # insertion point; old sits at i < j
        for q in range(i, j - 1):
            arr[q] = arr[q + 1]
        arr[j - 1] = new
    else:
        j = np.searchsorted(arr[:n], new)  # j <= i
        for q in range(i, j, -1):
            arr[q] = arr[q - 1]
        arr[j] = new


@_inline
def _phase_value(ring_d, cnt, t_first, t, period, k, tmp):
    """Seasonal offset of one phase: median of its last ``k`` detrended values ``ring_d`` (NaN if stale or sparse)."""
    if cnt != k or (t - t_first) > (k + 0.5) * period:
        return np.nan
    nfin = 0
    for j in range(k):
        if np.isfinite(ring_d[j]):
            nfin += 1
    if nfin < (k + 1) // 2:
        return np.nan
    return _nanmedian_small(ring_d, tmp)


@_inline
def _scale_of(mad, mean_abs, mean_x):
    """Residual scale: the MAD, else the mean absolute deviation as a normal SD; at least 1e-4 of the mean |x|."""
    return max(mad if mad > 0.0 else 1.253314 * mean_abs, 1e-4 * mean_x + 1e-12)


@_inline
def _best_candidate(e, rsum, rcnt, ready, min_periods):
    """The candidate with the smallest mean absolute residual among those with enough residuals (-1: none)."""
    best, bm = np.inf, -1
    for m in range(e.shape[0]):
        if ready and np.isfinite(e[m]) and rcnt[m] >= min_periods and rsum[m] / rcnt[m] < best:
            best, bm = rsum[m] / rcnt[m], m
    return bm


@_jit
def _twin_scale(res_win, m, rsum, rcnt, xsum, xcnt, tmp):
    """The raw twin's scale for candidate ``m``, from its unsorted residual window (needed only at outliers)."""
    cnt = 0
    for j in range(res_win.shape[2]):
        v = res_win[1, m, j]
        if np.isfinite(v):
            tmp[cnt] = v
            cnt += 1
    srt = np.sort(tmp[:cnt])
    return _scale_of(_median_sorted(srt, cnt) * 1.4826, rsum[1, m] / rcnt[1, m], xsum[1] / xcnt[1])


@_jit
def _clean_outlier(i, xi, expected, scale, clean_z, slot, lev_buf, ring_t, ring_d, ring_n, res_win, best_m,
                   rsum, rcnt, xsum, xcnt, tmp):
    """The value the model learns for an outlier of its band: the edge of the raw twin's band, or the value
    itself when the twin accepts it (a lasting change), which the model then adopts."""
    lo = expected[0, i] - clean_z * scale[0, i]
    hi = expected[0, i] + clean_z * scale[0, i]
    if lev_buf.shape[0] > 1 and np.isfinite(expected[1, i]):
        scale[1, i] = _twin_scale(res_win, best_m[1], rsum, rcnt, xsum, xcnt, tmp)
        if abs(xi - expected[1, i]) <= clean_z * scale[1, i]:
            # the raw twin has adopted a change the model refused: the model adopts it too
            # (the twin's level window and this phase's seasonal values)
            lev_buf[0, :] = lev_buf[1, :]
            for q in range(slot.shape[0]):
                s = slot[q, i]
                ring_n[0, q, s] = ring_n[1, q, s]
                ring_t[0, q, s, :] = ring_t[1, q, s, :]
                ring_d[0, q, s, :] = ring_d[1, q, s, :]
            return xi
        lo = expected[1, i] - clean_z * scale[1, i]
        hi = expected[1, i] + clean_z * scale[1, i]
    return lo if xi < lo else hi


@_inline
def _push_ring(ring_t, ring_d, cnt, t, d):
    """Append (t, d) to a same-phase ring of ``cnt`` entries (the oldest drops out when full); returns the count."""
    k = ring_t.shape[0]
    if cnt == k:
        for j in range(k - 1):
            ring_t[j] = ring_t[j + 1]
            ring_d[j] = ring_d[j + 1]
        cnt = k - 1
    ring_t[cnt] = t
    ring_d[cnt] = d
    return cnt + 1


@_inline
def _update_sorted(srt, n_srt, old, r):
    """Replace ``old`` by ``r`` in a sorted window copy (either may be NaN: none); returns its length."""
    if np.isfinite(old) and np.isfinite(r):
        _sorted_replace(srt, n_srt, old, r)
    elif np.isfinite(old):
        n_srt = _sorted_remove(srt, n_srt, old)
    elif np.isfinite(r):
        n_srt = _sorted_insert(srt, n_srt, r)
    return n_srt


@_inline
def _sum_update(total, count, old, new):
    """Running sum and count of the finite values of a window after ``old`` leaves and ``new`` enters."""
    if np.isfinite(old):
        total -= old
        count -= 1.0
    if np.isfinite(new):
        total += new
        count += 1.0
    return total, count


@_jit
def robust_seasonal_loop(
    x,  # float64 (n): values to learn from (NaN: missing or not learnable)
    ts,  # int64 (n): seconds
    slot,  # int64 (P, n): phase slot of each point for each seasonal period
    periods,  # int64 (P): seasonal periods in seconds
    k,  # int: seasons in the seasonal median
    min_periods,  # int: residuals needed for a scale
    clean_z,  # float: half-width of the band, in scales, outside which a value is clipped (inf: off)
    clean_from,  # float: seconds; no clipping before (the model is still learning its seasonal profile)
    lev_buf,  # float64 (G, w): previous learned values, oldest first; updated
    ring_t,  # int64 (G, P, n_slots, k): previous same-phase timestamps, oldest first; updated
    ring_d,  # float64 (G, P, n_slots, k): previous same-phase detrended values; updated
    ring_n,  # int64 (G, P, n_slots): entries per ring; updated
    res_win,  # float64 (G, M, S): circular windows of absolute residuals per model (M = 1 + P); updated
    ax_win,  # float64 (G, S): circular windows of absolute learned values; updated
    win_pos,  # int64 (G): next write position of the circular windows; updated
    win_fill,  # int64 (G): values written so far, at most S; updated
    rsum,  # float64 (G, M): running sums of the finite residuals in each window; updated
    rcnt,  # float64 (G, M): their counts; updated
    xsum,  # float64 (G): running sum of the finite absolute values in the window; updated
    xcnt,  # float64 (G): their count; updated
):
    """Causal robust seasonal model that learns from cleaned values.

    Instance 0 is the model and learns cleaned values; instance 1 (when
    ``G == 2``) is the same model learning the raw values. A value outside
    the bands (``expected +- clean_z * scale``) of both instances is an
    outlier: instance 0 learns it as the edge of instance 1's band (its own
    band while instance 1 has none). A value inside instance 0's band is
    learned as it is. A value outside it but inside instance 1's band is a
    change the raw twin has already adopted (a level shift after about half
    a level window, a new weekly pattern after two of three weeks): it is
    learned as it is and instance 0 takes over the twin's level window and
    seasonal values of that phase, so the change becomes the new normal
    rather than an endless incident. No value is clipped before
    ``clean_from`` (the model is still learning its seasonal profile). See
    ``residual._robust_component``. Only the model's scale is returned for
    every point; the twin's is computed where the model sees an outlier.

    Expected value per instance: the candidate (robust level = median of
    the level window, or level plus a period's seasonal offset) with the
    smallest mean absolute residual; scale: the MAD of that candidate's
    residual window (mean absolute deviation when the MAD is 0), floored at
    ``1e-4`` of the mean absolute value.
    """
    n = len(x)
    G, P, M, S = res_win.shape[0], slot.shape[0], res_win.shape[1], res_win.shape[2]
    w = lev_buf.shape[1]
    expected = np.full((G, n), np.nan)
    scale = np.full((G, n), np.nan)
    cleaned = np.full(n, np.nan)
    # the running sums come with the state (not recomputed), so a streamed series repeats the batch
    # run's floating-point operations exactly; sorted copies of the model's residual windows give MADs
    srt = np.empty((M, S))
    srt_n = np.zeros(M, np.int64)
    for m in range(M):
        for j in range(S):
            srt_n[m] = _update_sorted(srt[m], srt_n[m], np.nan, res_win[0, m, j])
    e = np.empty((G, M))
    level = np.empty(G)
    best_m = np.zeros(G, np.int64)
    tmp = np.empty(max(w, k) + 1)
    tmp2 = np.empty(S)
    for i in range(n):
        for g in range(G):
            level[g] = _nanmedian_small(lev_buf[g], tmp)
            e[g, 0] = level[g]
            for q in range(P):
                s = slot[q, i]
                e[g, 1 + q] = level[g] + _phase_value(ring_d[g, q, s], ring_n[g, q, s], ring_t[g, q, s, 0], ts[i],
                                                      periods[q], k, tmp)
            best_m[g] = m = _best_candidate(e[g], rsum[g], rcnt[g], xcnt[g] >= min_periods, min_periods)
            expected[g, i] = e[g, m] if m >= 0 else np.nan
        if best_m[0] >= 0:
            m = best_m[0]
            scale[0, i] = _scale_of(_median_sorted(srt[m], srt_n[m]) * 1.4826, rsum[0, m] / rcnt[0, m],
                                    xsum[0] / xcnt[0])
        xi = x[i]
        lo = expected[0, i] - clean_z * scale[0, i]
        hi = expected[0, i] + clean_z * scale[0, i]
        if ts[i] >= clean_from and (xi < lo or xi > hi):
            xi = _clean_outlier(i, xi, expected, scale, clean_z, slot, lev_buf, ring_t, ring_d, ring_n,
                                res_win, best_m, rsum, rcnt, xsum, xcnt, tmp2)
        cleaned[i] = xi
        for g in range(G):
            xv = xi if g == 0 else x[i]
            for j in range(w - 1):
                lev_buf[g, j] = lev_buf[g, j + 1]
            lev_buf[g, w - 1] = xv
            for q in range(P):
                s = slot[q, i]
                ring_n[g, q, s] = _push_ring(ring_t[g, q, s], ring_d[g, q, s], ring_n[g, q, s], ts[i], xv - level[g])
            pos = win_pos[g]
            full = win_fill[g] == S
            for m in range(M):
                old = res_win[g, m, pos] if full else np.nan
                res_win[g, m, pos] = r = abs(xv - e[g, m])
                if g == 0:
                    srt_n[m] = _update_sorted(srt[m], srt_n[m], old, r)
                rsum[g, m], rcnt[g, m] = _sum_update(rsum[g, m], rcnt[g, m], old, r)
            xsum[g], xcnt[g] = _sum_update(xsum[g], xcnt[g], ax_win[g, pos] if full else np.nan, abs(xv))
            ax_win[g, pos] = abs(xv)
            win_pos[g] = (pos + 1) % S
            win_fill[g] = min(win_fill[g] + 1, S)
    return expected, scale, cleaned


@_jit
def fill_rings(slot, t, d, ring_t, ring_d, ring_n):
    """Push stored (t, d) entries of one period, in time order, into its per-phase rings."""
    k = ring_t.shape[1]
    for i in range(len(t)):
        s = slot[i]
        cnt = ring_n[s]
        if cnt == k:
            for j in range(k - 1):
                ring_t[s, j] = ring_t[s, j + 1]
                ring_d[s, j] = ring_d[s, j + 1]
            cnt = k - 1
        ring_t[s, cnt] = t[i]
        ring_d[s, cnt] = d[i]
        ring_n[s] = cnt + 1


@_jit
def seasonal_loop(ts, d, slot, period, k, ring_t, ring_d, ring_n):
    """Same-phase seasonal offsets for one period: the median of the last ``k`` values of each point's phase.

    ``ring_*`` (n_slots, k) hold each phase's last entries (oldest first) and
    are updated; NaN where the ``k``-th previous entry is older than ``(k +
    0.5)`` periods or fewer than half of the ``k`` values are known.
    """
    n = len(ts)
    out = np.full(n, np.nan)
    tmp = np.empty(k + 1)
    for i in range(n):
        s = slot[i]
        out[i] = _phase_value(ring_d[s], ring_n[s], ring_t[s, 0], ts[i], period, k, tmp)
        ring_n[s] = _push_ring(ring_t[s], ring_d[s], ring_n[s], ts[i], d[i])
    return out
