"""File-mode command line: ``aihub train`` and ``aihub predict`` (no database).

::

    aihub train --input TRAIN.csv --target COL [--task auto|classification|regression|clustering]
                [--model auto|logistic_regression|lightgbm|...] --output MODEL.aihub
                [--config CONFIG.json] [--template churn|lead_scoring|rfm_segmentation|customer_lifetime_value]
                [--exclude COL ...] [--positive-class X] [--decision-metric f1|balanced_accuracy|accuracy]
                [--score-label TEXT] [--show-features] [--seed N] [--key-file PATH]
    aihub predict --model MODEL.aihub --input X.csv --output PRED.csv
                  [--explain] [--positive-class X] [--top-k 3] [--key-file PATH]

Signing key (see :func:`aihub.ml.artifacts.resolve_key`): ``--key-file``, else
the ``AIHUB_ARTIFACT_KEY`` environment variable, else ``AIHUB_ARTIFACT_KEY_FILE``,
else ``~/.aihub/artifact.key``. ``train`` creates that default file (64 random hex
characters, mode 0600) when no key exists; ``predict`` never creates one, so a
model signed elsewhere is refused rather than trusted.

Exit codes: 0 success, 1 training or artifact failure, 2 invalid input.
The lead's ``aihub/cli.py`` calls :func:`register`; ``python -m aihub.ml.cli``
works standalone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from aihub import exports
from aihub.errors import IngestError, ValidationError
from aihub.filemode import atomic_write as _atomic_write
from aihub.filemode import command as _run


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV with pandas (UTF-8, byte-order mark allowed; any line ending), columns typed by pandas.

    Kept for the other file-mode commands (``clv``, ``inventory``,
    ``recommend``, ``sentiment``, ``next-best-action``); ``train`` and
    ``predict`` read with :func:`read_upload_table`.

    Raises
    ------
    IngestError
        Missing or unreadable file (``details["file"]``).
    """
    p = Path(path)
    if not p.is_file():
        raise IngestError(f"file {str(p)!r} does not exist", field="input", details={"file": str(p)})
    try:
        return pd.read_csv(p, encoding="utf-8-sig", low_memory=False)
    except UnicodeDecodeError:
        try:
            return pd.read_csv(p, encoding="cp1252", low_memory=False)
        except Exception as exc:
            raise IngestError(f"cannot read {str(p)!r} as CSV: {exc}", field="input", details={"file": str(p)}) from exc
    except Exception as exc:
        raise IngestError(f"cannot read {str(p)!r} as CSV: {exc}", field="input", details={"file": str(p)}) from exc


