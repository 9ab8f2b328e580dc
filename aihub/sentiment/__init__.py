"""Sentiment of free text without labels (VADER), language check, trends and drops: see :mod:`aihub.sentiment.core`.

Typical use::

    from aihub.sentiment import score_texts, sentiment_over_time, detect_sentiment_drops

    scored = score_texts(reviews, "text")                    # label, score, drivers per row
    trend = sentiment_over_time(reviews.join(scored), "date", "product")
    drops = detect_sentiment_drops(reviews.join(scored), "date", "product")
"""

from aihub.sentiment.core import (
    LABELS,
    DropParams,
    SentimentDrop,
    detect_language,
    detect_sentiment_drops,
    english_share,
    label_for,
    lexicon_scores,
    most_negative,
    score_texts,
    sentiment_over_time,
)

__all__ = [
    "LABELS",
    "DropParams",
    "SentimentDrop",
    "detect_language",
    "detect_sentiment_drops",
    "english_share",
    "label_for",
    "lexicon_scores",
    "most_negative",
    "score_texts",
    "sentiment_over_time",
]
