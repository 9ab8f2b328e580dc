"""``aihub detect`` in file mode: one file, a folder mirrored, rows kept in order."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly import detect
from aihub.anomaly.cli import main, register


def _data_dir() -> Path:
    env = os.environ.get("AIHUB_SHARED_DIR")
    return (Path(env) if env else Path(__file__).resolve().parents[3] / "shared") / "data"


NAB = _data_dir() / "nab"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def test_register_adds_detect_with_handler():
    parser = argparse.ArgumentParser(prog="aihub")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["detect", "--input", "a.csv", "--output", "b.csv", "--detector", "robust_seasonal"])
    assert args.timestamp_col == "timestamp" and args.value_col == "value" and callable(args.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["detect", "--input", "a", "--output", "b", "--detector", "magic"])


def test_single_file_keeps_rows_in_order_and_is_causal(tmp_path):
    src = _need(NAB / "realKnownCause" / "ec2_request_latency_system_failure.csv")
    raw = pd.read_csv(src)
    # custom column names and one row moved out of time order
    df = raw.rename(columns={"timestamp": "ts", "value": "latency_ms"})
    df = pd.concat([df.iloc[:1000], df.iloc[[1500]], df.iloc[1000:1500], df.iloc[1501:]], ignore_index=True)
    inp = tmp_path / "in.csv"
    df.to_csv(inp, index=False)
    out = tmp_path / "out.csv"
    code = main(["detect", "--input", str(inp), "--output", str(out), "--timestamp-col", "ts", "--value-col", "latency_ms"])
    assert code == 0
    res = pd.read_csv(out)
    assert list(res.columns[:5]) == ["timestamp", "value", "anomaly_score", "is_anomaly", "severity"]
    assert len(res) == len(df)
    assert (res["timestamp"] == df["ts"]).all() and np.allclose(res["value"], df["latency_ms"])
    assert res["anomaly_score"].between(0, 1).all() and set(res["is_anomaly"]) <= {0, 1}
    assert res["is_anomaly"].sum() >= 1
    # causal: scoring the first half alone gives the same scores for it
    half = tmp_path / "half.csv"
    df.iloc[:2000].to_csv(half, index=False)
    main(["detect", "--input", str(half), "--output", str(tmp_path / "half_out.csv"), "--timestamp-col", "ts",
          "--value-col", "latency_ms"])
    res_half = pd.read_csv(tmp_path / "half_out.csv")
    np.testing.assert_allclose(res_half["anomaly_score"], res["anomaly_score"].iloc[:2000], atol=1e-6)


def test_folder_output_mirrors_relative_paths(tmp_path):
    files = ["artificialWithAnomaly/art_daily_jumpsup.csv", "realKnownCause/rogue_agent_key_hold.csv"]
    inp = tmp_path / "in"
    for rel in files:
        dst = inp / "nested" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(_need(NAB / rel), dst)
    (inp / "notes.txt").write_text("not a csv")
    out = tmp_path / "out"
    assert main(["detect", "--input", str(inp), "--output", str(out), "--detector", "auto"]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.csv"))
    assert written == sorted(f"nested/{rel}" for rel in files)
    for rel in files:
        src = pd.read_csv(NAB / rel)
        res = pd.read_csv(out / "nested" / rel)
        assert len(res) == len(src) and (res["timestamp"] == src["timestamp"]).all()
        ref = detect(src.assign(timestamp=pd.to_datetime(src["timestamp"])))
        np.testing.assert_allclose(res["anomaly_score"], ref["anomaly_score"], atol=1e-6)
    jumps = pd.read_csv(out / "nested" / files[0])
    assert jumps["is_anomaly"].sum() >= 1


def test_errors_exit_non_zero_with_a_message(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"timestamp": ["2024-01-01", "2024-01-02"], "amount": [1, 2]}).to_csv(bad, index=False)
    assert main(["detect", "--input", str(bad), "--output", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "no column 'value'" in err and "--value-col" in err
    pd.DataFrame({"timestamp": ["2024-01-01", "yesterday"], "value": [1, 2]}).to_csv(bad, index=False)
    assert main(["detect", "--input", str(bad), "--output", str(tmp_path / "o.csv")]) == 2
    assert "row 3" in capsys.readouterr().err
    assert main(["detect", "--input", str(tmp_path / "missing.csv"), "--output", str(tmp_path / "o.csv")]) == 2
