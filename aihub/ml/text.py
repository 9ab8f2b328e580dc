"""Free text: lexicon sentiment (VADER) and the word features models learn from.

VADER (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for
Sentiment Analysis of Social Media Text", ICWSM) scores English text with a
human-rated lexicon of about 7,500 words, emoticons and slang, plus rules for
negation ("not good"), intensifiers ("very"), capitals and punctuation. It
needs no labels, and its lexicon ships inside the ``vaderSentiment`` package.

* :func:`sentiment` is the one place that scores text with VADER: a
  compound score from -1 (most negative) to +1 and the words that drove it.
  The per-row sentiment analytic builds on it.
* :class:`LexiconFeatures` turns a text column into VADER's compound,
  positive and negative scores as model inputs. Together with TF-IDF word
  features (:func:`tfidf`) they make the trained text model: TF-IDF alone
  learns the words of one domain ("battery", "waiter") and travels poorly to
  another, the lexicon's scores carry over (measured in
  ``benchmarks/sentiment_domains.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

#: Names of the lexicon features, in :class:`LexiconFeatures` output order.
LEXICON_FEATURES: tuple[str, ...] = ("sentiment compound", "sentiment positive", "sentiment negative")

_ANALYZER = None
_LOCK = threading.Lock()


def analyzer():
    """The shared ``vaderSentiment`` analyzer (its lexicon is read once per process)."""
    global _ANALYZER
    with _LOCK:
        if _ANALYZER is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            _ANALYZER = SentimentIntensityAnalyzer()
    return _ANALYZER


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def driver_words(text: str, k: int = 3) -> list[dict[str, Any]]:
    """The lexicon words of ``text`` with the largest effect, strongest first.

    Each word's valence is its VADER lexicon rating (-4 to +4), flipped and
    damped by VADER's negation factor (-0.74) when one of the three words
    before it negates ("not", "never", "n't").

    Returns
    -------
    list of dict
        ``{"word", "valence"}``, at most ``k``.
    """
    from vaderSentiment.vaderSentiment import N_SCALAR, SentiText, negated

    a = analyzer()
    words = SentiText(text).words_and_emoticons
    found = []
    for i, word in enumerate(words):
        valence = a.lexicon.get(word.lower())
        if valence is None:
            continue
        if negated([w.lower() for w in words[max(0, i - 3) : i]]):
            valence *= N_SCALAR
        found.append({"word": word, "valence": round(float(valence), 3)})
    found.sort(key=lambda d: -abs(d["valence"]))
    return found[:k]


def sentiment(texts: Iterable[Any], *, drivers: int = 3) -> pd.DataFrame:
    """VADER sentiment of each text.

    Parameters
    ----------
    texts : iterable of str
        Blanks and missing values score 0 (neutral).
    drivers : int, default 3
        Driver words kept per text (0 for none, faster).

    Returns
    -------
    pandas.DataFrame of shape (n_texts, 5)
        ``compound`` (-1 to +1; VADER's authors call >= 0.05 positive and
        <= -0.05 negative), ``positive``, ``negative``, ``neutral`` (shares of
        the text, 0 to 1, summing to 1) and ``drivers`` (list of
        ``{"word", "valence"}``, see :func:`driver_words`).
    """
    a = analyzer()
    rows = []
    for value in texts:
        t = _text(value)
        s = a.polarity_scores(t)
        rows.append(
            {
                "compound": s["compound"],
                "positive": s["pos"],
                "negative": s["neg"],
                "neutral": s["neu"],
                "drivers": driver_words(t, drivers) if drivers else [],
            }
        )
    return pd.DataFrame(rows, columns=["compound", "positive", "negative", "neutral", "drivers"])


def lexicon_matrix(texts: Iterable[Any]) -> np.ndarray:
    """``(n_texts, 3)`` float array of VADER compound, positive and negative scores."""
    a = analyzer()
    out = []
    for value in texts:
        s = a.polarity_scores(_text(value))
        out.append((s["compound"], s["pos"], s["neg"]))
    return np.asarray(out, dtype=float).reshape(-1, 3)


class LexiconFeatures(TransformerMixin, BaseEstimator):
    """One text column -> VADER compound, positive and negative scores.

    Stateless (the lexicon ships with ``vaderSentiment``); input is a 1-D
    array of text, as ``ColumnTransformer`` passes a single column named by a
    string.
    """

    def fit(self, X, y=None):
        self.n_features_in_ = 1
        return self

    def transform(self, X):
        return lexicon_matrix(np.asarray(X, dtype=object).ravel())

    def get_feature_names_out(self, input_features=None):
        return np.asarray(LEXICON_FEATURES, dtype=object)


def tfidf(max_terms: int):
    """TF-IDF word and word-pair features of one text column, vocabulary capped at ``max_terms``.

    Sublinear term frequency, accents stripped, terms in at least 2 rows
    (Salton & Buckley 1988; scikit-learn ``TfidfVectorizer``).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        max_features=int(max_terms), min_df=2, ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", lowercase=True
    )
