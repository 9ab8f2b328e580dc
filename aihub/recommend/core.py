"""Product recommendations from order lines (implicit feedback).

Methods (``RecommendParams.method``):

* ``als``: implicit-feedback matrix factorisation, alternating least squares
  with confidence weights ``1 + alpha * log1p(weight)`` (Hu, Koren & Volinsky
  2008, "Collaborative Filtering for Implicit Feedback Datasets", ICDM), fitted
  by the ``implicit`` library (conjugate-gradient solver of Takács, Pilászy &
  Tikk 2011).
* ``bpr``: Bayesian personalised ranking (Rendle et al. 2009, UAI), ``implicit``.
* ``item_item``: item-based top-N (Sarwar et al. 2001, WWW; Deshpande &
  Karypis 2004, ACM TOIS): cosine similarity of items' buyer sets, each item
  keeping its ``neighbours`` most similar items; a user's score for item j is
  the sum of j's similarities to the items the user bought.
* ``popularity``: distinct buyers per item (all history).
* ``recent_popularity``: distinct buyers per item, each weighted by
  ``0.5 ** (age / popularity_half_life_days)`` of their latest purchase of it
  (needs order times; equal to ``popularity`` without them).
* ``auto`` (default): fits ``popularity``, ``recent_popularity``, ``item_item``
  and ``als`` on the earlier part of the data, scores NDCG@k on the latest
  ``validation_share`` of it (time split when times are given, a per-user
  random holdout otherwise), keeps popularity unless another method beats it
  by more than one standard error (paired per customer), and refits the choice
  on all data. The comparison is kept in ``validation_``.

Every method falls back to popularity: items a model cannot
rank (no similarity to the user's history) and users it has never seen get the
popular items, with that reason given. Items the user already bought are never
recommended.

Reasons: ``"bought with X by N customers"`` where X is the item of the user's
history that most customers bought together with the recommended one (N
distinct customers bought both), else ``"popular: bought by N customers"``.

A fitted :class:`Recommender` round-trips through strict JSON
(:meth:`Recommender.to_state` / :meth:`Recommender.from_state`, via
:mod:`aihub.jsonsafe`); scoring needs numpy and scipy only, not ``implicit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from aihub import jsonsafe
from aihub.errors import TrainingError, ValidationError
from aihub.frames import date_column, numeric_column, require_columns, require_frame
from aihub.recommend.evaluate import per_user_ndcg, ranking_metrics
from aihub.userconfig import UserConfig, parse

METHODS: tuple[str, ...] = ("auto", "als", "bpr", "item_item", "popularity", "recent_popularity")
AUTO_CANDIDATES: tuple[str, ...] = ("popularity", "recent_popularity", "item_item", "als")  # ties go to the earlier (simpler) one
STATE_VERSION = 1


class RecommendParams(UserConfig):
    """Settings of :func:`fit_recommender`; limits are defined here once."""

    method: Literal["auto", "als", "bpr", "item_item", "popularity", "recent_popularity"] = "auto"
    k: int = Field(10, ge=1, le=200, description="recommendations per user")
    factors: int = Field(32, ge=2, le=512, description="latent factors (als, bpr)")
    regularization: float = Field(0.05, ge=0.0, le=100.0)
    iterations: int = Field(20, ge=1, le=500)
    alpha: float = Field(10.0, gt=0.0, le=1000.0, description="confidence scale of ALS")
    learning_rate: float = Field(0.05, gt=0.0, le=1.0, description="bpr only")
    neighbours: int = Field(50, ge=2, le=1000, description="similar items kept per item")
    popularity_half_life_days: float = Field(90.0, gt=0.0, le=36500.0, description="recent_popularity only")
    validation_share: float = Field(0.15, gt=0.0, lt=0.5)
    random_state: int = Field(0, ge=0)


def check_params(params: RecommendParams | dict[str, Any] | None = None, **overrides: Any) -> RecommendParams:
    """Validated parameters from a model, a dict and/or keyword overrides.

    Raises
    ------
    ValidationError
        Naming the setting, the bad value and the allowed range or set.
    """
    base = params.model_dump() if isinstance(params, RecommendParams) else dict(params or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    return parse(RecommendParams, base, what="Recommendation settings")


def interactions(
    orders: pd.DataFrame,
    user_col: str,
    item_col: str,
    *,
    time_col: str | None = None,
    weight_col: str | None = None,
    label_col: str | None = None,
    dayfirst: bool | None = None,
) -> pd.DataFrame:
    """Order lines as a clean interaction table.

    Parameters
    ----------
    orders : DataFrame of shape (n_lines, n_columns)
    user_col, item_col : str
        Customer and product columns (any type; compared as text).
    time_col : str, optional
        Order date or time (ISO or day/month-first text).
    weight_col : str, optional
        Quantity or value per line (non-negative); default 1 per line.
    label_col : str, optional
        Readable product name used in reasons (first name seen per item).
    dayfirst : bool, optional
        Passed to the date parser for ``a/b/c`` dates.

    Returns
    -------
    DataFrame with columns user, item, weight (float), and time (datetime64) and
    label when given. Lines with a blank user or item are dropped.

    Raises
    ------
    ValidationError
        A named column is missing, a weight is negative or not a number, a
        date does not parse, or no line has both a user and an item.
    """
    require_frame(orders, "orders table")
    require_columns(orders, {"user_col": user_col, "item_col": item_col, "time_col": time_col,
                             "weight_col": weight_col, "label_col": label_col}, "orders table")
    out = pd.DataFrame({"user": _as_text(orders[user_col]), "item": _as_text(orders[item_col])}, index=orders.index)
    out["weight"] = numeric_column(orders, weight_col, what="orders table", minimum=0.0) if weight_col else 1.0
    if time_col:
        out["time"] = date_column(orders, time_col, dayfirst=dayfirst).to_numpy()
    if label_col:
        out["label"] = _as_text(orders[label_col])
    out = out[out["user"].notna() & out["item"].notna()]
    if out.empty:
        raise ValidationError(f"no order line has both a {user_col!r} and an {item_col!r} value", field="user_col")
    return out.reset_index(drop=True)


def _as_text(s: pd.Series) -> pd.Series:
    text = s.astype(object).where(s.notna(), None)
    return text.map(lambda v: None if v is None or str(v).strip() == "" else str(v).strip())


@dataclass(eq=False)
class Recommender:
    """A fitted recommender. Attributes ending in ``_`` are learned.

    Attributes
    ----------
    params : RecommendParams
    method_ : str
        The method that scores (the winner for ``auto``).
    users_, items_ : ndarray of str, shapes (n_users,), (n_items,)
    user_items_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Summed weights of each user's lines per item (the history).
    similarity_ : csr_matrix of shape (n_items, n_items)
        Cosine similarity of buyer sets, ``neighbours`` largest per row.
    co_buyers_ : csr_matrix of shape (n_items, n_items)
        Distinct customers who bought both items, same pattern as ``similarity_``.
    buyers_ : ndarray of int, shape (n_items,)
        Distinct customers per item.
    popularity_ : ndarray of float, shape (n_items,)
        Recency-weighted distinct buyers (equal to ``buyers_`` without times).
    user_factors_, item_factors_ : ndarray or None
        Latent factors (als, bpr).
    labels_ : dict
        item -> readable name (when a label column was given).
    as_of_ : str or None
        Latest order time (ISO), the reference of recency weighting.
    validation_ : list of dict
        ``auto`` only: per candidate, NDCG/hit rate/recall at k on the
        validation split and whether it was selected.
    """

    params: RecommendParams
    method_: str
    users_: np.ndarray
    items_: np.ndarray
    user_items_: sp.csr_matrix
    similarity_: sp.csr_matrix
    co_buyers_: sp.csr_matrix
    buyers_: np.ndarray
    popularity_: np.ndarray
    user_factors_: np.ndarray | None = None
    item_factors_: np.ndarray | None = None
    labels_: dict[str, str] = field(default_factory=dict)
    as_of_: str | None = None
    validation_: list[dict[str, Any]] = field(default_factory=list)

    # -- persistence --------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Strict-JSON-ready state (see :func:`aihub.jsonsafe.to_jsonable`); no pickle."""
        def csr(m: sp.csr_matrix) -> dict[str, Any]:
            return {"data": m.data.astype(np.float32), "indices": m.indices.astype(np.int32),
                    "indptr": m.indptr.astype(np.int64), "shape": tuple(int(x) for x in m.shape)}

        return jsonsafe.to_jsonable({
            "kind": "recommender", "version": STATE_VERSION, "params": self.params.model_dump(), "method": self.method_,
            "users": [str(u) for u in self.users_], "items": [str(i) for i in self.items_],
            "user_items": csr(self.user_items_), "similarity": csr(self.similarity_), "co_buyers": csr(self.co_buyers_),
            "buyers": self.buyers_.astype(np.int64), "popularity": self.popularity_.astype(np.float64),
            "user_factors": None if self.user_factors_ is None else self.user_factors_.astype(np.float32),
            "item_factors": None if self.item_factors_ is None else self.item_factors_.astype(np.float32),
            "labels": dict(self.labels_), "as_of": self.as_of_, "validation": self.validation_,
        })

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Recommender:
        """Rebuild from :meth:`to_state` output (after ``json.loads``).

        Raises
        ------
        ValidationError
            Not a recommender state, or of an unknown version.
        """
        s = jsonsafe.from_jsonable(state)
        if not isinstance(s, dict) or s.get("kind") != "recommender" or s.get("version") != STATE_VERSION:
            raise ValidationError("not a stored recommender (kind/version mismatch)", field="state")

        def csr(d: dict[str, Any]) -> sp.csr_matrix:
            return sp.csr_matrix((d["data"].astype(np.float64), d["indices"], d["indptr"]), shape=tuple(d["shape"]))

        return cls(
            params=check_params(s["params"]), method_=s["method"],
            users_=np.asarray(s["users"], dtype=object), items_=np.asarray(s["items"], dtype=object),
            user_items_=csr(s["user_items"]), similarity_=csr(s["similarity"]), co_buyers_=csr(s["co_buyers"]),
            buyers_=s["buyers"], popularity_=s["popularity"],
            user_factors_=None if s["user_factors"] is None else s["user_factors"].astype(np.float64),
            item_factors_=None if s["item_factors"] is None else s["item_factors"].astype(np.float64),
            labels_=dict(s["labels"]), as_of_=s["as_of"], validation_=list(s["validation"]),
        )

    # -- helpers ------------------------------------------------------------

    def label(self, item: str) -> str:
        """Readable name of ``item`` (its id when no label column was given)."""
        return self.labels_.get(item, item)

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts for a model card."""
        return jsonsafe.plain({"method": self.method_, "users": len(self.users_), "items": len(self.items_),
                               "lines": int(self.user_items_.nnz), "as_of": self.as_of_, "validation": self.validation_})


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------


def _matrix(inter: pd.DataFrame, users: np.ndarray, items: np.ndarray) -> sp.csr_matrix:
    u = pd.Index(users).get_indexer(inter["user"])
    i = pd.Index(items).get_indexer(inter["item"])
    m = sp.csr_matrix((inter["weight"].to_numpy(dtype=np.float64), (u, i)), shape=(len(users), len(items)))
    m.sum_duplicates()
    return m


def _recency_weights(times: pd.Series | None, half_life: float | None) -> tuple[np.ndarray | None, str | None]:
    if times is None:
        return None, None
    t = pd.to_datetime(times)
    ref = t.max()
    if half_life is None:
        return None, ref.isoformat()
    age = (ref - t).dt.total_seconds().to_numpy() / 86400.0
    return np.power(0.5, age / half_life), ref.isoformat()


def _top_neighbours(binary: sp.csr_matrix, n_keep: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Cosine similarity and co-buyer counts of item columns, top ``n_keep`` per item (no self pairs)."""
    co = (binary.T @ binary).tocsr().astype(np.float64)
    co.setdiag(0.0)
    co.eliminate_zeros()
    buyers = np.asarray(binary.sum(axis=0)).ravel()
    rows, cols = co.nonzero()
    sims = co.data / np.sqrt(buyers[rows] * buyers[cols])
    sim = sp.csr_matrix((sims, co.indices.copy(), co.indptr.copy()), shape=co.shape)
    data_s, data_c, ind, ptr = [], [], [], [0]
    for r in range(sim.shape[0]):
        a, b = sim.indptr[r], sim.indptr[r + 1]
        if b - a > n_keep:
            order = np.argpartition(-sim.data[a:b], n_keep - 1)[:n_keep] + a
        else:
            order = np.arange(a, b)
        data_s.append(sim.data[order])
        data_c.append(co.data[order])
        ind.append(sim.indices[order])
        ptr.append(ptr[-1] + len(order))
    n = sim.shape[0]
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    s = sp.csr_matrix((cat(data_s, np.float64), cat(ind, np.int32), np.asarray(ptr)), shape=(n, n))
    c = sp.csr_matrix((cat(data_c, np.float64), cat(ind, np.int32), np.asarray(ptr)), shape=(n, n))
    s.sort_indices()
    c.sort_indices()
    return s, c


