"""``aihub price``: elasticity per product and a recommended price within bounds (no database).

::

    aihub price --input PRICES.csv --product-col P --date-col D --price-col PRICE --quantity-col Q
                [--category-col C] [--competitor-cols comp_1,comp_2] [--cost-col COST]
                [--objective revenue|profit] [--max-change 0.2] [--min-margin 0.3]
                --output PRICES_OUT.csv [--curves CURVES.csv] [--state MODEL.json]

``PRICES_OUT.csv``: one row per product with the elasticity, its 90% interval,
its source and how it was pooled (``elasticity_note``), then
:data:`aihub.pricing.RECOMMENDATION_FIELDS`: the decision (raise, lower or keep),
its status and reason in words, today's and the recommended price, the chance
the new price does better, the downside at the 5th percentile, and expected
quantity, revenue (and profit) at both. ``--curves`` writes the demand and
revenue curve with 5-95% bands per product. Exit codes: 0, 1 fitting failure, 2 invalid input.
"""

from __future__ import annotations

import argparse


def cmd_price(args: argparse.Namespace) -> int:
    import pandas as pd

    from aihub.filemode import write_csv, write_json
    from aihub.ml.cli import read_table
    from aihub.pricing import fit_elasticity, price_panel, recommend_price

    frame = read_table(args.input)
    comps = [c.strip() for c in (args.competitor_cols or "").split(",") if c.strip()]
    panel = price_panel(frame, args.product_col, args.date_col, args.price_col, args.quantity_col,
                        category_col=args.category_col, competitor_cols=comps, cost_col=args.cost_col,
                        dayfirst=True if args.dayfirst else None)
    model = fit_elasticity(panel)
    rows, curves = [], []
    for product in model.products_["product"]:
        rec, curve = recommend_price(model, product, objective=args.objective, max_change=args.max_change,
                                     min_margin=args.min_margin)
        rows.append(rec)
        if len(curve):
            curves.append(curve.assign(product=product))
    est = model.products_[["product", "category", "periods", "price_variation", "status"]].rename(
        columns={"status": "elasticity_note"})
    out = est.merge(pd.DataFrame(rows), on="product", how="left")
    write_csv(out, args.output)
    moves = out["decision"].value_counts()
    print(f"Elasticities for {len(out)} products ({(out['source'] == 'pooled').sum()} own, pooled toward the "
          f"category; {(out['source'] == 'category').sum()} from the category; {(out['source'] == 'prior').sum()} "
          f"without an estimate); raise {moves.get('raise', 0)}, lower {moves.get('lower', 0)}, keep "
          f"{moves.get('keep', 0)} -> {args.output}")
    for note in model.notes_:
        print(f"note: {note}")
    if args.curves and curves:
        write_csv(pd.concat(curves, ignore_index=True), args.curves)
    if args.state:
        write_json(model.to_state(), args.state)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``price`` subcommand."""
    from aihub.filemode import command

    p = subparsers.add_parser("price", help="price elasticity per product and a recommended price within bounds")
    p.add_argument("--input", required=True, help="CSV of price and quantity history")
    p.add_argument("--product-col", required=True)
    p.add_argument("--date-col", required=True)
    p.add_argument("--price-col", required=True)
    p.add_argument("--quantity-col", required=True)
    p.add_argument("--category-col", help="category to pool thin products toward")
    p.add_argument("--competitor-cols", help="competitors' price columns, comma-separated")
    p.add_argument("--cost-col", help="unit cost column (needed for profit and minimum margin)")
    p.add_argument("--objective", choices=["revenue", "profit"], default="revenue")
    p.add_argument("--max-change", type=float, default=0.2, help="largest price change as a share (default 0.2)")
    p.add_argument("--min-margin", type=float, help="smallest (price - cost) / price")
    p.add_argument("--dayfirst", action="store_true")
    p.add_argument("--curves", help="also write demand/revenue curves per product")
    p.add_argument("--state", help="also write the fitted model as JSON")
    p.add_argument("--output", required=True)
    p.set_defaults(func=command(cmd_price))
