"""Figures of the dashboard (:mod:`aihub.services.dashboard` gives their rows).

Series are drawn by period (day, week or month: the overview's granularity) on
a date axis sized to the periods shown.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Any

import plotly.graph_objects as go

from aihub.anomaly.severity import SEVERITIES as ANOMALY_SEVERITIES
from aihub.charts.anomalies import SEVERITY_COLORS

#: Anomaly severities, most severe first.
SEVERITIES: tuple[str, ...] = tuple(reversed(ANOMALY_SEVERITIES))

_LAYOUT: dict[str, Any] = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320,
                           "legend": {"orientation": "h", "y": -0.2}}


def _period(p: Any) -> Any:
    """A period start as a naive date-time (plotly draws time zones as offsets)."""
    return p.replace(tzinfo=None) if getattr(p, "tzinfo", None) is not None else p


_STEP = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=31)}


def _time_axis(fig: Any, xs: list[Any], granularity: str) -> None:
    """A date axis labelled by the period (``Nov 2026``, ``03 Nov 2026``), half a period of margin each side,
    bars 80% of a period wide.

    Without it plotly zooms a single period down to milliseconds and draws its bar as a hairline.
    """
    if not xs:
        return
    step = _STEP.get(granularity, timedelta(days=1))
    lo, hi = min(xs), max(xs)
    fig.update_traces(width=step.total_seconds() * 1000 * 0.8, selector={"type": "bar"})
    fig.update_xaxes(type="date", range=[lo - step / 2, hi + step / 2],
                     tickformat="%b %Y" if granularity == "month" else "%d %b %Y",
                     dtick="M1" if granularity == "month" else step.total_seconds() * 1000
                     if (hi - lo) / step <= 12 else None)


def volume_figure(rows: list[tuple], granularity: str = "day") -> Any:
    """Predictions per period, stacked by model (rows ``(period, model, count)``)."""
    fig = go.Figure()
    models: dict[str, tuple[list, list]] = {}
    for period, name, n in rows:
        xs, ys = models.setdefault(name, ([], []))
        xs.append(_period(period))
        ys.append(n)
    for name, (xs, ys) in models.items():
        fig.add_trace(go.Bar(x=xs, y=ys, name=name))
    fig.update_layout(barmode="stack", title=f"Predictions per {granularity}", yaxis_title="predictions", **_LAYOUT)
    _time_axis(fig, [x for xs, _ in models.values() for x in xs], granularity)
    return fig


def model_usage_figure(models: Sequence[Any]) -> Any:
    """Share of the range's predictions by deployed model."""
    used = [m for m in models if m.predictions]
    fig = go.Figure(go.Pie(labels=[m.name for m in used], values=[m.predictions for m in used], hole=0.45,
                           sort=False))
    fig.update_layout(title="Model usage (predictions in range)", **_LAYOUT)
    return fig


def accuracy_figure(rows: list[tuple], granularity: str = "day") -> Any:
    """Live accuracy per period and model from recorded outcomes (rows ``(period, model, outcomes, correct)``)."""
    fig = go.Figure()
    models: dict[str, tuple[list, list, list]] = {}
    for period, name, n, correct in rows:
        xs, ys, ns = models.setdefault(name, ([], [], []))
        xs.append(_period(period))
        ys.append(correct / n if n else None)
        ns.append(n)
    for name, (xs, ys, ns) in models.items():
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name, customdata=ns,
                                 hovertemplate="%{y:.1%} of %{customdata} outcomes<extra>" + name + "</extra>"))
    fig.update_layout(title=f"Accuracy from feedback per {granularity}", yaxis={"tickformat": ".0%",
                                                                               "range": [0, 1.02]}, **_LAYOUT)
    _time_axis(fig, [x for xs, _, _ in models.values() for x in xs], granularity)
    return fig


def deployment_figure(rows: list[tuple]) -> Any:
    """Deployments and rollbacks over time, one row per model (rows ``(when, model, version, action, by)``)."""
    fig = go.Figure()
    for action, symbol in (("deploy", "circle"), ("rollback", "x"), ("promote", "star")):
        part = [r for r in rows if r[3] == action]
        if not part and action != "deploy":
            continue
        fig.add_trace(go.Scatter(
            x=[_period(r[0]) for r in part], y=[r[1] for r in part], mode="markers+text", name=action,
            text=[f"v{r[2]}" for r in part], textposition="top center", marker={"symbol": symbol, "size": 11},
            customdata=[r[4] or "" for r in part], hovertemplate="%{y} v%{text} · %{x}<br>%{customdata}"))
    other = [r for r in rows if r[3] not in ("deploy", "rollback", "promote")]
    if other:
        fig.add_trace(go.Scatter(x=[_period(r[0]) for r in other], y=[r[1] for r in other], mode="markers",
                                 name="other", text=[r[3] for r in other]))
    fig.update_layout(title="Deployment timeline", **{**_LAYOUT, "height": max(220, 90 + 40 * len({r[1] for r in rows}))})
    return fig


