#!/usr/bin/env python
"""Proxy benchmark for the NAB categories held out from us: design on real non-NAB carriers, not on NAB.

The streams come from :mod:`aihub.anomaly.proxy`: real public series (M4
hourly and weekly, Prophet's page views, Superstore daily orders and sales,
bike sharing hourly counts and weather sensors) shaped like realAdExchange,
realAWSCloudwatch, realTraffic and realTweets, with labelled anomalies
planted and NAB label windows. A development half and a test half, split by
carrier series and fixed in code before any result was seen.

Stages
------
``--stage dev``
    Every design of :data:`DESIGNS` on the development half: NAB score per
    category and pooled, and the 5-95% interval of its pooled own-alarm
    score minus the shipped design's (paired bootstrap over files). Designs
    were listed before their first run: the shipped design, then one change
    at a time (component set, combination rule, likelihood windows, warm-up,
    cooldown, alert threshold). A change is adopted when its interval lies
    above 0; otherwise the published default stays.
``--stage report`` (default)
    One table for the shipped design, the first-pass ensemble
    (:data:`FIRST_PASS_REF`) and the previous ``auto``
    (:data:`PREVIOUS_AUTO_REF`), both run from git: the proxy *test* half
    per category and pooled, the NAB files per category (each category is
    out of sample for a design chosen on the proxy), and the 18 NAB files
    together, through the shared scorer's command line. Then the speed on
    one metric of ``--speed-points`` points, beside the two from git in the
    same run.

Scores are NAB's standard profile from the shared scorer
``<shared>/tools/nab_score.py``, used as it is: "best" at the best single
threshold over ``anomaly_score`` (as NAB tunes it), "own" the detector's own
``is_anomaly`` alarms, which analysts see.

Usage::

    python benchmarks/anomaly_proxy.py [--stage dev|report] [--out benchmarks/out/proxy]
                                       [--designs NAME ...] [--speed-points 1000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from anomaly_nab import (  # benchmarks/ is not a package: found through sys.path
    PREVIOUS_AUTO_REF,
    Corpus,
    fmt,
    load_scorer,
    nab_corpus,
    run_previous,
    run_scorer,
    shared_dir,
    speed_frame,
)

from aihub.anomaly.cli import detect_file
from aihub.anomaly.detectors import detect
from aihub.anomaly.proxy import CATEGORIES, load_carriers, proxy_corpus, write_corpus

FIRST_PASS_REF = "698d7ce"
"""The first-pass ensemble on main (robust_seasonal + forecast_band, art, context; warm-up up to 750 points)."""

_HTM = {"short_window": 10, "history_window": 8640}
_BASE: dict[str, Any] = {"algorithm": "auto"}

DESIGNS: dict[str, tuple[dict[str, Any], dict[str, float] | None]] = {
    # name: (detection_config, severity thresholds or None for the defaults)
    "shipped": (_BASE, None),
    "components: residual": ({**_BASE, "components": ["robust_seasonal", "forecast_band"]}, None),
    "components: residual+art": ({**_BASE, "components": ["robust_seasonal", "forecast_band", "art"]}, None),
    "components: residual+context": ({**_BASE, "components": ["robust_seasonal", "forecast_band", "context"]}, None),
    "components: art+context": ({**_BASE, "components": ["art", "context"]}, None),
    "components: robust+art+context": ({**_BASE, "components": ["robust_seasonal", "art", "context"]}, None),
    "combine: mean": ({**_BASE, "combine": "mean"}, None),
    "combine: fisher": ({**_BASE, "combine": "fisher"}, None),
    "likelihood: HTM windows": ({**_BASE, **_HTM}, None),
    "likelihood: averaging 5": ({**_BASE, "short_window": 5}, None),
    "likelihood: warm-up 100": ({**_BASE, "warmup": 100}, None),
    "likelihood: HTM learning 388": ({**_BASE, "warmup": 388}, None),
    "probation 50": ({**_BASE, "probation": 50}, None),
    "probation 100": ({**_BASE, "probation": 100}, None),
    "probation 200": ({**_BASE, "probation": 200}, None),
    "probation 288": ({**_BASE, "probation": 288}, None),
    "probation 750": ({**_BASE, "probation": 750}, None),
    "cooldown none": ({**_BASE, "cooldown": "none"}, None),
    "cooldown 1h": ({**_BASE, "cooldown": "1h"}, None),
    "cooldown 3h": ({**_BASE, "cooldown": "3h"}, None),
    "cooldown 6h": ({**_BASE, "cooldown": "6h"}, None),
    "cooldown 12h": ({**_BASE, "cooldown": "12h"}, None),
    "cooldown 1D (first pass)": ({**_BASE, "cooldown": "1D"}, None),
    "level window 30": ({**_BASE, "level_window": 30}, None),
    "forecast ewma 0.05": ({**_BASE, "ewma_alpha": 0.05}, None),
    "threshold 0.4": (_BASE, {"low": 0.4, "medium": 0.7, "high": 0.85, "critical": 0.95}),
    "threshold 0.6": (_BASE, {"low": 0.6, "medium": 0.7, "high": 0.85, "critical": 0.95}),
}
"""Designs compared on the development half, listed before the first run."""


def proxy_tables(scorer, folder: Path, windows: Path) -> Corpus:
    """The proxy streams of one half as a scoring corpus; fold = category."""
    wins = json.loads(windows.read_text())
    c = Corpus()
    for key in sorted(wins):
        d = pd.read_csv(folder / key, parse_dates=["timestamp"])
        ts = pd.DatetimeIndex(d["timestamp"].to_numpy(dtype="datetime64[ns]"))
        win, pos, nwin = scorer.file_table(ts, wins[key])
        c.frames[key] = d
        c.tables[key] = (win, pos, nwin, min(int(np.floor(0.15 * len(d))), 750))
        c.fold[key] = key.split("/")[0]
    return c


def score(scorer, corpus: Corpus, keys: list[str], scores: dict, alarms: dict) -> dict[str, float]:
    tables = {k: corpus.tables[k] for k in keys}
    out = {"best": scorer.best_threshold(tables, {k: scores[k] for k in keys})[0]}
    if all(alarms.get(k) is not None for k in keys):
        out["own"] = scorer.normalize(scorer.score_alarms(tables, {k: alarms[k] for k in keys}), tables)
    return out


def run(corpus: Corpus, params: dict[str, Any], thresholds: dict[str, float] | None) -> tuple[dict, dict]:
    s, a = {}, {}
    for key, frame in corpus.frames.items():
        out = detect(frame, params, thresholds)
        s[key], a[key] = out["anomaly_score"].to_numpy(float), out["is_anomaly"].to_numpy(bool)
    return s, a


def read(corpus: Corpus, folder: Path) -> tuple[dict, dict]:
    s, a = {}, {}
    for key in corpus.frames:
        r = pd.read_csv(folder / key)
        s[key], a[key] = r["anomaly_score"].to_numpy(float), r["is_anomaly"].astype(bool).to_numpy()
    return s, a


def kind_hits(corpus: Corpus, kinds: dict[str, list[str]], alarms: dict) -> str:
    """Windows hit by an own alarm per planted kind, and false alarms per category (after the probation)."""
    hit: dict[str, list[int]] = {}
    fa: dict[str, int] = {}
    for key, kk in kinds.items():
        win, _, _, prob = corpus.tables[key]
        a = alarms[key].copy()
        a[:prob] = False
        for j, kind in enumerate(kk):
            h = hit.setdefault(kind, [0, 0])
            h[0] += bool((a & (win == j)).any())
            h[1] += 1
        fa[corpus.fold[key]] = fa.get(corpus.fold[key], 0) + int((a & (win < 0)).sum())
    return (" ".join(f"{k}:{h[0]}/{h[1]}" for k, h in sorted(hit.items())) + "; false alarms "
            + " ".join(f"{k}:{v}" for k, v in sorted(fa.items())))


def row(scorer, corpus: Corpus, result: tuple[dict, dict]) -> list[str]:
    """Cells: each fold, then all files pooled."""
    cells = [fmt(score(scorer, corpus, corpus.names(f), *result)) for f in sorted(set(corpus.fold.values()))]
    return cells + [fmt(score(scorer, corpus, corpus.names(), *result))]


def header(corpus: Corpus, first: str) -> str:
    folds = sorted(set(corpus.fold.values()))
    return f"{first:32s} " + " ".join(f"{f[:13]:>13s}" for f in [*folds, "pooled"])


def build(out: Path) -> dict[str, tuple[Path, Path]]:
    carriers = load_carriers(shared_dir() / "data")
    halves = {}
    for half in ("dev", "test"):
        folder = out / "data" / half
        shutil.rmtree(folder, ignore_errors=True)  # no stream of an earlier build stays behind
        halves[half] = (folder, write_corpus(proxy_corpus(carriers, half), folder))
    return halves


def per_file(scorer, corpus: Corpus, alarms: dict) -> tuple[np.ndarray, np.ndarray]:
    """Raw NAB score of each file's own alarms and its number of windows (pooled scores add up)."""
    keys = corpus.names()
    raw = np.array([scorer.score_alarms({k: corpus.tables[k]}, {k: alarms[k]}) for k in keys])
    return raw, np.array([corpus.tables[k][2] for k in keys], float)


