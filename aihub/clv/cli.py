"""``aihub clv``: probabilistic lifetime value per customer from an orders file (no database).

::

    aihub clv --input ORDERS.csv --customer-col C --date-col D --amount-col A --output CLV.csv
              [--horizon-days 365] [--time-unit-days 7] [--dayfirst] [--state MODEL.json]

``CLV.csv``: customer, frequency, recency, T, monetary, probability_alive,
expected_purchases, expected_order_value, expected_spend (see
:func:`aihub.clv.predict_clv`). Exit codes: 0 success, 1 fitting failure, 2 invalid input.
"""

from __future__ import annotations

import argparse


def cmd_clv(args: argparse.Namespace) -> int:
    from aihub.clv import fit_clv, predict_clv, summary_from_orders
    from aihub.filemode import write_csv, write_json
    from aihub.ml.cli import read_table

    orders = read_table(args.input)
    summary = summary_from_orders(orders, args.customer_col, args.date_col, args.amount_col,
                                  time_unit_days=args.time_unit_days, dayfirst=True if args.dayfirst else None)
    model = fit_clv(summary, time_unit_days=args.time_unit_days)
    out = predict_clv(model, summary, horizon_days=args.horizon_days)
    write_csv(out, args.output)
    bg = model.bgnbd_
    print(f"BG/NBD on {model.n_customers_} customers: r {bg['r']:.3f}, alpha {bg['alpha']:.3f}, a {bg['a']:.3f}, b {bg['b']:.3f}")
    if model.gamma_gamma_:
        gg = model.gamma_gamma_
        print(f"Gamma-Gamma on {model.n_repeat_customers_} repeat customers: p {gg['p']:.3f}, q {gg['q']:.3f}, "
              f"gamma {gg['gamma']:.3f}")
    print(f"Expected spend in the next {args.horizon_days:g} days: {out['expected_spend'].sum():,.2f} in total "
          f"-> {args.output}")
    for note in model.notes_:
        print(f"note: {note}")
    if args.state:
        write_json(model.to_state(), args.state)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``clv`` subcommand."""
    from aihub.filemode import command

    p = subparsers.add_parser("clv", help="BG/NBD + Gamma-Gamma lifetime value per customer from order lines")
    p.add_argument("--input", required=True, help="orders CSV")
    p.add_argument("--customer-col", required=True)
    p.add_argument("--date-col", required=True)
    p.add_argument("--amount-col", required=True, help="line value (currency)")
    p.add_argument("--horizon-days", type=float, default=365.0, help="prediction horizon (default 365)")
    p.add_argument("--time-unit-days", type=float, default=7.0, help="model period in days (default 7)")
    p.add_argument("--dayfirst", action="store_true", help="dates are day-first; default: detected")
    p.add_argument("--state", help="also write the fitted model as JSON")
    p.add_argument("--output", required=True, help="CSV to write, one row per customer")
    p.set_defaults(func=command(cmd_clv))
