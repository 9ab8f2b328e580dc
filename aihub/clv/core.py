"""Probabilistic customer lifetime value: BG/NBD for purchase counts, Gamma-Gamma for spend.

Models
------
* BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way:
  An Alternative to the Pareto/NBD Model", Marketing Science 24(2)): while
  alive, a customer buys as a Poisson process with rate ``λ ~ Gamma(r, α)``;
  after each purchase they drop out with probability ``p ~ Beta(a, b)``.
  Likelihood: their equation (6); expected purchases in the next ``t``
  periods given ``(x, t_x, T)``: equation (10); probability alive: their
  appendix / Fader, Hardie & Lee (2008) note "Computing P(alive) using the
  BG/NBD model".
* Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary
  Value"; Colombo & Jiang 1999): a customer's transaction values are Gamma
  with shape ``p`` and a scale ``ν ~ Gamma(q, γ)``; fitted on customers with
  repeat purchases; expected average transaction value given ``(x, m_x)``:
  their equation (5).

Both are fitted by maximum likelihood with ``scipy.optimize.minimize``
(L-BFGS-B on log-parameters). The library route was judged first:
``lifetimes`` works here but is archived (no fixes since 2020), ``btyd``
requires Python < 3.10, and ``pymc-marketing`` (maintained) needs Python 3.12
for its current releases and brings PyMC/PyTensor (about 20 more packages and
a C compiler at run time) for what are two closed-form likelihoods. The
formulas below were checked against ``lifetimes`` 0.11.3 and the published
CDNOW figures (tests/core/test_clv.py).

Data conventions (as in the papers): one transaction per customer and day
(order lines summed); ``frequency`` ``x`` counts *repeat* transactions;
``recency`` ``t_x`` is the time from the first to the last transaction and
``T`` the time from the first transaction to the end of observation, both in
``time_unit_days`` (default 7: weeks); ``monetary`` is the mean value of the
repeat transactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field
from scipy import optimize, special

from aihub import jsonsafe
from aihub.errors import TrainingError, ValidationError
from aihub.frames import date_column, numeric_column, require_columns, require_frame
from aihub.userconfig import UserConfig, parse

STATE_VERSION = 1
SUMMARY_COLUMNS = ("customer", "frequency", "recency", "T", "monetary")


class CLVParams(UserConfig):
    """Settings of :func:`fit_clv`."""

    time_unit_days: float = Field(7.0, gt=0.0, le=366.0, description="length of one period in days")
    penalizer: float = Field(0.0, ge=0.0, le=100.0, description="L2 penalty on the parameters (lifetimes' convention)")
    min_customers: int = Field(20, ge=5, description="fewest customers to fit on")


def check_params(params: CLVParams | dict[str, Any] | None = None, **overrides: Any) -> CLVParams:
    """Validated settings (errors name the setting, the value and the range)."""
    base = params.model_dump() if isinstance(params, CLVParams) else dict(params or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    return parse(CLVParams, base, what="Lifetime value settings")


def summary_from_orders(
    orders: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    *,
    observation_end: Any = None,
    time_unit_days: float = 7.0,
    dayfirst: bool | None = None,
) -> pd.DataFrame:
    """Per-customer ``frequency, recency, T, monetary`` from order lines.

    Parameters
    ----------
    orders : DataFrame of shape (n_lines, n_columns)
    customer_col, date_col, amount_col : str
        Customer, order date and line value (currency) columns.
    observation_end : date-like, optional
        End of observation; orders on or after it are ignored. Default: the day
        after the last order.
    time_unit_days : float, default 7
    dayfirst : bool, optional

    Returns
    -------
    DataFrame with columns customer, frequency (int), recency, T (periods),
    monetary (currency; 0 for customers without repeat transactions), one row
    per customer with a transaction before ``observation_end``.

    Raises
    ------
    ValidationError
        Missing columns, unparseable dates or amounts, no orders before the end.
    """
    require_frame(orders, "orders table")
    require_columns(orders, {"customer_col": customer_col, "date_col": date_col, "amount_col": amount_col}, "orders table")
    df = pd.DataFrame({"customer": orders[customer_col].astype(str).str.strip(),
                       "day": date_column(orders, date_col, dayfirst=dayfirst).dt.normalize().to_numpy(),
                       "amount": numeric_column(orders, amount_col, what="orders table")})
    df = df[orders[customer_col].notna().to_numpy() & (df["customer"] != "")]
    end = pd.Timestamp(observation_end) if observation_end is not None else df["day"].max() + pd.Timedelta(days=1)
    df = df[df["day"] < end]
    if df.empty:
        raise ValidationError(f"no orders before the end of observation {end.date()}", field="observation_end")
    tx = df.groupby(["customer", "day"], sort=True)["amount"].sum().reset_index()
    g = tx.groupby("customer", sort=True)
    first, last, n = g["day"].min(), g["day"].max(), g.size()
    first_value = g["amount"].first()
    total = g["amount"].sum()
    unit = pd.Timedelta(days=time_unit_days)
    freq = (n - 1).astype(np.int64)
    monetary = ((total - first_value) / freq.where(freq > 0)).fillna(0.0)
    return pd.DataFrame({"customer": first.index.astype(str), "frequency": freq.to_numpy(),
                         "recency": ((last - first) / unit).to_numpy(dtype=float),
                         "T": ((end - first) / unit).to_numpy(dtype=float), "monetary": monetary.to_numpy(dtype=float)})


# ---------------------------------------------------------------------------
# Likelihoods and conditional expectations
# ---------------------------------------------------------------------------


def bgnbd_log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, Fader, Hardie & Lee (2005) eq. (6).

    Parameters
    ----------
    params : array of 4 floats (r, alpha, a, b), all > 0
    x, t_x, T : arrays of shape (n_customers,)
        Repeat transactions, recency and age in periods.

    Returns
    -------
    ndarray of shape (n_customers,)
    """
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_expected_purchases(params: np.ndarray, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Expected transactions in the next ``t`` periods, Fader, Hardie & Lee (2005) eq. (10)."""
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    first = (a + b + x - 1) / (a - 1)
    second = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
    return first * second / _alive_denominator(params, x, t_x, T)


def bgnbd_probability_alive(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(customer still active at T | x, t_x, T) under BG/NBD (1 for x = 0 by the model's assumption)."""
    return 1.0 / _alive_denominator(params, x, t_x, T)


def _alive_denominator(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, a, b = params
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = (a / np.maximum(b + x - 1, 1e-300)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return 1.0 + np.where(x > 0, extra, 0.0)


def gamma_gamma_log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend ``m`` of ``x`` repeat transactions
    (Fader & Hardie 2013, eq. 3, with the Jacobian of the mean)."""
    p, q, g = params
    return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) + q * np.log(g)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + x * m))


def gamma_gamma_expected_value(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[average transaction value | x, m], Fader & Hardie (2013) eq. (5); the population mean
    ``p γ / (q - 1)`` where ``x = 0``."""
    p, q, g = params
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)
    return np.where(x > 0, (g + x * m) * p / (p * x + q - 1), p * g / (q - 1))


def _mle(nll, n_params: int, penalizer: float, what: str) -> tuple[np.ndarray, float]:
    def objective(log_params: np.ndarray) -> float:
        params = np.exp(log_params)
        value = nll(params) + penalizer * float(np.sum(params ** 2))
        return value if np.isfinite(value) else 1e300

    best = None
    for start in (np.zeros(n_params), np.full(n_params, -1.0), np.full(n_params, 1.0)):
        res = optimize.minimize(objective, start, method="L-BFGS-B", bounds=[(-12, 12)] * n_params)
        if best is None or res.fun < best.fun:
            best = res
    if best is None or not np.isfinite(best.fun) or best.fun >= 1e299:
        raise TrainingError(f"the {what} likelihood could not be maximised on this data", field="orders")
    return np.exp(best.x), -float(best.fun)


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class CLVModel:
    """Fitted BG/NBD + Gamma-Gamma model. Learned attributes end in ``_``.

    Attributes
    ----------
    params : CLVParams
    bgnbd_ : dict
        ``r, alpha, a, b``.
    gamma_gamma_ : dict or None
        ``p, q, gamma``; None when fewer than ``min_customers`` made repeat purchases.
    log_likelihood_ : dict
        ``bgnbd`` and ``gamma_gamma`` total log-likelihoods.
    n_customers_, n_repeat_customers_ : int
    frequency_monetary_corr_ : float or None
        Pearson correlation of frequency and monetary value among repeat
        customers; Gamma-Gamma assumes it is near 0 (Fader & Hardie 2013).
    notes_ : list of str
    """

    params: CLVParams
    bgnbd_: dict[str, float]
    gamma_gamma_: dict[str, float] | None
    log_likelihood_: dict[str, float]
    n_customers_: int
    n_repeat_customers_: int
    frequency_monetary_corr_: float | None
    notes_: list[str] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        """Strict-JSON state (7 parameters and fit facts)."""
        return jsonsafe.plain({"kind": "clv_bgnbd_gg", "version": STATE_VERSION, "params": self.params.model_dump(),
                               "bgnbd": self.bgnbd_, "gamma_gamma": self.gamma_gamma_,
                               "log_likelihood": self.log_likelihood_, "n_customers": self.n_customers_,
                               "n_repeat_customers": self.n_repeat_customers_,
                               "frequency_monetary_corr": self.frequency_monetary_corr_, "notes": self.notes_},
                              strict=True)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CLVModel:
        """Inverse of :meth:`to_state`.

        Raises
        ------
        ValidationError
            Not a stored lifetime value model of this version.
        """
        if not isinstance(state, dict) or state.get("kind") != "clv_bgnbd_gg" or state.get("version") != STATE_VERSION:
            raise ValidationError("not a stored lifetime value model (kind/version mismatch)", field="state")
        return cls(params=check_params(state["params"]), bgnbd_=dict(state["bgnbd"]),
                   gamma_gamma_=None if state["gamma_gamma"] is None else dict(state["gamma_gamma"]),
                   log_likelihood_=dict(state["log_likelihood"]), n_customers_=int(state["n_customers"]),
                   n_repeat_customers_=int(state["n_repeat_customers"]),
                   frequency_monetary_corr_=state["frequency_monetary_corr"], notes_=list(state["notes"]))


def _check_summary(summary: pd.DataFrame) -> pd.DataFrame:
    require_frame(summary, "customer summary")
    require_columns(summary, {c: c for c in SUMMARY_COLUMNS if c != "customer"}, "customer summary")
    bad = (summary["frequency"] < 0) | (summary["recency"] < 0) | (summary["recency"] > summary["T"] + 1e-9)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValidationError(f"customer summary row {i + 1}: needs 0 <= recency <= T and frequency >= 0 "
                              f"(got frequency {summary['frequency'].iloc[i]}, recency {summary['recency'].iloc[i]}, "
                              f"T {summary['T'].iloc[i]})", field="summary", details={"row": i + 1})
    return summary


def fit_clv(summary: pd.DataFrame, params: CLVParams | dict[str, Any] | None = None, **overrides: Any) -> CLVModel:
    """Fit BG/NBD on every customer and Gamma-Gamma on repeat customers.

    Parameters
    ----------
    summary : DataFrame with columns frequency, recency, T, monetary
        As from :func:`summary_from_orders` (periods of ``time_unit_days``).
    params : CLVParams or dict, optional

    Returns
    -------
    CLVModel

    Raises
    ------
    ValidationError
        Bad settings or an inconsistent summary row (named).
    TrainingError
        Fewer than ``min_customers`` customers, or no repeat purchases at all.
    """
    p = check_params(params, **overrides)
    s = _check_summary(summary)
    x, t_x, T = (s[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    if len(s) < p.min_customers:
        raise TrainingError(f"{len(s)} customers; the lifetime value model needs at least {p.min_customers}", field="orders")
    if not (x > 0).any():
        raise TrainingError("no customer bought twice; purchase rates cannot be estimated", field="orders")
    bg, ll_bg = _mle(lambda q: -float(bgnbd_log_likelihood(q, x, t_x, T).sum()), 4, p.penalizer, "BG/NBD")
    notes: list[str] = []
    if abs(bg[2] - 1.0) < 1e-6:  # eq. (10) divides by a - 1
        bg[2] = 1.0 + 1e-6
    if bg[2] / (bg[2] + bg[3]) < 1e-3:
        notes.append("the fitted drop-out probability is near 0: customers are treated as still active "
                     "(probability alive near 1); spend forecasts rest on purchase rates alone.")
    rep = x > 0
    m = s["monetary"].to_numpy(dtype=float)
    rep &= m > 0
    gg, ll_gg, corr = None, None, None
    if rep.sum() >= p.min_customers:
        gg_arr, ll_gg = _mle(lambda q: -float(gamma_gamma_log_likelihood(q, x[rep], m[rep]).sum()), 3, p.penalizer,
                             "Gamma-Gamma")
        if gg_arr[1] <= 1.0:
            notes.append("Gamma-Gamma q <= 1: the population mean spend is undefined; per-customer means are used.")
        gg = {"p": float(gg_arr[0]), "q": float(gg_arr[1]), "gamma": float(gg_arr[2])}
        corr = float(np.corrcoef(x[rep], m[rep])[0, 1]) if rep.sum() > 2 else None
        if corr is not None and abs(corr) > 0.3:
            notes.append(f"frequency and spend per purchase correlate ({corr:+.2f}); Gamma-Gamma assumes they do not.")
    else:
        notes.append(f"only {int(rep.sum())} repeat customers: spend per purchase is each customer's own average.")
    return CLVModel(params=p, bgnbd_={"r": float(bg[0]), "alpha": float(bg[1]), "a": float(bg[2]), "b": float(bg[3])},
                    gamma_gamma_=gg, log_likelihood_={"bgnbd": ll_bg, "gamma_gamma": ll_gg}, n_customers_=len(s),
                    n_repeat_customers_=int(rep.sum()), frequency_monetary_corr_=corr, notes_=notes)


def predict_clv(model: CLVModel, summary: pd.DataFrame, horizon_days: float = 365.0) -> pd.DataFrame:
    """Per-customer expected purchases and spend over the next ``horizon_days``.

    Parameters
    ----------
    model : CLVModel
    summary : DataFrame with columns customer, frequency, recency, T, monetary
    horizon_days : float, default 365

    Returns
    -------
    DataFrame with columns customer, frequency, recency, T, monetary,
    probability_alive (0 to 1), expected_purchases (transactions in the
    horizon), expected_order_value (currency), expected_spend (currency in the
    horizon, = expected_purchases x expected_order_value, undiscounted).

    Raises
    ------
    ValidationError
        ``horizon_days`` not positive, or an inconsistent summary row.
    """
    if not np.isfinite(horizon_days) or horizon_days <= 0:
        raise ValidationError(f"horizon_days must be positive; got {horizon_days!r}", field="horizon_days")
    s = _check_summary(summary)
    bg = np.array([model.bgnbd_[k] for k in ("r", "alpha", "a", "b")])
    x, t_x, T = (s[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    m = s["monetary"].to_numpy(dtype=float)
    t = horizon_days / model.params.time_unit_days
    purchases = bgnbd_expected_purchases(bg, t, x, t_x, T)
    if model.gamma_gamma_ is not None and model.gamma_gamma_["q"] > 1:
        gg = np.array([model.gamma_gamma_[k] for k in ("p", "q", "gamma")])
        value = gamma_gamma_expected_value(gg, np.where(m > 0, x, 0.0), m)
    else:
        value = np.where(m > 0, m, np.nanmean(np.where(m > 0, m, np.nan)) if (m > 0).any() else 0.0)
    out = s[[c for c in SUMMARY_COLUMNS if c in s.columns]].copy()
    out["probability_alive"] = bgnbd_probability_alive(bg, x, t_x, T)
    out["expected_purchases"] = purchases
    out["expected_order_value"] = value
    out["expected_spend"] = purchases * value
    return out.reset_index(drop=True)