def versus(scorer, base: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray], draws: int = 2000):
    """Paired bootstrap over files of the pooled own-alarm score: the difference's 5-95% interval.

    The NAB score of files together is ``100 (R + N) / (N (1 + s))`` for raw
    score ``R``, ``N`` windows and ``s`` the sigmoid at a window's start, so a
    resample of files is a resample of their raw scores and window counts.
    """
    s1 = scorer.scaled_sigmoid(-1.0)
    idx = np.random.default_rng(0).integers(0, len(base[0]), (draws, len(base[0])))
    n = base[1][idx].sum(axis=1)
    diff = 100 * (other[0][idx].sum(axis=1) - base[0][idx].sum(axis=1)) / (n * (1 + s1))
    return np.percentile(diff, [5, 95])


def stage_dev(scorer, dev: Corpus, kinds: dict[str, list[str]], only: list[str] | None) -> None:
    print(f"\nDevelopment half: {len(dev.frames)} streams, {sum(len(f) for f in dev.frames.values()):,} points "
          "(NAB best threshold / own alarms)")
    print(header(dev, "design") + "  own vs shipped, 5-95%")
    base = None
    for name, (params, th) in DESIGNS.items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        res = run(dev, params, th)
        cells = row(scorer, dev, res)
        files = per_file(scorer, dev, res[1])
        base = base or files
        lo, hi = versus(scorer, base, files)
        print(f"{name:32s} " + " ".join(f"{c:>13s}" for c in cells) + f"  [{lo:+5.1f}, {hi:+5.1f}]"
              + f"   {time.perf_counter() - start:4.0f} s", flush=True)
        print(f"{'':32s} hits {kind_hits(dev, kinds, res[1])}", flush=True)


