"""Templates of the business analytics (recommendations, pricing, inventory, sentiment, lifetime value).

Each template is a :class:`~aihub.userconfig.UserConfig` (the guided form and
pasted JSON share its limits) and a ``fit`` function turning a dataset frame
into a :class:`Fitted`: what a stored version holds. No database and no
permissions here (:mod:`aihub.services.analytics` does that); the methods are
the cores :mod:`aihub.recommend`, :mod:`aihub.pricing`, :mod:`aihub.inventory`,
:mod:`aihub.sentiment` and :mod:`aihub.clv`, whose docstrings cite their sources.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from aihub import jsonsafe
from aihub.errors import TrainingError, ValidationError
from aihub.frames import require_columns
from aihub.userconfig import UserConfig, parse

#: Progress callback of a fit: ``(fraction 0..1, message)``.
Progress = Callable[[float, str], None]
#: Most products an inventory model forecasts (each is one forecast).
MAX_INVENTORY_PRODUCTS = 200
#: Most texts a sentiment version stores (the most recent when a time column is given).
MAX_SENTIMENT_ROWS = 20_000
#: Fast forecasting candidates for per-product demand (Prophet left out: one product per few seconds).
INVENTORY_CANDIDATES = ("naive", "seasonal_naive", "ets", "theta")
#: Forecasts the products' demand with :func:`aihub.forecasting.forecast_many`'s signature (:func:`use_forecaster`).
_forecaster: Callable[..., pd.DataFrame] | None = None


def use_forecaster(fn: Callable[..., pd.DataFrame] | None) -> None:
    """Forecast the inventory's per-product demand with ``fn`` (``forecast_many``'s signature and result).

    :func:`aihub.runtime.wiring.wire` sets the runtime's, which runs the per-product fits on Dask when a
    cluster is configured (:func:`aihub.runtime.cluster_jobs.forecast_many_routed`); None: in this process.
    """
    global _forecaster
    _forecaster = fn


class _Base(UserConfig):
    model_name: str = Field(min_length=1, max_length=200, description="name of the analytic")
    dataset_id: int = Field(ge=1, description="dataset it reads (its newest version at each training)")


class RecommendSpec(_Base):
    """Product recommendations from order lines (:mod:`aihub.recommend`)."""

    user_column: str = Field(min_length=1, description="customer column")
    item_column: str = Field(min_length=1, description="product column")
    time_column: str | None = Field(None, description="order date (enables the time-split choice of method)")
    weight_column: str | None = Field(None, description="quantity or value per line (default 1)")
    label_column: str | None = Field(None, description="product name used in reasons")
    method: Literal["auto", "als", "bpr", "item_item", "popularity", "recent_popularity"] = "auto"
    k: int = Field(10, ge=1, le=100, description="products per customer")


class PricingSpec(_Base):
    """Price elasticity per product and a recommended price within bounds (:mod:`aihub.pricing`)."""

    product_column: str = Field(min_length=1)
    date_column: str = Field(min_length=1)
    price_column: str = Field(min_length=1)
    quantity_column: str = Field(min_length=1)
    category_column: str | None = Field(None, description="category thin products are pooled toward")
    competitor_columns: list[str] = Field(default_factory=list, max_length=20, description="competitors' prices")
    cost_column: str | None = Field(None, description="unit cost (profit objective and minimum margin)")
    objective: Literal["revenue", "profit"] = "revenue"
    max_change: float = Field(0.2, gt=0.0, le=1.0, description="largest change from today's price, as a share")
    min_margin: float | None = Field(None, ge=0.0, lt=1.0, description="smallest (price - cost) / price")


class InventorySpec(_Base):
    """Safety stock, reorder point and order quantity per product from demand forecasts (:mod:`aihub.inventory`)."""

    product_column: str = Field(min_length=1)
    date_column: str = Field(min_length=1)
    quantity_column: str = Field(min_length=1, description="units demanded (sold) per row")
    position_column: str = Field(min_length=1, description="inventory position (on hand + on order); the "
                                                            "latest row of each product counts")
    freq: Literal["D", "W", "M"] = Field("W", description="period of demand, lead time and review period")
    lead_time: float = Field(2.0, gt=0.0, le=52.0, description="periods from order to arrival")
    review_period: float = Field(0.0, ge=0.0, le=52.0, description="periods between reviews; 0 = continuous")
    service_level: float = Field(0.95, ge=0.5, le=0.9999, description="target cycle service level")
    ordering_cost: float = Field(0.0, ge=0.0, le=1e9, description="fixed cost per order")
    holding_cost: float = Field(1.0, gt=0.0, le=1e9, description="cost to hold one unit for one period")


class SentimentSpec(_Base):
    """Sentiment of a free-text column without labels (:mod:`aihub.sentiment`, VADER)."""

    text_column: str = Field(min_length=1)
    time_column: str | None = Field(None, description="date of each text (trends and drops)")
    group_column: str | None = Field(None, description="product, category... (trend and drops per group)")
    freq: Literal["D", "W", "M", "Q"] = Field("M", description="period of the trend and the drop test")


class CLVSpec(_Base):
    """Customer lifetime value: BG/NBD purchases and Gamma-Gamma spend (:mod:`aihub.clv`)."""

    customer_column: str = Field(min_length=1)
    date_column: str = Field(min_length=1)
    amount_column: str = Field(min_length=1, description="value of each order line")
    horizon_days: float = Field(365.0, gt=0.0, le=3650.0, description="days of future spend to predict")
    time_unit_days: float = Field(7.0, gt=0.0, le=366.0, description="length of one period in days")


@dataclass
class Fitted:
    """What one trained analytic version stores.

    Attributes
    ----------
    algorithm : str
        Short method name ("als", "anchored log-log", "(s, Q)", "vader", "bg/nbd + gamma-gamma").
    params : dict
        Settings used (JSON-able).
    metrics : dict
        Headline figures shown on the version (JSON-able).
    state : dict
        Lossless JSON state (:mod:`aihub.jsonsafe`) the result screens read.
    data : pandas.DataFrame
        The table the method actually fitted on, hashed as the training data.
    events : list of dict
        Workflow events to emit once the version is stored (``(type, payload)``).
    """

    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    state: dict[str, Any]
    data: pd.DataFrame
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _columns(spec: UserConfig, frame: pd.DataFrame, names: tuple[str, ...]) -> None:
    wanted = {n: getattr(spec, n) for n in names}
    for n, v in list(wanted.items()):
        if isinstance(v, list):
            wanted.pop(n)
            for i, c in enumerate(v):
                wanted[f"{n}[{i}]"] = c
    require_columns(frame, wanted, "dataset")


# ------------------------------------------------------------------ recommendations
def fit_recommend(spec: RecommendSpec, frame: pd.DataFrame, progress: Progress) -> Fitted:
    """Fit a recommender on the dataset's order lines (method ``auto``: chosen on a time split)."""
    from aihub.recommend import fit_recommender, interactions

    _columns(spec, frame, ("user_column", "item_column", "time_column", "weight_column", "label_column"))
    progress(0.2, "Reading order lines")
    inter = interactions(frame, spec.user_column, spec.item_column, time_col=spec.time_column,
                         weight_col=spec.weight_column, label_col=spec.label_column)
    progress(0.35, f"Fitting ({spec.method}) on {len(inter):,} customer-product pairs")
    rec = fit_recommender(inter, method=spec.method, k=spec.k)
    metrics: dict[str, Any] = {"customers": len(rec.users_), "products": len(rec.items_), "lines": len(inter)}
    for row in rec.validation_:
        if "ndcg" in row:
            metrics[f"validation_ndcg_{row['method']}"] = row["ndcg"]
            metrics[f"validation_hit_rate_{row['method']}"] = row["hit_rate"]
    chosen = next((r for r in rec.validation_ if r.get("selected") and "ndcg" in r), None)
    if chosen:
        metrics.update({"ndcg_at_k": chosen["ndcg"], "hit_rate_at_k": chosen["hit_rate"],
                        "recall_at_k": chosen["recall"], "validation_customers": chosen["users"]})
    return Fitted(rec.method_, spec.model_dump(), jsonsafe.plain(metrics), {"model": rec.to_state()},
                  inter[["user", "item", "weight"]])


