"""Plotly figures of the business analytics screens (recommendations, pricing, inventory, sentiment, CLV, actions).

Built from the plain DataFrames of :mod:`aihub.services.analytics_results`, so pages only place them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

SOURCE_COLORS = {"pooled": "#1f77b4", "category": "#ff7f0e", "prior": "#7f7f7f"}


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height, margin={"l": 10, "r": 10, "t": 50,
                                                                                          "b": 10})
    return fig


def recommendations_figure(recs: pd.DataFrame) -> go.Figure:
    """Score of each recommended product, best first (recs: rank, label, score, source, reason)."""
    df = recs.sort_values("rank", ascending=False)
    fig = go.Figure(go.Bar(x=df["score"], y=df["label"].astype(str).str.slice(0, 50), orientation="h",
                           marker_color=["#1f77b4" if s != "popularity" else "#aaaaaa" for s in df["source"]],
                           hovertext=df["reason"], hoverinfo="text+x"))
    return _layout(fig, "Recommended products (grey: popular fallback)", "score (comparable within this customer)",
                   "", height=max(300, 28 * len(df) + 80))


def also_bought_figure(also: pd.DataFrame, product: str) -> go.Figure:
    """Customers who bought both, per co-bought product (also: label, customers, confidence, lift)."""
    df = also.iloc[::-1]
    fig = go.Figure(go.Bar(x=df["customers"], y=df["label"].astype(str).str.slice(0, 50), orientation="h",
                           hovertext=[f"confidence {c:.0%}, lift {lf:.1f}" for c, lf in zip(df["confidence"], df["lift"])],
                           hoverinfo="text+x"))
    return _layout(fig, f"Customers who bought {product} also bought", "customers who bought both", "",
                   height=max(300, 28 * len(df) + 80))


def elasticity_figure(table: pd.DataFrame) -> go.Figure:
    """Each product's elasticity with its 90% interval, coloured by source; -1 separates elastic from inelastic."""
    df = table.sort_values("elasticity")
    fig = go.Figure()
    for source, part in df.groupby("source", sort=False):
        fig.add_trace(go.Scatter(
            x=part["elasticity"], y=part["product"], mode="markers", name=str(source),
            marker={"color": SOURCE_COLORS.get(str(source), "#2ca02c"), "size": 8},
            error_x={"type": "data", "symmetric": False, "array": part["elasticity_upper"] - part["elasticity"],
                     "arrayminus": part["elasticity"] - part["elasticity_lower"]}))
    fig.add_vline(x=-1, line_dash="dash", line_color="#d62728", annotation_text="-1: revenue flat")
    return _layout(fig, "Price elasticity with 90% interval (pooled: own data; category/prior: too little "
                        "price variation)", "elasticity (% change in demand per 1% price change)", "",
                   height=max(350, 16 * len(df) + 100))


def price_curve_figure(curve: pd.DataFrame, rec: dict[str, Any], objective: str = "revenue") -> go.Figure:
    """Expected demand and the objective over the price grid with 5-95% bands; today's and the recommended price."""
    fig = go.Figure()
    for col, name, axis, colour in (("expected_quantity", "expected demand", "y", "#1f77b4"),
                                    (objective, f"expected {objective}", "y2", "#2ca02c")):
        lo = "quantity_low" if col == "expected_quantity" else f"{objective}_low"
        hi = "quantity_high" if col == "expected_quantity" else f"{objective}_high"
        if curve[col].notna().any():
            fig.add_trace(go.Scatter(x=curve["price"], y=curve[hi], mode="lines", line={"width": 0}, yaxis=axis,
                                     showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=curve["price"], y=curve[lo], mode="lines", line={"width": 0}, yaxis=axis,
                                     fill="tonexty", fillcolor="rgba(0,0,0,0.08)", name=f"{name} 5-95%"))
            fig.add_trace(go.Scatter(x=curve["price"], y=curve[col], mode="lines", name=name, yaxis=axis,
                                     line={"color": colour}))
    fig.add_vline(x=rec["current_price"], line_dash="dot", annotation_text="today")
    if rec["recommended_price"] != rec["current_price"]:
        fig.add_vline(x=rec["recommended_price"], line_color="#d62728", annotation_text="recommended")
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": objective})
    return _layout(fig, "Demand and revenue by price (uncertainty of the elasticity)", "price", "units per period")


