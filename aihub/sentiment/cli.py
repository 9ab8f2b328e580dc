"""``aihub sentiment``: label, score and drivers per text row, without labels (no database).

::

    aihub sentiment --input TEXTS.csv --text-col C --output OUT.csv
                    [--time-col T [--group-col G] [--freq M] [--trend TREND.csv] [--drops DROPS.json]]

``OUT.csv`` keeps the input columns (an input column whose name clashes with
an output column gets the suffix ``_input``) and adds language, label, score,
positive, neutral, negative, drivers and note (see
:func:`aihub.sentiment.score_texts`). With ``--time-col``, ``--trend`` writes
the mean sentiment per group and period and ``--drops`` the significant
drops as JSON. Exit codes: 0 success, 2 invalid input.
"""

from __future__ import annotations

import argparse


def cmd_sentiment(args: argparse.Namespace) -> int:
    from aihub import jsonsafe
    from aihub.errors import ValidationError
    from aihub.filemode import write_csv, write_json
    from aihub.ml.cli import read_table
    from aihub.sentiment import detect_sentiment_drops, score_texts, sentiment_over_time

    frame = read_table(args.input)
    scored = score_texts(frame, args.text_col)
    new = [c for c in scored.columns if c != "row"]
    joined = frame.rename(columns={c: f"{c}_input" for c in frame.columns if c in new}).join(scored[new])
    write_csv(joined, args.output)
    counts = scored["label"].value_counts().to_dict()
    print(f"Scored {len(scored)} rows -> {args.output}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if (args.trend or args.drops) and not args.time_col:
        raise ValidationError("--trend and --drops need --time-col", field="time_col")
    if args.time_col:
        data = frame.rename(columns={c: f"{c}_input" for c in frame.columns if c in new}).join(scored[new])
        time_col = f"{args.time_col}_input" if args.time_col in new else args.time_col
        group_col = (f"{args.group_col}_input" if args.group_col in new else args.group_col) if args.group_col else None
        if args.trend:
            write_csv(sentiment_over_time(data, time_col, group_col, freq=args.freq), args.trend)
            print(f"Sentiment per period -> {args.trend}")
        drops = detect_sentiment_drops(data, time_col, group_col, freq=args.freq)
        for d in drops:
            print(f"{d.title}: {d.narrative}")
        if args.drops:
            write_json(jsonsafe.plain([d.to_dict() for d in drops]), args.drops)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sentiment`` subcommand."""
    from aihub.filemode import command

    p = subparsers.add_parser("sentiment", help="sentiment label, score and driving words per text (English)")
    p.add_argument("--input", required=True, help="CSV with a text column")
    p.add_argument("--text-col", required=True)
    p.add_argument("--output", required=True, help="CSV to write: the input plus the sentiment columns")
    p.add_argument("--time-col", help="date column for trends and drop detection")
    p.add_argument("--group-col", help="product or category column for trends and drops")
    p.add_argument("--freq", choices=["D", "W", "M", "Q"], default="M", help="period of trends (default M)")
    p.add_argument("--trend", help="write sentiment per group and period to this CSV")
    p.add_argument("--drops", help="write detected sentiment drops to this JSON file")
    p.set_defaults(func=command(cmd_sentiment))
