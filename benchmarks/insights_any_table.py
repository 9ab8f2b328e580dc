"""Benchmark: insights on any table -- false alarms on random tables and recovery of planted findings.

Held-out seeds only (1000 onwards; the detectors were built on seeds 0-39, 100-109 and the default fixture
seeds). Three families, each beside a same-run naive baseline that uses textbook statistics without the
safeguards (no robust scale, no multiple-testing correction, no held-out rows):

* ``noise``: random tables (1,500 rows, daily dates over two years, 4 measures, 3 dimensions, an independent
  0/1 or numeric outcome). Every finding is false. Printed: share of tables with a false finding, per type.
  Naive: shifts by a classic z-score (mean and sd of the earlier changes) beyond 3; outliers by |z| > 3 on the
  raw scale; drivers by an uncorrected chi-square p < 0.05; segments by the best depth-2 tree leaf with a
  lift of 1.5 measured on the rows it was grown on.
* ``avocado``: weekly volumes by region and type (tests/fixtures.py), half with a planted 55% drop
  of one region's conventional volume in the last week. Printed: drops found in the right region, and shifts
  reported when nothing was planted.
* ``marketing``: customers whose response rate is planted higher for Income >= 71,000 and Teenhome = 0.
  Printed: share of draws whose reported segment states both conditions (income threshold within 10%, a
  Teenhome condition that keeps 0 and excludes 1).

Usage::

    python benchmarks/insights_any_table.py [--draws N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.metrics import mutual_info_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.ingest import read_upload
from aihub.insights import InsightInputs, TableInput, generate_insights, infer_roles
from aihub.insights.table_rules import rule_mask
from tests.fixtures import AVOCADO_DROP, avocado_csv, marketing_csv

TYPES = ("outcome_drivers", "outcome_segments", "period_shift", "outliers")
ROLES = {"outcome": "y", "date": "day", "dimensions": ["g1", "g2", "g3"], "measures": ["a", "b", "c", "q"]}


def noise(seed: int, kind: str, n: int = 1500) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    d = pd.DataFrame({
        "day": pd.Timestamp("2021-01-01") + pd.to_timedelta(r.integers(0, 730, n), unit="D"),
        "a": r.normal(0, 1, n), "b": r.lognormal(3, 0.4, n), "c": r.gamma(2, 10, n), "q": r.poisson(20, n) * 1.0,
        "g1": r.choice(list("ABCDE"), n), "g2": r.choice(["x", "y"], n), "g3": r.choice([f"s{i}" for i in range(12)], n),
    })
    d["y"] = r.integers(0, 2, n) if kind == "binary" else r.normal(50, 10, n)
    return d


# ---------------------------------------------------------------------------- naive baselines
def naive_findings(d: pd.DataFrame, kind: str) -> set[str]:
    found = set()
    y = d["y"]
    for col in ROLES["dimensions"] + ROLES["measures"]:  # drivers: uncorrected chi-square on quintiles
        x = pd.qcut(d[col], 5, duplicates="drop").astype(str) if col in ROLES["measures"] else d[col]
        yy = y if kind == "binary" else pd.qcut(y, 5).astype(str)
        if sps.chi2_contingency(pd.crosstab(x, yy))[1] < 0.05 and mutual_info_score(x, yy) > 0:
            found.add("outcome_drivers")
    for col in ROLES["measures"]:  # outliers: classic z on the raw scale
        if (np.abs(sps.zscore(d[col])) > 3).any():
            found.add("outliers")
    week = d["day"].dt.to_period("W-SUN")
    weeks = pd.period_range(week.min() + 1, week.max() - 1, freq="W-SUN")
    for col in ROLES["measures"]:  # shifts: classic z of the last weekly change, all rows and each segment
        groups = [d] + [d[d[g] == v] for g in ROLES["dimensions"] for v in d[g].unique()]
        for g in groups:
            s = g.groupby(week[g.index])[col].sum().reindex(weeks, fill_value=0).to_numpy()
            c = np.diff(s)
            if len(c) > 10 and c[:-1].std() > 0 and abs(c[-1] - c[:-1].mean()) / c[:-1].std() > 3:
                found.add("period_shift")
    X = pd.get_dummies(d[ROLES["dimensions"] + ROLES["measures"]], dtype=float)
    tree = (DecisionTreeClassifier if kind == "binary" else DecisionTreeRegressor)(max_depth=2, min_samples_leaf=75)
    tree.fit(X, y)
    leaves = tree.apply(X)
    for leaf in np.unique(leaves):  # segments: lift on the rows the tree was grown on
        m = leaves == leaf
        a, b = y[m].mean(), y[~m].mean()
        if b > 0 and (a / b >= 1.5 or b / a >= 1.5 if a > 0 else True):
            found.add("outcome_segments")
    return found


def run_noise(draws: int) -> None:
    ours, naive, seconds = Counter(), Counter(), 0.0
    tables = 0
    for kind in ("binary", "numeric"):
        for seed in range(1000, 1000 + draws):
            d = noise(seed, kind)
            t0 = time.perf_counter()
            out = generate_insights(InsightInputs(tables=[TableInput(d, ROLES)]), now=datetime(2023, 1, 10))
            seconds += time.perf_counter() - t0
            tables += 1
            for typ in {i.type for i in out}:
                ours[typ] += 1
            ours["any"] += bool(out)
            nf = naive_findings(d, kind)
            for typ in nf:
                naive[typ] += 1
            naive["any"] += bool(nf)
    print(f"noise: {tables} random tables, share with a false finding (ours vs naive)")
    for typ in (*TYPES, "any"):
        print(f"  {typ:18s} {ours[typ] / tables:6.1%}   {naive[typ] / tables:6.1%}")
    print(f"  mean time per table {seconds / tables:.2f} s")


def run_avocado(draws: int) -> None:
    hit = wrong = quiet_fp = 0
    for seed in range(1000, 1000 + draws):
        for planted in (True, False):
            frame = read_upload("avocado.csv", avocado_csv(seed=seed, drop=planted)[0]).typed()
            t = TableInput(frame, infer_roles(frame).suggested(), dataset_name="avocado.csv")
            out = generate_insights(InsightInputs(tables=[t]), now=datetime(2018, 3, 27), types=["period_shift"])
            named = {i.figures["seg_text"] for i in out}
            if planted:
                hit += f"region = {AVOCADO_DROP[0]}" in named
                wrong += bool(named - {f"region = {AVOCADO_DROP[0]}", "type = conventional", "all rows"})
            else:
                quiet_fp += bool(out)
    print(f"avocado: planted drop found in {hit}/{draws} draws ({wrong} with another segment named too); "
          f"a shift reported on {quiet_fp}/{draws} draws without a drop")


def run_marketing(draws: int) -> None:
    found = 0
    for seed in range(1000, 1000 + draws):
        up = read_upload("marketing.csv", marketing_csv(seed=seed)[0])
        frame = up.typed()
        t = TableInput(frame, infer_roles(frame, up.schema).suggested(), dataset_name="marketing.csv")
        out = generate_insights(InsightInputs(tables=[t]), now=datetime(2030, 1, 1), types=["outcome_segments"])
        for i in out:
            conds = {c["column"]: c for c in i.figures["conditions"]}
            inc, teen = conds.get("Income"), conds.get("Teenhome")
            keeps_0 = teen and rule_mask([teen], pd.DataFrame({"Teenhome": [0, 1]})).tolist() == [True, False]
            if inc and keeps_0 and inc["op"] == ">=" and abs(inc["value"] / 71_000 - 1) <= 0.1:
                found += 1
                break
    print(f"marketing: planted segment (Income >= 71,000 and Teenhome = 0) stated in {found}/{draws} draws")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=20)
    a = ap.parse_args()
    run_noise(a.draws)
    run_avocado(max(5, a.draws // 2))
    run_marketing(max(5, a.draws // 2))


if __name__ == "__main__":
    main()