def severity_figure(detected: dict[str, int], unresolved: dict[str, int]) -> Any:
    """Anomalies detected and still unresolved, per severity."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=list(SEVERITIES), y=[detected.get(s, 0) for s in SEVERITIES], name="detected",
                         marker_color=[SEVERITY_COLORS[s] for s in SEVERITIES], opacity=0.45))
    fig.add_trace(go.Bar(x=list(SEVERITIES), y=[unresolved.get(s, 0) for s in SEVERITIES], name="unresolved",
                         marker_color=[SEVERITY_COLORS[s] for s in SEVERITIES]))
    fig.update_layout(barmode="group", title="Severity distribution", **_LAYOUT)
    return fig


STATUS_LABELS: dict[str, str] = {"new": "new", "acknowledged": "acknowledged", "investigating": "investigating",
                                 "resolved": "resolved", "false_positive": "false positive"}


def status_figure(by_status: dict[str, int]) -> Any:
    """Anomalies per triage status."""
    order = [s for s in STATUS_LABELS if s in by_status] + [s for s in by_status if s not in STATUS_LABELS]
    colors = {"new": "#b71c1c", "acknowledged": "#ef6c00", "investigating": "#f9a825", "resolved": "#2e7d32",
              "false_positive": "#9e9e9e"}
    fig = go.Figure(go.Pie(labels=[STATUS_LABELS.get(s, s) for s in order], values=[by_status[s] for s in order],
                           marker={"colors": [colors.get(s, "#607d8b") for s in order]}, hole=0.45, sort=False))
    fig.update_layout(title="Resolution status", **_LAYOUT)
    return fig


def anomaly_trend_figure(rows: list[tuple], granularity: str = "week", *, open_statuses: Collection[str] = ()) -> Any:
    """Anomalies per period stacked by severity, with those still unresolved (rows ``(period, severity, status, n)``).

    ``open_statuses``: the triage statuses that count as unresolved (:data:`aihub.services.dashboard.ANOMALY_OPEN_STATUSES`).
    """
    per: dict[Any, dict[str, int]] = {}
    open_: dict[Any, int] = {}
    for period, sev, status, n in rows:
        key = _period(period)
        per.setdefault(key, {}).setdefault(sev, 0)
        per[key][sev] += n
        open_[key] = open_.get(key, 0) + (n if status in open_statuses else 0)
    xs = sorted(per)
    fig = go.Figure()
    for sev in reversed(SEVERITIES):
        fig.add_trace(go.Bar(x=xs, y=[per[x].get(sev, 0) for x in xs], name=sev, marker_color=SEVERITY_COLORS[sev]))
    fig.add_trace(go.Scatter(x=xs, y=[open_.get(x, 0) for x in xs], mode="lines+markers", name="still unresolved",
                             line={"color": "#212121", "dash": "dot"}))
    fig.update_layout(barmode="stack", title=f"Anomalies per {granularity} (by the period they describe)", **_LAYOUT)
    _time_axis(fig, xs, granularity)
    return fig


def usage_figure(rows: list[tuple], granularity: str = "day", *, users: bool = False) -> Any:
    """Uses of each AI feature per period, or (``users=True``) the distinct users of each (rows ``(period, feature, events, users)``)."""
    fig = go.Figure()
    features: dict[str, tuple[list, list]] = {}
    for period, feature, n, u in rows:
        xs, ys = features.setdefault(feature, ([], []))
        xs.append(_period(period))
        ys.append(u if users else n)
    for feature, (xs, ys) in features.items():
        if users:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=feature))
        else:
            fig.add_trace(go.Bar(x=xs, y=ys, name=feature))
    title = f"Users per {granularity} by feature" if users else f"Uses per {granularity} by feature"
    fig.update_layout(barmode="stack", title=title, yaxis_title="users" if users else "uses", **_LAYOUT)
    if users:
        fig.update_yaxes(rangemode="tozero", dtick=1 if max((u for *_, u in rows), default=0) <= 10 else None)
    _time_axis(fig, [x for xs, _ in features.values() for x in xs], granularity)
    return fig


def warm_up_figure() -> Any:
    """An empty figure with one trace of each kind the Dashboard draws (bar, scatter, pie), to be drawn hidden
    on the log-in form.

    Drawing it makes the browser load and start Streamlit's plotly component (4.7 MB of JavaScript, 1 to 2 s
    of main-thread work on a loaded 2-core machine, measured with ``benchmarks/page_render.py``) and the
    server import plotly's trace classes while the user types, instead of after *Login*, in front of the
    Dashboard's first charts.
    """
    fig = go.Figure([go.Bar(x=[], y=[]), go.Scatter(x=[], y=[]), go.Pie(labels=[], values=[])])
    fig.update_layout(height=10, width=10, showlegend=False, margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig
