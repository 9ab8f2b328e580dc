"""Demand at a price: a shrunken price elasticity per product and a demand level that follows recent sales.

Two forms of the constant-elasticity (log-log) demand model (Phillips 2021,
"Pricing and Revenue Optimization", 2nd ed., ch. 3), both on monthly panels from
:func:`aihub.pricing.price_panel`:

* **anchored** (the default when it validates better): demand next month is the
  product's recent demand level moved by the price change,
  ``log q_{t+1} = L_t + beta_i log p_{t+1} + s(m_{t+1}) + g log c_{t+1}``, where
  ``L_t`` is simple exponential smoothing (Brown 1959; Hyndman et al. 2008,
  "Forecasting with Exponential Smoothing", ch. 2) of the price-, season- and
  competitor-adjusted log demand ``a_t = log q_t - beta_i log p_t - s(m_t) - g log c_t``:
  ``L_t = alpha a_t + (1 - alpha) L_{t-1}``. ``alpha = 1`` is the naive last value
  moved by the price change; one ``alpha`` for the panel minimises the mean absolute
  one-step-ahead error of ``a`` over the training months (each error uses only
  earlier months).
* **regression**: a fixed level per product, ``log q = mu_i + beta_i log p + s(m) + g log c``
  (the textbook fixed-effects log-log regression).

``s(m)`` are calendar-month effects (11 dummies) and ``g`` the cross-price
coefficient of the mean competitors' price, both pooled over all products by the
within-product (fixed effects) regression; month effects are only a candidate
when the panel spans at least two full years (two seasonal cycles, Hyndman &
Athanasopoulos 2021, "Forecasting: Principles and Practice", 3rd ed., 8.3).

**Elasticity, a hierarchical normal model** (Gelman et al. 2013, "Bayesian Data
Analysis", 3rd ed., ch. 5; partial pooling as in Efron & Morris 1975):

1. each product's own OLS slope ``b_i`` (standard error ``se_i``) of adjusted log
   demand on log price, when it has ``min_periods`` months, 3 distinct prices and
   a standard deviation of log price of at least ``min_price_variation``;
2. ``b_i ~ N(beta_i, se_i^2)``, ``beta_i ~ N(mu_c, tau_c^2)`` within category ``c``;
3. ``mu_c ~ N(prior_elasticity, prior_sd^2)``, a weakly informative prior: the
   default centre -2.62 is the mean of 1,851 published price elasticities in the
   meta-analysis of Bijmolt, van Heerde & Pieters (2005), "New Empirical
   Generalizations on the Determinants of Price Elasticity", Journal of Marketing
   Research 42(2), 141-156; the default spread 1.5 (95% between -5.6 and +0.3)
   lets a category's data dominate as soon as they are informative;
4. ``tau_c ~ half-normal(between_sd)`` (default 1: products of one category rarely
   differ by more than about two elasticity points), the weakly informative
   group-level prior of Gelman (2006), Bayesian Analysis 1(3), 515-534. ``tau_c``
   is integrated out numerically on a grid (BDA3 section 5.4), so a few wild own
   slopes cannot by themselves declare the category heterogeneous and escape
   shrinkage, as a moment estimate of ``tau^2`` lets them.

The reported elasticity and its 90% interval are the posterior mean and
``mean +- 1.645 sd``. Products with no usable own slope take their category's posterior (``source =
"category"``), or the prior alone when no product of the category has one
(``source = "prior"``: the data say nothing about this product's price response).

**Form and seasonality are chosen by an inner time split of the training months
only**: each candidate is refitted on the months before each of the last
``validation_months`` months and forecasts that month at its observed price; the
candidate with the smallest mean absolute log error (the log accuracy ratio,
which unlike MAPE does not favour forecasts that are too low; Tofallis 2015,
Journal of the Operational Research Society 66(8), 1352-1362) is refitted on all
months. The scores are kept in ``selection_``.

Point forecasts are medians, ``exp`` of the log forecast (what MAPE and median
APE judge); expected quantities for revenue multiply by Duan's (1983) smearing
factor of the one-step residuals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from aihub import jsonsafe
from aihub.errors import ValidationError
from aihub.frames import require_columns, require_frame
from aihub.userconfig import UserConfig, parse

STATE_VERSION = 2
Z90 = 1.6448536269514722
#: Mean of 1,851 published price elasticities (Bijmolt, van Heerde & Pieters 2005, JMR 42(2)).
LITERATURE_ELASTICITY = -2.62
ALPHA_GRID = tuple(round(a, 2) for a in np.arange(0.05, 1.0001, 0.05))
SEASON_MIN_MONTHS = 24


class PricingParams(UserConfig):
    """Settings of :func:`fit_elasticity`."""

    min_periods: int = Field(6, ge=3, le=1000, description="fewest months for a product's own estimate")
    min_price_variation: float = Field(0.02, ge=0.0, le=1.0, description="smallest std of log price")
    seasonality: bool = Field(True, description="consider calendar-month effects (needs two years of months)")
    form: Literal["auto", "anchored", "regression"] = Field("auto", description="demand form; auto = inner time split")
    prior_elasticity: float = Field(LITERATURE_ELASTICITY, ge=-20.0, le=5.0,
                                    description="centre of the elasticity prior (Bijmolt et al. 2005 mean)")
    prior_sd: float = Field(1.5, gt=0.0, le=50.0, description="spread of the elasticity prior")
    between_sd: float = Field(1.0, gt=0.0, le=20.0,
                              description="scale of the half-normal prior on the spread of elasticities in a category")
    validation_months: int = Field(0, ge=0, le=24, description="inner-split months; 0 = a quarter, 2 to 6")


@dataclass(eq=False)
class ElasticityModel:
    """Fitted demand model. Learned attributes end in ``_``.

    Attributes
    ----------
    params : PricingParams
    form_ : {"anchored", "regression"}
    season_ : {"none", "monthly"}
    alpha_ : float
        Smoothing weight of the level (anchored form), 0.05 to 1.
    products_ : DataFrame
        One row per product: product, category, elasticity, std_error, lower,
        upper (90% interval), own_elasticity, own_std_error, source ("pooled",
        "category", "prior"), status (sentence), periods, price_variation,
        intercept, level (log units), last_price, last_period, last_quantity,
        last_competitor_price, last_cost, min_price, max_price.
    categories_ : DataFrame
        category, elasticity and std_error (posterior of ``mu_c``),
        new_product_std_error (a product without its own slope), tau
        (posterior mean of the spread), products (with an own slope).
    controls_ : dict
        Month effects ``month_2`` .. ``month_12`` (log units, January = 0) and
        ``log_competitor_price`` when used.
    smearing_ : float
        Duan's factor, mean of exp(one-step residual).
    selection_ : DataFrame
        candidate, form, season, score (mean absolute log error), n (validated
        product-months), selected; empty when only one candidate was possible.
    """

    params: PricingParams
    form_: str
    season_: str
    alpha_: float
    products_: pd.DataFrame
    categories_: pd.DataFrame
    controls_: dict[str, float]
    smearing_: float
    uses_competitors_: bool
    selection_: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes_: list[str] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        """Strict-JSON state."""
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return jsonsafe.plain(df.to_dict("records"))

        return {"kind": "price_elasticity", "version": STATE_VERSION, "params": self.params.model_dump(),
                "form": self.form_, "season": self.season_, "alpha": float(self.alpha_),
                "products": records(self.products_), "categories": records(self.categories_),
                "controls": jsonsafe.plain(self.controls_), "smearing": float(self.smearing_),
                "uses_competitors": self.uses_competitors_, "selection": records(self.selection_),
                "notes": list(self.notes_)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ElasticityModel:
        """Inverse of :meth:`to_state`; raises ValidationError for another kind or version."""
        if not isinstance(state, dict) or state.get("kind") != "price_elasticity" or state.get("version") != STATE_VERSION:
            raise ValidationError("not a stored price elasticity model (kind/version mismatch)", field="state")
        products = pd.DataFrame(state["products"])
        products["last_period"] = pd.to_datetime(products["last_period"])
        floats = [c for c in products.columns if c not in ("product", "category", "source", "status", "last_period",
                                                            "periods")]
        products = products.astype({c: float for c in floats})
        return cls(params=parse(PricingParams, state["params"]), form_=state["form"], season_=state["season"],
                   alpha_=float(state["alpha"]), products_=products, categories_=pd.DataFrame(state["categories"]),
                   controls_=dict(state["controls"]), smearing_=float(state["smearing"]),
                   uses_competitors_=bool(state["uses_competitors"]), selection_=pd.DataFrame(state["selection"]),
                   notes_=list(state["notes"]))

    def product(self, product: str) -> pd.Series:
        """The row of ``products_`` for ``product``; ValidationError naming it when unknown."""
        rows = self.products_[self.products_["product"] == str(product)]
        if rows.empty:
            raise ValidationError(f"product {product!r} is not in the price history the model was fitted on",
                                  field="product")
        return rows.iloc[0]


# ----------------------------------------------------------------------------------------------- fitting pieces

def _prepare(panel: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    require_frame(panel, "price panel")
    require_columns(panel, {c: c for c in ("product", "category", "period", "price", "quantity")}, "price panel")
    df = panel.sort_values(["product", "period"], kind="stable").reset_index(drop=True).copy()
    df["product"] = df["product"].astype(str)
    df["category"] = df["category"].astype(str)
    if (df["price"] <= 0).any() or (df["quantity"] <= 0).any():
        raise ValidationError("the price panel needs positive prices and quantities (see price_panel)", field="panel")
    use_comp = bool("competitor_price" in df.columns and df["competitor_price"].notna().all()
                    and (df["competitor_price"] > 0).all())
    df["y"], df["x"] = np.log(df["quantity"].to_numpy(float)), np.log(df["price"].to_numpy(float))
    df["c"] = np.log(df["competitor_price"].to_numpy(float)) if use_comp else 0.0
    return df, use_comp


def _season_columns(season: str) -> list[str]:
    return [f"month_{m}" for m in range(2, 13)] if season == "monthly" else []


def _controls_matrix(periods: pd.Series, c: np.ndarray, season: str, use_comp: bool) -> tuple[np.ndarray, list[str]]:
    names = _season_columns(season)
    cols = []
    if names:
        month = pd.DatetimeIndex(periods).month.to_numpy()
        cols = [(month == m).astype(float) for m in range(2, 13)]
    if use_comp:
        cols.append(np.asarray(c, float))
        names = [*names, "log_competitor_price"]
    return (np.column_stack(cols) if cols else np.zeros((len(periods), 0))), names


def _demean(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame(values)
    return (frame - frame.groupby(groups).transform("mean")).to_numpy()


def _fit_controls(df: pd.DataFrame, usable: pd.Index, season: str, use_comp: bool) -> dict[str, float]:
    """Month and competitor coefficients from the within-product regression (a price slope per category)."""
    z, names = _controls_matrix(df["period"], df["c"].to_numpy(), season, use_comp)
    if not names:
        return {}
    rows = df["product"].isin(usable).to_numpy()
    if rows.sum() < len(names) + 3:
        rows = np.ones(len(df), bool)  # too few priced rows: controls from every product, no price term
        slopes = np.zeros((len(df), 0))
    else:
        cats = sorted(df.loc[rows, "category"].unique())
        slopes = np.column_stack([df["x"].to_numpy() * (df["category"].to_numpy() == k) for k in cats])
    X = np.column_stack([slopes, z])[rows]
    groups = df.loc[rows, "product"].to_numpy()
    Xd, yd = _demean(X, groups), _demean(df.loc[rows, ["y"]].to_numpy(), groups)[:, 0]
    coef = np.linalg.lstsq(Xd, yd, rcond=None)[0]
    return dict(zip(names, (float(v) for v in coef[slopes.shape[1]:])))


def _control_effect(controls: dict[str, float], periods: pd.Series, c: np.ndarray, season: str,
                    use_comp: bool) -> np.ndarray:
    z, names = _controls_matrix(periods, c, season, use_comp)
    return z @ np.array([controls.get(n, 0.0) for n in names]) if names else np.zeros(len(periods))


def _own_slopes(df: pd.DataFrame, usable: pd.Index) -> pd.DataFrame:
    """Per usable product: OLS slope of adjusted log demand on log price and its standard error."""
    u = df[df["product"].isin(usable)]
    g = u.groupby("product")
    xd = u["x"] - g["x"].transform("mean")
    yd = u["y_adj"] - g["y_adj"].transform("mean")
    s = pd.DataFrame({"sxx": (xd * xd).groupby(u["product"]).sum(), "sxy": (xd * yd).groupby(u["product"]).sum(),
                      "syy": (yd * yd).groupby(u["product"]).sum(), "n": g.size()})
    s["b"] = s["sxy"] / s["sxx"]
    resid = np.maximum((s["syy"] - s["b"] * s["sxy"]) / np.maximum(s["n"] - 2, 1), 1e-6)
    s["se"] = np.sqrt(resid / s["sxx"])
    return s[["b", "se"]]


def _hierarchical(b: np.ndarray, se: np.ndarray, p: PricingParams) -> dict[str, Any]:
    """Posterior of a category's products under ``b_j ~ N(theta_j, se_j^2)``, ``theta_j ~ N(mu, tau^2)``.

    Hyperpriors ``mu ~ N(prior_elasticity, prior_sd^2)`` and ``tau ~ half-normal(between_sd)``; ``tau`` is
    integrated out on a grid (Gelman et al. 2013, "Bayesian Data Analysis", 3rd ed., section 5.4).

    Returns
    -------
    dict with ``mean``/``sd`` (arrays, per product), ``mu``/``mu_sd`` (the category), ``new``/``new_sd``
    (a product of the category without its own slope) and ``tau`` (posterior mean).
    """
    taus = np.linspace(1e-3, 6.0 * p.between_sd, 300)
    v = se[None, :] ** 2 + taus[:, None] ** 2                                  # (taus, products)
    prec_mu = np.sum(1.0 / v, axis=1) + 1.0 / p.prior_sd ** 2
    v_mu = 1.0 / prec_mu
    mu_hat = v_mu * (np.sum(b[None, :] / v, axis=1) + p.prior_elasticity / p.prior_sd ** 2)
    logp = (-0.5 * (taus / p.between_sd) ** 2 + 0.5 * np.log(v_mu) - 0.5 * np.sum(np.log(v), axis=1)
            - 0.5 * np.sum((b[None, :] - mu_hat[:, None]) ** 2 / v, axis=1)
            - 0.5 * (p.prior_elasticity - mu_hat) ** 2 / p.prior_sd ** 2)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    vj = 1.0 / (1.0 / se[None, :] ** 2 + 1.0 / taus[:, None] ** 2)
    ej = vj * (b[None, :] / se[None, :] ** 2 + mu_hat[:, None] / taus[:, None] ** 2)
    varj = vj + (vj / taus[:, None] ** 2) ** 2 * v_mu[:, None]
    mean = w @ ej
    mu = float(w @ mu_hat)
    new_var = float(w @ (v_mu + taus ** 2 + mu_hat ** 2) - mu ** 2)
    return {"mean": mean, "sd": np.sqrt(np.maximum(w @ (varj + ej ** 2) - mean ** 2, 0.0)), "mu": mu,
            "mu_sd": float(np.sqrt(max(w @ (v_mu + mu_hat ** 2) - mu ** 2, 0.0))), "new": mu,
            "new_sd": float(np.sqrt(max(new_var, 0.0))), "tau": float(w @ taus)}


def _category_posteriors(own: pd.DataFrame, category_of: pd.Series,
                         p: PricingParams) -> tuple[pd.DataFrame, dict[str, tuple[float, float]]]:
    rows, per_product = [], {}
    for cat in sorted(category_of.unique()):
        have = own.index[own.index.isin(category_of.index[category_of == cat])]
        if len(have):
            post = _hierarchical(own.loc[have, "b"].to_numpy(float), own.loc[have, "se"].to_numpy(float), p)
            per_product.update({q: (float(m), float(s)) for q, m, s in zip(have, post["mean"], post["sd"])})
            mu, mu_sd, new_sd, tau = post["mu"], post["mu_sd"], post["new_sd"], post["tau"]
        else:
            mu, mu_sd, tau = p.prior_elasticity, p.prior_sd, float(p.between_sd * np.sqrt(2 / np.pi))
            new_sd = float(np.sqrt(p.prior_sd ** 2 + p.between_sd ** 2 * (1 - 2 / np.pi) + tau ** 2))
        rows.append({"category": cat, "elasticity": float(mu), "std_error": float(mu_sd),
                     "new_product_std_error": float(new_sd), "tau": float(tau), "products": len(have)})
    return pd.DataFrame(rows), per_product


def _why_not(st: pd.Series, p: PricingParams) -> str:
    if st["periods"] < p.min_periods:
        return f"only {int(st['periods'])} months (needs {p.min_periods})"
    if st["distinct"] < 3:
        return f"only {int(st['distinct'])} distinct price(s)"
    return f"too little price variation (std of log price {st['price_variation']:.3f} < {p.min_price_variation})"


def _elasticity_rows(stats: pd.DataFrame, own: pd.DataFrame, cats: pd.DataFrame,
                     posterior: dict[str, tuple[float, float]], p: PricingParams) -> pd.DataFrame:
    by_cat = cats.set_index("category")
    rows = []
    for prod, st in stats.iterrows():
        c = by_cat.loc[st["category"]]
        row = {"product": prod, "own_elasticity": np.nan, "own_std_error": np.nan}
        if prod in posterior:
            b, s = own.loc[prod, "b"], own.loc[prod, "se"]
            est, sd = posterior[prod]
            moved = abs(b - est) / abs(b - c["elasticity"]) if abs(b - c["elasticity"]) > 1e-9 else 1.0
            row.update(own_elasticity=b, own_std_error=s, elasticity=est, std_error=sd, source="pooled",
                       status=f"own estimate {b:+.2f} (se {s:.2f}) moved {min(moved, 1.0):.0%} of the way toward "
                              f"the {st['category']} estimate {c['elasticity']:+.2f}")
        elif c["products"] > 0:
            row.update(elasticity=c["elasticity"], std_error=c["new_product_std_error"], source="category",
                       status=f"{_why_not(st, p)}; the {st['category']} category's estimate is used")
        else:
            row.update(elasticity=c["elasticity"], std_error=c["new_product_std_error"], source="prior",
                       status=f"{_why_not(st, p)}, and no product of {st['category']} varies its price enough: "
                              "no estimate from the data (the prior alone)")
        rows.append(row)
    return pd.DataFrame(rows).set_index("product")


def _smooth(a: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """One-step-ahead levels (before each observation) and the final level of simple exponential smoothing."""
    level, before = a[0], np.empty(len(a))
    for t, v in enumerate(a):
        before[t] = level
        level = alpha * v + (1 - alpha) * level
    return before, level


def _choose_alpha(adjusted: list[np.ndarray]) -> float:
    """The smoothing weight with the smallest mean absolute one-step error over all products."""
    long = [a for a in adjusted if len(a) >= 2]
    if not long:
        return 1.0
    errs = {al: np.mean(np.concatenate([np.abs(a[1:] - _smooth(a, al)[0][1:]) for a in long])) for al in ALPHA_GRID}
    return float(min(errs, key=lambda al: (round(errs[al], 12), -al)))


def _fit_form(df: pd.DataFrame, use_comp: bool, p: PricingParams, form: str, season: str) -> ElasticityModel:
    stats = df.groupby("product").agg(category=("category", "first"), periods=("x", "size"),
                                      price_variation=("x", "std"), distinct=("price", "nunique"))
    stats["price_variation"] = stats["price_variation"].fillna(0.0)
    usable = stats.index[(stats["periods"] >= p.min_periods) & (stats["distinct"] >= 3)
                         & (stats["price_variation"] >= max(p.min_price_variation, 1e-9))]
    controls = _fit_controls(df, usable, season, use_comp)
    df = df.assign(y_adj=df["y"] - _control_effect(controls, df["period"], df["c"].to_numpy(), season, use_comp))
    own = _own_slopes(df, usable) if len(usable) else pd.DataFrame(columns=["b", "se"], dtype=float)
    cats, posterior = _category_posteriors(own, stats["category"], p)
    est = _elasticity_rows(stats, own, cats, posterior, p)
    beta = df["product"].map(est["elasticity"]).to_numpy(float)
    df = df.assign(a=df["y_adj"].to_numpy() - beta * df["x"].to_numpy())
    groups = {prod: g["a"].to_numpy() for prod, g in df.groupby("product", sort=True)}
    alpha = _choose_alpha(list(groups.values())) if form == "anchored" else 1.0
    levels, resid = {}, []
    intercept = df.groupby("product")["a"].mean()
    for prod, a in groups.items():
        before, levels[prod] = _smooth(a, alpha)
        resid.extend((a[1:] - before[1:]) if form == "anchored" else (a - intercept[prod]))
    last = df.groupby("product").tail(1).set_index("product")
    prices = df.groupby("product")["price"].agg(["min", "max"])
    out = stats[["category", "periods", "price_variation"]].join(est)
    out = out.assign(intercept=intercept, level=pd.Series(levels), last_price=last["price"],
                     last_period=last["period"], last_quantity=last["quantity"],
                     last_competitor_price=last.get("competitor_price", np.nan),
                     last_cost=last.get("cost", np.nan),
                     min_price=prices["min"], max_price=prices["max"])
    out["lower"] = out["elasticity"] - Z90 * out["std_error"]
    out["upper"] = out["elasticity"] + Z90 * out["std_error"]
    order = ["category", "elasticity", "std_error", "lower", "upper", "own_elasticity", "own_std_error", "source",
             "status", "periods", "price_variation", "intercept", "level", "last_price", "last_period",
             "last_quantity", "last_competitor_price", "last_cost", "min_price", "max_price"]
    products = out[order].reset_index(names="product")
    products = products.astype({c: float for c in order if c not in ("category", "source", "status", "periods",
                                                                      "last_period")})
    resid_arr = np.asarray(resid, float)
    return ElasticityModel(params=p, form_=form, season_=season, alpha_=alpha, products_=products, categories_=cats,
                           controls_=controls, smearing_=float(np.mean(np.exp(resid_arr))) if len(resid_arr) else 1.0,
                           uses_competitors_=use_comp)


# ----------------------------------------------------------------------------------------------- selection

def _candidates(df: pd.DataFrame, p: PricingParams) -> list[tuple[str, str]]:
    months = df["period"].dt.to_period("M")
    span = (months.max() - months.min()).n + 1
    seasons = ["none", "monthly"] if p.seasonality and span >= SEASON_MIN_MONTHS else ["none"]
    forms = ["anchored", "regression"] if p.form == "auto" else [p.form]
    return [(f, s) for f in forms for s in seasons]


def _inner_split(df: pd.DataFrame, use_comp: bool, p: PricingParams,
                 candidates: list[tuple[str, str]]) -> pd.DataFrame:
    """Score each candidate on the last training months, each forecast from the months before it."""
    months = sorted(df["period"].unique())
    n_val = p.validation_months or int(np.clip(round(len(months) / 4), 2, 6))
    n_val = min(n_val, len(months) - 2)
    errors: dict[tuple[str, str], list[float]] = {c: [] for c in candidates}
    for v in months[len(months) - n_val:]:
        train, test = df[df["period"] < v], df[df["period"] == v]
        test = test[test["product"].isin(train["product"])]
        if test.empty:
            continue
        for form, season in candidates:
            fit = _fit_form(train, use_comp, p, form, season)
            pred = predict_quantity(fit, test)
            errors[(form, season)].extend(np.abs(np.log(test["quantity"].to_numpy() / pred)).tolist())
    rows = [{"candidate": f"{f}, season {s}", "form": f, "season": s,
             "score": float(np.mean(e)) if e else np.nan, "n": len(e)} for (f, s), e in errors.items()]
    table = pd.DataFrame(rows)
    best = table["score"].fillna(np.inf).to_numpy().argmin()  # ties: the earlier, simpler candidate
    return table.assign(selected=np.arange(len(table)) == best)


def fit_elasticity(panel: pd.DataFrame, params: PricingParams | dict[str, Any] | None = None,
                   **overrides: Any) -> ElasticityModel:
    """Estimate each product's price elasticity and demand level (see the module docstring).

    Parameters
    ----------
    panel : DataFrame from :func:`aihub.pricing.price_panel`
        Columns product, category, period (month start), price, quantity
        (both > 0), optionally competitor_price and cost.
    params : PricingParams or dict, optional
        Overridden by keyword arguments of the same names.

    Returns
    -------
    ElasticityModel

    Raises
    ------
    ValidationError
        Missing columns, non-positive prices or quantities, bad settings.
    """
    base = params.model_dump() if isinstance(params, PricingParams) else dict(params or {})
    p = parse(PricingParams, {**base, **{k: v for k, v in overrides.items() if v is not None}}, what="Pricing settings")
    df, use_comp = _prepare(panel)
    if df.empty:
        raise ValidationError("the price panel has no rows", field="panel")
    candidates = _candidates(df, p)
    selection = pd.DataFrame()
    if len(candidates) > 1 and df["period"].nunique() >= 4:
        selection = _inner_split(df, use_comp, p, candidates)
        form, season = selection.loc[selection["selected"], ["form", "season"]].iloc[0]
    else:
        form, season = candidates[0]
    model = _fit_form(df, use_comp, p, form, season)
    model.selection_ = selection
    model.notes_ = _notes(model)
    return model


def _notes(model: ElasticityModel) -> list[str]:
    notes = []
    pr = model.products_
    pos = pr.loc[pr["elasticity"] > 0, "product"].tolist()
    if pos:
        notes.append(f"{len(pos)} product(s) show demand rising with price even after pooling ({', '.join(pos[:5])}): "
                     "usually unobserved promotions or quality changes; no price change is recommended for them.")
    prior = int((pr["source"] == "prior").sum())
    if prior:
        notes.append(f"{prior} product(s) have no estimate from the data (their categories never vary prices "
                     "enough); their prices are kept, and a price test would measure their response.")
    how = (f"recent demand level, smoothing weight {model.alpha_:.2f}" if model.form_ == "anchored"
           else "fixed level per product (regression)")
    notes.append(f"Demand form: {how}; calendar-month effects {'on' if model.season_ == 'monthly' else 'off'}.")
    return notes


# ----------------------------------------------------------------------------------------------- prediction

def predict_quantity(model: ElasticityModel, rows: pd.DataFrame, *, kind: Literal["median", "mean"] = "median") -> np.ndarray:
    """Quantity per period for rows with product, period and price.

    Parameters
    ----------
    model : ElasticityModel
    rows : DataFrame with columns product, period (datetime), price
        and competitor_price when the model uses it (blank: the product's
        last observed competitor price).
    kind : {"median", "mean"}
        The median point forecast, or the expected quantity (median times
        the smearing factor) used for expected revenue.

    Returns
    -------
    ndarray of float, shape (n_rows,)
        Units per period; NaN for products the model has not seen.
    """
    require_columns(rows, {"product": "product", "period": "period", "price": "price"}, "rows")
    if kind not in ("median", "mean"):
        raise ValidationError(f"kind must be 'median' or 'mean'; got {kind!r}", field="kind")
    prod = model.products_.set_index("product")
    names = rows["product"].astype(str)
    known = names.isin(prod.index).to_numpy()
    out = np.full(len(rows), np.nan)
    if not known.any():
        return out
    info = prod.loc[names[known]]
    r = rows[known]
    comp = np.full(len(r), np.nan)
    if model.uses_competitors_:
        given = r["competitor_price"].to_numpy(float) if "competitor_price" in r.columns else comp
        comp = np.where(np.isfinite(given) & (given > 0), given, info["last_competitor_price"].to_numpy(float))
    ctrl = _control_effect(model.controls_, pd.to_datetime(r["period"]), np.log(comp) if model.uses_competitors_
                           else comp, model.season_, model.uses_competitors_)
    base = info["level"].to_numpy() if model.form_ == "anchored" else info["intercept"].to_numpy()
    logq = base + info["elasticity"].to_numpy() * np.log(r["price"].to_numpy(float)) + ctrl
    out[known] = np.exp(logq) * (model.smearing_ if kind == "mean" else 1.0)
    return out