# ------------------------------------------------------------------ pricing
def fit_pricing(spec: PricingSpec, frame: pd.DataFrame, progress: Progress) -> Fitted:
    """Elasticities (shrunken, with 90% intervals) and a recommended price per product within the bounds."""
    from aihub.pricing import fit_elasticity, price_panel, recommend_price

    _columns(spec, frame, ("product_column", "date_column", "price_column", "quantity_column", "category_column",
                           "cost_column", "competitor_columns"))
    progress(0.2, "Building the monthly price panel")
    panel = price_panel(frame, spec.product_column, spec.date_column, spec.price_column, spec.quantity_column,
                        category_col=spec.category_column, competitor_cols=spec.competitor_columns,
                        cost_col=spec.cost_column)
    progress(0.35, f"Estimating elasticities of {panel['product'].nunique()} products")
    model = fit_elasticity(panel)
    progress(0.75, "Recommending prices")
    bounds = {"objective": spec.objective, "max_change": spec.max_change, "min_margin": spec.min_margin}
    recs = [recommend_price(model, prod, bounds=bounds)[0] for prod in model.products_["product"]]
    table = pd.DataFrame(recs)
    est = model.products_[["product", "category", "periods", "price_variation", "status"]].rename(
        columns={"status": "elasticity_note"})
    table = est.merge(table, on="product", how="left")
    metrics = {"products": len(table), "own_estimates": int((table["source"] == "pooled").sum()),
               "from_category": int((table["source"] == "category").sum()),
               "no_estimate": int((table["source"] == "prior").sum()),
               "raise": int((table["decision"] == "raise").sum()), "lower": int((table["decision"] == "lower").sum()),
               "keep": int((table["decision"] == "keep").sum()), "demand_form": model.form_,
               "notes": list(model.notes_)}
    if len(model.selection_):
        sel = model.selection_[model.selection_["selected"]].iloc[0]
        metrics["validation_mean_abs_log_error"] = float(sel.get("score", np.nan)) if "score" in sel else None
    state = {"model": model.to_state(), "recommendations": jsonsafe.plain(table.to_dict("records")),
             "panel": jsonsafe.plain(panel.assign(period=panel["period"].dt.strftime("%Y-%m-%d")).to_dict("records")),
             "bounds": bounds}
    return Fitted(f"{model.form_} log-log", spec.model_dump(), jsonsafe.plain(metrics), state, panel)


