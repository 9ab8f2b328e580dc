"""Risk scores per record on real orders: planted frauds rise to the top with reasons; the analyst loop learns."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly.records import BANDS, RecordScorer, parse_labels
from aihub.cli import main
from aihub.errors import ValidationError

DATA = Path(os.environ.get("AIHUB_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")) / "data"
SETTINGS = {"id_col": "Row ID", "entity_col": "Customer ID", "time_col": "Order Date", "time_format": "%d/%m/%y",
            "group_col": "Order ID", "exclude": ["Postal Code"]}


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    path = DATA / "superstore" / "superstore_orders.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    d = pd.read_csv(path, encoding="utf-8-sig").iloc[:4000].copy()
    # two planted frauds: an implausible combination and one order split into six
    d.loc[10, ["Discount", "Quantity", "Profit"]] = [0.8, 14, d.loc[10, "Sales"] * 0.5]
    src = d.loc[20].copy()
    pieces = pd.DataFrame([src] * 6)
    pieces["Quantity"], pieces["Sales"] = 1, src["Sales"] / max(src["Quantity"], 1)
    pieces["Order ID"] = [f"SPLIT-{i}" for i in range(6)]
    pieces["Row ID"] = range(90_001, 90_007)
    return pd.concat([d, pieces], ignore_index=True)


@pytest.fixture(scope="module")
def fitted(orders) -> tuple[RecordScorer, pd.DataFrame]:
    scorer = RecordScorer(SETTINGS).fit(orders)
    return scorer, scorer.score(orders)


def test_every_row_gets_a_score_a_band_and_planted_frauds_rank_high(orders, fitted):
    _scorer, scored = fitted
    assert len(scored) == len(orders) and scored.index.equals(orders.index)
    assert scored["score"].between(0, 1).all() and set(scored["band"]) <= set(BANDS)
    # bands follow the stated cut-offs
    assert (scored.loc[scored["band"] == "critical", "score"] >= 0.999).all()
    assert (scored.loc[scored["band"] == "low", "score"] < 0.95).all()
    share_high = (scored["score"] >= 0.99).mean()
    assert 0.002 < share_high < 0.03  # about the top 1% of the fitted rows
    by_id = scored.set_index("id")
    assert by_id.loc[str(orders.loc[10, "Row ID"]), "score"] >= 0.99
    split = by_id.loc[[str(i) for i in range(90_001, 90_007)], "score"]
    assert split.min() >= 0.9 and split.mean() > scored["score"].quantile(0.95)


def test_reasons_name_the_column_and_value_in_plain_words(orders, fitted):
    _, scored = fitted
    combo = scored.loc[10, "reasons"]
    assert combo and any(("Discount 0.8" in r or "Quantity 14" in r or "Profit" in r) for r in combo), combo
    assert any("usually" in r for r in combo)
    split = scored.loc[scored["id"] == "90001", "reason_text"].iloc[0]
    assert "7 separate Order IDs that day" in split  # the six pieces and the original order
    assert "rows that day" not in split
    assert (scored.loc[scored["band"] == "low", "reason_text"] == "").all()


def test_learning_from_confirmations_moves_scores_and_needs_both_kinds(orders, fitted):
    scorer, scored = fitted
    top = scored.sort_values("score", ascending=False)
    # confirm the rows with a discount of 0.5 or more among the flagged, dismiss the rest
    flagged = top.head(120)
    disc = orders.loc[flagged.index, "Discount"] >= 0.5
    labels = pd.Series(np.where(disc, "confirmed", "dismissed"), index=flagged["id"])
    assert 5 <= disc.sum() <= 115
    learned = RecordScorer(SETTINGS).fit(orders).learn(orders, labels)
    assert learned.supervised_ is not None and learned.n_labels_["confirmed"] == int(disc.sum())
    assert 0 < learned.label_weight < 1
    after = learned.score(orders, explain=False)
    high_disc = orders["Discount"] >= 0.5
    def share_in_top(sc: pd.DataFrame) -> float:
        return float(high_disc[sc["score"].rank(ascending=False, method="first") <= 200].mean())

    assert share_in_top(after) > share_in_top(scored) + 0.1
    assert after["supervised"].between(0, 1).all()
    few = RecordScorer(SETTINGS).fit(orders).learn(orders, {flagged["id"].iloc[0]: "confirmed",
                                                           flagged["id"].iloc[1]: "dismissed"})
    assert few.supervised_ is None and any("at least 5" in n for n in few.notes_)
    with pytest.raises(ValidationError) as err:
        scorer.learn(orders, {"no-such-row": 1})
    assert err.value.field == "labels"


def test_state_is_strict_json_and_round_trips(orders, fitted):
    scorer, scored = fitted
    text = json.dumps(scorer.to_state(), allow_nan=False)
    again = RecordScorer.from_state(json.loads(text))
    back = again.score(orders, explain=False)
    np.testing.assert_allclose(back["score"], scored["score"])
    tampered = json.loads(text)
    tampered["version"] = 99
    with pytest.raises(ValidationError):
        RecordScorer.from_state(tampered)


def test_untrusted_estimator_types_are_refused(fitted):
    import base64

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    state = fitted[0].to_state()
    state["forest"] = base64.b64encode(sio.dumps(FunctionTransformer(print))).decode()
    with pytest.raises(ValidationError) as err:
        RecordScorer.from_state(state)
    assert "not trusted" in str(err.value) and "builtins.print" in str(err.value)
    state["forest"] = base64.b64encode(sio.dumps(FunctionTransformer(np.log))).decode()  # safe types, wrong object
    with pytest.raises(ValidationError) as err:
        RecordScorer.from_state(state)
    assert "IsolationForest" in str(err.value)


def test_labels_and_settings_are_validated():
    assert parse_labels(pd.DataFrame({"id": ["a", "b", "a"], "label": ["Confirmed", "0", "dismissed"]}), None
                        ).to_dict() == {"a": 0, "b": 0}
    with pytest.raises(ValidationError) as err:
        parse_labels({"a": "maybe"}, None)
    assert "maybe" in str(err.value)
    with pytest.raises(ValidationError) as err:
        RecordScorer({"band_high": 0.5})
    assert "band" in str(err.value)
    with pytest.raises(ValidationError) as err:
        RecordScorer({"n_trees": 5})
    assert err.value.field == "n_trees"
    with pytest.raises(ValidationError) as err:
        RecordScorer({"entity_col": "Client"}).fit(pd.DataFrame({"x": range(30)}))
    assert err.value.field == "entity_col" and "Client" in str(err.value)
    with pytest.raises(ValidationError):
        RecordScorer().score(pd.DataFrame({"x": range(30)}))


def test_detect_records_command_writes_id_score_band_reasons(orders, tmp_path, capsys):
    src, dst, lab = tmp_path / "orders.csv", tmp_path / "scored.csv", tmp_path / "labels.csv"
    orders.to_csv(src, index=False)
    pd.DataFrame({"Row ID": orders["Row ID"].iloc[:12], "label": ["confirmed"] * 6 + ["dismissed"] * 6}
                 ).to_csv(lab, index=False)
    code = main(["detect-records", "--input", str(src), "--output", str(dst), "--id-col", "Row ID",
                 "--entity-col", "Customer ID", "--time-col", "Order Date", "--group-col", "Order ID",
                 "--exclude", "Postal Code", "--labels", str(lab)])
    assert code == 0
    out = pd.read_csv(dst, dtype={"id": str}, keep_default_na=False)
    assert list(out.columns) == ["id", "score", "band", "reasons"] and len(out) == len(orders)
    assert out["id"].tolist() == orders["Row ID"].astype(str).tolist()
    assert "scored" in capsys.readouterr().out
    code = main(["detect-records", "--input", str(src), "--output", str(dst), "--entity-col", "Client"])
    assert code == 2 and "Client" in capsys.readouterr().err
