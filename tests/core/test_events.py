"""aihub.events: publishing reaches every subscriber once, and a failing subscriber never fails the publisher."""

from __future__ import annotations

import logging

import pytest

from aihub import events, workflows


@pytest.fixture
def clean(monkeypatch):
    monkeypatch.setattr(events, "_subscribers", {})


def test_publish_calls_each_subscriber_once_in_order(clean):
    seen = []
    first = lambda t, e, p: seen.append(("first", t, e, p))
    second = lambda t, e, p: seen.append(("second", t, e, p))
    events.subscribe(events.SOURCE_SYNCED, first)
    events.subscribe(events.SOURCE_SYNCED, second)
    events.subscribe(events.SOURCE_SYNCED, first)  # again: still once
    events.publish(7, events.SOURCE_SYNCED, {"sync_id": 3})
    events.publish(7, events.DRIFT_DETECTED, {"model_id": 1})  # nobody listens: nothing happens
    assert seen == [("first", 7, "source_synced", {"sync_id": 3}), ("second", 7, "source_synced", {"sync_id": 3})]


def test_a_failing_subscriber_is_logged_and_the_next_still_runs(clean, caplog):
    seen = []

    def broken(t, e, p):
        raise RuntimeError("workflow store is down")

    events.subscribe(events.ANOMALY_DETECTED, broken)
    events.subscribe(events.ANOMALY_DETECTED, lambda t, e, p: seen.append(p["anomaly_id"]))
    with caplog.at_level(logging.WARNING, logger="aihub.events"):
        events.publish(1, events.ANOMALY_DETECTED, {"anomaly_id": 5})
    assert seen == [5]
    assert "workflow store is down" in caplog.text and "broken" in caplog.text


def test_an_unknown_event_is_refused_at_subscribe_and_logged_at_publish(clean, caplog):
    with pytest.raises(ValueError, match="unknown event 'anomaly'"):
        events.subscribe("anomaly", print)
    with caplog.at_level(logging.ERROR, logger="aihub.events"):
        events.publish(1, "anomaly", {})
    assert "published by mistake" in caplog.text


def test_wire_subscribes_the_workflows_to_every_event():
    # conftest's session fixture ran aihub.runtime.wiring.wire(), as every process does at start.
    # a single prediction publishes inside its write transaction: workflows listen there, and only there
    plain = [e for e in events.EVENTS if e != events.PREDICTION_MADE]
    assert all(workflows.on_event in events.subscribers(e) for e in plain)
    assert workflows.on_event not in events.subscribers(events.PREDICTION_MADE)
    assert workflows.on_event_in in events._tx_subscribers[events.PREDICTION_MADE]
    assert set(events.EVENTS) <= set(workflows.EVENT_TYPES)

