"""``aihub next-best-action``: suggested actions for at-risk customers of a signed churn model (no database).

::

    aihub next-best-action --model churn.aihub --input CUSTOMERS.csv --actionable Contract,TechSupport
                           [--allowed "Contract=One year|Two year" --allowed "MonthlyCharges=-10%|-20%"]
                           [--threshold 0.5] [--max-actions 3] [--min-drop 0.01] [--all-features]
                           [--id-col customerID] [--training TRAIN.csv [--folds 5]] [--key-file PATH]
                           --output ACTIONS.csv

``ACTIONS.csv`` has the id columns and :data:`aihub.nba.OUTPUT_COLUMNS`.
``--training`` (the model's training table) chooses actions over cross-fitted
copies of the model: the action that helps the at-risk customers most is the
default, replaced only where every copy prefers another for that customer.
Exit codes: 0 success, 1 model or artifact failure, 2 invalid input.
"""

from __future__ import annotations

import argparse


def _actionable(args: argparse.Namespace) -> dict[str, list[str] | None]:
    from aihub.errors import ValidationError

    out: dict[str, list[str] | None] = {f.strip(): None for part in args.actionable for f in part.split(",") if f.strip()}
    for item in args.allowed or []:
        name, sep, values = item.partition("=")
        if not sep or not name.strip():
            raise ValidationError(f"--allowed {item!r}: write FEATURE=VALUE1|VALUE2", field="allowed")
        if name.strip() not in out:
            raise ValidationError(f"--allowed names {name.strip()!r}, which is not in --actionable", field="allowed")
        out[name.strip()] = [v.strip() for v in values.split("|") if v.strip()]
    return out


def cmd_next_best_action(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aihub.errors import ValidationError
    from aihub.filemode import write_csv
    from aihub.ml.artifacts import load_artifact, resolve_key
    from aihub.ml.cli import read_table
    from aihub.nba import next_best_actions

    key, _ = resolve_key(args.key_file, create=False)
    try:
        blob = Path(args.model).read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read the model file {args.model!r}: {exc.strerror}", field="model") from exc
    model = load_artifact(blob, key)
    customers = read_table(args.input)
    training = read_table(args.training) if args.training else None
    out = next_best_actions(model, customers, _actionable(args), risk_threshold=args.threshold,
                            max_actions=args.max_actions, min_risk_drop=args.min_drop,
                            only_reasons=not args.all_features, id_columns=args.id_col or None,
                            training=training, folds=args.folds)
    write_csv(out, args.output)
    n_cust = out["row"].nunique()
    n_act = int(out["feature"].notna().sum())
    basis = out.loc[out["rank"] == 1, "basis"].value_counts()
    print(f"{n_cust} of {len(customers)} customers at risk >= {args.threshold:g}; {n_act} suggested actions -> "
          f"{args.output} (the global action for {basis.get('global', 0)}, a personal one for "
          f"{basis.get('personal', 0)}). Risk changes are model estimates, not promises.")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``next-best-action`` subcommand."""
    from aihub.filemode import command

    p = subparsers.add_parser("next-best-action", help="actions that lower at-risk customers' churn risk (model estimates)")
    p.add_argument("--model", required=True, help="signed binary classification model (.aihub), e.g. churn")
    p.add_argument("--input", required=True, help="customers CSV with the model's feature columns")
    p.add_argument("--actionable", required=True, action="append", help="features the business can change (comma-separated)")
    p.add_argument("--allowed", action="append", help="FEATURE=V1|V2 allowed values (numeric: 20, +5, -10%%); repeatable")
    p.add_argument("--threshold", type=float, default=0.5, help="risk at or above which a customer gets actions (default 0.5)")
    p.add_argument("--max-actions", type=int, default=3, help="actions per customer (default 3)")
    p.add_argument("--min-drop", type=float, default=0.01, help="smallest risk drop suggested (default 0.01)")
    p.add_argument("--all-features", action="store_true", help="also try actionable features that do not raise the risk")
    p.add_argument("--id-col", action="append", help="column identifying customers in the output (repeatable)")
    p.add_argument("--training", help="the model's training CSV: choose over cross-fitted copies (recommended)")
    p.add_argument("--folds", type=int, default=5, help="cross-fitted copies with --training (default 5)")
    p.add_argument("--key-file", help="key file the model was signed with (default: $AIHUB_ARTIFACT_KEY or ~/.aihub/artifact.key)")
    p.add_argument("--output", required=True, help="CSV of actions to write")
    p.set_defaults(func=command(cmd_next_best_action))
