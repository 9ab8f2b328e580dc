"""Price elasticity and price recommendation from price and quantity history.

Demand model (constant elasticity, log-log; e.g. Phillips 2021, "Pricing and
Revenue Optimization", 2nd ed., ch. 3):

    log q_it = alpha_i + beta_i log p_it + gamma_1 sin(2 pi m_t / 12) + gamma_2 cos(2 pi m_t / 12)
               + gamma_3 log c_it + e_it

``q`` quantity per period, ``p`` own price, ``m`` calendar month (seasonality
control), ``c`` the mean competitors' price where given; ``alpha_i`` a
product fixed effect. Estimation, with ``statsmodels`` OLS:

1. The controls ``gamma`` and a pooled slope per category come from the
   within-product (fixed effects) regression of all products.
2. Each product's own slope ``beta_i`` and its standard error come from OLS of
   its demeaned log quantity (controls removed) on its demeaned log price.
3. Partial pooling: ``beta_i`` is shrunk toward its category's mean with the
   normal-normal empirical Bayes rule (Efron & Morris 1975), the between-product
   variance ``tau^2`` estimated by DerSimonian & Laird (1986):
   ``w_i = tau^2 / (tau^2 + se_i^2)``, estimate ``w_i beta_i + (1 - w_i) beta_cat``,
   variance ``w_i se_i^2 + (1 - w_i)^2 se_cat^2``. Thin or noisy products lean on
   their category; well-measured ones keep their own slope.

The data cannot support a product's own estimate when it has fewer than
``min_periods`` periods, fewer than 3 distinct prices or a standard deviation
of log price below ``min_price_variation`` (0.02 = about 2% price movement);
such products get their category's estimate (``source = "category"``), or none
when the category has no usable product either (``status`` says why).

Prediction retransforms with Duan's (1983) smearing factor. Recommendation
searches a grid of prices inside the user's bounds (largest change, smallest
margin over unit cost) for the highest expected revenue or profit, averaging
over draws of the elasticity from its interval; the curve reports the 5th and
95th percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from aihub import jsonsafe
from aihub.errors import TrainingError, ValidationError
from aihub.frames import date_column, numeric_column, require_columns, require_frame
from aihub.userconfig import UserConfig, parse

STATE_VERSION = 1
Z90 = 1.6448536269514722


class PricingParams(UserConfig):
    """Settings of :func:`fit_elasticity`."""

    min_periods: int = Field(6, ge=3, le=1000, description="fewest periods for a product's own estimate")
    min_price_variation: float = Field(0.02, ge=0.0, le=1.0, description="smallest std of log price")
    seasonality: bool = Field(True, description="control for the calendar month (one Fourier pair)")


class PriceBounds(UserConfig):
    """The user's limits for :func:`recommend_price`."""

    objective: Literal["revenue", "profit"] = "revenue"
    max_change: float = Field(0.2, gt=0.0, le=1.0, description="largest change from today's price, as a share")
    min_margin: float | None = Field(None, ge=0.0, lt=1.0, description="smallest (price - cost) / price")
    grid: int = Field(81, ge=5, le=2001)
    draws: int = Field(400, ge=50, le=20000)
    seed: int = Field(0, ge=0)


