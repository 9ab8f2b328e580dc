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

except ImportError:  # pragma: no cover - exercised only without numba

    def _jit(fn):
        return fn


_LN10 = math.log(10.0)
_SQRT2 = math.sqrt(2.0)


@_jit
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


@_jit
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


@_jit
def likelihood_alarm_loop(
    S,  # float64 (n, C): surprisal of each point under each component (NaN: unknown)
    learn,  # bool (n): the models learn from the point (False on known recurring patterns)
    clipped,  # bool (n): the robust model learned the point as the edge of its band (an outlier)
    force,  # bool (n): "spatial" rule raises the score to the alert threshold
    quiet,  # bool (n): the seasonal warm-up: score 0 (the likelihood learns all the same)
    pblock,  # bool (n): a suppress-pattern feedback rule matches the point
    rule_thr,  # float: largest raised threshold of matching threshold rules (-inf: none)
    ts,  # int64 (n): seconds
    cd_sec,  # float64 (n): cooldown duration after an alarm at the point
    alert,  # float: alert threshold
    warmup,  # int: likelihood samples needed before scoring
    H,  # int: likelihood memory (points)
    min_points,  # int: points after an alarm that are always inside the cooldown
    floor,  # float: smallest standard deviation of the averaged surprisal
    incident_cap,  # float: surprisal an incident point is learned with at most
    buf,  # float64 (C, k-1): learned surprisals of the previous k-1 points (oldest first, NaN: none); updated
    mom,  # float64 (C, 5): n, sum, sumsq, mean, sq of the running moments; updated
    cd,  # float64 (4): cooldown end (seconds, -inf: none), last point inside it (relative index), incident, armed; updated
):
    """Anomaly likelihood of each point, alarms and cooldown, and what the likelihood learns.

    An *incident* starts at an alarm and lasts while the following points
    are outliers (``clipped``: the robust model learned them as the edge of
    its expected range). Its points are scored as they are, but they stay
    out of the short window of later points (no echo of an alarm in the
    next scores) and enter the running moments with their surprisal capped
    at ``incident_cap``, the surprisal of a point at the edge of the expected
    range. So an incident does not widen the distribution the next incident
    is judged by, while incidents that keep recurring are still slowly
    absorbed. Outliers that raise no alarm are learned as they are: the
    likelihood keeps adapting to how noisy the series is (the habituation
    of Ahmad et al.).
    """
    n, C = S.shape
    km1 = buf.shape[1]
    raw = np.zeros(n)
    alarm = np.zeros(n, np.bool_)
    incd = np.zeros(n, np.bool_)
    blocked = np.zeros(n, np.bool_)
    until = cd[0]
    cur_pos = cd[1]
    incident = cd[2] > 0.0
    armed = cd[3] > 0.0
    bsum = np.zeros(C)
    bcnt = np.zeros(C)
    for i in range(n):
        # likelihood of each component, from the moments before the point
        tot = 0.0
        for c in range(C):
            bs = 0.0
            bc = 0.0
            for j in range(km1):
                v = buf[c, j]
                if np.isfinite(v):
                    bs += v
                    bc += 1.0
            bsum[c] = bs
            bcnt[c] = bc
            s = S[i, c]
            if np.isfinite(s) and mom[c, 0] >= warmup:
                avg = (bs + s) / (bc + 1.0)
                m = mom[c, 3]
                var = mom[c, 4] - m * m
                sd = math.sqrt(var) if var > 0.0 else 0.0
                if not np.isfinite(sd) or sd < floor:
                    sd = floor
                tot += _score_of((avg - m) / sd)
        r = tot / C
        if force[i] and r < alert:
            r = alert
        if quiet[i]:
            r = 0.0
        raw[i] = r
        # alarm and cooldown
        hit = r >= alert
        blk = hit and (pblock[i] or r < rule_thr)
        blocked[i] = blk
        a_i, c_i, armed, until, cur_pos = _alarm_step(i, ts[i], hit, blk, cd_sec[i], min_points, armed, until, cur_pos)
        alarm[i] = a_i
        incd[i] = c_i
        # incidents are not learned
        if alarm[i]:
            incident = True
        elif incident and not clipped[i]:
            incident = False
        for c in range(C):
            s = S[i, c]
            if incident and s > incident_cap:
                s = incident_cap
            if learn[i] and np.isfinite(s):
                a = (bsum[c] + s) / (bcnt[c] + 1.0)
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
            if km1 > 0:
                for j in range(km1 - 1):
                    buf[c, j] = buf[c, j + 1]
                buf[c, km1 - 1] = s if learn[i] and not incident else np.nan
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


@_jit
def _sorted_insert(arr, n, v):
    """Insert ``v`` into the sorted prefix ``arr[:n]`` (returns the new length)."""
    j = np.searchsorted(arr[:n], v)
    for q in range(n, j, -1):
        arr[q] = arr[q - 1]
    arr[j] = v
    return n + 1


@_jit
def _sorted_remove(arr, n, v):
    """Remove one ``v`` from the sorted prefix ``arr[:n]`` (returns the new length)."""
    j = np.searchsorted(arr[:n], v)
    for q in range(j, n - 1):
        arr[q] = arr[q + 1]
    return n - 1


@_jit
def _median_sorted(arr, n):
    if n == 0:
        return np.nan
    h = n // 2
    if n % 2:
        return arr[h]
    return 0.5 * (arr[h - 1] + arr[h])


@_jit
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


