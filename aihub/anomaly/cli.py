"""``aihub detect``: score CSV files of one metric in file mode.

Usage::

    aihub detect --input PATH --output PATH [--timestamp-col timestamp]
                 [--value-col value]
                 [--detector auto|robust_seasonal|forecast_band|art|context|isolation_forest]

``PATH`` is a CSV file or a folder; for a folder every ``*.csv`` below it is
scored and written to the same relative path under the output folder. Each
output file has the input's rows in the input order with columns
``timestamp, value, anomaly_score, is_anomaly, severity`` followed by
``expected, lower, upper``. Scoring is causal (each row uses only rows with
earlier or equal timestamps). ``auto`` is the ensemble described in
:mod:`aihub.anomaly.detectors`; the other names run one of its components
alone, or the isolation forest. The lead's ``aihub/cli.py`` calls
:func:`register`; ``python -m aihub.anomaly.cli detect ...`` also works.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from aihub import exports
from aihub.anomaly.detectors import ALGORITHMS, detect
from aihub.errors import AihubError, IngestError, ValidationError

OUT_COLUMNS = ("timestamp", "value", "anomaly_score", "is_anomaly", "severity", "expected", "lower", "upper")


def _read(path: Path, ts_col: str, value_col: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", dtype={ts_col: str}, keep_default_na=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise IngestError(f"Cannot read {path} as CSV: {exc}", details={"file": str(path)}) from None
    for col, flag in ((ts_col, "--timestamp-col"), (value_col, "--value-col")):
        if col not in df.columns:
            raise IngestError(
                f"{path}: no column '{col}' (set {flag}); columns are {list(df.columns)}.",
                field=flag.lstrip("-").replace("-", "_"),
                details={"file": str(path), "column": col},
            )
    ts = pd.to_datetime(df[ts_col], errors="coerce")
    bad = ts.isna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise IngestError(
            f"{path}: column '{ts_col}' row {i + 2} is not a date: {df[ts_col].iloc[i]!r}.",
            field="timestamp_col",
            details={"file": str(path), "column": ts_col, "row": i + 2},
        )
    vals = pd.to_numeric(df[value_col], errors="coerce")
    bad = vals.isna() & df[value_col].notna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise IngestError(
            f"{path}: column '{value_col}' row {i + 2} is not a number: {df[value_col].iloc[i]!r}.",
            field="value_col",
            details={"file": str(path), "column": value_col, "row": i + 2},
        )
    return pd.DataFrame({"raw_ts": df[ts_col], "timestamp": ts, "value": vals})


def detect_file(src: Path, dst: Path, *, timestamp_col: str = "timestamp", value_col: str = "value",
                detector: str = "auto") -> pd.DataFrame:
    """Score one CSV file and write the result; returns the written frame.

    Raises
    ------
    aihub.errors.IngestError
        Unreadable file, missing column, bad date or number (with the row).
    """
    data = _read(src, timestamp_col, value_col)
    scored = detect(data[["timestamp", "value"]], {"algorithm": detector})
    out = pd.DataFrame(
        {
            "timestamp": data["raw_ts"],
            "value": data["value"],
            "anomaly_score": scored["anomaly_score"].round(6),
            "is_anomaly": scored["is_anomaly"].astype(int),
            "severity": scored["severity"],
            "expected": scored["expected"],
            "lower": scored["lower"],
            "upper": scored["upper"],
        }
    )
    dst.parent.mkdir(parents=True, exist_ok=True)
    exports.write_csv(out, dst)
    return out


def run_detect(args: argparse.Namespace) -> int:
    """Handler of ``aihub detect``; returns the process exit code."""
    src, dst = Path(args.input), Path(args.output)
    try:
        if not src.exists():
            raise ValidationError(f"--input {src} does not exist.", field="input")
        if src.is_dir():
            files = sorted(p for p in src.rglob("*.csv") if p.is_file())
            if not files:
                raise ValidationError(f"--input folder {src} has no .csv files.", field="input")
            if dst.exists() and not dst.is_dir():
                raise ValidationError(f"--output {dst} must be a folder when --input is a folder.", field="output")
            pairs = [(f, dst / f.relative_to(src)) for f in files]
        else:
            if dst.is_dir():
                dst = dst / src.name
            pairs = [(src, dst)]
        n_alarms = 0
        for f, o in pairs:
            out = detect_file(f, o, timestamp_col=args.timestamp_col, value_col=args.value_col, detector=args.detector)
            n_alarms += int(out["is_anomaly"].sum())
        print(f"scored {len(pairs)} file(s), {n_alarms} anomalies -> {dst}")
        return 0
    except AihubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``detect`` subcommand to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "detect",
        help="score CSV files of one metric for anomalies (causal)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--input", required=True, help="CSV file or folder of CSV files")
    p.add_argument("--output", required=True, help="output CSV file or folder (mirrors the input's relative paths)")
    p.add_argument("--timestamp-col", default="timestamp", help="timestamp column (default: timestamp)")
    p.add_argument("--value-col", default="value", help="value column (default: value)")
    p.add_argument("--detector", default="auto", choices=ALGORITHMS, help="algorithm (default: auto)")
    p.set_defaults(func=run_detect)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aihub")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