def price_history_figure(hist: pd.DataFrame) -> go.Figure:
    """Monthly price and quantity of one product (hist: period, price, quantity)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=hist["period"], y=hist["quantity"], name="quantity", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=hist["period"], y=hist["price"], name="price", mode="lines+markers", yaxis="y2"))
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "price"})
    return _layout(fig, "Price and quantity history", "month", "units")


def inventory_figure(view: dict[str, Any]) -> go.Figure:
    """Recent demand, its forecast with the 95% band, and projected stock (no order) against the reorder point."""
    hist, fc, proj, pol = view["history"], view["forecast"], view["projection"], view["policy"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=fc["ds"], y=fc["yhat_upper"], mode="lines", line={"width": 0}, showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=fc["ds"], y=fc["yhat_lower"], mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor="rgba(31,119,180,0.15)", name="demand 95% interval"))
    fig.add_trace(go.Scatter(x=hist["ds"], y=hist["y"], name="demand", line={"color": "#444"}))
    fig.add_trace(go.Scatter(x=fc["ds"], y=fc["yhat"], name="forecast demand", line={"color": "#1f77b4",
                                                                                     "dash": "dash"}))
    start = pd.concat([hist["ds"].tail(1), proj["ds"]]).reset_index(drop=True)
    stock = [pol["inventory_position"], *proj["stock"]]
    fig.add_trace(go.Scatter(x=start, y=stock, name="projected stock (no order)", line={"color": "#2ca02c"}))
    level = pol.get("reorder_point") if pol.get("reorder_point") is not None else pol.get("order_up_to")
    label = "reorder point" if pol.get("reorder_point") is not None else "order-up-to level"
    fig.add_hline(y=level, line_color="#d62728", line_dash="dash", annotation_text=label)
    fig.add_hline(y=pol["safety_stock"], line_color="#ff7f0e", line_dash="dot", annotation_text="safety stock")
    return _layout(fig, f"{pol['product']}: demand and projected stock", "period", "units")


def stockout_figure(policy: pd.DataFrame) -> go.Figure:
    """Probability of a stock-out before the next replenishment, per product (red: needs an order)."""
    df = policy.sort_values("stockout_probability")
    fig = go.Figure(go.Bar(x=df["stockout_probability"], y=df["product"], orientation="h",
                           marker_color=["#d62728" if n else "#1f77b4" for n in df["needs_order"]]))
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    return _layout(fig, "Stock-out risk if nothing is ordered now (red: at or below the reorder point)",
                   "probability", "", height=max(300, 24 * len(df) + 80))


def sentiment_trend_figure(over: pd.DataFrame) -> go.Figure:
    """Mean sentiment per group and period (-1 to 1)."""
    fig = go.Figure()
    for group, part in over.groupby("group", sort=True):
        fig.add_trace(go.Scatter(x=part["period"], y=part["mean_score"], name=str(group), mode="lines+markers",
                                 hovertext=[f"{n} texts, {s:.0%} negative" for n, s in
                                            zip(part["texts"], part["negative_share"])]))
    fig.add_hline(y=0, line_color="#999")
    fig.update_yaxes(range=[-1, 1])
    return _layout(fig, "Sentiment over time", "period", "mean score (-1 negative, +1 positive)")


def sentiment_labels_figure(labels: dict[str, int]) -> go.Figure:
    """Texts per label."""
    colours = {"positive": "#2ca02c", "neutral": "#999999", "negative": "#d62728"}
    keys = [k for k in ("positive", "neutral", "negative", "unsupported", "empty") if k in labels]
    fig = go.Figure(go.Bar(x=keys, y=[labels[k] for k in keys], marker_color=[colours.get(k, "#cccccc")
                                                                            for k in keys]))
    return _layout(fig, "Texts by sentiment", "", "texts", height=300)


def clv_figure(table: pd.DataFrame) -> go.Figure:
    """Expected spend against the probability of still being a customer, sized by past purchases."""
    fig = go.Figure(go.Scatter(x=table["probability_alive"], y=table["expected_spend"], mode="markers",
                               marker={"size": 4 + 2 * table["frequency"].clip(0, 10), "opacity": 0.6},
                               text=table["customer"], hoverinfo="text+x+y"))
    fig.update_xaxes(range=[0, 1.02], tickformat=".0%")
    return _layout(fig, "Customers: expected spend and probability alive", "probability still a customer",
                   "expected spend in the horizon")


def actions_figure(actions: pd.DataFrame) -> go.Figure:
    """Chosen actions by count, with their mean estimated fall in risk."""
    first = actions[(actions["rank"] == 1) & actions["feature"].notna()]
    if first.empty:
        return _layout(go.Figure(), "No action lowers the risk enough", "", "")
    what = first["feature"].astype(str) + " = " + first["suggested_value"].astype(str)
    g = first.assign(what=what).groupby("what")["risk_drop"].agg(["size", "mean"]).sort_values("size")
    fig = go.Figure(go.Bar(x=g["size"], y=g.index, orientation="h",
                           hovertext=[f"mean risk drop {m:.2f}" for m in g["mean"]], hoverinfo="text+x"))
    return _layout(fig, "Best action per at-risk customer", "customers", "", height=max(280, 30 * len(g) + 80))