def _factorise(method: str, weights: sp.csr_matrix, p: RecommendParams) -> tuple[np.ndarray, np.ndarray]:
    from threadpoolctl import threadpool_limits

    conf = weights.copy()
    conf.data = np.log1p(conf.data).astype(np.float32)
    with threadpool_limits(1, "blas"):
        if method == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            model = AlternatingLeastSquares(factors=p.factors, regularization=p.regularization, alpha=p.alpha,
                                            iterations=p.iterations, num_threads=1, random_state=p.random_state)
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            model = BayesianPersonalizedRanking(factors=p.factors, learning_rate=p.learning_rate,
                                                regularization=p.regularization, iterations=p.iterations,
                                                num_threads=1, random_state=p.random_state)
        model.fit(conf, show_progress=False)
    return np.asarray(model.user_factors, dtype=np.float64), np.asarray(model.item_factors, dtype=np.float64)


def _fit_one(inter: pd.DataFrame, method: str, p: RecommendParams) -> Recommender:
    users = np.asarray(sorted(inter["user"].unique()), dtype=object)
    items = np.asarray(sorted(inter["item"].unique()), dtype=object)
    times = inter["time"] if "time" in inter.columns else None
    weights = _matrix(inter, users, items)
    binary = weights.copy()
    binary.data[:] = 1.0
    buyers = np.asarray(binary.sum(axis=0)).ravel().astype(np.int64)
    decay, as_of = _recency_weights(times, p.popularity_half_life_days if method == "recent_popularity" else None)
    if decay is None:
        popularity = buyers.astype(np.float64)
    else:
        # each buyer counts once per item, weighted by the recency of their latest purchase of it
        last = inter.assign(decay=decay).groupby(["item", "user"], sort=False)["decay"].max().groupby(level=0).sum()
        popularity = last.reindex(items).to_numpy(dtype=np.float64)
    similarity, co_buyers = _top_neighbours(binary, p.neighbours)
    uf = itf = None
    if method in ("als", "bpr"):
        if len(users) < 2 or len(items) < 2:
            raise TrainingError(f"{method} needs at least two customers and two products", field="method")
        uf, itf = _factorise(method, weights, p)
    labels = {}
    if "label" in inter.columns:
        first = inter.dropna(subset=["label"]).drop_duplicates("item")
        labels = dict(zip(first["item"], first["label"]))
    return Recommender(params=p, method_=method, users_=users, items_=items, user_items_=weights,
                       similarity_=similarity, co_buyers_=co_buyers, buyers_=buyers, popularity_=popularity,
                       user_factors_=uf, item_factors_=itf, labels_=labels, as_of_=as_of)


