"""Figures of anomalies: a snapshot around an anomaly, and the colours of the severities on every chart."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

#: Colours of the severities on every chart (dashboard, snapshots).
SEVERITY_COLORS: dict[str, str] = {"critical": "#b71c1c", "high": "#ef6c00", "medium": "#f9a825", "low": "#4682b4"}


def snapshot_figure(snapshot: pd.DataFrame, title: str | None = None):
    """Plotly figure of an anomaly snapshot: value, expected range, anomalies.

    Parameters
    ----------
    snapshot : pandas.DataFrame
        Output of :func:`aihub.anomaly.rootcause.snapshot` (or the anomaly service's ``snapshot_frame``).
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        Shaded expected range, dashed expected line, actual values, anomalies
        as markers coloured by severity and the focus point circled.
    """
    s = snapshot
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=s["timestamp"], y=s["upper"], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=s["timestamp"], y=s["lower"], mode="lines", line={"width": 0}, fill="tonexty",
            fillcolor="rgba(99,110,250,0.18)", name="expected range",
        )
    )
    fig.add_trace(go.Scatter(x=s["timestamp"], y=s["expected"], mode="lines", line={"dash": "dash", "color": "#636efa"}, name="expected"))
    fig.add_trace(go.Scatter(x=s["timestamp"], y=s["value"], mode="lines+markers", line={"color": "#2d3142"}, marker={"size": 4}, name="actual"))
    if "is_anomaly" in s:
        a = s[s["is_anomaly"].astype(bool)]
        if len(a):
            fig.add_trace(
                go.Scatter(
                    x=a["timestamp"], y=a["value"], mode="markers", name="anomaly",
                    marker={"size": 11, "color": [SEVERITY_COLORS.get(v, SEVERITY_COLORS["high"]) for v in a.get("severity", [])]},
                    text=a.get("severity"), hovertemplate="%{x}<br>%{y}<br>severity %{text}<extra></extra>",
                )
            )
    if "is_focus" in s:
        f = s[s["is_focus"]]
        if len(f):
            fig.add_trace(
                go.Scatter(
                    x=f["timestamp"], y=f["value"], mode="markers", name="this anomaly",
                    marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "#9b1c1c"}},
                )
            )
    fig.update_layout(title=title, hovermode="x unified", margin={"l": 40, "r": 20, "t": 50 if title else 20, "b": 40})
    return fig
