"""Learning from analyst feedback: explicit, inspectable, undoable rules.

Analysts mark reported anomalies as false positives (with a reason such as
"promotion") or confirm them. :func:`learn_from_feedback` turns that history
into :class:`FeedbackRule` objects of two kinds:

``suppress_pattern``
    The false positives of one metric and slice recur at the same weekday,
    day of month or hour of day (a weekly promotion, a monthly payroll run, a
    nightly batch job). Later would-be alarms of that metric and slice that
    fall on the same recurrence, and move in the same direction, are not
    reported.
``raise_threshold``
    Other false positives raise the alert threshold of that metric and slice
    just above the highest score an analyst rejected (never above the lowest
    score an analyst confirmed).

Rules are plain data (``to_dict``/``from_dict``, JSON-serialisable) with a
stable ``rule_id`` derived from what they match, a human ``description`` and
an ``active`` flag: the monitor page lists them and the analyst can undo one
by setting ``active`` to false; :func:`learn_from_feedback` keeps that choice
when it relearns. :func:`apply_rules` (or ``rules=`` of
:func:`aihub.anomaly.detectors.update`) applies them *before* the alarm
cooldown, so a suppressed alarm does not hide a real anomaly right after it;
suppressed points carry the rule id in ``suppressed_by``.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from aihub.anomaly.alarms import GAP_WINDOW as _GAP_WINDOW
from aihub.anomaly.alarms import alarm_rule as _alarms
from aihub.anomaly.alarms import lagged_rolling as _lagged_rolling
from aihub.anomaly.alarms import to_seconds as _to_seconds
from aihub.anomaly.params import DetectorParams
from aihub.anomaly.severity import NO_SEVERITY, SeverityThresholds, severity_of
from aihub.errors import ValidationError

LABELS: tuple[str, ...] = ("false_positive", "true_positive")
"""Feedback labels: rejected / confirmed anomaly."""

RULE_KINDS: tuple[str, ...] = ("suppress_pattern", "raise_threshold")
RECURRENCE_UNITS: tuple[str, ...] = ("weekday", "day_of_month", "hour")
DIRECTIONS: tuple[str, ...] = ("up", "down", "any")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _bad(msg: str, fld: str, value: Any = None, allowed: Any = None) -> ValidationError:
    details: dict[str, Any] = {}
    if value is not None:
        details["value"] = repr(value)
    if allowed is not None:
        details["allowed"] = list(allowed)
    return ValidationError(msg, field=fld, details=details)


@dataclass(frozen=True)
class FeedbackEvent:
    """An analyst's verdict on one reported anomaly.

    Parameters
    ----------
    timestamp : datetime-like
        Period of the anomaly.
    label : {"false_positive", "true_positive"}
    reason : str, default ""
        Free text or a code such as "promotion", "holiday", "data_issue".
    metric, dimension, slice : str, optional
        The series the anomaly belongs to (None matches any).
    anomaly_score : float, optional
        The anomaly's score (0 to 1); needed for threshold rules.
    value, expected : float, optional
        Actual and expected value; give the direction of the deviation.
    event_id : str, optional
        Stable id (for example the database id of the feedback row).
    user : str, optional
    """

    timestamp: Any
    label: str
    reason: str = ""
    metric: str | None = None
    dimension: str | None = None
    slice: str | None = None
    anomaly_score: float | None = None
    value: float | None = None
    expected: float | None = None
    event_id: str | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise _bad(f"Unknown feedback label {self.label!r}; allowed: {list(LABELS)}.", "label", self.label, LABELS)
        try:
            ts = pd.Timestamp(self.timestamp)
        except (ValueError, TypeError):
            ts = pd.NaT
        if ts is pd.NaT or pd.isna(ts):
            raise _bad(f"Feedback timestamp {self.timestamp!r} is not a date.", "timestamp", self.timestamp)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        object.__setattr__(self, "timestamp", ts)
        s = self.anomaly_score
        if s is not None:
            if isinstance(s, bool) or not isinstance(s, (int, float, np.floating)) or not 0 <= float(s) <= 1:
                raise _bad(f"anomaly_score must be a number in [0, 1]; got {s!r}.", "anomaly_score", s)
            object.__setattr__(self, "anomaly_score", float(s))
        if not isinstance(self.reason, str):
            raise _bad(f"reason must be text; got {self.reason!r}.", "reason", self.reason)

    @property
    def deviation(self) -> float | None:
        """``value - expected`` if both are known."""
        if self.value is None or self.expected is None:
            return None
        d = float(self.value) - float(self.expected)
        return d if np.isfinite(d) else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timestamp"] = self.timestamp.isoformat()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedbackEvent:
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise _bad(f"Unknown feedback key(s) {unknown}; allowed: {allowed}.", unknown[0], allowed=allowed)
        return cls(**dict(data))


@dataclass
class FeedbackRule:
    """A rule learned from feedback that changes what a monitor reports.

    Attributes
    ----------
    rule_id : str
        Stable id: the same pattern for the same series gets the same id.
    kind : {"suppress_pattern", "raise_threshold"}
    metric, dimension, slice : str or None
        Series the rule applies to (None = any).
    recurrence : dict or None
        ``suppress_pattern`` only: ``{"unit": "weekday"|"day_of_month"|"hour",
        "value": int, "label": "Friday"}`` (weekday 0 = Monday).
    direction : {"up", "down", "any"}
        ``suppress_pattern`` only: which deviations it suppresses.
    threshold : float or None
        ``raise_threshold`` only: the new alert threshold (0 to 1).
    reason : str
        Reasons analysts gave, joined.
    source_events : list of str
        Ids (or ISO timestamps) of the feedback events behind the rule.
    description : str
        One sentence for the monitor page.
    active : bool
        False when an analyst has undone the rule.
    """

    rule_id: str
    kind: str
    metric: str | None = None
    dimension: str | None = None
    slice: str | None = None
    recurrence: dict[str, Any] | None = None
    direction: str = "any"
    threshold: float | None = None
    reason: str = ""
    source_events: list[str] = field(default_factory=list)
    description: str = ""
    active: bool = True

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise _bad(f"Unknown rule kind {self.kind!r}; allowed: {list(RULE_KINDS)}.", "kind", self.kind, RULE_KINDS)
        if self.direction not in DIRECTIONS:
            raise _bad(
                f"Unknown rule direction {self.direction!r}; allowed: {list(DIRECTIONS)}.",
                "direction",
                self.direction,
                DIRECTIONS,
            )
        if self.kind == "suppress_pattern":
            r = self.recurrence
            if not isinstance(r, Mapping) or r.get("unit") not in RECURRENCE_UNITS or not isinstance(r.get("value"), (int, np.integer)):
                raise _bad(
                    f"A suppress_pattern rule needs recurrence {{'unit': one of {list(RECURRENCE_UNITS)}, 'value': int}}; got {r!r}.",
                    "recurrence",
                    r,
                )
            self.recurrence = {"unit": r["unit"], "value": int(r["value"]), "label": r.get("label") or _recurrence_label(r["unit"], int(r["value"]))}
        else:
            t = self.threshold
            if isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) or not 0 < float(t) < 1:
                raise _bad(f"A raise_threshold rule needs a threshold in (0, 1); got {t!r}.", "threshold", t)
            self.threshold = float(t)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (all fields)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedbackRule:
        """Inverse of :meth:`to_dict`; unknown keys are rejected."""
        if isinstance(data, FeedbackRule):
            return data
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise _bad(f"Unknown rule key(s) {unknown}; allowed: {allowed}.", unknown[0], allowed=allowed)
        return cls(**dict(data))

    def applies_to(self, context: Mapping[str, Any]) -> bool:
        """Whether the rule covers the series described by ``context``."""
        for k in ("metric", "dimension", "slice"):
            want = getattr(self, k)
            if want is not None and str(context.get(k)) != str(want):
                return False
        return True


def _recurrence_label(unit: str, value: int) -> str:
    if unit == "weekday":
        return _WEEKDAYS[value % 7]
    if unit == "day_of_month":
        return f"day {value} of the month"
    return f"{value:02d}:00"


def _recurrence_values(ts: pd.DatetimeIndex, unit: str) -> np.ndarray:
    if unit == "weekday":
        return ts.dayofweek.to_numpy()
    if unit == "day_of_month":
        return ts.day.to_numpy()
    return ts.hour.to_numpy()


def _rule_id(*parts: Any) -> str:
    h = hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return "fr_" + h[:12]


def _series_text(metric: str | None, dimension: str | None, slice_: str | None) -> str:
    m = metric or "any metric"
    if dimension in (None, "total") and slice_ in (None, "total"):
        return f"{m} (total)" if dimension == "total" else m
    return f"{m} ({dimension}={slice_})"


def learn_from_feedback(
    feedback_events: Iterable[FeedbackEvent | Mapping[str, Any]],
    existing_rules: Iterable[FeedbackRule | Mapping[str, Any]] | None = None,
    *,
    min_occurrences: int = 2,
    alert_threshold: float = SeverityThresholds().low,
    margin: float = 0.02,
) -> list[FeedbackRule]:
    """Learn suppression and threshold rules from analyst feedback.

    Parameters
    ----------
    feedback_events : iterable of FeedbackEvent or dict
        All feedback of one monitor (false and true positives).
    existing_rules : iterable of FeedbackRule or dict, optional
        Rules learned before; a relearned rule with the same ``rule_id`` keeps
        their ``active`` flag (an undone rule stays undone).
    min_occurrences : int, default 2
        False positives on distinct days sharing a recurrence needed for a
        ``suppress_pattern`` rule.
    alert_threshold : float, default 0.5
        The monitor's alert threshold (``low`` severity).
    margin : float, default 0.02
        How far above the highest rejected score a raised threshold goes.

    Returns
    -------
    list of FeedbackRule
        Sorted by series and kind. Per series (metric, dimension, slice): a
        ``suppress_pattern`` rule for the recurrence (weekday, day of month,
        or hour when timestamps are intraday) shared by the most false
        positives, if at least ``min_occurrences`` share it and no confirmed
        anomaly of the series falls on it in the same direction; a
        ``raise_threshold`` rule for the remaining false positives with a
        score, if the threshold can be raised without dropping a confirmed
        anomaly.

    Raises
    ------
    aihub.errors.ValidationError
        For malformed events or parameters.
    """
    if isinstance(min_occurrences, bool) or not isinstance(min_occurrences, int) or min_occurrences < 1:
        raise _bad(f"min_occurrences must be an integer >= 1; got {min_occurrences!r}.", "min_occurrences", min_occurrences)
    if not 0 < alert_threshold < 1:
        raise _bad(f"alert_threshold must be in (0, 1); got {alert_threshold!r}.", "alert_threshold", alert_threshold)
    events = [e if isinstance(e, FeedbackEvent) else FeedbackEvent.from_dict(e) for e in feedback_events]
    previous = {r.rule_id: r for r in (FeedbackRule.from_dict(x) for x in (existing_rules or []))}
    groups: dict[tuple, dict[str, list[FeedbackEvent]]] = defaultdict(lambda: {"fp": [], "tp": []})
    for e in events:
        key = (e.metric, e.dimension, e.slice)
        groups[key]["fp" if e.label == "false_positive" else "tp"].append(e)
    rules: list[FeedbackRule] = []
    for (metric, dim, sl), g in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        fps, tps = g["fp"], g["tp"]
        if not fps:
            continue
        remaining = list(fps)
        pattern = _find_pattern(fps, tps, min_occurrences)
        if pattern is not None:
            unit, value, direction, covered = pattern
            rid = _rule_id("suppress_pattern", metric, dim, sl, unit, value, direction)
            reasons = sorted({e.reason for e in covered if e.reason})
            label = _recurrence_label(unit, value)
            dir_text = {"up": "upward ", "down": "downward ", "any": ""}[direction]
            when = f"on {label}s" if unit == "weekday" else f"on {label}" if unit == "day_of_month" else f"at {label}"
            rules.append(
                FeedbackRule(
                    rule_id=rid,
                    kind="suppress_pattern",
                    metric=metric,
                    dimension=dim,
                    slice=sl,
                    recurrence={"unit": unit, "value": value, "label": label},
                    direction=direction,
                    reason=", ".join(reasons),
                    source_events=[e.event_id or e.timestamp.isoformat() for e in covered],
                    description=(
                        f"Do not report {dir_text}anomalies of {_series_text(metric, dim, sl)} {when}: "
                        f"{len(covered)} such anomalies were marked false positives"
                        + (f" (reason: {', '.join(reasons)})." if reasons else ".")
                    ),
                )
            )
            covered_ids = {id(e) for e in covered}
            remaining = [e for e in fps if id(e) not in covered_ids]
        scored = [e for e in remaining if e.anomaly_score is not None]
        if scored:
            new_thr = min(max(e.anomaly_score for e in scored) + margin, 0.99)
            tp_scores = [e.anomaly_score for e in tps if e.anomaly_score is not None]
            if tp_scores:
                new_thr = min(new_thr, min(tp_scores) - 1e-6)
            if new_thr > max(alert_threshold, max(e.anomaly_score for e in scored)):
                reasons = sorted({e.reason for e in scored if e.reason})
                rid = _rule_id("raise_threshold", metric, dim, sl)
                rules.append(
                    FeedbackRule(
                        rule_id=rid,
                        kind="raise_threshold",
                        metric=metric,
                        dimension=dim,
                        slice=sl,
                        threshold=round(float(new_thr), 6),
                        reason=", ".join(reasons),
                        source_events=[e.event_id or e.timestamp.isoformat() for e in scored],
                        description=(
                            f"Alert on {_series_text(metric, dim, sl)} only from score {new_thr:.2f} "
                            f"(was {alert_threshold:.2f}): {len(scored)} anomal{'y was' if len(scored) == 1 else 'ies were'} "
                            f"marked false positive"
                            + (f" (reason: {', '.join(reasons)})." if reasons else ".")
                        ),
                    )
                )
    for r in rules:
        if r.rule_id in previous:
            r.active = previous[r.rule_id].active
    return rules


def _direction(events: Sequence[FeedbackEvent]) -> str:
    devs = [e.deviation for e in events]
    if devs and all(d is not None and d > 0 for d in devs):
        return "up"
    if devs and all(d is not None and d < 0 for d in devs):
        return "down"
    return "any"


def _find_pattern(fps: list[FeedbackEvent], tps: list[FeedbackEvent], k: int):
    """Recurrence shared by the most false positives on distinct days, or None.

    Candidates are (unit, value) pairs with at least ``k`` distinct days; the
    one covering most days wins (ties: weekday, then day of month, then
    hour). If a confirmed anomaly falls on the winner in the same direction,
    no rule is made (rather than settling for a weaker pattern that may be a
    coincidence).
    """
    ts = pd.DatetimeIndex([e.timestamp for e in fps])
    units = ["weekday", "day_of_month"]
    all_ts = pd.DatetimeIndex([e.timestamp for e in fps + tps])
    if (all_ts.hour != 0).any() or (all_ts.minute != 0).any():
        units.append("hour")
    cands = []
    for rank, unit in enumerate(units):
        vals = _recurrence_values(ts, unit)
        days = defaultdict(set)
        for v, t in zip(vals, ts):
            days[int(v)].add(t.normalize())
        for value, ds in days.items():
            if len(ds) >= k:
                cands.append((len(ds), -rank, -value, unit, value, vals))
    if not cands:
        return None
    _count, _, _, unit, value, vals = max(cands)
    covered = [e for e, v in zip(fps, vals) if int(v) == value]
    direction = _direction(covered)
    for t in tps:
        tv = int(_recurrence_values(pd.DatetimeIndex([t.timestamp]), unit)[0])
        d = t.deviation
        same_dir = direction == "any" or d is None or (d > 0) == (direction == "up")
        if tv == value and same_dir:
            return None
    return unit, value, direction, covered


def _as_rules(rules: Iterable[Any]) -> list[FeedbackRule]:
    return [FeedbackRule.from_dict(r) for r in rules]


def rule_effects(
    rules: Iterable[FeedbackRule | Mapping[str, Any]],
    ts_seconds: np.ndarray,
    deviation: np.ndarray,
    raw_score: np.ndarray,
    context: Mapping[str, Any],
) -> np.ndarray:
    """Which rule (if any) blocks each point of one series from alarming.

    Parameters
    ----------
    rules : iterable of FeedbackRule or dict
    ts_seconds : numpy.ndarray of int64, shape (n,)
        Timestamps as seconds since 1970-01-01.
    deviation : numpy.ndarray, shape (n,)
        ``value - expected`` (NaN when unknown).
    raw_score : numpy.ndarray, shape (n,)
        Scores before suppression, 0 to 1.
    context : dict
        ``metric``, ``dimension``, ``slice`` of the series.

    Returns
    -------
    numpy.ndarray of object, shape (n,)
        The id of the first active matching rule, else None.
    """
    n = len(ts_seconds)
    out = np.full(n, None, dtype=object)
    if n == 0:
        return out
    idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(ts_seconds, dtype=np.int64), unit="s"))
    dev = np.asarray(deviation, dtype=float)
    raw = np.asarray(raw_score, dtype=float)
    for r in _as_rules(rules):
        if not r.active or not r.applies_to(context):
            continue
        if r.kind == "suppress_pattern":
            hit = _recurrence_values(idx, r.recurrence["unit"]) == r.recurrence["value"]
            if r.direction == "up":
                hit &= ~(dev < 0)
            elif r.direction == "down":
                hit &= ~(dev > 0)
        else:
            hit = raw < r.threshold
        free = np.array([o is None for o in out], dtype=bool)
        out[hit & free] = r.rule_id
    return out


def threshold_floor(rules: Iterable[FeedbackRule | Mapping[str, Any]], context: Mapping[str, Any]) -> float:
    """The highest threshold of the active ``raise_threshold`` rules that match ``context``.

    A would-be alarm whose raw score is below it is blocked (the boolean
    form of the threshold part of :func:`rule_effects`); ``-inf`` when no
    such rule applies.
    """
    out = -np.inf
    for r in _as_rules(rules):
        if r.active and r.kind != "suppress_pattern" and r.applies_to(context) and r.threshold is not None:
            out = max(out, float(r.threshold))
    return out


_GRANULARITY = {"weekday": 86_400, "day_of_month": 86_400, "hour": 3_600}


def pattern_mask(
    rules: Iterable[FeedbackRule | Mapping[str, Any]],
    ts_seconds: np.ndarray,
    context: Mapping[str, Any],
    spacing: np.ndarray | None = None,
) -> np.ndarray:
    """Points the detector should not learn from because a known pattern explains them.

    A point is masked when it falls on the recurrence of an active
    ``suppress_pattern`` rule and the series is sampled at least as coarsely
    as the recurrence (daily or coarser for weekday / day-of-month rules,
    hourly or coarser for hour rules): then the pattern is one observation per
    occurrence, and skipping it keeps the detector from getting used to the
    pattern or inflating its noise estimate. In finer data the pattern spans
    many observations the models need to follow the shape of the day, so
    those are only suppressed, not masked.

    Parameters
    ----------
    rules : iterable of FeedbackRule or dict
    ts_seconds : numpy.ndarray of int64, shape (n,)
    context : dict
        ``metric``, ``dimension``, ``slice`` of the series.
    spacing : numpy.ndarray, shape (n,), optional
        Typical sampling interval in seconds at each point (NaN = unknown,
        treated as coarse).

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    n = len(ts_seconds)
    mask = np.zeros(n, bool)
    if n == 0:
        return mask
    idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(ts_seconds, dtype=np.int64), unit="s"))
    sp = np.full(n, np.inf) if spacing is None else np.nan_to_num(np.asarray(spacing, float), nan=np.inf)
    for r in _as_rules(rules):
        if r.active and r.kind == "suppress_pattern" and r.applies_to(context):
            unit = r.recurrence["unit"]
            coarse = sp >= 0.99 * _GRANULARITY[unit]
            mask |= (_recurrence_values(idx, unit) == r.recurrence["value"]) & coarse
    return mask


def apply_rules(
    scored_points: pd.DataFrame,
    rules: Iterable[FeedbackRule | Mapping[str, Any]],
    *,
    context: Mapping[str, Any] | None = None,
    params: Any = None,
    thresholds: SeverityThresholds | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Re-derive alarms of already scored points under feedback rules.

    The alarm step (alert threshold, rules, cooldown) is rerun on
    ``raw_score``; the detector itself is not rerun. A suppressed point also
    suppresses the run of high scores right after it (up to ``short_window``
    points), which is the echo of its surprisal in the likelihood. This is an
    approximation for reviewing past results: passing ``rules=`` to
    :func:`aihub.anomaly.detectors.update` or
    :func:`aihub.anomaly.metrics.detect_metric_frame` is exact, and also stops
    the detector from learning from pattern points, so it does not get used
    to them and stays sensitive to real anomalies of similar size.

    Parameters
    ----------
    scored_points : pandas.DataFrame
        Output of :func:`~aihub.anomaly.detectors.detect` /
        :func:`~aihub.anomaly.metrics.detect_metric_frame` (needs
        ``timestamp``, ``value``, ``expected``, ``raw_score``). If it has
        ``metric``/``dimension``/``slice`` columns each series is handled
        separately and matched against the rules; otherwise ``context``
        describes the single series.
    rules : iterable of FeedbackRule or dict
    context : dict, optional
    params : DetectorParams or dict, optional
        For the cooldown setting (default ``"auto"``).
    thresholds : SeverityThresholds or dict, optional

    Returns
    -------
    pandas.DataFrame
        A copy with ``anomaly_score``, ``is_anomaly``, ``severity`` and
        ``suppressed_by`` (rule id of a suppressed would-be alarm) recomputed;
        row order kept.
    """
    p = params if isinstance(params, DetectorParams) else DetectorParams.from_dict(params)
    th = thresholds if isinstance(thresholds, SeverityThresholds) else SeverityThresholds.from_dict(thresholds)
    need = [c for c in ("timestamp", "value", "expected", "raw_score") if c not in scored_points.columns]
    if need:
        raise _bad(f"scored_points lacks column(s) {need}; pass the output of detect().", need[0])
    rules = _as_rules(rules)
    out = scored_points.copy()
    keys = [c for c in ("dimension", "slice", "metric") if c in out.columns]
    groups = out.groupby(keys, sort=False).groups.items() if keys else [((), out.index)]
    score = out["raw_score"].to_numpy(float).copy()
    alarm_all = np.zeros(len(out), bool)
    sup_all = np.full(len(out), None, dtype=object)
    pos = {ix: i for i, ix in enumerate(out.index)}
    for key, index in groups:
        rows = np.array([pos[i] for i in index])
        ctx = dict(context or {})
        if keys:
            key = key if isinstance(key, tuple) else (key,)
            ctx.update(dict(zip(keys, key)))
        sub = out.iloc[rows]
        ts = _to_seconds(pd.to_datetime(sub["timestamp"]))
        order = np.argsort(ts, kind="stable")
        rows, ts = rows[order], ts[order]
        raw = score[rows]
        dev = out["value"].to_numpy(float)[rows] - out["expected"].to_numpy(float)[rows]
        gaps = np.r_[np.nan, np.diff(ts).astype(float)]
        medgap = _lagged_rolling(gaps, _GAP_WINDOW, 1, "median")
        q = p.resolved(float(np.median(gaps[1:11])) if len(gaps) > 1 else None)
        blocked_by = rule_effects(rules, ts, dev, raw, ctx)
        blocked = np.array([b is not None for b in blocked_by], dtype=bool) & (raw >= th.alert)
        # the likelihood keeps a suppressed point's surprisal for short_window
        # points: the run of high scores right after it is its echo, not news
        high = raw >= th.alert
        for b in np.flatnonzero(blocked):
            j = b + 1
            while j < len(raw) and j <= b + q.short_window and high[j] and not blocked[j]:
                blocked[j] = True
                blocked_by[j] = blocked_by[b]
                j += 1
        alarm, in_cd, _ = _alarms(ts, raw, th.alert, blocked, medgap, None, p.cooldown)
        suppressed = blocked & ~in_cd
        score[rows] = np.where(in_cd | suppressed, 0.0, raw)
        alarm_all[rows] = alarm
        sup_all[rows] = np.where(suppressed, blocked_by, None)
    out["anomaly_score"] = score
    out["is_anomaly"] = alarm_all
    out["severity"] = np.where(alarm_all, severity_of(score, th), NO_SEVERITY).astype(object)
    out["suppressed_by"] = sup_all
    return out


def rules_to_json(rules: Iterable[FeedbackRule]) -> str:
    """Serialise rules to a JSON array."""
    return json.dumps([FeedbackRule.from_dict(r).to_dict() for r in rules])


def rules_from_json(text: str) -> list[FeedbackRule]:
    """Parse a JSON array written by :func:`rules_to_json`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(f"Rules are not valid JSON: {exc}", "rules") from None
    if not isinstance(data, list):
        raise _bad("Rules JSON must be an array of rule objects.", "rules")
    return [FeedbackRule.from_dict(d) for d in data]
