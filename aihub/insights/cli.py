"""File mode of the insight engine, and the shared filter flags of ``aihub insights generate``.

Usage::

    python -m aihub.insights.cli --orders orders.csv --date-col "Order Date" --amount-col Sales
        [--customer-col "Customer ID"] [--product-col "Product Name"] [--dimension Region ...]
        [--category sales] [--priority high] [--limit 5] [--now 2023-01-05] [--json]

The file is read with the project's reader (:func:`aihub.ingest.read_upload`,
which detects encodings, delimiters and day-first dates). The database-backed
``aihub insights generate`` of the lead can reuse :func:`add_filter_arguments`
and :func:`filter_kwargs` so both accept the same flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aihub.errors import AihubError, ValidationError
from aihub.insights.engine import generate_insights
from aihub.insights.inputs import InsightInputs, OrdersInput
from aihub.insights.model import CATEGORIES, PRIORITIES


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--category`` (repeatable), ``--priority`` and ``--limit``."""
    parser.add_argument("--category", action="append", choices=CATEGORIES, help="keep this category (repeatable)")
    parser.add_argument("--priority", choices=PRIORITIES, help="keep insights of at least this priority")
    parser.add_argument("--limit", type=int, help="at most this many insights")


def filter_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``categories``, ``min_priority`` and ``limit`` for :func:`generate_insights` from parsed flags."""
    return {"categories": args.category, "min_priority": args.priority, "limit": args.limit}


def _print(insights, as_json: bool) -> None:
    if as_json:
        print(json.dumps([i.to_dict() for i in insights], indent=2, ensure_ascii=False))
        return
    if not insights:
        print("no insights")
    for n, i in enumerate(insights, 1):
        print(f"{n}. [{i.priority} {i.score:.0f}] {i.title}")
        print(f"   {i.narrative}")
        for a in i.recommended_actions:
            print(f"   - {a}")


def run(args: argparse.Namespace) -> int:
    """Handler of the file-mode command; returns the exit code (2 for a user error)."""
    from aihub.ingest import read_upload

    try:
        path = Path(args.orders)
        if not path.is_file():
            raise ValidationError(f"--orders {path} is not a file", field="orders")
        frame = read_upload(path.name, path.read_bytes()).typed()
        orders = OrdersInput(
            frame,
            date=args.date_col,
            amount=args.amount_col,
            customer=args.customer_col,
            product=args.product_col,
            dimensions=args.dimension or (),
            metric=args.metric,
            currency=args.currency,
        )
        now = None
        if args.now:
            try:
                now = datetime.fromisoformat(args.now)
            except ValueError:
                raise ValidationError(
                    f"--now must be an ISO date like 2023-01-05; got {args.now!r}", field="now"
                ) from None
        insights = generate_insights(InsightInputs(orders=orders), now=now, **filter_kwargs(args))
        _print(insights, args.json)
        return 0
    except AihubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aihub.insights.cli", description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", required=True, help="orders file (CSV, Excel, ...)")
    p.add_argument("--date-col", required=True)
    p.add_argument("--amount-col", required=True)
    p.add_argument("--customer-col")
    p.add_argument("--product-col")
    p.add_argument("--dimension", action="append", help="column whose slices may explain a change (repeatable)")
    p.add_argument("--metric", default="sales", help="business name of the amount (default: sales)")
    p.add_argument("--currency", default="USD")
    p.add_argument("--now", help="generation date (ISO); default today")
    p.add_argument("--json", action="store_true", help="print the insights as JSON")
    add_filter_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
