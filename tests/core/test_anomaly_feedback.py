"""Learning from false positives: recurring patterns are suppressed, true anomalies kept."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly import FeedbackEvent, FeedbackRule, apply_rules, detect, learn_from_feedback
from aihub.anomaly.feedback import rules_from_json, rules_to_json
from aihub.errors import ValidationError


def _daily_revenue(seed: int = 7) -> pd.DataFrame:
    """Two years of daily revenue: weekly pattern, slight growth, noise sd 30."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2022-01-01", periods=730, freq="D")
    v = 1000 - 150 * ts.dayofweek.isin([5, 6]) + 0.05 * np.arange(730) + rng.normal(0, 30, 730)
    return pd.DataFrame({"timestamp": ts, "value": v})


def _events(scored: pd.DataFrame, rows: pd.DataFrame, reason: str) -> list[FeedbackEvent]:
    return [
        FeedbackEvent(timestamp=r.timestamp, label="false_positive", reason=reason, metric="daily_revenue",
                      anomaly_score=r.anomaly_score, value=r.value, expected=r.expected, event_id=f"fb{i}")
        for i, r in enumerate(rows.itertuples())
    ]


CTX = {"metric": "daily_revenue", "dimension": "total", "slice": "total"}


def test_monthly_promotion_marked_false_positive_is_suppressed_and_true_anomalies_kept():
    d = _daily_revenue()
    ts = d["timestamp"]
    promo = ((ts.dt.day == 15) & (ts >= "2023-01-01")).to_numpy()  # a new promotion on the 15th
    d.loc[promo, "value"] += 400  # about 13 noise sds
    # real incidents of the same size as the promotion (the likelihood gets used to
    # frequent large incidents, so keep them to a few per year)
    true_days = {"2023-04-20": -450, "2023-06-17": +500, "2023-09-08": -450}
    for day, delta in true_days.items():
        d.loc[ts == day, "value"] += delta
    true_idx = [int(np.flatnonzero(ts == day)[0]) for day in true_days]

    before = detect(d, context=CTX)
    flagged_promos = before[before["is_anomaly"] & promo]
    assert len(flagged_promos) >= 2  # the first occurrences are reported
    # the analyst rejects the first two as "promotion"
    events = _events(before, flagged_promos.iloc[:2], "promotion")
    rules = learn_from_feedback(events)
    assert len(rules) == 1
    rule = rules[0]
    assert rule.kind == "suppress_pattern" and rule.recurrence["unit"] == "day_of_month"
    assert rule.recurrence["value"] == 15 and rule.direction == "up" and rule.reason == "promotion"
    assert rule.metric == "daily_revenue" and "day 15 of the month" in rule.description
    # rules are plain JSON for the database and the monitor page
    assert rules_from_json(rules_to_json(rules)) == rules
    json.dumps([r.to_dict() for r in rules])

    after = detect(d, rules=rules, context=CTX)
    last_marked = flagged_promos["timestamp"].iloc[1]
    later_promo = promo & (ts > last_marked).to_numpy()
    assert later_promo.sum() >= 8
    assert not after["is_anomaly"][later_promo].any()  # later repeats are gone
    would_alarm = later_promo & (after["raw_score"] >= 0.5).to_numpy()
    marked = after.loc[would_alarm, "suppressed_by"] == rule.rule_id
    in_cooldown = after.loc[would_alarm, "anomaly_score"] == 0  # right after a real anomaly
    assert (marked | in_cooldown).all() and marked.sum() >= 4
    for i in true_idx:  # real anomalies are still reported, also those like-sized to the promotion
        assert after["is_anomaly"].iloc[i], ts.iloc[i]
    assert after["is_anomaly"].sum() == len(true_idx)
    # without the rule the real incidents are found too: alarmed incidents do not
    # make the detector deaf to the next ones (the promotions just keep alarming)
    assert before["is_anomaly"].iloc[true_idx].all()
    assert before["is_anomaly"][promo].sum() >= 6

    # reviewing past results with the rule removes the repeats too
    reviewed = apply_rules(before, rules, context=CTX)
    assert not reviewed["is_anomaly"][promo].any()
    kept = [i for i in true_idx if before["is_anomaly"].iloc[i]]
    assert reviewed["is_anomaly"].iloc[kept].all()

    # the analyst undoes the rule: relearning keeps it undone, and it stops applying
    rule.active = False
    relearned = learn_from_feedback(events, existing_rules=[rule.to_dict()])
    assert relearned[0].rule_id == rule.rule_id and relearned[0].active is False
    undone = detect(d, rules=relearned, context=CTX)
    assert undone["suppressed_by"].isna().all()
    pd.testing.assert_series_equal(undone["is_anomaly"], before["is_anomaly"])