def read_upload_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV, Excel or JSON table the way uploads to the app are read.

    Uses :func:`aihub.ingest.read_upload` (encoding and delimiter detected,
    ``,`` ``;`` tab or ``|``; a leading row-index column left out) and
    returns the table as text, every cell a string and blanks ``""``; the
    model parses numbers, dates and text itself, so a bad cell is reported by
    row instead of silently blanked. The reader's notes go to stderr.

    Raises
    ------
    IngestError
        Missing or unreadable file (``details["file"]``).
    """
    from aihub.ingest import read_upload

    p = Path(path)
    if not p.is_file():
        raise IngestError(f"file {str(p)!r} does not exist", field="input", details={"file": str(p)})
    parsed = read_upload(p.name, p.read_bytes())
    for note in parsed.warnings:
        print(f"note: {note}", file=sys.stderr)
    return parsed.frame


def _print_metrics(model) -> None:
    m = model.metrics
    keys = {
        "classification": ["roc_auc", "brier", "accuracy", "precision", "recall", "f1"],
        "regression": ["r2", "mae", "rmse", "interval_coverage"],
        "clustering": ["silhouette"],
    }[model.task]
    shown = ", ".join(f"{k} {m[k]:.4f}" for k in keys if isinstance(m.get(k), (int, float)))
    print(f"Test split ({model.n_rows.get('test')} rows): {shown}")
    if model.score_name:
        print(f"Score: probability = {model.score_name} (positive class {model.positive_class!r}, {_reason(model)})")
    if model.threshold:
        t = model.threshold
        how = "set in the configuration" if t["source"] == "configured" else f"best {t['metric']} on {t['source']}"
        print(f"Decision threshold {t['value']:.2f} ({how})")
    if model.task == "clustering" and model.segments:
        print("Segments: " + ", ".join(f"{s['name']} ({s['size']})" for s in model.segments.values()))


def _reason(model) -> str:
    reason = (model.target_info or {}).get("positive_reason")
    return {
        "configured": "as configured",
        "conventional": "a conventional positive label",
        "minority": "the rarer outcome; --positive-class changes it",
        "last": "--positive-class changes it",
    }.get(reason, "--positive-class changes it")


def _config_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        cfg = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"cannot read the config file {path!r}: {exc}", field="config") from exc
    if not isinstance(cfg, dict):
        raise ValidationError("the config file must hold a JSON object", field="config")
    return cfg


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {
        "target": args.target,
        "algorithm": args.model,
        "positive_class": args.positive_class,
        "random_seed": args.seed,
        "model_name": args.name,
        "decision_metric": args.decision_metric,
        "score_label": args.score_label,
    }
    out = {k: v for k, v in pairs.items() if v is not None and v != ""}
    if args.exclude:
        out["excluded_columns"] = [c.strip() for part in args.exclude for c in part.split(",") if c.strip()]
    return out


def build_config(args: argparse.Namespace, frame: pd.DataFrame):
    """The training configuration from ``--config``, ``--template`` and the flags (flags win).

    Without a task (``--task auto`` and no ``task``/``model_type`` in the
    config) the target decides (:func:`aihub.ml.targets.target_kind_choices`);
    when it could be classes or amounts, a note says which was used.
    """
    from aihub.ml.config import TrainingConfig
    from aihub.ml.preprocess import infer_task
    from aihub.ml.templates import suggest_config

    merged = {**_config_file(args.config), **_overrides(args)}
    if args.task not in (None, "auto"):
        merged["task"] = args.task
    if args.template:
        return suggest_config(args.template, frame, **merged)
    if "task" not in merged and "model_type" not in merged:
        merged["task"] = infer_task(frame, merged.get("target"))
    return TrainingConfig.from_dict(merged)


def cmd_train(args: argparse.Namespace) -> int:
    from aihub.ml.artifacts import dump_artifact, resolve_key
    from aihub.ml.train import train_model

    frame = read_upload_table(args.input)
    config = build_config(args, frame)
    key, source = resolve_key(args.key_file, create=True)

    def progress(fraction: float, message: str) -> None:
        if args.progress:
            print(f"[{fraction:4.0%}] {message}", file=sys.stderr)

    model = train_model(config, frame, progress=progress)
    blob = dump_artifact(model, key)
    _atomic_write(Path(args.output), blob)
    print(
        f"Trained {model.algorithm} ({model.task}) on {model.n_rows['train'] + model.n_rows['validation']} rows "
        f"in {model.training_seconds:.1f} s; features: {', '.join(model.features)}"
    )
    _print_metrics(model)
    if model.cv_results:
        best = [r for r in model.cv_results if r.get("selected")]
        print("auto compared: " + ", ".join(f"{r['candidate']} {r['mean']:.4f}" for r in model.cv_results) + (f" -> {best[0]['candidate']}" if best else ""))
    if args.show_features:
        for row in model.feature_treatments:
            print(f"  {row['column']}: {row['treatment']}")
    for w in model.warnings:
        print(f"warning: {w['message']}", file=sys.stderr)
    print(f"Model written to {args.output} ({len(blob) / 1e6:.2f} MB), signed with the key from {source}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from aihub.ml.artifacts import load_artifact, resolve_key
    from aihub.ml.predict import predict

    key, _ = resolve_key(args.key_file, create=False)
    try:
        blob = Path(args.model).read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read the model file {args.model!r}: {exc.strerror}", field="model") from exc
    model = load_artifact(blob, key)
    frame = read_upload_table(args.input)
    result = predict(model, frame, positive_class=args.positive_class, explain=args.explain, top_k=args.top_k)
    score = result.attrs.get("score_name")
    keep = [c for c in model.id_columns if c in frame.columns and c not in result.columns]
    if keep and len(result) == len(frame):
        result = pd.concat([frame[keep].reset_index(drop=True), result.reset_index(drop=True)], axis=1)
    out = Path(args.output)
    _atomic_write(out, exports.to_csv_bytes(result, lineterminator="\n"), mode=0o644)
    n_err = int(result["error"].notna().sum())
    print(f"Predicted {len(result) - n_err} of {len(result)} rows -> {out}")
    if score:
        print(f"probability = {score}")
    if n_err:
        for msg in result.loc[result["error"].notna(), "error"].head(10):
            print(f"not predicted: {msg}", file=sys.stderr)
        if n_err > 10:
            print(f"... and {n_err - 10} more rows (see the error column)", file=sys.stderr)
    for w in model.warnings:
        if w.get("kind") == "version_mismatch":
            print(f"warning: {w['message']}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` and ``predict`` subcommands; each sets ``func`` returning an exit code."""
    from aihub.ml.config import ALGORITHMS, TEMPLATE_NAMES

    algos = sorted({a for v in ALGORITHMS.values() for a in v})
    tr = subparsers.add_parser("train", help="train a model from a CSV file and write a signed .aihub file")
    tr.add_argument("--input", required=True, help="training CSV")
    tr.add_argument("--target", help="column to predict (omit for clustering)")
    tr.add_argument("--task", choices=["auto", "classification", "regression", "clustering"], default="auto", help="default: inferred from the target")
    tr.add_argument("--model", choices=algos, default=None, help="algorithm (default auto: cross-validate candidates)")
    tr.add_argument("--output", required=True, help="model file to write (.aihub)")
    tr.add_argument("--config", help="JSON file with a full training configuration; flags override it")
    tr.add_argument("--template", choices=list(TEMPLATE_NAMES), help="pre-fill the configuration from a business template")
    tr.add_argument("--exclude", action="append", help="columns to leave out (comma-separated; repeatable)")
    tr.add_argument("--positive-class", help="class whose probability is reported (binary; default: a conventional positive label such as 1/yes/churn/bad, else the rarer class)")
    tr.add_argument("--decision-metric", choices=["f1", "balanced_accuracy", "accuracy"], help="metric the decision threshold maximises on held-out rows (default f1)")
    tr.add_argument("--score-label", help="your name for the score (default P(<positive class>))")
    tr.add_argument("--show-features", action="store_true", help="print what was done to each column")
    tr.add_argument("--seed", type=int, help="random seed (default 0)")
    tr.add_argument("--name", help="model name")
    tr.add_argument("--key-file", help="signing key file (default: $AIHUB_ARTIFACT_KEY or ~/.aihub/artifact.key, created if absent)")
    tr.add_argument("--progress", action="store_true", help="print training progress to stderr")
    tr.set_defaults(func=_run(cmd_train))

    pr = subparsers.add_parser("predict", help="predict a CSV file with a .aihub model")
    pr.add_argument("--model", required=True, help="model file (.aihub)")
    pr.add_argument("--input", required=True, help="CSV with the model's feature columns")
    pr.add_argument("--output", required=True, help="CSV to write; rows in input order")
    pr.add_argument("--explain", action="store_true", help="add the top SHAP contributions and a one-line explanation")
    pr.add_argument("--positive-class", help="report the probability of this class (binary classification)")
    pr.add_argument("--top-k", type=int, default=3, help="contributions listed with --explain (default 3)")
    pr.add_argument("--key-file", help="key file the model was signed with (default: $AIHUB_ARTIFACT_KEY or ~/.aihub/artifact.key)")
    pr.set_defaults(func=_run(cmd_predict))


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m aihub.ml.cli train|predict ...``."""
    parser = argparse.ArgumentParser(prog="aihub", description="AI Analytics Hub file-mode modelling")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
