"""The chart an insight carries, drawn from its JSON spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from aihub.errors import ValidationError
from aihub.insights.charts import SERIES_KINDS


def chart_figure(spec: Mapping[str, Any]):
    """A plotly ``Figure`` of an insight's chart spec (see :mod:`aihub.insights.charts`).

    Raises
    ------
    ValidationError
        A series of an unknown kind.
    """
    fig = go.Figure()
    x = list(spec.get("x", []))
    for s in spec.get("series", []):
        kind = s.get("kind", "line")
        if kind == "band":
            fig.add_trace(
                go.Scatter(x=x, y=s.get("upper"), mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=s.get("lower"),
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor="rgba(99,110,250,0.18)",
                    name=s.get("name", "range"),
                )
            )
        elif kind == "bar":
            fig.add_trace(go.Bar(x=x, y=s.get("y"), name=s.get("name")))
        elif kind in ("line", "dash"):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=s.get("y"),
                    mode="lines+markers" if kind == "line" else "lines",
                    line={"dash": "dash"} if kind == "dash" else {},
                    name=s.get("name"),
                )
            )
        else:
            raise ValidationError(
                f"chart series kind must be one of {', '.join(SERIES_KINDS)}; got {kind!r}", field="kind"
            )
    fig.update_layout(
        title=spec.get("title", ""), yaxis_title=spec.get("y_title", ""), margin={"l": 40, "r": 20, "t": 50, "b": 40}
    )
    return fig
