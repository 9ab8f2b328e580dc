"""``aihub detect-records``: a risk score for every row of a table, in file mode.

Usage::

    aihub detect-records --input ORDERS.csv --output SCORED.csv [--id-col "Row ID"]
                         [--entity-col "Customer ID"] [--time-col "Order Date" --time-format %d/%m/%y]
                         [--group-col "Order ID"] [--context-col Category] [--exclude "Postal Code"]
                         [--labels LABELS.csv]

The table is read like an upload (CSV, Excel, ...; messy numbers such as
``"$84,835.00 "`` are numbers). The scorer is fitted on the whole table, trained
on the analysts' decisions in ``--labels`` (a CSV with the id column, or
``id``, and a ``label`` column: confirmed/dismissed or 1/0), and every row is
written with ``id, score, band, reasons`` (reasons for medium, high and critical
rows, joined by "; "), in the input's order. See :mod:`aihub.anomaly.records`
for the method and the band cut-offs. ``aihub/cli.py`` calls :func:`register`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from aihub.anomaly.records import RecordScorer
from aihub.errors import AihubError, IngestError, ValidationError

#: Largest input accepted (bytes).
MAX_INPUT_BYTES = 500 * 1024 * 1024


def _read_table(path: Path) -> pd.DataFrame:
    from aihub import ingest

    if not path.is_file():
        raise ValidationError(f"--input {path} is not a file.", field="input")
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise ValidationError(f"--input {path} is larger than {MAX_INPUT_BYTES // 2**20} MB.", field="input")
    parsed = ingest.read_upload(path.name, path.read_bytes(), max_bytes=MAX_INPUT_BYTES)
    return parsed.typed(parsed.schema)


def _read_labels(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise IngestError(f"Cannot read --labels {path} as CSV: {exc}", field="labels",
                          details={"file": str(path)}) from None


def detect_records_file(src: Path, dst: Path, settings: dict, labels: Path | None = None) -> pd.DataFrame:
    """Score one table file and write ``id, score, band, reasons``; returns the written frame.

    Raises
    ------
    aihub.errors.ValidationError
        Bad settings, missing columns, unreadable input or labels.
    """
    frame = _read_table(src)
    scorer = RecordScorer(settings).fit(frame)
    if labels is not None:
        scorer.learn(frame, _read_labels(labels))
    scored = scorer.score(frame)
    out = pd.DataFrame({"id": scored["id"], "score": scored["score"].round(6), "band": scored["band"],
                        "reasons": scored["reason_text"]})
    dst.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(dst, index=False)
    for note in scorer.notes_:
        print(f"note: {note}", file=sys.stderr)
    return out


def run_detect_records(args: argparse.Namespace) -> int:
    """Handler of ``aihub detect-records``; returns the process exit code."""
    settings = {k: v for k, v in {
        "id_col": args.id_col, "entity_col": args.entity_col, "time_col": args.time_col,
        "time_format": args.time_format, "group_col": args.group_col, "context_col": args.context_col,
    }.items() if v}
    if args.exclude:
        settings["exclude"] = list(args.exclude)
    try:
        out = detect_records_file(Path(args.input), Path(args.output), settings,
                                  Path(args.labels) if args.labels else None)
    except AihubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = out["band"].value_counts()
    summary = ", ".join(f"{counts.get(b, 0):,} {b}" for b in ("critical", "high", "medium"))
    print(f"scored {len(out):,} rows ({summary}) -> {args.output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``detect-records`` subcommand to an ``argparse`` subparsers object."""
    p = subparsers.add_parser("detect-records", help="risk score, band and reasons for every row of a table",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="table file (CSV, Excel, ...)")
    p.add_argument("--output", required=True, help="output CSV: id, score, band, reasons")
    p.add_argument("--id-col", help="row id column (default: the row number)")
    p.add_argument("--entity-col", help="who the row belongs to, e.g. a customer column")
    p.add_argument("--time-col", help="date column (with --entity-col: same-day bursts)")
    p.add_argument("--time-format", help="strftime format of --time-col, e.g. %%d/%%m/%%y")
    p.add_argument("--group-col", help="order or transaction id that groups rows")
    p.add_argument("--context-col", help="category whose levels set what is usual (default: chosen from the data)")
    p.add_argument("--exclude", action="append", help="column never used (repeatable)")
    p.add_argument("--labels", help="CSV of analyst decisions: id column and label (confirmed/dismissed or 1/0)")
    p.set_defaults(func=run_detect_records)
    return p
