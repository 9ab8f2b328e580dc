"""Customer tables from orders: RFM (recency, frequency, monetary) and CLV.

RFM follows Hughes (1994), *Strategic Database Marketing*: recency is the
time since the last purchase, frequency the number of purchases and monetary
the total spend. Customers are segmented with K-Means on
``log1p``-transformed, standardised R, F and M, and each cluster is named from
its centroid profile (see :func:`name_segments`) instead of a cluster number.

The CLV table turns the same orders into a supervised problem: features from
orders before a cut-off date, target ``future_value`` = spend in the
``horizon_days`` after it (a common machine-learning formulation of
customer lifetime value, cf. Gupta et al. 2006, "Modeling Customer Lifetime
Value", J. Service Research 9(2)).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from aihub.errors import ValidationError
from aihub.ml.preprocess import parse_numeric

#: Business segment names and their prototype profile as percentile scores
#: (0 = worst customer, 1 = best) of (recency, frequency, monetary); a higher
#: recency score means a more recent purchase.
SEGMENT_PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "high-value": (0.75, 0.85, 0.90),
    "loyal": (0.70, 0.65, 0.50),
    "new": (0.85, 0.15, 0.25),
    "at-risk": (0.20, 0.60, 0.60),
    "dormant": (0.15, 0.20, 0.20),
}

SEGMENT_DESCRIPTIONS: dict[str, str] = {
    "high-value": "Recent, frequent, big spenders: protect and reward.",
    "loyal": "Buy regularly and recently: cross-sell and keep engaged.",
    "new": "Bought recently for the first time or two: onboard them.",
    "at-risk": "Used to buy often or much but not lately: win them back.",
    "dormant": "Few small purchases long ago: low-cost reactivation only.",
}

_DATE_FORMATS = {
    True: ("%d/%m/%y", "%d/%m/%Y", "%d-%m-%y", "%d-%m-%Y", "%d.%m.%y", "%d.%m.%Y"),
    False: ("%m/%d/%y", "%m/%d/%Y", "%m-%d-%y", "%m-%d-%Y", "%m.%d.%y", "%m.%d.%Y"),
}


def parse_dates(values: pd.Series, *, dayfirst: bool | None = None, column: str = "date") -> pd.Series:
    """Parse a date column, detecting day-first formats such as ``dd/mm/yy``.

    ISO dates (``2024-03-01``) and datetime columns pass through. For
    ``a/b/c`` dates with ``dayfirst=None``, a first part above 12 means
    day-first, a second part above 12 means month-first; if neither occurs
    the data are ambiguous and an error asks for ``dayfirst``.

    Parameters
    ----------
    values : pandas.Series
    dayfirst : bool, optional
    column : str
        Name used in error messages.

    Returns
    -------
    pandas.Series of datetime64[ns]

    Raises
    ------
    ValidationError
        If cells cannot be parsed (the message lists the first row numbers,
        1-based) or day/month order is ambiguous (``field=column``).
    """
    if ptypes.is_datetime64_any_dtype(values.dtype):
        return pd.to_datetime(values).dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else pd.to_datetime(values)
    text = values.astype(object).where(values.notna(), None)
    text = pd.Series([None if v is None else str(v).strip() for v in text], index=values.index, dtype=object)
    nonblank = text[text.notna() & (text != "")]
    if nonblank.empty:
        raise ValidationError(f"date column {column!r} is empty", field=column)
    parsed = None
    if nonblank.str.match(r"^\d{4}-\d{1,2}-\d{1,2}").all():
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    else:
        parts = nonblank.str.extract(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})$")
        if parts.notna().all().all():
            a = parts[0].astype(int)
            b = parts[1].astype(int)
            if dayfirst is None:
                if (a > 12).any() and not (b > 12).any():
                    dayfirst = True
                elif (b > 12).any() and not (a > 12).any():
                    dayfirst = False
                else:
                    raise ValidationError(
                        f"cannot tell whether dates in {column!r} are day-first or month-first; set dayfirst",
                        field=column,
                    )
            for fmt in _DATE_FORMATS[bool(dayfirst)]:
                attempt = pd.to_datetime(text, errors="coerce", format=fmt)
                if attempt[nonblank.index].notna().all():
                    parsed = attempt
                    break
        if parsed is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(text, errors="coerce", dayfirst=bool(dayfirst), format="mixed")
    bad = parsed.isna() & text.notna() & (text != "")
    if bad.any():
        rows = [int(i) + 1 for i in np.flatnonzero(bad.to_numpy())[:5]]
        raise ValidationError(
            f"column {column!r} has cells that are not dates (rows {', '.join(map(str, rows))}); e.g. {text[bad].iloc[0]!r}",
            field=column,
            details={"rows": rows},
        )
    return parsed


def _orders(
    orders: pd.DataFrame, customer_col: str, date_col: str, amount_col: str, order_col: str | None, dayfirst: bool | None
) -> pd.DataFrame:
    for role, col in (("customer_col", customer_col), ("date_col", date_col), ("amount_col", amount_col), ("order_col", order_col)):
        if col is not None and col not in orders.columns:
            raise ValidationError(
                f"{role} {col!r} is not a column of the orders table; columns: {', '.join(map(str, orders.columns[:30]))}",
                field=role,
            )
    amount, bad = parse_numeric(orders[amount_col])
    if bad.any():
        rows = [int(i) + 1 for i in np.flatnonzero(bad.to_numpy())[:5]]
        raise ValidationError(
            f"amount column {amount_col!r} has cells that are not numbers (rows {', '.join(map(str, rows))})",
            field="amount_col",
            details={"rows": rows},
        )
    df = pd.DataFrame(
        {
            "customer": orders[customer_col].astype(object).to_numpy(),
            "date": parse_dates(orders[date_col], dayfirst=dayfirst, column=date_col).to_numpy(),
            "amount": amount.fillna(0.0).to_numpy(),
        }
    )
    df["order"] = orders[order_col].astype(object).to_numpy() if order_col is not None else np.arange(len(df))
    df = df[df["customer"].notna() & df["date"].notna()]
    if df.empty:
        raise ValidationError("the orders table has no rows with both a customer and a date", field="customer_col")
    return df


def _aggregate(df: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    g = df.groupby("customer", sort=False)
    out = pd.DataFrame(
        {
            "recency_days": (as_of - g["date"].max()).dt.days.astype("int64"),
            "frequency": g["order"].nunique().astype("int64"),
            "monetary": g["amount"].sum().astype("float64"),
            "first_days": (as_of - g["date"].min()).dt.days.astype("int64"),
        }
    )
    out.index.name = "customer"
    return out.reset_index()


def rfm_table(
    orders: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    order_col: str | None = None,
    as_of: Any = None,
    *,
    dayfirst: bool | None = None,
) -> pd.DataFrame:
    """Recency, frequency and monetary value per customer (Hughes 1994).

    Parameters
    ----------
    orders : pandas.DataFrame
        One row per order or order line.
    customer_col, date_col, amount_col : str
        Customer id, order date (text or datetime; ``dd/mm/yy`` detected) and
        amount (currency units; numeric text allowed).
    order_col : str, optional
        Order id; frequency counts distinct orders. Without it every row is
        one order.
    as_of : date-like, optional
        Reference date, exclusive: orders on or after it are ignored. Default:
        the day after the last order, so the latest buyer has recency 1.
    dayfirst : bool, optional
        Force day/month order of text dates.

    Returns
    -------
    pandas.DataFrame of shape (n_customers, 4)
        Columns ``customer``, ``recency_days`` (int days since the last order),
        ``frequency`` (int orders), ``monetary`` (float, sum of amounts), in
        order of first appearance in ``orders``.

    Raises
    ------
    ValidationError
        Unknown columns, unparseable dates or amounts, no orders before ``as_of``.
    """
    df = _orders(orders, customer_col, date_col, amount_col, order_col, dayfirst)
    ref = pd.Timestamp(as_of) if as_of is not None else df["date"].max().normalize() + pd.Timedelta(days=1)
    df = df[df["date"] < ref]
    if df.empty:
        raise ValidationError(f"no orders before as_of {ref.date()}", field="as_of")
    out = _aggregate(df, ref)
    return out[["customer", "recency_days", "frequency", "monetary"]]


def clv_table(
    orders: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    order_col: str | None = None,
    *,
    cutoff: Any = None,
    horizon_days: int = 365,
    dayfirst: bool | None = None,
    with_target: bool = True,
) -> pd.DataFrame:
    """Customer features before a cut-off and their spend in the following horizon.

    Parameters
    ----------
    orders, customer_col, date_col, amount_col, order_col, dayfirst
        As in :func:`rfm_table`.
    cutoff : date-like, optional
        Features use orders before ``cutoff``; the target sums orders in
        ``[cutoff, cutoff + horizon_days)``. Default: ``horizon_days`` before
        the day after the last order (training), or that day itself when
        ``with_target=False`` (scoring all history).
    horizon_days : int, default 365
    with_target : bool, default True

    Returns
    -------
    pandas.DataFrame of shape (n_customers, 6 or 7)
        ``customer``, ``recency_days``, ``frequency``, ``monetary``,
        ``avg_order_value`` (currency), ``tenure_days`` (days since first
        order) and, with the target, ``future_value`` (currency, 0 for
        customers who did not buy in the horizon). Only customers with an
        order before the cut-off appear.
    """
    df = _orders(orders, customer_col, date_col, amount_col, order_col, dayfirst)
    end = df["date"].max().normalize() + pd.Timedelta(days=1)
    if cutoff is not None:
        ref = pd.Timestamp(cutoff)
    else:
        ref = end - pd.Timedelta(days=horizon_days) if with_target else end
    past = df[df["date"] < ref]
    if past.empty:
        raise ValidationError(f"no orders before the cut-off {ref.date()}; use a shorter horizon_days", field="horizon_days")
    out = _aggregate(past, ref)
    out["avg_order_value"] = out["monetary"] / out["frequency"].clip(lower=1)
    out = out.rename(columns={"first_days": "tenure_days"})
    cols = ["customer", "recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"]
    if with_target:
        fut = df[(df["date"] >= ref) & (df["date"] < ref + pd.Timedelta(days=horizon_days))]
        spend = fut.groupby("customer", sort=False)["amount"].sum()
        out["future_value"] = out["customer"].map(spend).fillna(0.0).astype("float64")
        cols.append("future_value")
    return out[cols]


def rfm_scores(rfm: pd.DataFrame) -> pd.DataFrame:
    """Percentile scores (0 to 1, higher is better) of recency, frequency, monetary.

    Mid-rank percentiles: a value's share of customers strictly below it plus
    half the share equal to it. Recency is reversed (fewer days is better).
    """
    def pct(s: pd.Series) -> pd.Series:
        return s.rank(method="average", pct=True) - 0.5 / len(s)

    return pd.DataFrame(
        {
            "r_score": 1.0 - pct(rfm["recency_days"].astype(float)),
            "f_score": pct(rfm["frequency"].astype(float)),
            "m_score": pct(rfm["monetary"].astype(float)),
        },
        index=rfm.index,
    )


def name_segments(rfm: pd.DataFrame, labels: np.ndarray) -> dict[int, dict[str, Any]]:
    """Give each cluster a business name from its RFM profile.

    Rule
    ----
    1. Profile each cluster by the median recency, frequency and monetary
       value of its customers, expressed as percentile scores among all
       customers (:func:`rfm_scores` applied to the medians against the
       whole population; recency reversed so 1 is most recent).
    2. Match clusters one-to-one to the prototypes in
       :data:`SEGMENT_PROTOTYPES` (high-value, loyal, new, at-risk,
       dormant) minimising the total squared distance between profiles and
       prototypes (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).
    3. With more than five clusters the extra ones take the name of their
       nearest prototype with a suffix (``"loyal 2"``); with fewer, only the
       best-matching names are used.

    Parameters
    ----------
    rfm : pandas.DataFrame
        Output of :func:`rfm_table` (columns ``recency_days``, ``frequency``,
        ``monetary``).
    labels : ndarray of int, shape (n_customers,)
        Cluster of each customer.

    Returns
    -------
    dict
        ``{cluster: {"name", "description", "size", "recency_days",
        "frequency", "monetary" (medians), "r_score", "f_score", "m_score"}}``.
    """
    from scipy.optimize import linear_sum_assignment

    labels = np.asarray(labels)
    clusters = sorted(int(c) for c in np.unique(labels))
    r = rfm["recency_days"].to_numpy(dtype=float)
    f = rfm["frequency"].to_numpy(dtype=float)
    m = rfm["monetary"].to_numpy(dtype=float)

    def pct_of(values: np.ndarray, v: float) -> float:
        return float((values < v).mean() + 0.5 * (values == v).mean())

    profiles = {}
    for c in clusters:
        sel = labels == c
        med = (float(np.median(r[sel])), float(np.median(f[sel])), float(np.median(m[sel])))
        profiles[c] = {
            "size": int(sel.sum()),
            "recency_days": med[0],
            "frequency": med[1],
            "monetary": med[2],
            "r_score": 1.0 - pct_of(r, med[0]),
            "f_score": pct_of(f, med[1]),
            "m_score": pct_of(m, med[2]),
        }
    names = list(SEGMENT_PROTOTYPES)
    protos = np.array([SEGMENT_PROTOTYPES[n] for n in names])
    prof = np.array([[profiles[c]["r_score"], profiles[c]["f_score"], profiles[c]["m_score"]] for c in clusters])
    cost = ((prof[:, None, :] - protos[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    assigned: dict[int, str] = {clusters[i]: names[j] for i, j in zip(rows, cols)}
    used: dict[str, int] = {}
    for name in assigned.values():
        used[name] = 1
    for i, c in enumerate(clusters):
        if c not in assigned:
            base = names[int(np.argmin(cost[i]))]
            used[base] = used.get(base, 1) + 1
            assigned[c] = f"{base} {used[base]}"
    out = {}
    for c in clusters:
        name = assigned[c]
        base = re.sub(r" \d+$", "", name)
        out[c] = {"name": name, "description": SEGMENT_DESCRIPTIONS[base], **profiles[c]}
    return out


def apply_data_prep(prep: dict[str, Any], frame: pd.DataFrame, *, with_target: bool = True) -> pd.DataFrame:
    """Turn an orders table into the per-customer table a ``data_prep`` config trains on.

    ``rfm``: :func:`rfm_table`. ``clv``: :func:`clv_table` (with the
    ``future_value`` target when ``with_target``; for scoring, features use
    all history).
    """
    common = {
        "customer_col": prep["customer_column"],
        "date_col": prep["date_column"],
        "amount_col": prep["amount_column"],
        "order_col": prep.get("order_column"),
        "dayfirst": prep.get("dayfirst"),
    }
    if prep["kind"] == "rfm":
        return rfm_table(frame, as_of=prep.get("as_of") if with_target else None, **common)
    return clv_table(frame, horizon_days=prep.get("horizon_days", 365), with_target=with_target, **common)
