"""What the result screens and API callers read from a deployed analytic (or a given version).

Every function takes the calling principal first, checks ``read`` (or
``predict`` for next best actions) through :func:`aihub.services.analytics.load`,
and returns plain DataFrames or dicts; CSV downloads go through
:func:`aihub.exports.to_csv_bytes` (spreadsheet formulas neutralised).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aihub import exports
from aihub.auth import Principal, require
from aihub.errors import ValidationError
from aihub.services import analytics, usage


# ------------------------------------------------------------------ recommendations
def _recommender(principal: Principal, model_id: int, version_id: int | None = None):
    from aihub.recommend import Recommender

    res = analytics.load(principal, model_id, version_id, kind="recommend")
    key = ("_recommender",)
    rec = res.state.get(key)
    if rec is None:
        rec = Recommender.from_state(res.state["model"])
        res.state[key] = rec  # the cached state is per (tenant, version): its fitted object too
    return res, rec


def recommend_customers(principal: Principal, model_id: int, *, version_id: int | None = None) -> list[str]:
    """Customers the recommender knows, in the order of the training data. Needs ``read``."""
    _, rec = _recommender(principal, model_id, version_id)
    return [str(u) for u in rec.users_]


def recommend_products(principal: Principal, model_id: int, *, version_id: int | None = None) -> pd.DataFrame:
    """Products the recommender knows: item, label, buyers (distinct customers). Needs ``read``."""
    _, rec = _recommender(principal, model_id, version_id)
    return pd.DataFrame({"item": rec.items_, "label": [rec.label(i) for i in rec.items_],
                         "buyers": rec.buyers_.astype(int)}).sort_values("buyers", ascending=False, kind="stable")


def recommendations_for(principal: Principal, model_id: int, customer: str, *, k: int | None = None,
                        version_id: int | None = None) -> pd.DataFrame:
    """Top-k products ``customer`` has not bought, with score and reason. Needs ``read``.

    Returns
    -------
    DataFrame with columns rank, item, label, score, source, reason
        An unknown customer gets the popular products (``source`` popularity).

    Raises
    ------
    ValidationError
        Empty customer, or ``k`` outside 1 to 100.
    """
    from aihub.recommend import recommend

    customer = str(customer or "").strip()
    if not customer:
        raise ValidationError("Enter a customer id.", field="customer")
    if k is not None and not 1 <= int(k) <= 100:
        raise ValidationError(f"k must be from 1 to 100; got {k!r}.", field="k")
    _, rec = _recommender(principal, model_id, version_id)
    usage.record(principal, "recommend", "lookup")
    out = recommend(rec, users=[customer], k=k)
    out.insert(2, "label", [rec.label(i) for i in out["item"]])
    return out.drop(columns="user")[["rank", "item", "label", "score", "source", "reason"]]


def also_bought(principal: Principal, model_id: int, product: str, *, k: int = 10,
                version_id: int | None = None) -> pd.DataFrame:
    """Customers who bought ``product`` also bought: also_bought, label, customers, confidence, lift. Needs ``read``.

    Raises
    ------
    ValidationError
        The product is not in the order lines the version was fitted on.
    """
    from aihub.recommend import also_bought as core_also_bought

    _, rec = _recommender(principal, model_id, version_id)
    return core_also_bought(rec, str(product), k=k).drop(columns="item")


def recommendations_csv(principal: Principal, model_id: int, *, k: int | None = None,
                        version_id: int | None = None) -> bytes:
    """Every customer's top-k as CSV: user,item,rank,score,source,reason. Needs ``read``."""
    from aihub.recommend import recommend

    _, rec = _recommender(principal, model_id, version_id)
    usage.record(principal, "recommend", "download")
    return exports.to_csv_bytes(recommend(rec, k=k))


# ------------------------------------------------------------------ pricing
def _pricing(principal: Principal, model_id: int, version_id: int | None):
    from aihub.pricing import ElasticityModel

    res = analytics.load(principal, model_id, version_id, kind="pricing")
    key = ("_elasticity",)
    model = res.state.get(key)
    if model is None:
        model = ElasticityModel.from_state(res.state["model"])
        res.state[key] = model
    return res, model


def price_table(principal: Principal, model_id: int, *, version_id: int | None = None) -> pd.DataFrame:
    """One row per product: elasticity with its 90% interval, source, the decision and recommended price. Needs ``read``.

    Products whose data cannot support an estimate have ``source`` "prior"
    (or "category") and ``decision`` "keep" with the reason in words.
    """
    res, _ = _pricing(principal, model_id, version_id)
    return pd.DataFrame(res.state["recommendations"])


def price_history(principal: Principal, model_id: int, product: str, *, version_id: int | None = None) -> pd.DataFrame:
    """The monthly panel of one product: period, price, quantity, competitor_price, cost. Needs ``read``."""
    res, _ = _pricing(principal, model_id, version_id)
    panel = pd.DataFrame(res.state["panel"])
    rows = panel[panel["product"] == str(product)].copy()
    rows["period"] = pd.to_datetime(rows["period"])
    return rows.reset_index(drop=True)


