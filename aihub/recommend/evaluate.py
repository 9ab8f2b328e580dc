"""Offline ranking metrics and time splits for recommenders.

Definitions (per evaluated user ``u`` with relevant set ``R_u`` = items first
bought in the test window, and top-k list ``L_u``; averages over users with a
non-empty ``R_u``):

* hit rate@k: 1 if ``L_u`` holds any item of ``R_u``, else 0;
* recall@k: ``|L_u ∩ R_u| / |R_u|``;
* precision@k: ``|L_u ∩ R_u| / k``;
* NDCG@k: ``DCG / IDCG`` with binary gains, ``DCG = Σ_{i∈L_u∩R_u} 1/log2(rank_i + 1)``
  and ``IDCG`` the DCG of a perfect list of ``min(k, |R_u|)`` hits
  (Järvelin & Kekäläinen 2002, "Cumulated gain-based evaluation of IR techniques").

Source for the protocol: a temporal split where the last weeks are the test
and already-bought items are neither recommended nor counted (Ji et al. 2023,
"A Critical Study on Data Leakage in Recommender System Offline Evaluation";
Rendle 2019, "Evaluation Metrics for Item Recommendation under Sampling" for
full, unsampled ranking as done here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd


def ranking_metrics(recommended: Mapping[str, Iterable[str]], relevant: Mapping[str, set], k: int) -> dict[str, float]:
    """Mean hit rate, recall, precision and NDCG at ``k``.

    Parameters
    ----------
    recommended : mapping user -> ordered items (best first; only the first k count)
    relevant : mapping user -> set of held-out items
        Users with an empty set are skipped; users missing from ``recommended``
        count as all misses.
    k : int

    Returns
    -------
    dict
        ``hit_rate``, ``recall``, ``precision``, ``ndcg`` (0 to 1) and ``users``
        (number evaluated).
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    hits = recalls = precisions = ndcgs = 0.0
    n = 0
    for user, rel in relevant.items():
        if not rel:
            continue
        n += 1
        top = list(recommended.get(user, ()))[:k]
        gains = np.array([1.0 if item in rel else 0.0 for item in top])
        found = float(gains.sum())
        if found:
            hits += 1.0
            recalls += found / len(rel)
            precisions += found / k
            ndcgs += float((gains * discounts[: len(gains)]).sum()) / float(discounts[: min(k, len(rel))].sum())
    if n == 0:
        return {"hit_rate": float("nan"), "recall": float("nan"), "precision": float("nan"), "ndcg": float("nan"), "users": 0}
    return {"hit_rate": hits / n, "recall": recalls / n, "precision": precisions / n, "ndcg": ndcgs / n, "users": n}


def per_user_ndcg(recommended: Mapping[str, Iterable[str]], relevant: Mapping[str, set], k: int) -> np.ndarray:
    """NDCG@k of each user with a non-empty relevant set, in ``relevant``'s order (for paired comparisons)."""
    return np.array([ranking_metrics({u: recommended.get(u, ())}, {u: r}, k)["ndcg"] for u, r in relevant.items() if r])


def heldout_relevant(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, set]:
    """Per user of ``train``, the items they bought in ``test`` but never in ``train``.

    Both frames have columns ``user`` and ``item`` (as from
    :func:`aihub.recommend.interactions`). Users new in the test are left out:
    they have no history to recommend from (a cold-start case scored separately).
    """
    seen = train.groupby("user")["item"].agg(set)
    out: dict[str, set] = {}
    for user, items in test.groupby("user")["item"]:
        if user in seen.index:
            new = set(items) - seen[user]
            if new:
                out[user] = new
    return out


def time_split(frame: pd.DataFrame, *, test_days: int | None = None, test_share: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Split interactions at a date: the last ``test_days`` days (or share of rows) are the test.

    Parameters
    ----------
    frame : DataFrame with a datetime column ``time``
    test_days : int, optional
        Test = rows on or after ``max(time) + 1 day - test_days``.
    test_share : float, optional
        Test = the latest ``test_share`` of rows (cut at a day boundary).

    Returns
    -------
    train, test : DataFrame
    cutoff : Timestamp
        First day of the test window.
    """
    t = pd.to_datetime(frame["time"])
    if test_days is not None:
        cutoff = t.max().normalize() + pd.Timedelta(days=1) - pd.Timedelta(days=int(test_days))
    else:
        cutoff = t.quantile(1.0 - float(test_share or 0.15)).normalize()
    before = (t < cutoff).to_numpy()
    return frame[before], frame[~before], cutoff
