"""Cron schedules in plain English (issue 9: raw cron strings were shown)."""

from __future__ import annotations

import pytest

from aihub.workflows import cron_in_words, describe_trigger


@pytest.mark.parametrize(("expr", "words"), [
    ("0 6 * * 1", "At 06:00, only on Monday"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
    ("30 18 1 * *", "At 18:30, on day 1 of the month"),
])
def test_cron_in_words(expr, words):
    assert cron_in_words(expr) == words


def test_an_unreadable_expression_is_quoted_not_raised():
    assert cron_in_words("every monday") == "'every monday'"


def test_a_schedule_trigger_is_described_in_words_with_its_cron():
    text = describe_trigger({"type": "schedule", "cron": "0 6 * * 1", "timezone": "Europe/Berlin"})
    assert text == "At 06:00, only on Monday (Europe/Berlin; cron '0 6 * * 1')"