@_jit
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
    ``detectors._robust_component``.
    """
    n = len(x)
    G, P = ring_n.shape[0], ring_n.shape[1]
    M = 1 + P
    S = res_win.shape[2]
    w = lev_buf.shape[1]
    half = (k + 1) // 2
    expected = np.full((G, n), np.nan)
    scale = np.full((G, n), np.nan)
    cleaned = np.full(n, np.nan)
    # the running sums come with the state (not recomputed), so a streamed
    # series repeats the batch run's floating-point operations exactly
    srt = np.empty((G, M, S))
    srt_n = np.zeros((G, M), np.int64)
    for g in range(G):
        for m in range(M):
            for j in range(S):
                v = res_win[g, m, j]
                if np.isfinite(v):
                    srt_n[g, m] = _sorted_insert(srt[g, m], srt_n[g, m], v)
    e = np.empty((G, M))
    level = np.empty(G)
    tmp = np.empty(max(w, k) + 1)
    for i in range(n):
        for g in range(G):
            lv = _nanmedian_small(lev_buf[g], tmp)
            level[g] = lv
            e[g, 0] = lv
            for q in range(P):
                e[g, 1 + q] = np.nan
                s = slot[q, i]
                if ring_n[g, q, s] == k and (ts[i] - ring_t[g, q, s, 0]) <= (k + 0.5) * periods[q]:
                    nfin = 0
                    for j in range(k):
                        if np.isfinite(ring_d[g, q, s, j]):
                            nfin += 1
                    if nfin >= half:
                        e[g, 1 + q] = lv + _nanmedian_small(ring_d[g, q, s], tmp)
            floor = np.nan
            if xcnt[g] >= min_periods:
                floor = 1e-4 * (xsum[g] / xcnt[g]) + 1e-12
            best = np.inf
            for m in range(M):
                if not np.isfinite(e[g, m]) or rcnt[g, m] < min_periods or not np.isfinite(floor):
                    continue
                mad = _median_sorted(srt[g, m], srt_n[g, m]) * 1.4826
                mean = rsum[g, m] / rcnt[g, m]
                sc = mad if mad > 0.0 else 1.253314 * mean
                sc = max(sc, floor)
                if np.isfinite(sc) and np.isfinite(mean) and mean < best:
                    best = mean
                    expected[g, i] = e[g, m]
                    scale[g, i] = sc
        # the value learned from: clipped to the expected band unless the raw model accepts it
        xi = x[i]
        if np.isfinite(xi) and np.isfinite(expected[0, i]) and ts[i] >= clean_from:
            lo = expected[0, i] - clean_z * scale[0, i]
            hi = expected[0, i] + clean_z * scale[0, i]
            if xi < lo or xi > hi:
                accepted = False
                if G > 1 and np.isfinite(expected[1, i]):
                    accepted = abs(xi - expected[1, i]) <= clean_z * scale[1, i]
                if not accepted:
                    if G > 1 and np.isfinite(expected[1, i]):
                        lo = expected[1, i] - clean_z * scale[1, i]
                        hi = expected[1, i] + clean_z * scale[1, i]
                    xi = lo if xi < lo else hi
                else:
                    # the raw twin has adopted a change the model refused: the model adopts
                    # it too (the twin's level window and this phase's seasonal values)
                    for j in range(w):
                        lev_buf[0, j] = lev_buf[1, j]
                    for q in range(P):
                        s = slot[q, i]
                        ring_n[0, q, s] = ring_n[1, q, s]
                        for j in range(k):
                            ring_t[0, q, s, j] = ring_t[1, q, s, j]
                            ring_d[0, q, s, j] = ring_d[1, q, s, j]
        cleaned[i] = xi
        for g in range(G):
            xv = xi if g == 0 else x[i]
            for j in range(w - 1):
                lev_buf[g, j] = lev_buf[g, j + 1]
            if w > 0:
                lev_buf[g, w - 1] = xv
            d = xv - level[g]
            for q in range(P):
                s = slot[q, i]
                cnt = ring_n[g, q, s]
                if cnt == k:
                    for j in range(k - 1):
                        ring_t[g, q, s, j] = ring_t[g, q, s, j + 1]
                        ring_d[g, q, s, j] = ring_d[g, q, s, j + 1]
                    cnt = k - 1
                ring_t[g, q, s, cnt] = ts[i]
                ring_d[g, q, s, cnt] = d
                ring_n[g, q, s] = cnt + 1
            pos = win_pos[g]
            full = win_fill[g] == S
            for m in range(M):
                old = res_win[g, m, pos] if full else np.nan
                r = abs(xv - e[g, m])
                res_win[g, m, pos] = r
                if np.isfinite(old) and np.isfinite(r):
                    _sorted_replace(srt[g, m], srt_n[g, m], old, r)
                elif np.isfinite(old):
                    srt_n[g, m] = _sorted_remove(srt[g, m], srt_n[g, m], old)
                elif np.isfinite(r):
                    srt_n[g, m] = _sorted_insert(srt[g, m], srt_n[g, m], r)
                if np.isfinite(old):
                    rsum[g, m] -= old
                    rcnt[g, m] -= 1.0
                if np.isfinite(r):
                    rsum[g, m] += r
                    rcnt[g, m] += 1.0
            if full:
                old = ax_win[g, pos]
                if np.isfinite(old):
                    xsum[g] -= old
                    xcnt[g] -= 1.0
            ax = abs(xv)
            ax_win[g, pos] = ax
            if np.isfinite(ax):
                xsum[g] += ax
                xcnt[g] += 1.0
            win_pos[g] = (pos + 1) % S
            if not full:
                win_fill[g] += 1
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
