"""Plotly figures shared by the pages and the reports.

Figures are built here, from plain DataFrames, so pages only place them.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def forecast_figure(
    history: pd.DataFrame, forecast: pd.DataFrame, actuals: pd.DataFrame | None = None, *, title: str = "",
    value_label: str = "y",
) -> go.Figure:
    """History, forecast and its 80%/95% interval band, with passed actuals overlaid.

    Parameters
    ----------
    history : DataFrame with columns ds, y
    forecast : DataFrame with columns ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95
    actuals : DataFrame with columns ds, y, optional
        Observed values inside the forecast horizon.
    """
    fig = go.Figure()
    if len(forecast):
        for lo, hi, name, alpha in (("yhat_lower_95", "yhat_upper_95", "95% interval", 0.15),
                                    ("yhat_lower_80", "yhat_upper_80", "80% interval", 0.3)):
            fig.add_trace(go.Scatter(x=forecast["ds"], y=forecast[hi], mode="lines", line={"width": 0},
                                     showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=forecast["ds"], y=forecast[lo], mode="lines", line={"width": 0},
                                     fill="tonexty", fillcolor=f"rgba(31,119,180,{alpha})", name=name))
    fig.add_trace(go.Scatter(x=history["ds"], y=history["y"], mode="lines", name="History",
                             line={"color": "#444"}))
    if len(forecast):
        fig.add_trace(go.Scatter(x=forecast["ds"], y=forecast["yhat"], mode="lines", name="Forecast",
                                 line={"color": "#1f77b4", "dash": "dash"}))
    if actuals is not None and len(actuals):
        fig.add_trace(go.Scatter(x=actuals["ds"], y=actuals["y"], mode="lines+markers", name="Actual",
                                 line={"color": "#d62728"}))
    fig.update_layout(title=title, xaxis_title="Date", yaxis_title=value_label, hovermode="x unified",
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}, legend={"orientation": "h"})
    return fig


def backtest_figure(table: pd.DataFrame) -> go.Figure:
    """Bar chart of candidates' backtest MASE (lower is better).

    Parameters
    ----------
    table : DataFrame with columns algorithm, mase
    """
    t = table.sort_values("mase")
    fig = go.Figure(go.Bar(x=t["mase"], y=t["algorithm"], orientation="h"))
    fig.update_layout(xaxis_title="Backtest MASE (lower is better)", margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      height=60 + 30 * len(t))
    return fig