def price_panel(frame: pd.DataFrame, product_col: str, date_col: str, price_col: str, quantity_col: str, *,
                category_col: str | None = None, competitor_cols: tuple[str, ...] | list[str] = (),
                cost_col: str | None = None, dayfirst: bool | None = None) -> pd.DataFrame:
    """A clean monthly panel: product, category, period, price, quantity, competitor price, cost.

    Rows of the same product and month are combined (quantity summed; price
    and competitor prices quantity-weighted means). Rows with quantity 0 are
    dropped (log demand is undefined there) and counted in ``attrs["dropped_zero"]``.

    Returns
    -------
    DataFrame with columns product, category, period (month start), price,
    quantity, competitor_price (NaN without competitor columns), cost (NaN without).

    Raises
    ------
    ValidationError
        Missing columns, non-numeric or non-positive prices (row named).
    """
    require_frame(frame, "price history")
    require_columns(frame, {"product_col": product_col, "date_col": date_col, "price_col": price_col,
                            "quantity_col": quantity_col, "category_col": category_col, "cost_col": cost_col},
                    "price history")
    for c in competitor_cols:
        require_columns(frame, {"competitor_cols": c}, "price history")
    df = pd.DataFrame({
        "product": frame[product_col].astype(str).str.strip().to_numpy(),
        "category": (frame[category_col].astype(str).to_numpy() if category_col else "all"),
        "period": date_column(frame, date_col, dayfirst=dayfirst).dt.to_period("M").dt.start_time.to_numpy(),
        "price": numeric_column(frame, price_col, what="price history", minimum=1e-12),
        "quantity": numeric_column(frame, quantity_col, what="price history", minimum=0.0),
    })
    if competitor_cols:
        comps = np.column_stack([numeric_column(frame, c, what="price history", allow_missing=True) for c in competitor_cols])
        comps[comps <= 0] = np.nan
        df["competitor_price"] = np.nanmean(np.where(np.isnan(comps), np.nan, comps), axis=1) if comps.size else np.nan
    else:
        df["competitor_price"] = np.nan
    df["cost"] = numeric_column(frame, cost_col, what="price history", allow_missing=True) if cost_col else np.nan
    zero = df["quantity"] <= 0
    df = df[~zero]
    w = df["quantity"]
    g = df.assign(pw=df["price"] * w, cw=df["competitor_price"] * w, kw=df["cost"] * w).groupby(
        ["product", "category", "period"], sort=True)
    out = pd.DataFrame({"quantity": g["quantity"].sum()})
    out["price"] = g["pw"].sum() / out["quantity"]
    out["competitor_price"] = g["cw"].sum(min_count=1) / out["quantity"]
    out["cost"] = g["kw"].sum(min_count=1) / out["quantity"]
    out = out.reset_index()[["product", "category", "period", "price", "quantity", "competitor_price", "cost"]]
    out.attrs["dropped_zero"] = int(zero.sum())
    return out


def _design(panel: pd.DataFrame, seasonality: bool, use_comp: bool) -> pd.DataFrame:
    z = pd.DataFrame(index=panel.index)
    if seasonality:
        m = panel["period"].dt.month.to_numpy()
        z["season_sin"] = np.sin(2 * np.pi * m / 12)
        z["season_cos"] = np.cos(2 * np.pi * m / 12)
    if use_comp:
        z["log_competitor_price"] = np.log(panel["competitor_price"].to_numpy())
    return z