def stage_report(scorer, out: Path, test: Corpus, test_dir: Path, nab: Corpus, nab_dir: Path, tool: Path,
                 windows: Path, speed_points: int) -> None:
    results: dict[str, tuple[Path, Path]] = {}
    pps: dict[str, float | None] = {}
    for label, ref in (("first pass (main)", FIRST_PASS_REF), ("previous auto", PREVIOUS_AUTO_REF)):
        slug = label.split()[0]
        results[label] = (out / "results" / slug / "proxy", out / "results" / slug / "nab")
        pps[label] = run_previous(ref, [(test_dir, results[label][0]), (nab_dir, results[label][1])], speed_points)
    mine = (out / "results" / "shipped" / "proxy", out / "results" / "shipped" / "nab")
    for src, dst, corpus in ((test_dir, mine[0], test), (nab_dir, mine[1], nab)):
        for key in corpus.frames:
            detect_file(src / key, dst / key)
    results = {"shipped (this branch)": mine, **results}
    print(f"\nProxy test half ({len(test.frames)} streams) and NAB categories (best threshold / own alarms):")
    print(header(test, "proxy test half") + "  |  " + " ".join(
        f"{f[:13]:>13s}" for f in sorted(set(nab.fold.values()))) + "  | NAB-18 (scorer CLI)")
    for label, (p_dir, n_dir) in results.items():
        cells = row(scorer, test, read(test, p_dir))
        nab_res = read(nab, n_dir)
        loco = [fmt(fold_or_fa(scorer, nab, f, nab_res)) for f in sorted(set(nab.fold.values()))]
        cli = run_scorer(tool, nab_dir, windows, n_dir)
        best = cli.split("best_threshold_score=")[1].split()[0]
        own = cli.split("as_is_score=")[1].split()[0] if "as_is_score=" in cli else "-"
        print(f"{label:32s} " + " ".join(f"{c:>13s}" for c in cells) + "  |  " + " ".join(f"{c:>13s}" for c in loco)
              + f"  | {best}/{own}")
    kinds = json.loads((test_dir / "kinds.json").read_text())
    print("\nProxy test half, windows hit by an own alarm per planted kind, and false alarms per category:")
    for label, (p_dir, _) in results.items():
        print(f"  {label:30s} {kind_hits(test, kinds, read(test, p_dir)[1])}")
    if speed_points > 0:
        frame = speed_frame(speed_points)
        detect(frame.iloc[:5000])
        start = time.perf_counter()
        detect(frame)
        mine_pps = speed_points / (time.perf_counter() - start)
        others = ", ".join(f"{k} {v:,.0f}" for k, v in pps.items() if v)
        print(f"\nspeed, {speed_points:,} points of one metric: shipped {mine_pps:,.0f} points/s; {others} (same run)")


