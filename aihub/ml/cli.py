"""File-mode command line: ``aihub train`` and ``aihub predict`` (no database).

::

    aihub train --input TRAIN.csv --target COL [--task auto|classification|regression|clustering]
                [--model auto|logistic_regression|...] --output MODEL.aihub
                [--config CONFIG.json] [--template churn|lead_scoring|rfm_segmentation|customer_lifetime_value]
                [--exclude COL ...] [--positive-class X] [--seed N] [--key-file PATH]
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
    """Read a CSV (UTF-8, byte-order mark allowed; any line ending).

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


def _print_metrics(model) -> None:
    m = model.metrics
    keys = {
        "classification": ["roc_auc", "accuracy", "precision", "recall", "f1"],
        "regression": ["r2", "mae", "rmse", "interval_coverage"],
        "clustering": ["silhouette"],
    }[model.task]
    shown = ", ".join(f"{k} {m[k]:.4f}" for k in keys if isinstance(m.get(k), (int, float)))
    print(f"Test split ({model.n_rows.get('test')} rows): {shown}")
    if model.task == "clustering" and model.segments:
        print("Segments: " + ", ".join(f"{s['name']} ({s['size']})" for s in model.segments.values()))


def cmd_train(args: argparse.Namespace) -> int:
    from aihub.ml.artifacts import dump_artifact, resolve_key
    from aihub.ml.config import TrainingConfig
    from aihub.ml.preprocess import infer_task
    from aihub.ml.templates import suggest_config
    from aihub.ml.train import train_model

    frame = read_table(args.input)
    cfg: dict[str, Any] = {}
    if args.config:
        try:
            cfg = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValidationError(f"cannot read the config file {args.config!r}: {exc}", field="config") from exc
        if not isinstance(cfg, dict):
            raise ValidationError("the config file must hold a JSON object", field="config")
    overrides: dict[str, Any] = {}
    if args.target:
        overrides["target"] = args.target
    if args.model:
        overrides["algorithm"] = args.model
    if args.exclude:
        overrides["excluded_columns"] = [c.strip() for part in args.exclude for c in part.split(",") if c.strip()]
    if args.positive_class is not None:
        overrides["positive_class"] = args.positive_class
    if args.seed is not None:
        overrides["random_seed"] = args.seed
    if args.name:
        overrides["model_name"] = args.name
    if args.template:
        config = suggest_config(args.template, frame, **{**cfg, **overrides})
    else:
        merged = {**cfg, **overrides}
        if "task" not in merged and "model_type" not in merged:
            task = args.task
            if task in (None, "auto"):
                task = infer_task(frame, merged.get("target"))
            merged["task"] = task
        elif args.task not in (None, "auto"):
            merged["task"] = args.task
        config = TrainingConfig.from_dict(merged)
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
    frame = read_table(args.input)
    result = predict(model, frame, positive_class=args.positive_class, explain=args.explain, top_k=args.top_k)
    keep = [c for c in model.id_columns if c in frame.columns and c not in result.columns]
    if keep and len(result) == len(frame):
        result = pd.concat([frame[keep].reset_index(drop=True), result.reset_index(drop=True)], axis=1)
    out = Path(args.output)
    _atomic_write(out, exports.to_csv_bytes(result, lineterminator="\n"), mode=0o644)
    n_err = int(result["error"].notna().sum())
    print(f"Predicted {len(result) - n_err} of {len(result)} rows -> {out}")
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
    tr.add_argument("--positive-class", help="class whose probability is reported (binary classification)")
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
