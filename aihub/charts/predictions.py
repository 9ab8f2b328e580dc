"""Plotly figures of predictive models: evaluation curves, segments, explanations, comparisons.

Built from the plain dicts and frames :mod:`aihub.services` prediction modules return (version
metrics, prediction outputs, comparisons), so pages only place them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 360}


def roc_figure(curves: dict[str, dict[str, Any]]) -> go.Figure:
    """ROC curves of one or more versions.

    Parameters
    ----------
    curves : dict of str to dict
        Label (e.g. ``"v2 (random_forest)"``) -> version metrics holding
        ``roc_curve`` (``fpr``, ``tpr``) and ``roc_auc``.
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#999"},
                             name="chance", hoverinfo="skip"))
    for label, m in curves.items():
        curve = m.get("roc_curve")
        if not curve:
            continue
        auc = m.get("roc_auc")
        fig.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines",
                                 name=f"{label} AUC {auc:.3f}" if auc is not None else label))
    fig.update_layout(title="ROC curve (test split)", xaxis_title="False positive rate",
                      yaxis_title="True positive rate", **_LAYOUT)
    return fig


def pr_figure(curves: dict[str, dict[str, Any]]) -> go.Figure:
    """Precision-recall curves of one or more versions (``pr_curve`` and ``average_precision`` in metrics)."""
    fig = go.Figure()
    for label, m in curves.items():
        curve = m.get("pr_curve")
        if not curve:
            continue
        ap = m.get("average_precision")
        fig.add_trace(go.Scatter(x=curve["recall"], y=curve["precision"], mode="lines",
                                 name=f"{label} AP {ap:.3f}" if ap is not None else label))
        if m.get("positive_rate") is not None:
            fig.add_hline(y=m["positive_rate"], line_dash="dot", line_color="#999")
    fig.update_layout(title="Precision-recall curve (test split)", xaxis_title="Recall", yaxis_title="Precision",
                      **_LAYOUT)
    return fig


def confusion_figure(metrics: dict[str, Any]) -> go.Figure:
    """Confusion matrix heatmap (rows: actual class, columns: predicted), counts of the test split."""
    cm = metrics.get("confusion_matrix") or {"labels": [], "matrix": []}
    labels = [str(c) for c in cm["labels"]]
    fig = go.Figure(go.Heatmap(z=cm["matrix"], x=labels, y=labels, colorscale="Blues", showscale=False,
                               text=cm["matrix"], texttemplate="%{text}", hovertemplate=
                               "actual %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(title="Confusion matrix (test split)", xaxis_title="Predicted", yaxis_title="Actual",
                      yaxis_autorange="reversed", **_LAYOUT)
    return fig


def segments_figure(metrics: dict[str, Any]) -> go.Figure:
    """Customers per segment (business names when the version has them)."""
    sizes = metrics.get("cluster_sizes") or {}
    segments = metrics.get("segments") or {}
    names = [segments.get(str(c), {}).get("name", f"Segment {int(c) + 1}") for c in sizes]
    fig = go.Figure(go.Bar(x=names, y=list(sizes.values()), text=list(sizes.values()), textposition="outside"))
    fig.update_layout(title="Customers per segment (test split)", yaxis_title="Customers", **_LAYOUT)
    return fig


def importance_figure(importance: list[dict[str, Any]] | None, top: int = 15) -> go.Figure:
    """Global feature importance (mean |SHAP|), largest on top."""
    rows = (importance or [])[:top][::-1]
    fig = go.Figure(go.Bar(x=[r["importance"] for r in rows], y=[r["feature"] for r in rows], orientation="h"))
    fig.update_layout(title="What drives the model overall (mean |SHAP|)", **_LAYOUT)
    return fig


def contributions_figure(output: dict[str, Any], top: int = 10) -> go.Figure:
    """Waterfall of one prediction's SHAP contributions from the average to this prediction.

    Falls back to a bar chart when the stored output has no base value.

    Parameters
    ----------
    output : dict
        A prediction's output (``contributions``, ``base_value``,
        ``output_value``, ``output_space``, ``label``).
    """
    contribs = list(output.get("contributions") or [])
    space = output.get("output_space", "value")
    unit = " (log-odds)" if space == "log-odds" else ""
    shown, rest = contribs[:top], contribs[top:]
    labels = [f"{c['feature']} = {c['value']}" for c in shown]
    values = [float(c["contribution"]) for c in shown]
    if rest:
        labels.append(f"{len(rest)} other features")
        values.append(float(sum(c["contribution"] for c in rest)))
    base = output.get("base_value")
    if base is None:
        fig = go.Figure(go.Bar(x=values[::-1], y=labels[::-1], orientation="h",
                               marker_color=["#d62728" if v > 0 else "#2ca02c" for v in values[::-1]]))
        fig.update_layout(title=f"Contributions{unit}", **_LAYOUT)
        return fig
    fig = go.Figure(go.Waterfall(
        orientation="h", measure=["absolute", *["relative"] * len(values), "total"],
        y=["average prediction", *labels, "this prediction"], x=[base, *values, 0],
        base=0, increasing={"marker": {"color": "#d62728"}}, decreasing={"marker": {"color": "#2ca02c"}},
        totals={"marker": {"color": "#1f77b4"}},
    ))
    fig.update_layout(title=f"{output.get('label', 'Prediction')}: why{unit}", yaxis_autorange="reversed",
                      height=max(360, 28 * (len(labels) + 2)), margin=_LAYOUT["margin"])
    return fig


def comparison_figure(table: pd.DataFrame, label: str = "Prediction") -> go.Figure:
    """Effect of each changed feature on the difference between two predictions."""
    changed = table[table["changed"]].iloc[::-1]
    fig = go.Figure(go.Bar(
        x=changed["effect"], y=[f"{r.feature}: {r.value_a} → {r.value_b}" for r in changed.itertuples()],
        orientation="h", marker_color=["#d62728" if e > 0 else "#2ca02c" for e in changed["effect"]]))
    fig.update_layout(title=f"What moved {label.lower()} from A to B", **_LAYOUT)
    return fig


def versions_figure(table: pd.DataFrame, metrics: list[str]) -> go.Figure:
    """Grouped bars of test metrics per version (rows of :func:`aihub.services.model_training.compare_versions`)."""
    fig = go.Figure()
    for key in metrics:
        if key in table.columns:
            fig.add_trace(go.Bar(name=key, x=[f"v{v}" for v in table["version"]], y=table[key]))
    fig.update_layout(barmode="group", title="Test metrics by version", **_LAYOUT)
    return fig


def volume_figure(rows: list[tuple[Any, str, int]]) -> go.Figure:
    """Predictions per day and model (rows ``(day, model, count)``)."""
    frame = pd.DataFrame(rows, columns=["day", "model", "count"])
    fig = go.Figure()
    for name, part in frame.groupby("model"):
        fig.add_trace(go.Bar(x=part["day"], y=part["count"], name=str(name)))
    fig.update_layout(barmode="stack", title="Predictions per day", yaxis_title="Predictions", **_LAYOUT)
    return fig