def _validation_split(inter: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, dict[str, set]]:
    from aihub.recommend.evaluate import heldout_relevant, time_split

    if "time" in inter.columns and inter["time"].nunique() > 1:
        train, test, _ = time_split(inter, test_share=share)
        return train, heldout_relevant(train, test)
    rng = np.random.default_rng(seed)
    pairs = inter[["user", "item"]].drop_duplicates()
    counts = pairs.groupby("user")["item"].transform("size").to_numpy()
    held = (rng.random(len(pairs)) < share) & (counts >= 2)
    test = pairs[held]
    keep = inter.merge(test.assign(_h=1), on=["user", "item"], how="left")["_h"].isna().to_numpy()
    train = inter[keep]
    return train, heldout_relevant(train, test)


def _one_standard_error_choice(rows: list[dict[str, Any]], per_user: dict[str, np.ndarray]) -> str:
    """The simplest candidate unless another beats it by more than one standard error.

    The reference is the first candidate (popularity). A candidate qualifies
    when the mean of its paired per-user NDCG difference to the reference
    exceeds one standard error of that mean; among qualifiers the highest
    NDCG wins (the one-standard-error rule, Breiman et al. 1984, "Classification
    and Regression Trees"; Hastie, Tibshirani & Friedman 2009, ESL section 7.10).
    """
    ref = rows[0]["method"]
    best, best_ndcg = ref, rows[0]["ndcg"]
    for r in rows[1:]:
        diff = per_user[r["method"]] - per_user[ref]
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.inf
        r["ndcg_gain_over_popularity"], r["standard_error"] = float(diff.mean()), float(se)
        if diff.mean() > se and r["ndcg"] > best_ndcg:
            best, best_ndcg = r["method"], r["ndcg"]
    return best


