"""``aihub forecast``: forecast every series of a CSV file, no database needed.

The lead's ``aihub/cli.py`` calls :func:`register` on its subparsers; this module
also runs on its own: ``python -m aihub.forecasting.cli forecast --input ...``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aihub import exports
from aihub.errors import AihubError, IngestError

from .auto import ALGORITHMS, AUTO_CANDIDATES
from .bulk import ON_ERROR, OUTPUT_COLUMNS
from .frequency import DEFAULT_MAX_HISTORY, FREQUENCIES
from .models import LEVELS, MODEL_ALGORITHMS


def _candidates(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``forecast`` subcommand to an argparse ``subparsers`` object.

    The parser's ``func`` default is :func:`run_forecast`, which takes the parsed
    arguments and returns the process exit code (0 success, 1 bad input or training
    failure).
    """
    p = subparsers.add_parser(
        "forecast",
        help="forecast every series of a CSV file (file mode, no database)",
        description=(
            "Read a long CSV (one row per series and period), forecast each series and write "
            f"{', '.join(OUTPUT_COLUMNS)}. Series are processed in parallel."
        ),
    )
    p.add_argument("--input", required=True, type=Path, help="training CSV in long form")
    p.add_argument("--output", required=True, type=Path, help="forecast CSV to write")
    p.add_argument("--horizon", required=True, type=int, help="periods to forecast for every series")
    p.add_argument("--id-col", default="unique_id", help="series identifier column (default: %(default)s)")
    p.add_argument("--date-col", default="ds", help="date column (default: %(default)s)")
    p.add_argument("--value-col", default="y", help="value column (default: %(default)s)")
    p.add_argument("--freq", choices=list(FREQUENCIES), help=f"one of {', '.join(FREQUENCIES)} (default: inferred from the dates)")
    p.add_argument("--model", default="auto", choices=list(ALGORITHMS), help="algorithm (default: %(default)s)")
    p.add_argument(
        "--candidates",
        type=_candidates,
        help=f"comma-separated pool for --model auto from {','.join(MODEL_ALGORITHMS)} "
        f"(default: {','.join(AUTO_CANDIDATES)})",
    )
    p.add_argument(
        "--level",
        type=int,
        default=95,
        choices=list(LEVELS),
        help="interval level of yhat_lower/yhat_upper (default: %(default)s)",
    )
    p.add_argument(
        "--max-history",
        type=int,
        help="fit on at most this many latest periods; 0 for all (default per frequency: "
        + ", ".join(f"{k} {v or 'all'}" for k, v in DEFAULT_MAX_HISTORY.items())
        + ")",
    )
    p.add_argument(
        "--on-error",
        default="fail",
        choices=list(ON_ERROR),
        help="series that cannot be forecast: fail the run or fall back to naive",
    )
    p.add_argument(
        "--all-levels",
        action="store_true",
        help="also write yhat_lower_80, yhat_upper_80, yhat_lower_95 and yhat_upper_95",
    )
    p.add_argument("--n-jobs", type=int, default=-1, help="worker processes, -1 for all cores (default: %(default)s)")
    p.set_defaults(func=run_forecast)
    return p


def run_forecast(args: argparse.Namespace, forecaster: Callable[..., Any] | None = None) -> int:
    """Execute ``aihub forecast``; returns the exit code.

    ``forecaster`` (default :func:`~aihub.forecasting.forecast_many`) takes ``forecast_many``'s arguments; the
    ``aihub`` command passes the runtime's, which runs on a Dask cluster when one is configured.
    """
    import pandas as pd

    from .bulk import forecast_many

    t0 = time.perf_counter()
    try:
        if not args.input.is_file():
            raise IngestError(
                f"Input file {str(args.input)!r} does not exist.", field="input", details={"file": str(args.input)}
            )
        try:
            df = pd.read_csv(args.input, encoding="utf-8-sig", dtype={args.id_col: str})
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise IngestError(
                f"Input file {str(args.input)!r} cannot be read as CSV ({exc}).",
                field="input",
                details={"file": str(args.input)},
            ) from exc
        kwargs = {}
        if args.max_history is not None:
            kwargs["max_history"] = args.max_history or None
        out = (forecaster or forecast_many)(
            df,
            horizon=args.horizon,
            freq=args.freq,
            algorithm=args.model,
            id_col=args.id_col,
            date_col=args.date_col,
            value_col=args.value_col,
            level=args.level,
            candidates=args.candidates,
            on_error=args.on_error,
            n_jobs=args.n_jobs,
            all_levels=args.all_levels,
            **kwargs,
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        stamps = pd.to_datetime(out["ds"])
        intraday = bool(((stamps.dt.hour != 0) | (stamps.dt.minute != 0)).any())
        exports.write_csv(out, args.output, date_format="%Y-%m-%d %H:%M:%S" if intraday else "%Y-%m-%d")
    except AihubError as exc:
        print(f"aihub forecast: error: {exc}", file=sys.stderr)
        return 1
    n_series = out["unique_id"].nunique()
    chosen = ", ".join(f"{k} {v}" for k, v in Counter(out.drop_duplicates("unique_id")["model"]).most_common())
    print(
        f"aihub forecast: {n_series} series x {args.horizon} periods written to {args.output} "
        f"in {time.perf_counter() - t0:.1f} s (models: {chosen})",
        file=sys.stderr,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m aihub.forecasting.cli forecast ...``."""
    parser = argparse.ArgumentParser(prog="aihub")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
