"""Product recommendations from order lines: see :mod:`aihub.recommend.core` for methods and sources.

Typical use::

    from aihub.recommend import interactions, fit_recommender, recommend, also_bought

    inter = interactions(orders, "Customer ID", "Product ID", time_col="Order Date", label_col="Product Name")
    rec = fit_recommender(inter, k=10)            # method="auto": chosen on a time split
    recommend(rec)                                # user, item, rank, score, source, reason
    also_bought(rec, "OFF-PA-10000174")           # customers who bought this also bought
    state = rec.to_state()                        # strict JSON for a stored version
"""

from aihub.recommend.core import (
    AUTO_CANDIDATES,
    METHODS,
    Recommender,
    RecommendParams,
    also_bought,
    check_params,
    fit_recommender,
    interactions,
    popularity_baseline,
    recommend,
)
from aihub.recommend.evaluate import heldout_relevant, ranking_metrics, time_split

__all__ = [
    "AUTO_CANDIDATES",
    "METHODS",
    "RecommendParams",
    "Recommender",
    "also_bought",
    "check_params",
    "fit_recommender",
    "heldout_relevant",
    "interactions",
    "popularity_baseline",
    "ranking_metrics",
    "recommend",
    "time_split",
]