def fit_recommender(
    inter: pd.DataFrame,
    params: RecommendParams | dict[str, Any] | None = None,
    **overrides: Any,
) -> Recommender:
    """Fit a recommender on an interaction table.

    Parameters
    ----------
    inter : DataFrame with columns user, item, weight and optionally time, label
        As returned by :func:`interactions`.
    params : RecommendParams or dict, optional
    **overrides
        Individual settings (``method="als"``, ``k=20``).

    Returns
    -------
    Recommender

    Raises
    ------
    ValidationError
        Bad settings or an interaction table without the needed columns.
    TrainingError
        Too little data for the chosen method.
    """
    p = check_params(params, **overrides)
    require_frame(inter, "interactions")
    require_columns(inter, {"user": "user", "item": "item", "weight": "weight"}, "interactions")
    if p.method != "auto":
        return _fit_one(inter, p.method, p)
    train, relevant = _validation_split(inter, p.validation_share, p.random_state)
    rows: list[dict[str, Any]] = []
    per_user: dict[str, np.ndarray] = {}
    if len(relevant) >= 5 and train["item"].nunique() > p.k:
        for cand in AUTO_CANDIDATES:
            try:
                model = _fit_one(train, cand, p)
            except TrainingError:
                continue
            users = [u for u in relevant if u in set(model.users_)]
            recs = recommend(model, users=users, k=p.k)
            got = recs.groupby("user", sort=False)["item"].agg(list).to_dict()
            sub = {u: relevant[u] for u in users}
            m = ranking_metrics(got, sub, p.k)
            per_user[cand] = per_user_ndcg(got, sub, p.k)
            rows.append({"method": cand, "ndcg": m["ndcg"], "hit_rate": m["hit_rate"], "recall": m["recall"],
                         "users": m["users"], "selected": False})
    if rows:
        method = _one_standard_error_choice(rows, per_user)
        next(r for r in rows if r["method"] == method)["selected"] = True
    else:
        method = "item_item"
        rows.append({"method": method, "note": "too little history to compare methods; item-item chosen", "selected": True})
    model = _fit_one(inter, method, p)
    model.validation_ = jsonsafe.plain(rows)
    return model


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------


