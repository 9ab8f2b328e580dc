"""``aihub recommend``: top-k products per customer from an orders file (no database).

::

    aihub recommend --input ORDERS.csv --user-col C --item-col I [--time-col T] [--k 10]
                    --output RECS.csv [--method auto|als|bpr|item_item|popularity|recent_popularity]
                    [--weight-col Q] [--label-col NAME] [--dayfirst] [--reasons]
                    [--also-bought ALSO.csv] [--state MODEL.json]

``RECS.csv`` has ``user,item,rank,score`` (``rank`` 1..k) for every user of
the input; ``--reasons`` adds ``source`` and ``reason``. ``--also-bought``
writes, per product, the k products its buyers also bought. ``--state`` writes
the fitted recommender as strict JSON (what a stored version holds).
Exit codes: 0 success, 1 fitting failure, 2 invalid input.
"""

from __future__ import annotations

import argparse

import pandas as pd

from aihub.filemode import write_csv, write_json

__all__ = ["cmd_recommend", "register", "write_csv", "write_json"]


def cmd_recommend(args: argparse.Namespace) -> int:
    from aihub.ml.cli import read_table
    from aihub.recommend import also_bought, fit_recommender, interactions, recommend

    orders = read_table(args.input)
    inter = interactions(orders, args.user_col, args.item_col, time_col=args.time_col, weight_col=args.weight_col,
                         label_col=args.label_col, dayfirst=True if args.dayfirst else None)
    rec = fit_recommender(inter, method=args.method, k=args.k)
    users = list(dict.fromkeys(u for u in inter["user"]))
    blank_item_users = orders[args.user_col].dropna().astype(str).str.strip()
    users += [u for u in dict.fromkeys(blank_item_users) if u and u not in set(users)]
    recs = recommend(rec, users=users, k=args.k)
    cols = ["user", "item", "rank", "score"] + (["source", "reason"] if args.reasons else [])
    write_csv(recs[cols], args.output)
    chosen = f"{rec.method_} (chosen on a time split)" if args.method == "auto" else rec.method_
    print(f"Recommended {recs['rank'].max() if len(recs) else 0} products to each of {len(users)} customers "
          f"from {len(rec.items_)} products with {chosen} -> {args.output}")
    for row in rec.validation_:
        if "ndcg" in row:
            print(f"  validation {row['method']}: NDCG@{args.k} {row['ndcg']:.4f}, hit rate {row['hit_rate']:.4f} "
                  f"({row['users']} customers){'  <- chosen' if row['selected'] else ''}")
    if args.also_bought:
        frames = [also_bought(rec, item, k=args.k) for item in rec.items_]
        frames = [f for f in frames if len(f)]
        write_csv(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["item", "also_bought", "label", "customers", "confidence", "lift"]), args.also_bought)
        print(f"Also-bought lists -> {args.also_bought}")
    if args.state:
        write_json(rec.to_state(), args.state)
        print(f"Fitted recommender (JSON) -> {args.state}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``recommend`` subcommand."""
    from aihub.filemode import command
    from aihub.recommend.core import METHODS

    p = subparsers.add_parser("recommend", help="top-k products per customer from order lines")
    p.add_argument("--input", required=True, help="orders CSV (one line per customer and product)")
    p.add_argument("--user-col", required=True, help="customer column")
    p.add_argument("--item-col", required=True, help="product column")
    p.add_argument("--time-col", help="order date column (enables the time-split choice of method)")
    p.add_argument("--weight-col", help="quantity or value column (default: 1 per line)")
    p.add_argument("--label-col", help="product name column used in reasons")
    p.add_argument("--k", type=int, default=10, help="products per customer (default 10)")
    p.add_argument("--method", choices=list(METHODS), default="auto", help="default auto")
    p.add_argument("--dayfirst", action="store_true", help="dates are day-first (dd/mm/yy); default: detected")
    p.add_argument("--reasons", action="store_true", help="add source and reason columns")
    p.add_argument("--also-bought", help="also write per-product 'customers who bought this also bought' CSV")
    p.add_argument("--state", help="also write the fitted recommender as JSON")
    p.add_argument("--output", required=True, help="CSV to write: user,item,rank,score")
    p.set_defaults(func=command(cmd_recommend))