def price_recommendation(principal: Principal, model_id: int, product: str, *, objective: str | None = None,
                         max_change: float | None = None, min_margin: float | None = None,
                         current_price: float | None = None, version_id: int | None = None
                         ) -> tuple[dict[str, Any], pd.DataFrame]:
    """A price for ``product`` within the given bounds (the analytic's own by default), with the curve. Needs ``read``.

    Returns
    -------
    (recommendation, curve)
        As :func:`aihub.pricing.recommend_price`: the decision, reason, today's
        and the recommended price, expected quantity and revenue at both, and
        the demand/revenue curve with 5-95% bands per price.

    Raises
    ------
    ValidationError
        Unknown product, bounds out of range, or profit/margin without a cost.
    """
    from aihub.pricing import recommend_price

    res, model = _pricing(principal, model_id, version_id)
    bounds = dict(res.state.get("bounds") or {})
    bounds.update({k: v for k, v in {"objective": objective, "max_change": max_change,
                                     "min_margin": min_margin}.items() if v is not None})
    usage.record(principal, "pricing", "recommend")
    return recommend_price(model, str(product), current_price=current_price, bounds=bounds)


# ------------------------------------------------------------------ inventory
def inventory_policy(principal: Principal, model_id: int, *, only_due: bool = False,
                     version_id: int | None = None) -> pd.DataFrame:
    """Per product: safety stock, reorder point (or order-up-to level), order quantity, stock-out risk. Needs ``read``.

    ``only_due`` keeps the products at or below their reorder point,
    highest stock-out probability first (what the reorder trigger fires on).
    """
    res = analytics.load(principal, model_id, version_id, kind="inventory")
    policy = pd.DataFrame(res.state["policy"])
    if only_due:
        from aihub.inventory import products_to_order

        return products_to_order(policy)
    return policy


def inventory_projection(principal: Principal, model_id: int, product: str, *,
                         version_id: int | None = None) -> dict[str, Any]:
    """Recent demand, the forecast and the projected stock of one product against its reorder point. Needs ``read``.

    Returns
    -------
    dict
        ``history`` (ds, y), ``forecast`` (ds, yhat, yhat_lower, yhat_upper),
        ``projection`` (ds, stock: today's inventory position minus cumulative
        forecast demand, no order placed), ``policy`` (the product's row).

    Raises
    ------
    ValidationError
        The product is not planned by this version.
    """
    res = analytics.load(principal, model_id, version_id, kind="inventory")
    policy = pd.DataFrame(res.state["policy"])
    row = policy[policy["product"] == str(product)]
    if row.empty:
        raise ValidationError(f"product {product!r} is not planned by '{res.model.name}'", field="product")
    fc = pd.DataFrame(res.state["forecast"])
    fc = fc[fc["unique_id"] == str(product)].assign(ds=lambda d: pd.to_datetime(d["ds"])).reset_index(drop=True)
    hist = pd.DataFrame(res.state["history"])
    hist = hist[hist["unique_id"] == str(product)].assign(ds=lambda d: pd.to_datetime(d["ds"])).reset_index(drop=True)
    pos = float(row["inventory_position"].iloc[0])
    proj = pd.DataFrame({"ds": fc["ds"], "stock": pos - np.cumsum(np.maximum(fc["yhat"].to_numpy(float), 0.0))})
    return {"history": hist[["ds", "y"]], "forecast": fc[["ds", "yhat", "yhat_lower", "yhat_upper"]],
            "projection": proj, "policy": row.iloc[0].to_dict()}


# ------------------------------------------------------------------ sentiment
def sentiment_view(principal: Principal, model_id: int, *, version_id: int | None = None, n_negative: int = 10
                   ) -> dict[str, Any]:
    """Sentiment over time per group, the most negative recent texts, drops and label counts. Needs ``read``.

    Returns
    -------
    dict
        ``over_time`` (group, period, texts, mean_score, negative_share,
        positive_share; empty without a time column), ``most_negative`` (text,
        score, drivers, ... of the last period, or overall), ``drops`` (list of
        dict with title, narrative and figures), ``labels`` (label -> count),
        ``rows`` (every scored row).
    """
    from aihub.sentiment import most_negative, sentiment_over_time

    res = analytics.load(principal, model_id, version_id, kind="sentiment")
    spec = res.spec
    rows = pd.DataFrame(res.state["rows"])
    over = pd.DataFrame()
    since = None
    if spec.time_column and rows["score"].notna().any():
        over = sentiment_over_time(rows, spec.time_column, spec.group_column, spec.freq)
        since = over["period"].max() if len(over) else None
    neg = most_negative(rows, "text", n=n_negative, time_col=spec.time_column, since=since)
    return {"over_time": over, "most_negative": neg.reset_index(drop=True), "drops": list(res.state["drops"]),
            "labels": rows["label"].value_counts().to_dict(), "rows": rows}