def _model_scores(rec: Recommender, rows: np.ndarray) -> np.ndarray:
    n_items = len(rec.items_)
    if rec.method_ in ("als", "bpr"):
        return rec.user_factors_[rows] @ rec.item_factors_.T
    if rec.method_ == "item_item":
        hist = rec.user_items_[rows].copy()
        hist.data[:] = 1.0
        return np.asarray((hist @ rec.similarity_).todense())
    return np.zeros((len(rows), n_items))


def recommend(rec: Recommender, users: list[str] | None = None, *, k: int | None = None) -> pd.DataFrame:
    """Top-``k`` products each user has not bought yet.

    Parameters
    ----------
    rec : Recommender
    users : list of str, optional
        Default: every user of the training data. Unknown users get popular items.
    k : int, optional
        Default ``rec.params.k``.

    Returns
    -------
    DataFrame with columns user, item, rank (1..k), score, source, reason
        ``score`` is the method's score (ALS/BPR: factor dot product; item-item:
        summed cosine similarity; popularity: recency-weighted buyers) and is
        comparable only within one user. ``source`` is the method or
        ``"popularity"`` where the fallback filled the list. Fewer than k rows
        for a user only when fewer than k products exist that they have not bought.
    """
    k = check_params(rec.params, k=k).k
    users = [str(u) for u in (rec.users_ if users is None else users)]
    index = pd.Index(rec.users_)
    pos = index.get_indexer(users)
    pop = rec.popularity_ / max(float(rec.popularity_.max()), 1e-12)
    tie_break = 1e-9 * np.arange(len(rec.items_)) / max(len(rec.items_), 1)  # equal keys: item order, deterministic
    out: list[pd.DataFrame] = []
    batch = 512
    for start in range(0, len(users), batch):
        bu = users[start:start + batch]
        bp = pos[start:start + batch]
        known = bp >= 0
        scores = np.zeros((len(bu), len(rec.items_)))
        has_model = np.zeros_like(scores, dtype=bool)
        if known.any() and rec.method_ not in ("popularity", "recent_popularity"):
            ms = _model_scores(rec, bp[known])
            scores[known] = ms
            has_model[known] = ms != 0 if rec.method_ == "item_item" else True
        # popularity breaks ties and ranks what the model cannot (placed after every model-ranked item)
        key = np.where(has_model, 2.0 + _minmax(scores), pop[None, :]) - tie_break[None, :]
        if known.any():
            hist = rec.user_items_[bp[known]]
            r, c = hist.nonzero()
            key_known = key[known]
            key_known[r, c] = -np.inf
            key[known] = key_known
        n_avail = np.isfinite(key).sum(axis=1)
        kk = min(k, key.shape[1])
        top = np.argpartition(-key, kk - 1, axis=1)[:, :kk] if kk < key.shape[1] else np.tile(np.arange(key.shape[1]), (len(bu), 1))
        for j, user in enumerate(bu):
            cols = top[j][np.argsort(-key[j, top[j]], kind="stable")][: min(kk, int(n_avail[j]))]
            model_part = has_model[j, cols]
            out.append(pd.DataFrame({
                "user": user, "item": rec.items_[cols], "rank": np.arange(1, len(cols) + 1),
                "score": np.where(model_part, scores[j, cols], rec.popularity_[cols]),
                "source": np.where(model_part, rec.method_, "popularity"),
                "reason": _reasons(rec, int(bp[j]), cols, model_part),
            }))
    if not out:
        return pd.DataFrame(columns=["user", "item", "rank", "score", "source", "reason"])
    return pd.concat(out, ignore_index=True)