# ------------------------------------------------------------------ inventory
def _demand_series(spec: InventorySpec, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    from aihub.forecasting import prepare_series
    from aihub.frames import date_column, numeric_column

    products = frame[spec.product_column].astype(str).str.strip()
    keep = products.ne("") & frame[spec.product_column].notna()
    names = list(dict.fromkeys(products[keep]))
    if not names:
        raise ValidationError(f"column '{spec.product_column}' has no products", field="product_column")
    if len(names) > MAX_INVENTORY_PRODUCTS:
        raise ValidationError(f"{len(names)} products in '{spec.product_column}'; an inventory model plans at most "
                              f"{MAX_INVENTORY_PRODUCTS}. Filter the dataset to the products to plan.",
                              field="product_column")
    when = date_column(frame, spec.date_column)
    position = numeric_column(frame, spec.position_column, what="dataset", allow_missing=True)
    parts, positions = [], {}
    for name in names:
        rows = frame[(products == name).to_numpy()]
        series = prepare_series(rows, spec.date_column, spec.quantity_column, freq=spec.freq, agg="sum")
        parts.append(series.assign(unique_id=name))
        pos = pd.Series(position[(products == name).to_numpy()], index=when[(products == name).to_numpy()])
        pos = pos.dropna().sort_index()
        if pos.empty:
            raise ValidationError(f"product {name!r} has no inventory position in '{spec.position_column}'",
                                  field="position_column", details={"product": name})
        positions[name] = float(pos.iloc[-1])
    return pd.concat(parts, ignore_index=True)[["unique_id", "ds", "y"]], positions


def _past_errors(spec: InventorySpec, series: pd.DataFrame) -> dict[str, np.ndarray]:
    """Scaled protection-interval errors per product (:func:`aihub.inventory.recent_errors`); short histories: none.

    ``benchmarks/inventory_policy.py`` measures why: on Superstore the normal
    formula reached a 0.82 cycle service level for a 0.95 target, the empirical
    quantile of the forecast's own errors 0.94.
    """
    from aihub.errors import AihubError
    from aihub.inventory import recent_errors

    out = {}
    for name, rows in series.groupby("unique_id", sort=False):
        try:
            out[str(name)] = recent_errors(rows[["ds", "y"]].reset_index(drop=True), freq=spec.freq,
                                           protection=spec.lead_time + spec.review_period,
                                           candidates=INVENTORY_CANDIDATES)
        except AihubError:
            continue  # too little history: the normal formula (safety_stock_basis says which)
    return out


def fit_inventory(spec: InventorySpec, frame: pd.DataFrame, progress: Progress) -> Fitted:
    """Forecast each product's demand, then its (s, Q) or (R, S) policy and stock-out risk."""
    from aihub.forecasting import forecast_many
    from aihub.inventory import inventory_policy

    _columns(spec, frame, ("product_column", "date_column", "quantity_column", "position_column"))
    progress(0.15, "Building demand per product and period")
    series, positions = _demand_series(spec, frame)
    horizon = max(math.ceil(spec.lead_time + spec.review_period) + 1, 8)
    progress(0.3, f"Forecasting {len(positions)} products, {horizon} periods ahead")
    forecast = (_forecaster or forecast_many)(series, horizon=horizon, freq=spec.freq, algorithm="auto",
                             candidates=INVENTORY_CANDIDATES, on_error="naive", n_jobs=1, level=95)
    progress(0.6, "Re-forecasting the last 52 reviews to size safety stock from the forecast's own errors")
    errors = _past_errors(spec, series)
    progress(0.85, "Computing safety stock, reorder points and order quantities")
    params = {"lead_time": spec.lead_time, "review_period": spec.review_period, "service_level": spec.service_level,
              "ordering_cost": spec.ordering_cost, "holding_cost": spec.holding_cost, "interval_level": 95}
    policy = inventory_policy(forecast, positions, params, product_col="unique_id", errors=errors)
    due = policy[policy["needs_order"]]
    recent = series.groupby("unique_id", sort=False).tail(26)
    metrics = {"products": len(policy), "need_order": len(due), "service_level_target": spec.service_level,
               "mean_stockout_probability": float(policy["stockout_probability"].mean()),
               "forecast_models": jsonsafe.plain(forecast.drop_duplicates("unique_id")["model"].value_counts().to_dict())}
    fmt = "%Y-%m-%d"
    state = {"policy": jsonsafe.plain(policy.to_dict("records")),
             "forecast": jsonsafe.plain(forecast.assign(ds=forecast["ds"].dt.strftime(fmt)).to_dict("records")),
             "history": jsonsafe.plain(recent.assign(ds=recent["ds"].dt.strftime(fmt)).to_dict("records"))}
    events = [("reorder_point", {"product": r["product"], "inventory_position": r["inventory_position"],
                                 "reorder_point": r["reorder_point"] if r["reorder_point"] is not None
                                 else r["order_up_to"], "order_now": r["order_now"],
                                 "stockout_probability": r["stockout_probability"]})
              for r in jsonsafe.plain(due.to_dict("records"))]
    algo = policy["policy"].iloc[0] if len(policy) else "(s, Q)"
    return Fitted(algo, {**spec.model_dump(), "horizon": horizon}, jsonsafe.plain(metrics), state, series, events)


# ------------------------------------------------------------------ sentiment
def fit_sentiment(spec: SentimentSpec, frame: pd.DataFrame, progress: Progress) -> Fitted:
    """Score every text (VADER), then the trend per group and period and significant drops."""
    from aihub.frames import date_column
    from aihub.sentiment import detect_sentiment_drops, score_texts

    _columns(spec, frame, ("text_column", "time_column", "group_column"))
    df = frame
    if spec.time_column:
        df = df.assign(_t=date_column(df, spec.time_column)).sort_values("_t", kind="stable").drop(columns="_t")
    if len(df) > MAX_SENTIMENT_ROWS:
        df = df.tail(MAX_SENTIMENT_ROWS)
    progress(0.2, f"Scoring {len(df):,} texts")
    scored = score_texts(df, spec.text_column)
    keep = [c for c in (spec.time_column, spec.group_column) if c]
    rows = pd.concat([df[keep].reset_index(drop=True), scored.reset_index(drop=True)], axis=1)
    rows["text"] = df[spec.text_column].astype(str).str.slice(0, 500).to_numpy()
    if spec.time_column:
        rows[spec.time_column] = date_column(rows, spec.time_column).dt.strftime("%Y-%m-%d")
    drops = []
    if spec.time_column:
        progress(0.8, "Testing for sentiment drops")
        drops = [d.to_dict() for d in detect_sentiment_drops(rows, spec.time_column, spec.group_column, freq=spec.freq)]
    counts = scored["label"].value_counts().to_dict()
    metrics = {"texts": len(scored), **{f"texts_{k}": int(v) for k, v in counts.items()},
               "mean_score": float(scored["score"].mean()) if scored["score"].notna().any() else None,
               "drops": len(drops)}
    state = {"rows": jsonsafe.plain(rows.to_dict("records")), "drops": jsonsafe.plain(drops)}
    return Fitted("vader", spec.model_dump(), jsonsafe.plain(metrics), state, rows[["text", "score"]])


# ------------------------------------------------------------------ lifetime value
def fit_clv_spec(spec: CLVSpec, frame: pd.DataFrame, progress: Progress) -> Fitted:
    """BG/NBD + Gamma-Gamma on the order lines; expected spend per customer over the horizon."""
    from aihub.clv import fit_clv, predict_clv, summary_from_orders

    _columns(spec, frame, ("customer_column", "date_column", "amount_column"))
    progress(0.2, "Summarising customers (frequency, recency, age, spend)")
    summary = summary_from_orders(frame, spec.customer_column, spec.date_column, spec.amount_column,
                                  time_unit_days=spec.time_unit_days)
    progress(0.4, f"Fitting BG/NBD and Gamma-Gamma on {len(summary):,} customers")
    model = fit_clv(summary, time_unit_days=spec.time_unit_days)
    pred = predict_clv(model, summary, spec.horizon_days).sort_values("expected_spend", ascending=False)
    metrics = {"customers": model.n_customers_, "repeat_customers": model.n_repeat_customers_,
               "expected_spend_total": float(pred["expected_spend"].sum()),
               "mean_probability_alive": float(pred["probability_alive"].mean()), "notes": list(model.notes_)}
    state = {"model": model.to_state(), "predictions": jsonsafe.plain(pred.to_dict("records"))}
    return Fitted("bg/nbd + gamma-gamma", spec.model_dump(), jsonsafe.plain(metrics), state, summary)


@dataclass(frozen=True)
class Template:
    """One analytic template: its kind, name, settings model, fitting function and column hints."""

    kind: str
    title: str
    description: str
    spec: type[_Base]
    fit: Callable[[Any, pd.DataFrame, Progress], Fitted]
    hints: dict[str, tuple[str, ...]]


TEMPLATES: dict[str, Template] = {t.kind: t for t in (
    Template("recommend", "Product recommendations",
             "Per customer, the top products they have not bought, with a reason; per product, what its buyers "
             "also bought.", RecommendSpec, fit_recommend,
             {"user_column": ("customer id", "customer", "user", "client"),
              "item_column": ("product id", "product", "item", "sku"),
              "time_column": ("order date", "date", "time"), "label_column": ("product name", "name")}),
    Template("pricing", "Price optimization",
             "Price elasticity per product with its interval, and a recommended price within your bounds.",
             PricingSpec, fit_pricing,
             {"product_column": ("product id", "product", "item", "sku"), "date_column": ("month", "date", "period"),
              "price_column": ("unit price", "price"), "quantity_column": ("quantity", "qty", "units"),
              "category_column": ("category",), "cost_column": ("unit cost", "cost")}),
    Template("inventory", "Inventory optimization",
             "Safety stock, reorder point, order quantity and stock-out risk per product from a demand forecast.",
             InventorySpec, fit_inventory,
             {"product_column": ("product", "item", "sku"), "date_column": ("date", "week", "day"),
              "quantity_column": ("units sold", "demand", "quantity", "sales"),
              "position_column": ("inventory position", "stock on hand", "on hand", "stock", "inventory")}),
    Template("sentiment", "Sentiment analysis",
             "Sentiment of each text (reviews, tickets, survey answers) with the words that drove it, trends "
             "and drops; no labels needed.", SentimentSpec, fit_sentiment,
             {"text_column": ("review", "text", "comment", "feedback", "answer"), "time_column": ("date", "time"),
              "group_column": ("product", "category", "store")}),
    Template("clv", "Customer lifetime value (BG/NBD)",
             "Expected purchases, probability of still being a customer and expected spend per customer.",
             CLVSpec, fit_clv_spec,
             {"customer_column": ("customer id", "customer", "user"), "date_column": ("order date", "date"),
              "amount_column": ("sales", "amount", "revenue", "value")}),
)}
KINDS: tuple[str, ...] = tuple(TEMPLATES)


def template(kind: str) -> Template:
    """The template of ``kind``; ValidationError listing the kinds otherwise."""
    if kind not in TEMPLATES:
        raise ValidationError(f"analytic must be one of {', '.join(KINDS)}; got {kind!r}", field="kind")
    return TEMPLATES[kind]


def check_spec(kind: str, raw: dict[str, Any] | str) -> _Base:
    """Validated settings of an analytic (errors name the field and what is allowed)."""
    t = template(kind)
    return parse(t.spec, raw, what=f"{t.title} settings")


def suggest_columns(kind: str, columns: list[str]) -> dict[str, str]:
    """Best guess of each column setting from the column names (first hint that matches, exact then contained)."""
    t = template(kind)
    norm = {c: c.strip().lower().replace("_", " ") for c in columns}
    out: dict[str, str] = {}
    for key, hints in t.hints.items():
        for h in hints:
            hit = next((c for c, n in norm.items() if n == h and c not in out.values()), None) or next(
                (c for c, n in norm.items() if h in n and c not in out.values()), None)
            if hit:
                out[key] = hit
                break
    return out


def require_fitted_rows(frame: pd.DataFrame) -> None:
    """Refuse an empty dataset version before any method runs."""
    if frame is None or len(frame) == 0:
        raise TrainingError("the dataset has no rows; upload data first", field="dataset_id")