def sentiment_csv(principal: Principal, model_id: int, *, version_id: int | None = None) -> bytes:
    """Every scored text as CSV (label, score, drivers, note). Needs ``read``."""
    res = analytics.load(principal, model_id, version_id, kind="sentiment")
    return exports.to_csv_bytes(pd.DataFrame(res.state["rows"]))


def sentiment_drop_findings(principal: Principal) -> list[dict[str, Any]]:
    """"Sentiment dropped for X" findings of every deployed sentiment analytic of the organization. Needs ``read``.

    Returns
    -------
    list of dict
        The drop's figures (group, recent and baseline means, texts, negative
        shares, p and q values), ``title``, ``narrative``, ``period`` and the
        ``model_id`` / ``model_name`` it comes from.
    """
    out = []
    for m in analytics.list_analytics(principal, "sentiment"):
        if m.active_version_id is None:
            continue
        res = analytics.load(principal, m.id, kind="sentiment")
        out += [{**d, "model_id": m.id, "model_name": m.name} for d in res.state["drops"]]
    return out


# ------------------------------------------------------------------ lifetime value
def clv_table(principal: Principal, model_id: int, *, version_id: int | None = None) -> pd.DataFrame:
    """Per customer: frequency, recency, T, monetary, probability_alive, expected purchases and spend. Needs ``read``."""
    res = analytics.load(principal, model_id, version_id, kind="clv")
    return pd.DataFrame(res.state["predictions"])


# ------------------------------------------------------------------ next best action
def next_best_actions(principal: Principal, model_id: int, dataset_id: int, actionable: dict[str, list | None],
                      *, risk_threshold: float = 0.5, max_actions: int = 3, use_training: bool = True
                      ) -> pd.DataFrame:
    """Suggested actions for each at-risk customer of a dataset under a deployed churn model. Needs ``predict``.

    Parameters
    ----------
    model_id : int
        A deployed binary classification model (churn); its champion scores.
    dataset_id : int
        The customers (newest version), with the model's feature columns.
    actionable : dict feature -> allowed values (None: any seen in training)
        The features the business can change (:func:`aihub.nba.parse_actionable`).
    use_training : bool
        Choose actions over cross-fitted copies of the model trained on its
        own training data (the robust choice of :mod:`aihub.nba`).

    Returns
    -------
    DataFrame
        The customers' id columns, then :data:`aihub.nba.OUTPUT_COLUMNS`;
        every risk is a model estimate, not a promise.

    Raises
    ------
    ValidationError
        Not a binary classifier, or a feature/value the model does not know.
    """
    from aihub.db import store
    from aihub.db.session import tenant_session
    from aihub.nba import next_best_actions as core
    from aihub.services import model_cache

    require(principal, "predict")
    from aihub.services import registry

    version = registry.require_version_of(principal, model_id, None)
    model = model_cache.load(principal.tenant_id, version.id)
    with tenant_session(principal.tenant_id) as s:
        customers = store.load_dataset_frame(s, store.latest_dataset_version_id(s, dataset_id))
        training = (store.load_dataset_frame(s, version.dataset_version_id)
                    if use_training and version.dataset_version_id else None)
    usage.record(principal, "next_best_action", "run")
    return core(model, customers, actionable, risk_threshold=risk_threshold, max_actions=max_actions,
                training=training)


def publish_actions(principal: Principal, model_id: int, actions: pd.DataFrame) -> int:
    """Start the workflows triggered by "a next best action is suggested": one event per customer's chosen action.

    Needs ``automation``. Each event carries the model, the customer's id
    columns, the feature and suggested value, the current and new risk and
    the action sentence; the same action for the same customer on the same
    day starts a workflow once.

    Returns
    -------
    int
        Events published (customers with a chosen action).

    Raises
    ------
    ValidationError
        ``actions`` is not a :func:`next_best_actions` table.
    """
    import datetime as dt

    from aihub import events, jsonsafe
    from aihub.frames import require_columns
    from aihub.nba.core import OUTPUT_COLUMNS
    from aihub.services import registry

    require(principal, "automation")
    registry.get_model(principal, model_id)  # in the caller's organization
    require_columns(actions, {c: c for c in ("row", "rank", "feature", "suggested_value", "action")}, "actions")
    ids = [c for c in actions.columns if c not in OUTPUT_COLUMNS]
    chosen = actions[(actions["rank"] == 1) & actions["feature"].notna()]
    today = dt.date.today().isoformat()
    for rec in jsonsafe.plain(chosen.to_dict("records")):
        customer = str(rec[ids[0]]) if ids else f"row {rec['row']}"
        events.publish(principal.tenant_id, events.NEXT_BEST_ACTION, {
            "model_id": model_id, "customer": customer, **{c: rec[c] for c in ids},
            "feature": rec["feature"], "suggested_value": rec["suggested_value"],
            "current_risk": rec["current_risk"], "new_risk": rec["new_risk"], "action": rec["action"],
            "dedupe_key": f"nba:{model_id}:{customer}:{rec['feature']}={rec['suggested_value']}:{today}"})
    usage.record(principal, "next_best_action", "workflow")
    return len(chosen)