def fold_or_fa(scorer, nab: Corpus, fold: str, res: tuple[dict, dict]) -> dict[str, float]:
    """A NAB category's score; the category without windows (artificialNoAnomaly) reports its false alarms."""
    keys = nab.names(fold)
    if sum(nab.tables[k][2] for k in keys):
        return score(scorer, nab, keys, *res)
    fa = sum(int((res[1][k] & (nab.tables[k][0] < 0))[nab.tables[k][3]:].sum()) for k in keys)
    return {"false_alarms": fa, "raw": -0.11 * fa}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stage", choices=("dev", "report"), default="report")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "proxy"))
    ap.add_argument("--designs", nargs="*", help="dev stage: run only these designs (names of DESIGNS)")
    ap.add_argument("--speed-points", type=int, default=1_000_000, help="report stage: points of the speed run")
    args = ap.parse_args(argv)
    shared = shared_dir()
    tool, nab_dir = shared / "tools" / "nab_score.py", shared / "data" / "nab"
    windows = nab_dir / "combined_windows.json"
    for p in (tool, windows):
        if not p.exists():
            print(f"error: {p} not found (set AIHUB_SHARED_DIR)", file=sys.stderr)
            return 2
    out = Path(args.out)
    scorer = load_scorer(tool)
    halves = build(out)
    for half, (folder, _) in halves.items():
        files = sorted(folder.rglob("*.csv"))
        print(f"{half}: {len(files)} streams, {sum(len(pd.read_csv(f)) for f in files):,} points in {folder}")
    if args.stage == "dev":
        kinds = json.loads((halves["dev"][0] / "kinds.json").read_text())
        stage_dev(scorer, proxy_tables(scorer, *halves["dev"]), kinds, args.designs)
        return 0
    test = proxy_tables(scorer, *halves["test"])
    stage_report(scorer, out, test, halves["test"][0], nab_corpus(scorer, nab_dir, windows), nab_dir, tool, windows,
                 args.speed_points)
    print("\nPublished on NAB (our 18 / held-out 40): ARTime 67.1 / 77.5, HTM 61.3 / 73.4, CAD OSE 50.3 / 75.7")
    print("Categories stand in for: " + ", ".join(f"{c.name} = {c.nab}" for c in CATEGORIES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