@dataclass(eq=False)
class ElasticityModel:
    """Fitted demand model. Learned attributes end in ``_``.

    Attributes
    ----------
    params : PricingParams
    products_ : DataFrame
        One row per product: product, category, elasticity, std_error,
        lower, upper (90% interval), own_elasticity, own_std_error, source
        ("pooled" = own slope shrunk toward the category, "category", "none"),
        status (sentence), periods, price_variation (std of log price),
        intercept, last_price, last_period, last_competitor_price, last_cost.
    categories_ : DataFrame
        category, elasticity, std_error, tau2, products.
    controls_ : dict
        Control coefficients (season_sin, season_cos, log_competitor_price).
    smearing_ : float
        Duan's retransformation factor, mean of exp(residual).
    """

    params: PricingParams
    products_: pd.DataFrame
    categories_: pd.DataFrame
    controls_: dict[str, float]
    smearing_: float
    uses_competitors_: bool
    notes_: list[str] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        """Strict-JSON state."""
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return jsonsafe.plain(df.to_dict("records"))

        return {"kind": "price_elasticity", "version": STATE_VERSION, "params": self.params.model_dump(),
                "products": records(self.products_), "categories": records(self.categories_),
                "controls": jsonsafe.plain(self.controls_), "smearing": float(self.smearing_),
                "uses_competitors": self.uses_competitors_, "notes": list(self.notes_)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ElasticityModel:
        """Inverse of :meth:`to_state`; raises ValidationError for another kind or version."""
        if not isinstance(state, dict) or state.get("kind") != "price_elasticity" or state.get("version") != STATE_VERSION:
            raise ValidationError("not a stored price elasticity model (kind/version mismatch)", field="state")
        products = pd.DataFrame(state["products"])
        products["last_period"] = pd.to_datetime(products["last_period"])
        products = products.astype({c: float for c in ("elasticity", "std_error", "lower", "upper", "intercept",
                                                       "last_competitor_price", "last_cost")})
        return cls(params=parse(PricingParams, state["params"]), products_=products,
                   categories_=pd.DataFrame(state["categories"]), controls_=dict(state["controls"]),
                   smearing_=float(state["smearing"]), uses_competitors_=bool(state["uses_competitors"]),
                   notes_=list(state["notes"]))

    def product(self, product: str) -> pd.Series:
        """The row of ``products_`` for ``product``; ValidationError naming it when unknown."""
        rows = self.products_[self.products_["product"] == str(product)]
        if rows.empty:
            raise ValidationError(f"product {product!r} is not in the price history the model was fitted on",
                                  field="product")
        return rows.iloc[0]


def _dersimonian_laird(beta: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """Random-effects mean, its standard error and tau^2 (DerSimonian & Laird 1986)."""
    w = 1.0 / se ** 2
    fixed = float(np.sum(w * beta) / np.sum(w))
    if len(beta) < 2:
        return fixed, float(np.sqrt(1.0 / np.sum(w))), 0.0
    qstat = float(np.sum(w * (beta - fixed) ** 2))
    tau2 = max(0.0, (qstat - (len(beta) - 1)) / (np.sum(w) - np.sum(w ** 2) / np.sum(w)))
    wr = 1.0 / (se ** 2 + tau2)
    return float(np.sum(wr * beta) / np.sum(wr)), float(np.sqrt(1.0 / np.sum(wr))), tau2


def fit_elasticity(panel: pd.DataFrame, params: PricingParams | dict[str, Any] | None = None,
                   **overrides: Any) -> ElasticityModel:
    """Estimate each product's price elasticity with partial pooling (see the module docstring).

    Parameters
    ----------
    panel : DataFrame from :func:`price_panel`
    params : PricingParams or dict, optional

    Returns
    -------
    ElasticityModel

    Raises
    ------
    TrainingError
        No product has enough periods and price variation.
    """
    import statsmodels.api as sm

    base = params.model_dump() if isinstance(params, PricingParams) else dict(params or {})
    p = parse(PricingParams, {**base, **{k: v for k, v in overrides.items() if v is not None}}, what="Pricing settings")
    require_columns(panel, {c: c for c in ("product", "category", "period", "price", "quantity")}, "price panel")
    df = panel.reset_index(drop=True).copy()
    use_comp = bool(df["competitor_price"].notna().all()) if "competitor_price" in df.columns else False
    df["y"], df["x"] = np.log(df["quantity"]), np.log(df["price"])
    z = _design(df, p.seasonality, use_comp)
    stats = df.groupby("product").agg(periods=("x", "size"), price_variation=("x", "std"), distinct=("price", "nunique"))
    stats["price_variation"] = stats["price_variation"].fillna(0.0)
    usable = stats[(stats["periods"] >= p.min_periods) & (stats["distinct"] >= 3)
                   & (stats["price_variation"] >= max(p.min_price_variation, 1e-9))].index
    if len(usable) == 0:
        raise TrainingError("no product has enough periods and price variation to estimate an elasticity "
                            f"(needs {p.min_periods} periods, 3 distinct prices, std of log price >= "
                            f"{p.min_price_variation})", field="price_col")
    # 1. within-product regression of all usable products: controls and a slope per category
    u = df[df["product"].isin(usable)]
    cols = [u["x"].rename("x_" + c) * (u["category"] == c) for c in sorted(u["category"].unique())]
    X = pd.concat([*cols, z.loc[u.index]], axis=1)
    demean = (lambda frame: frame - frame.groupby(u["product"]).transform("mean"))
    Xd, yd = demean(X.astype(float)), demean(u[["y"]])["y"]
    fe = sm.OLS(yd.to_numpy(), Xd.to_numpy()).fit()
    coef = dict(zip(X.columns, fe.params))
    controls = {c: float(coef[c]) for c in z.columns}
    ctrl = z.to_numpy() @ np.array([controls[c] for c in z.columns]) if len(z.columns) else np.zeros(len(df))
    df["y_adj"] = df["y"] - ctrl
    # 2. each usable product's own slope
    own: dict[str, tuple[float, float]] = {}
    for prod, g in df[df["product"].isin(usable)].groupby("product"):
        xd, yd2 = g["x"] - g["x"].mean(), g["y_adj"] - g["y_adj"].mean()
        fit = sm.OLS(yd2.to_numpy(), xd.to_numpy()[:, None]).fit()
        resid_var = max(float(np.sum(fit.resid ** 2)) / max(len(g) - 2, 1), 1e-6)
        own[prod] = (float(fit.params[0]), float(np.sqrt(resid_var / np.sum(xd ** 2))))
    # 3. shrink toward the category mean
    cat_rows, products = [], []
    info = df.groupby("product").agg(category=("category", "first"))
    cat_est: dict[str, tuple[float, float, float]] = {}
    for cat, prods in info.groupby("category").groups.items():
        have = [q for q in prods if q in own]
        if have:
            b = np.array([own[q][0] for q in have])
            s = np.array([own[q][1] for q in have])
            cat_est[cat] = _dersimonian_laird(b, s)
            cat_rows.append({"category": cat, "elasticity": cat_est[cat][0], "std_error": cat_est[cat][1],
                             "tau2": cat_est[cat][2], "products": len(have)})
    resid = []
    for prod, g in df.groupby("product", sort=True):
        cat = g["category"].iloc[0]
        st = stats.loc[prod]
        row: dict[str, Any] = {"product": prod, "category": cat, "periods": int(st["periods"]),
                               "price_variation": float(st["price_variation"]), "own_elasticity": np.nan,
                               "own_std_error": np.nan}
        if prod in own and cat in cat_est:
            b, s = own[prod]
            mu, se_mu, tau2 = cat_est[cat]
            w = tau2 / (tau2 + s ** 2) if tau2 > 0 else 0.0
            est, var = w * b + (1 - w) * mu, w * s ** 2 + (1 - w) ** 2 * se_mu ** 2
            row.update(own_elasticity=b, own_std_error=s, elasticity=est, std_error=float(np.sqrt(var)), source="pooled",
                       status=f"own estimate {b:+.2f} shrunk {1 - w:.0%} toward the {cat} mean {mu:+.2f}")
        elif cat in cat_est:
            mu, se_mu, tau2 = cat_est[cat]
            why = _why_not(st, p)
            row.update(elasticity=mu, std_error=float(np.sqrt(se_mu ** 2 + tau2)), source="category",
                       status=f"{why}; the {cat} category's estimate is used")
        else:
            row.update(elasticity=np.nan, std_error=np.nan, source="none",
                       status=f"{_why_not(st, p)}, and no product of {cat} has enough: no estimate")
        if np.isfinite(row["elasticity"]):
            row["intercept"] = float(np.mean(g["y_adj"] - row["elasticity"] * g["x"]))
            resid.extend((g["y_adj"] - row["intercept"] - row["elasticity"] * g["x"]).tolist())
        else:
            row["intercept"] = np.nan
        last = g.sort_values("period").iloc[-1]
        row.update(last_price=float(last["price"]), last_period=last["period"],
                   last_competitor_price=float(last.get("competitor_price", np.nan)), last_cost=float(last.get("cost", np.nan)))
        products.append(row)
    prod_df = pd.DataFrame(products)
    prod_df["lower"] = prod_df["elasticity"] - Z90 * prod_df["std_error"]
    prod_df["upper"] = prod_df["elasticity"] + Z90 * prod_df["std_error"]
    notes = []
    if (prod_df["elasticity"] > 0).any():
        pos = prod_df.loc[prod_df["elasticity"] > 0, "product"].tolist()
        notes.append(f"{len(pos)} product(s) show demand rising with price ({', '.join(pos[:5])}): usually a sign of "
                     "unobserved promotions or quality changes; no price is recommended for them.")
    order = ["product", "category", "elasticity", "std_error", "lower", "upper", "own_elasticity", "own_std_error",
             "source", "status", "periods", "price_variation", "intercept", "last_price", "last_period",
             "last_competitor_price", "last_cost"]
    return ElasticityModel(params=p, products_=prod_df[order], categories_=pd.DataFrame(cat_rows),
                           controls_=controls, smearing_=float(np.mean(np.exp(resid))) if resid else 1.0,
                           uses_competitors_=use_comp, notes_=notes)


def _why_not(st: pd.Series, p: PricingParams) -> str:
    if st["periods"] < p.min_periods:
        return f"only {int(st['periods'])} periods (needs {p.min_periods})"
    if st["distinct"] < 3:
        return f"only {int(st['distinct'])} distinct price(s)"
    return f"too little price variation (std of log price {st['price_variation']:.3f} < {p.min_price_variation})"


def predict_quantity(model: ElasticityModel, rows: pd.DataFrame) -> np.ndarray:
    """Expected quantity for rows with product, period, price (and competitor_price when the model uses it).

    Returns
    -------
    ndarray of float, shape (n_rows,)
        Units per period; NaN for unknown products or products without an estimate.
    """
    require_columns(rows, {"product": "product", "period": "period", "price": "price"}, "rows")
    prod = model.products_.set_index("product")
    known = rows["product"].astype(str).isin(prod.index).to_numpy()
    out = np.full(len(rows), np.nan)
    if not known.any():
        return out
    r = rows[known]
    info = prod.loc[r["product"].astype(str)]
    z = _design(r.reset_index(drop=True), model.params.seasonality, model.uses_competitors_)
    ctrl = z.to_numpy() @ np.array([model.controls_[c] for c in z.columns]) if len(z.columns) else 0.0
    logq = info["intercept"].to_numpy() + info["elasticity"].to_numpy() * np.log(r["price"].to_numpy()) + ctrl
    out[known] = np.exp(logq) * model.smearing_
    return out


def recommend_price(model: ElasticityModel, product: str, *, current_price: float | None = None,
                    unit_cost: float | None = None, bounds: PriceBounds | dict[str, Any] | None = None,
                    **overrides: Any) -> tuple[dict[str, Any], pd.DataFrame]:
    """The price inside the bounds with the highest expected revenue or profit, and the curve behind it.

    Parameters
    ----------
    model : ElasticityModel
    product : str
    current_price : float, optional
        Today's price; default the last observed one.
    unit_cost : float, optional
        Needed for ``objective="profit"`` and ``min_margin``; default the last observed cost.
    bounds : PriceBounds or dict, optional
        ``objective``, ``max_change``, ``min_margin``, ``grid``, ``draws``, ``seed``.

    Returns
    -------
    recommendation : dict
        product, status ("ok" or why none), current_price, recommended_price,
        change (share), elasticity and its 90% interval, expected quantity,
        revenue and profit (per period) at both prices, objective, source.
    curve : DataFrame
        price, quantity, quantity_low, quantity_high, revenue, revenue_low,
        revenue_high, profit (NaN without cost) per grid price; low/high are
        the 5th/95th percentiles over elasticity draws.

    Raises
    ------
    ValidationError
        Unknown product, bad bounds, profit objective or margin without a cost,
        or bounds that leave no admissible price.
    """
    base = bounds.model_dump() if isinstance(bounds, PriceBounds) else dict(bounds or {})
    b = parse(PriceBounds, {**base, **{k: v for k, v in overrides.items() if v is not None}}, what="Price bounds")
    row = model.product(product)
    p0 = float(current_price if current_price is not None else row["last_price"])
    if not np.isfinite(p0) or p0 <= 0:
        raise ValidationError(f"current_price must be positive; got {current_price!r}", field="current_price")
    cost = unit_cost if unit_cost is not None else (row["last_cost"] if np.isfinite(row["last_cost"]) else None)
    if (b.objective == "profit" or b.min_margin is not None) and cost is None:
        raise ValidationError("profit and minimum margin need the unit cost (a cost column or unit_cost)",
                              field="unit_cost")
    rec = {"product": str(product), "current_price": p0, "objective": b.objective, "source": row["source"],
           "elasticity": float(row["elasticity"]), "elasticity_lower": float(row["lower"]),
           "elasticity_upper": float(row["upper"]), "status": "ok", "note": row["status"]}
    if not np.isfinite(row["elasticity"]):
        return rec | {"status": "no estimate: " + row["status"], "recommended_price": None}, pd.DataFrame()
    lo, hi = p0 * (1 - b.max_change), p0 * (1 + b.max_change)
    if b.min_margin is not None:
        lo = max(lo, float(cost) / (1 - b.min_margin))
    if lo > hi:
        raise ValidationError(f"no price within {b.max_change:.0%} of {p0:g} keeps a {b.min_margin:.0%} margin over "
                              f"the unit cost {cost:g}", field="min_margin")
    prices = np.unique(np.append(np.linspace(lo, hi, b.grid), p0 if lo <= p0 <= hi else []))
    period = row["last_period"] + pd.DateOffset(months=1)
    frame = pd.DataFrame({"product": str(product), "period": period, "price": prices,
                          "competitor_price": row["last_competitor_price"]})
    q_mid = predict_quantity(model, frame)
    rng = np.random.default_rng(b.seed)
    betas = rng.normal(row["elasticity"], row["std_error"], b.draws)
    q0 = predict_quantity(model, frame.iloc[[0]])[0]
    draws = q0 * (prices[None, :] / prices[0]) ** betas[:, None]  # same intercept, elasticity drawn
    rev = draws * prices[None, :]
    prof = draws * (prices[None, :] - float(cost)) if cost is not None else None
    curve = pd.DataFrame({"price": prices, "quantity": q_mid, "quantity_low": np.percentile(draws, 5, axis=0),
                          "quantity_high": np.percentile(draws, 95, axis=0), "revenue": rev.mean(axis=0),
                          "revenue_low": np.percentile(rev, 5, axis=0), "revenue_high": np.percentile(rev, 95, axis=0),
                          "profit": prof.mean(axis=0) if prof is not None else np.nan})
    if row["elasticity"] >= 0:
        return rec | {"status": "no recommendation: demand rises with price in this data (see note)",
                      "recommended_price": None}, curve
    target = curve["profit"] if b.objective == "profit" else curve["revenue"]
    best = int(np.nanargmax(target.to_numpy()))
    at = (lambda price: predict_quantity(model, frame.assign(price=[price] * len(frame)).iloc[[0]])[0])
    q_now, q_best = float(at(p0)), float(curve["quantity"].iloc[best])
    p_best = float(curve["price"].iloc[best])
    rec.update(recommended_price=p_best, change=p_best / p0 - 1, quantity_now=q_now, quantity_recommended=q_best,
               revenue_now=q_now * p0, revenue_recommended=q_best * p_best,
               profit_now=None if cost is None else q_now * (p0 - float(cost)),
               profit_recommended=None if cost is None else q_best * (p_best - float(cost)),
               at_bound=bool(best in (0, len(curve) - 1)))
    return rec, curve
