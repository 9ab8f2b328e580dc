"""``aihub inventory``: safety stock, reorder point, order quantity and stock-out risk per product (no database).

::

    aihub inventory --forecast FORECAST.csv --positions POSITIONS.csv --lead-time 2 --output POLICY.csv
                    [--review-period 0] [--service-level 0.95] [--ordering-cost 0] [--holding-cost 1]
                    [--level 95] [--product-col unique_id] [--due DUE.csv]
                    [--history DEMAND.csv --freq W [--error-power 0.5]]

``FORECAST.csv`` is what ``aihub forecast`` writes (unique_id, ds, yhat,
yhat_lower, yhat_upper; ``--level`` is its interval level) or any long frame
with those columns; ``POSITIONS.csv`` has ``product,inventory_position``.
``POLICY.csv`` has :data:`aihub.inventory.POLICY_COLUMNS`; ``--due`` writes
the products at or below their reorder point. ``--history`` (the product
column, ``ds``, ``y``: past demand per period) sizes safety stock from the
forecast's own errors over the last 52 reviews, re-forecast as they would have
been (:func:`aihub.inventory.recent_errors`), instead of the normal formula;
products with too little history keep the normal formula. Exit codes: 0, 2 invalid input.
"""

from __future__ import annotations

import argparse


def cmd_inventory(args: argparse.Namespace) -> int:
    from aihub.filemode import write_csv
    from aihub.inventory import inventory_policy, products_to_order
    from aihub.ml.cli import read_table

    forecast = read_table(args.forecast)
    positions = read_table(args.positions)
    params = {"lead_time": args.lead_time, "review_period": args.review_period, "service_level": args.service_level,
              "ordering_cost": args.ordering_cost, "holding_cost": args.holding_cost, "interval_level": args.level,
              "error_scale_power": args.error_power}
    errors = _errors(args, params) if args.history else None
    policy = inventory_policy(forecast, positions, params, product_col=args.product_col, errors=errors)
    write_csv(policy, args.output)
    due = products_to_order(policy)
    print(f"Policy for {len(policy)} products -> {args.output}; {len(due)} at or below their reorder point"
          + (": " + ", ".join(due["product"].head(10)) if len(due) else ""))
    if args.due:
        write_csv(due, args.due)
    return 0


def _errors(args: argparse.Namespace, params: dict) -> dict:
    from aihub.errors import AihubError, ValidationError
    from aihub.forecasting import prepare_series
    from aihub.frames import require_columns
    from aihub.inventory import check_params, recent_errors
    from aihub.ml.cli import read_table

    if not args.freq:
        raise ValidationError("--history needs --freq (D, W or M: the forecast's periods)", field="freq")
    p = check_params(params)
    history = read_table(args.history)
    require_columns(history, {"product_col": args.product_col, "ds": "ds", "y": "y"}, "history")
    out = {}
    for product, rows in history.groupby(history[args.product_col].astype(str), sort=True):
        try:
            series = prepare_series(rows, "ds", "y", freq=args.freq)
            out[product] = recent_errors(series, freq=args.freq, protection=p.lead_time + p.review_period,
                                         power=p.error_scale_power)
        except AihubError as exc:
            print(f"note: {product}: normal safety stock ({exc})")
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``inventory`` subcommand."""
    from aihub.filemode import command

    p = subparsers.add_parser("inventory", help="safety stock, reorder point and order quantity from a forecast")
    p.add_argument("--forecast", required=True, help="forecast CSV (aihub forecast output or ds,yhat,interval columns)")
    p.add_argument("--positions", required=True, help="CSV with product,inventory_position (units)")
    p.add_argument("--lead-time", type=float, required=True, help="lead time in forecast periods")
    p.add_argument("--review-period", type=float, default=0.0, help="periods between reviews (0: continuous, default)")
    p.add_argument("--service-level", type=float, default=0.95, help="target cycle service level (default 0.95)")
    p.add_argument("--ordering-cost", type=float, default=0.0, help="fixed cost per order (for EOQ)")
    p.add_argument("--holding-cost", type=float, default=1.0, help="cost per unit and period held")
    p.add_argument("--level", type=int, choices=[80, 95], default=95, help="interval level of the forecast bounds")
    p.add_argument("--product-col", default="unique_id", help="product column of the forecast (default unique_id)")
    p.add_argument("--due", help="also write the products that need an order now")
    p.add_argument("--history", help="past demand (product column, ds, y): safety stock from the forecast's own errors")
    p.add_argument("--freq", choices=["D", "W", "M"], help="period of the forecast and history (with --history)")
    p.add_argument("--error-power", type=float, default=0.5, help="errors scaled by forecast^power (default 0.5)")
    p.add_argument("--output", required=True)
    p.set_defaults(func=command(cmd_inventory))