def _minmax(x: np.ndarray) -> np.ndarray:
    lo = x.min(axis=1, keepdims=True)
    hi = x.max(axis=1, keepdims=True)
    return (x - lo) / np.where(hi - lo > 0, hi - lo, 1.0)


def _reasons(rec: Recommender, row: int, cols: np.ndarray, from_model: np.ndarray) -> list[str]:
    popular = [f"popular: bought by {int(rec.buyers_[c])} customer{'s' if rec.buyers_[c] != 1 else ''}"
               + (" (recent buyers count more)" if rec.method_ == "recent_popularity" and rec.as_of_ else "")
               for c in cols]
    if row < 0 or not from_model.any():
        return popular
    hist = rec.user_items_[row].indices
    if len(hist) == 0:
        return popular
    co = rec.co_buyers_[hist][:, cols].toarray()
    best = co.argmax(axis=0)
    out = []
    for j, c in enumerate(cols):
        n = int(co[best[j], j])
        if n > 0 and from_model[j]:
            out.append(f"bought with {rec.label(rec.items_[hist[best[j]]])} by {n} customer{'s' if n != 1 else ''}")
        else:
            out.append(popular[j])
    return out


def also_bought(rec: Recommender, item: str, *, k: int = 10) -> pd.DataFrame:
    """Customers who bought ``item`` also bought ...

    Parameters
    ----------
    rec : Recommender
    item : str
    k : int, default 10

    Returns
    -------
    DataFrame with columns item, also_bought, label, customers, confidence, lift
        ``customers``: distinct customers who bought both; ``confidence``: their
        share of ``item``'s buyers (0 to 1); ``lift``: confidence divided by the
        share of all customers who bought ``also_bought`` (Agrawal, Imieliński &
        Swami 1993 association-rule measures). Sorted by customers, then lift.

    Raises
    ------
    ValidationError
        ``item`` was not in the training data.
    """
    item = str(item)
    idx = pd.Index(rec.items_).get_indexer([item])[0]
    if idx < 0:
        raise ValidationError(f"product {item!r} does not occur in the order lines the recommender was fitted on",
                              field="item", details={"item": item})
    row = rec.co_buyers_[idx]
    cols, counts = row.indices, row.data
    n_users = max(len(rec.users_), 1)
    conf = counts / max(int(rec.buyers_[idx]), 1)
    lift = conf / (rec.buyers_[cols] / n_users)
    df = pd.DataFrame({"item": item, "also_bought": rec.items_[cols], "label": [rec.label(rec.items_[c]) for c in cols],
                       "customers": counts.astype(np.int64), "confidence": conf, "lift": lift})
    return df.sort_values(["customers", "lift"], ascending=[False, False], kind="stable").head(int(k)).reset_index(drop=True)


def popularity_baseline(inter: pd.DataFrame, users: list[str], k: int) -> dict[str, list[str]]:
    """Most-bought items (distinct buyers, no recency weighting) each user has not bought: the named baseline."""
    buyers = inter.drop_duplicates(["user", "item"]).groupby("item").size().sort_values(ascending=False, kind="stable")
    ranked = list(buyers.index)
    seen = inter.groupby("user")["item"].agg(set)
    out = {}
    for u in users:
        had = seen.get(u, set())
        out[u] = [i for i in ranked[: k + len(had)] if i not in had][:k]
    return out

