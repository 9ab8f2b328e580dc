"""Label-free sentiment on the shared review sentences: VADER fidelity, drivers, language check, drops, command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from aihub.cli import main
from aihub.errors import ValidationError
from aihub.sentiment import (
    detect_language,
    detect_sentiment_drops,
    lexicon_scores,
    most_negative,
    score_texts,
    sentiment_over_time,
)
from tests.conftest import DATA

AMAZON = DATA / "sentiment" / "amazon_reviews.csv"
YELP = DATA / "sentiment" / "yelp_reviews.csv"


@pytest.fixture(scope="module")
def yelp() -> pd.DataFrame:
    return pd.read_csv(YELP)


def test_scores_are_vaders_own_and_rank_the_labels(yelp):
    scored = score_texts(yelp, "text")
    sia = SentimentIntensityAnalyzer()
    ok = scored["score"].notna()
    assert ok.mean() > 0.99
    expected = [sia.polarity_scores(t)["compound"] for t in yelp.loc[ok, "text"]]
    np.testing.assert_allclose(scored.loc[ok, "score"], expected, atol=1e-12)
    assert roc_auc_score(yelp.loc[ok, "label"], scored.loc[ok, "score"]) > 0.85
    assert set(scored["label"]) <= {"positive", "neutral", "negative", "unsupported", "empty"}
    pos = scored["score"] >= 0.05
    assert (scored.loc[pos, "label"] == "positive").all()


def test_drivers_name_the_words_and_the_negation_that_flipped_them():
    out = lexicon_scores(["The pasta was not good.", "Great service, awful dessert.", "The table is wooden."])
    assert out.loc[0, "drivers"].startswith("not good (-") and out.loc[0, "score"] < 0
    assert "Great (+" in out.loc[1, "drivers"] and "awful (-" in out.loc[1, "drivers"]
    assert out.loc[2, "drivers"] == "" and out.loc[2, "score"] == 0


def test_non_english_text_is_marked_unsupported_not_scored():
    foreign = [
        "Der Kaffee war kalt und das Essen schrecklich.",
        "Le service était lent et la nourriture froide.",
        "La comida estaba deliciosa y el servicio fue excelente.",
        "Il prodotto è arrivato rotto, molto deluso.",
        "O produto chegou quebrado e o atendimento foi péssimo.",
        "Het eten was heerlijk, maar de bediening was traag.",
    ]
    english = ["The coffee was cold and the food was dreadful.", "Very, very sad.", "Penne vodka excellent!"]
    frame = pd.DataFrame({"text": foreign + english + ["", None, "1234 !!"]})
    out = score_texts(frame, "text")
    assert list(out["label"][: len(foreign)]) == ["unsupported"] * len(foreign)
    assert out["score"][: len(foreign)].isna().all() and out["note"][0].startswith("language looks like 'de'")
    assert out["language"][len(foreign): len(foreign) + 3].eq("en").all()
    assert out["label"][len(foreign): len(foreign) + 3].isin(["positive", "negative"]).all()
    assert list(out["label"][-3:]) == ["empty"] * 3
    assert detect_language("Das ist nicht gut, ich bin sehr enttäuscht.") == "de"


def test_few_english_reviews_are_rejected():
    texts = pd.concat([pd.read_csv(AMAZON)["text"], pd.read_csv(YELP)["text"]])
    rejected = sum(detect_language(t) != "en" for t in texts)
    assert rejected <= 10  # 6 of 2,000 when written (typos such as "Absolutel junk.")


def _reviews_over_time(yelp: pd.DataFrame) -> pd.DataFrame:
    """Real sentences placed in time: 'Diner' turns negative in its last month, 'Bistro' stays mixed."""
    pos = yelp[yelp["label"] == 1]["text"].tolist()
    neg = yelp[yelp["label"] == 0]["text"].tolist()
    rows = []
    for month in range(1, 5):
        for i in range(30):
            rows.append(("Bistro", f"2024-{month:02d}-{i % 28 + 1:02d}", (pos if i % 2 else neg)[month * 40 + i]))
            diner_pool = neg if (month == 4 and i % 5) else pos
            rows.append(("Diner", f"2024-{month:02d}-{i % 28 + 1:02d}", diner_pool[200 + month * 40 + i]))
    return pd.DataFrame(rows, columns=["place", "date", "text"])


def test_sentiment_drop_is_found_for_the_group_that_turned_negative(yelp):
    data = _reviews_over_time(yelp)
    joined = data.join(score_texts(data, "text"))
    trend = sentiment_over_time(joined, "date", "place", freq="M")
    assert set(trend["group"]) == {"Bistro", "Diner"} and trend["texts"].sum() == joined["score"].notna().sum()
    drops = detect_sentiment_drops(joined, "date", "place", freq="M")
    assert [d.group for d in drops] == ["Diner"]
    d = drops[0]
    assert d.recent_start == "2024-04-01" and d.baseline_start == "2024-01-01" and d.recent_mean < d.baseline_mean - 0.3
    assert d.recent_negative_share > d.baseline_negative_share and d.q_value < 0.05
    assert d.title == "Sentiment dropped for Diner" and "fell from" in d.narrative
    json.dumps(d.to_dict(), allow_nan=False)
    worst = most_negative(joined, "text", n=5, time_col="date", since="2024-04-01")
    assert len(worst) == 5 and worst["score"].is_monotonic_increasing and (worst["date"] >= "2024-04-01").all()
    with pytest.raises(ValidationError, match="freq"):
        detect_sentiment_drops(joined, "date", "place", freq="Y")


def test_command_scores_every_row_and_keeps_the_input(tmp_path, yelp):
    src = tmp_path / "reviews.csv"
    _reviews_over_time(yelp).to_csv(src, index=False)
    out, drops = tmp_path / "out.csv", tmp_path / "drops.json"
    assert main(["sentiment", "--input", str(src), "--text-col", "text", "--output", str(out),
                 "--time-col", "date", "--group-col", "place", "--drops", str(drops), "--trend", str(tmp_path / "t.csv")]) == 0
    got = pd.read_csv(out)
    assert len(got) == 240 and {"place", "text", "label", "score", "drivers"} <= set(got.columns)
    assert [d["group"] for d in json.loads(drops.read_text())] == ["Diner"]
    assert main(["sentiment", "--input", str(YELP), "--text-col", "review", "--output", str(out)]) == 2
    assert main(["sentiment", "--input", str(YELP), "--text-col", "text", "--output", str(out)]) == 0
    assert {"label_input", "label"} <= set(pd.read_csv(out).columns)
