"""Free text as model input: TF-IDF word features and the VADER lexicon's sentiment scores.

A trained text model reads each free-text column as TF-IDF features of its
words and word pairs (:class:`aihub.ml.features.TextTerms`)
together with VADER's compound, positive and negative scores
(:class:`LexiconFeatures`). TF-IDF alone learns the words of one domain
("battery", "waiter") and travels poorly to another; the lexicon's scores
carry over (measured in ``benchmarks/sentiment_domains.py``).

The lexicon scoring itself lives in one place, :func:`aihub.sentiment.lexicon_scores`
(VADER, Hutto & Gilbert 2014, from the ``vaderSentiment`` package that ships
its lexicon), which also gives the per-row sentiment analytic its scores and
driver words; this module only turns it into model features.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

#: Names of the lexicon features, in :class:`LexiconFeatures` output order.
LEXICON_FEATURES: tuple[str, ...] = ("sentiment compound", "sentiment positive", "sentiment negative")


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def lexicon_matrix(texts: Iterable[Any]) -> np.ndarray:
    """``(n_texts, 3)`` float array of VADER compound (-1 to 1), positive and negative (0 to 1) scores.

    Blank and missing texts score 0. See :func:`aihub.sentiment.lexicon_scores`.
    """
    from aihub.sentiment.core import lexicon_scores

    docs = [_text(v) for v in texts]
    if not docs:
        return np.zeros((0, 3))
    return lexicon_scores(docs)[["score", "positive", "negative"]].to_numpy(dtype=float)


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