def test_weekly_friday_promotion():
    d = _daily_revenue(seed=11)
    ts = d["timestamp"]
    fri = ((ts.dt.dayofweek == 4) & (ts >= "2022-10-01")).to_numpy()
    d.loc[fri, "value"] += 350
    outage = (ts == "2023-03-08").to_numpy()  # a Wednesday
    d.loc[outage, "value"] -= 400
    before = detect(d, context=CTX)
    # the first promotion Fridays are reported until the weekly profile adopts the
    # pattern: the model learns a value outside its range once its raw twin (a
    # median of three weeks) has adopted it, at the third Friday
    assert 1 <= before["is_anomaly"][fri].sum() <= 3
    assert before["is_anomaly"][fri][:2].all() and not before["is_anomaly"][fri][3:].any()
    assert before["is_anomaly"][outage].all()
    # the analyst marks the first two promotion Fridays as false positives
    rules = learn_from_feedback(_events(before, before[fri].iloc[:2], "weekly promotion"))
    assert [(r.kind, r.recurrence["unit"], r.recurrence["label"], r.direction) for r in rules] == [
        ("suppress_pattern", "weekday", "Friday", "up")
    ]
    after = detect(d, rules=rules, context=CTX)
    assert not after["is_anomaly"][fri].any()
    # Fridays are not learned from any more, so every promotion Friday is a would-be alarm the rule suppresses
    assert (after.loc[fri & (after["anomaly_score"] > 0).to_numpy() | fri & after["suppressed_by"].notna().to_numpy(),
                      "suppressed_by"] == rules[0].rule_id).all()
    assert after["suppressed_by"].eq(rules[0].rule_id).sum() > 40
    assert after["is_anomaly"][outage].all()


def test_non_recurring_false_positive_raises_the_threshold_of_that_series_only():
    events = [
        FeedbackEvent("2023-03-02", "false_positive", "data_issue", metric="daily_revenue", dimension="Region",
                      slice="West", anomaly_score=0.62, value=10, expected=100),
        FeedbackEvent("2023-05-09", "true_positive", "", metric="daily_revenue", dimension="Region",
                      slice="West", anomaly_score=0.9),
    ]
    rules = learn_from_feedback(events)
    assert len(rules) == 1
    r = rules[0]
    assert r.kind == "raise_threshold" and r.threshold == pytest.approx(0.64)
    assert "0.64" in r.description and "Region=West" in r.description
    # applies to West only, and only blocks scores below the new threshold
    from aihub.anomaly.feedback import rule_effects

    ts = np.array([0, 86_400, 172_800], dtype=np.int64)
    raw = np.array([0.55, 0.7, 0.6])
    west = rule_effects(rules, ts, np.zeros(3), raw, {"metric": "daily_revenue", "dimension": "Region", "slice": "West"})
    east = rule_effects(rules, ts, np.zeros(3), raw, {"metric": "daily_revenue", "dimension": "Region", "slice": "East"})
    assert list(west) == [r.rule_id, None, r.rule_id] and list(east) == [None, None, None]
    # a confirmed anomaly below the would-be threshold caps it
    capped = learn_from_feedback(events[:1] + [FeedbackEvent("2023-06-01", "true_positive", metric="daily_revenue",
                                                             dimension="Region", slice="West", anomaly_score=0.55)])
    assert capped == []


def test_conflicting_confirmation_blocks_a_pattern_rule():
    base = {"metric": "m", "anomaly_score": 0.7, "value": 200.0, "expected": 100.0}
    fps = [FeedbackEvent(f"2023-0{m}-15", "false_positive", "promotion", **base) for m in (1, 2, 3)]
    tp = FeedbackEvent("2023-04-15", "true_positive", **base)
    kinds = [r.kind for r in learn_from_feedback(fps + [tp])]
    assert "suppress_pattern" not in kinds


def test_feedback_validation_names_fields():
    with pytest.raises(ValidationError) as err:
        FeedbackEvent("2023-01-01", "maybe")
    assert err.value.field == "label" and "false_positive" in str(err.value)
    with pytest.raises(ValidationError) as err:
        FeedbackEvent("not a date", "false_positive")
    assert err.value.field == "timestamp"
    with pytest.raises(ValidationError) as err:
        FeedbackRule.from_dict({"rule_id": "x", "kind": "suppress_pattern", "recurrence": {"unit": "month", "value": 1}})
    assert err.value.field == "recurrence"
    with pytest.raises(ValidationError) as err:
        FeedbackRule.from_dict({"rule_id": "x", "kind": "raise_threshold", "threshold": 1.5})
    assert err.value.field == "threshold"
