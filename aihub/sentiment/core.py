"""Sentiment of free text without labels: VADER lexicon scores, drivers, language check, trends and drops.

Scoring
-------
VADER (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for
Sentiment Analysis of Social Media Text", ICWSM), from the ``vaderSentiment``
package, which ships its lexicon. ``score`` is VADER's compound score
(-1 to 1); the label follows VADER's published thresholds: positive at
``>= 0.05``, negative at ``<= -0.05``, neutral between. ``drivers`` are the
words with the largest rule-adjusted valence (after VADER's negation, booster,
capitalisation and "but" rules), so "not good" is reported as a negative
driver. :func:`lexicon_scores` is the one lexicon-scoring function of this
package (kept separate so it can be merged with the VADER features of the
supervised text model in :mod:`aihub.ml`).

Language
--------
VADER's lexicon is English. A text is marked ``unsupported`` (not scored)
when both signals agree that it is not English: (1) the share of its words
that are English function words (scikit-learn's ``ENGLISH_STOP_WORDS``) or
VADER lexicon/negation/booster words is below ``0.34`` (the common-words
method, Grefenstette 1995, "Comparing two language identification schemes");
short texts (four words or fewer) with any English word are kept English; and
(2) ``langdetect`` (a port of Google's language-detection, Shuyo 2010, which
ships its profiles) names another language with probability ``>= 0.7``. On
the 2,000 English review sentences of ``shared/data/sentiment`` this rejects
6 (0.3%); the tests check sentences in six other languages.

Aggregation
-----------
:func:`sentiment_over_time` (mean score and negative share per group and
period), :func:`most_negative` and :func:`detect_sentiment_drops` (recent
periods against the periods before, one-sided Welch t-test, Benjamini-Hochberg
false discovery rate across groups; Welch 1947, Benjamini & Hochberg 1995).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from aihub.errors import ValidationError
from aihub.frames import date_column, require_columns, require_frame
from aihub.userconfig import UserConfig, parse

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
LABELS: tuple[str, ...] = ("positive", "neutral", "negative", "unsupported", "empty")
MAX_TEXT_CHARS = 20_000
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


class DropParams(UserConfig):
    """Settings of :func:`detect_sentiment_drops`."""

    freq: str = Field("M", pattern="^(D|W|M|Q)$", description="period: D, W, M or Q")
    recent_periods: int = Field(1, ge=1, le=52)
    baseline_periods: int = Field(3, ge=1, le=104)
    min_texts: int = Field(10, ge=3, le=100000, description="fewest texts in each window")
    min_drop: float = Field(0.1, gt=0.0, le=2.0, description="smallest fall of the mean score (-1..1 scale)")
    alpha: float = Field(0.05, gt=0.0, lt=0.5, description="false discovery rate")


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE

    return frozenset(ENGLISH_STOP_WORDS) | frozenset(_analyzer().lexicon) | frozenset(NEGATE) | frozenset(BOOSTER_DICT)


def english_share(text: str) -> tuple[float | None, int]:
    """Share of the words of ``text`` that are common English words, and the word count (None if no words)."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return None, 0
    known = _english_words()
    return sum(w in known for w in words) / len(words), len(words)


def detect_language(text: str) -> str:
    """``"en"``, another ISO 639-1 code, or ``"unknown"`` (no words); see the module docstring for the rule."""
    share, n = english_share(text)
    if share is None:
        return "unknown"
    if share >= 0.34 or (n <= 4 and share > 0):
        return "en"
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # langdetect samples n-grams; fix it for repeatable answers
    try:
        best = detect_langs(text.lower())[0]
    except LangDetectException:
        return "en"
    return best.lang if best.lang != "en" and best.prob >= 0.7 else "en"


def _vader(text: str) -> tuple[dict[str, float], list[str], list[float]]:
    """VADER's polarity scores plus each token and its rule-adjusted valence (vaderSentiment 3.3.2's own steps)."""
    from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentiText

    sia = _analyzer()
    clean = "".join(f" {sia.emojis[c]} " if c in sia.emojis else c for c in text).strip()
    tokens = SentiText(clean).words_and_emoticons
    sentiments: list[float] = []
    for i, item in enumerate(tokens):
        if item.lower() in BOOSTER_DICT or (i < len(tokens) - 1 and item.lower() == "kind" and tokens[i + 1].lower() == "of"):
            sentiments.append(0)
            continue
        sentiments = sia.sentiment_valence(0, SentiText(clean), item, i, sentiments)
    sentiments = sia._but_check(tokens, sentiments)
    return sia.score_valence(list(sentiments), clean), list(tokens), [float(s) for s in sentiments]


def _drivers(tokens: list[str], valences: list[float], k: int = 3) -> str:
    from vaderSentiment.vaderSentiment import NEGATE

    lex = _analyzer().lexicon
    order = sorted((i for i, v in enumerate(valences) if v != 0), key=lambda i: -abs(valences[i]))[:k]
    parts = []
    for i in order:
        word = tokens[i]
        base = lex.get(word.lower(), 0.0)
        if base * valences[i] < 0:  # the sign flipped: show the negation that flipped it
            neg = next((tokens[j] for j in range(i - 1, max(i - 4, -1), -1) if tokens[j].lower() in NEGATE
                        or "n't" in tokens[j].lower()), None)
            word = f"{neg} {word}" if neg else word
        parts.append(f"{word} ({valences[i]:+.1f})")
    return ", ".join(parts)


def lexicon_scores(texts: list[str]) -> pd.DataFrame:
    """VADER scores of English texts (no language check; see :func:`score_texts`).

    Parameters
    ----------
    texts : list of str, length n

    Returns
    -------
    DataFrame of shape (n, 5)
        ``score`` (compound, -1 to 1), ``positive``, ``neutral``, ``negative``
        (VADER's proportions, 0 to 1, summing to 1) and ``drivers`` (up to three
        "word (valence)" items, strongest first; VADER valences are on its
        -4 to +4 lexicon scale).
    """
    rows = []
    for t in texts:
        scores, tokens, valences = _vader(t)
        rows.append((scores["compound"], scores["pos"], scores["neu"], scores["neg"], _drivers(tokens, valences)))
    return pd.DataFrame(rows, columns=["score", "positive", "neutral", "negative", "drivers"])


def label_for(score: float) -> str:
    """VADER's label of a compound score (thresholds +-0.05, Hutto & Gilbert 2014)."""
    return "positive" if score >= POSITIVE_THRESHOLD else ("negative" if score <= NEGATIVE_THRESHOLD else "neutral")


def score_texts(frame: pd.DataFrame, text_col: str) -> pd.DataFrame:
    """Sentiment of every row's text.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
    text_col : str

    Returns
    -------
    DataFrame of shape (n_rows, 8), same index as ``frame``
        ``row`` (1-based), ``language`` (ISO code, "unknown" for no words),
        ``label`` (one of :data:`LABELS`), ``score``, ``positive``,
        ``neutral``, ``negative`` (NaN when not scored), ``drivers`` and
        ``note`` (why a row was not scored).

    Raises
    ------
    ValidationError
        ``text_col`` missing (named), or an empty table.
    """
    require_frame(frame, "texts table")
    require_columns(frame, {"text_col": text_col}, "texts table")
    raw = frame[text_col]
    out = pd.DataFrame({"row": np.arange(1, len(frame) + 1)}, index=frame.index)
    texts = [("" if pd.isna(v) else str(v)).strip()[:MAX_TEXT_CHARS] for v in raw]
    langs = [detect_language(t) if t else "unknown" for t in texts]
    labels, notes = [], []
    for t, lang in zip(texts, langs):
        if not t or lang == "unknown":
            labels.append("empty")
            notes.append("no words to score")
        elif lang != "en":
            labels.append("unsupported")
            notes.append(f"language looks like '{lang}'; only English is scored")
        else:
            labels.append(None)
            notes.append(None)
    todo = [i for i, lab in enumerate(labels) if lab is None]
    scored = lexicon_scores([texts[i] for i in todo])
    cols = {c: np.full(len(frame), np.nan) for c in ("score", "positive", "neutral", "negative")}
    drivers = np.full(len(frame), None, dtype=object)
    for j, i in enumerate(todo):
        for c, arr in cols.items():
            arr[i] = scored[c].iloc[j]
        drivers[i] = scored["drivers"].iloc[j] or None
        labels[i] = label_for(scored["score"].iloc[j])
    out["language"] = langs
    out["label"] = labels
    for c, v in cols.items():
        out[c] = v
    out["drivers"] = drivers
    out["note"] = notes
    return out


# ---------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------


def _scored_with(scored: pd.DataFrame, time_col: str, group_col: str | None) -> pd.DataFrame:
    require_frame(scored, "scored texts")
    require_columns(scored, {"score": "score", "label": "label", "time_col": time_col, "group_col": group_col},
                    "scored texts")
    df = scored[scored["score"].notna()].copy()
    df["_time"] = date_column(df, time_col) if len(df) else pd.Series(dtype="datetime64[ns]")
    df["_group"] = df[group_col].astype(str) if group_col else "all"
    return df


def sentiment_over_time(scored: pd.DataFrame, time_col: str, group_col: str | None = None, freq: str = "M") -> pd.DataFrame:
    """Mean sentiment per group and period.

    Parameters
    ----------
    scored : DataFrame
        :func:`score_texts` output joined with the time (and group) columns.
    time_col : str
    group_col : str, optional
        Product, category... (one "all" group when omitted).
    freq : {"D", "W", "M", "Q"}

    Returns
    -------
    DataFrame with columns group, period (start timestamp), texts, mean_score,
    negative_share, positive_share (0 to 1); unscored rows are left out.
    """
    freq = parse(DropParams, {"freq": freq}).freq
    df = _scored_with(scored, time_col, group_col)
    df["period"] = df["_time"].dt.to_period(freq).dt.start_time
    g = df.groupby(["_group", "period"])
    out = pd.DataFrame({"texts": g.size(), "mean_score": g["score"].mean(),
                        "negative_share": g["label"].apply(lambda s: float((s == "negative").mean())),
                        "positive_share": g["label"].apply(lambda s: float((s == "positive").mean()))}).reset_index()
    return out.rename(columns={"_group": "group"})


def most_negative(scored: pd.DataFrame, text_col: str, *, n: int = 10, time_col: str | None = None,
                  since: Any = None) -> pd.DataFrame:
    """The ``n`` most negative scored texts, optionally only those on or after ``since``.

    Returns
    -------
    DataFrame: the matching rows of ``scored`` (text, score, drivers, ...) sorted
    by score ascending, then most recent first.
    """
    require_columns(scored, {"text_col": text_col, "time_col": time_col}, "scored texts")
    df = scored[scored["score"].notna()]
    if since is not None:
        if time_col is None:
            raise ValidationError("since needs time_col", field="time_col")
        df = df[date_column(df, time_col) >= pd.Timestamp(since)]
    keys = ["score"] + ([time_col] if time_col else [])
    return df.sort_values(keys, ascending=[True] + [False] * (len(keys) - 1), kind="stable").head(int(n))


@dataclass(frozen=True)
class SentimentDrop:
    """A significant fall of sentiment for one group (what an insight needs)."""

    group: str
    recent_start: str
    recent_end: str
    baseline_start: str
    baseline_end: str
    recent_mean: float
    baseline_mean: float
    change: float
    recent_negative_share: float
    baseline_negative_share: float
    recent_texts: int
    baseline_texts: int
    p_value: float
    q_value: float

    @property
    def title(self) -> str:
        return f"Sentiment dropped for {self.group}"

    @property
    def narrative(self) -> str:
        return (f"Mean sentiment of {self.group} fell from {self.baseline_mean:+.2f} ({self.baseline_texts} texts, "
                f"{self.baseline_start} to {self.baseline_end}) to {self.recent_mean:+.2f} ({self.recent_texts} texts, "
                f"{self.recent_start} to {self.recent_end}); negative texts rose from "
                f"{self.baseline_negative_share:.0%} to {self.recent_negative_share:.0%} "
                f"(one-sided Welch test p = {self.p_value:.3g}, FDR q = {self.q_value:.3g}).")

    @property
    def period(self) -> str:
        """Period key for an insight fingerprint."""
        return f"{self.recent_start}/{self.recent_end} vs {self.baseline_start}/{self.baseline_end}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "title": self.title, "narrative": self.narrative, "period": self.period}


def detect_sentiment_drops(scored: pd.DataFrame, time_col: str, group_col: str | None = None,
                           params: DropParams | dict[str, Any] | None = None, **overrides: Any) -> list[SentimentDrop]:
    """Groups whose sentiment in the latest periods fell significantly below the periods before.

    The recent window is the last ``recent_periods`` periods up to the latest
    text; the baseline the ``baseline_periods`` periods before it. A group is
    reported when both windows hold ``min_texts`` scored texts, the mean score
    fell by at least ``min_drop`` and the one-sided Welch t-test stays
    significant after the Benjamini-Hochberg correction at ``alpha`` across
    the groups tested.

    Returns
    -------
    list of SentimentDrop, largest fall first

    Raises
    ------
    ValidationError
        Bad settings or missing columns (named).
    """
    from scipy import stats

    base = params.model_dump() if isinstance(params, DropParams) else dict(params or {})
    p = parse(DropParams, {**base, **{k: v for k, v in overrides.items() if v is not None}}, what="Sentiment drop settings")
    df = _scored_with(scored, time_col, group_col)
    if df.empty:
        return []
    per = df["_time"].dt.to_period(p.freq)
    last = per.max()
    recent_lo = last - (p.recent_periods - 1)
    base_lo = recent_lo - p.baseline_periods
    recent = per >= recent_lo
    baseline = (per >= base_lo) & (per < recent_lo)
    tested = []
    for group, idx in df.groupby("_group").groups.items():
        r = df.loc[idx][recent.loc[idx]]
        b = df.loc[idx][baseline.loc[idx]]
        if len(r) < p.min_texts or len(b) < p.min_texts:
            continue
        change = float(r["score"].mean() - b["score"].mean())
        test = stats.ttest_ind(r["score"], b["score"], equal_var=False, alternative="less")
        pval = float(test.pvalue) if np.isfinite(test.pvalue) else 1.0
        tested.append((group, r, b, change, pval))
    if not tested:
        return []
    pvals = np.array([t[4] for t in tested])
    order = np.argsort(pvals)
    q = np.empty_like(pvals)
    q[order] = np.minimum.accumulate((pvals[order] * len(pvals) / np.arange(1, len(pvals) + 1))[::-1])[::-1]
    q = np.minimum(q, 1.0)
    fmt = (lambda period: str(period.start_time.date()))
    out = []
    for (group, r, b, change, pval), qv in zip(tested, q):
        if -change >= p.min_drop and qv <= p.alpha:
            out.append(SentimentDrop(
                group=str(group), recent_start=fmt(recent_lo), recent_end=str(last.end_time.date()),
                baseline_start=fmt(base_lo), baseline_end=str((recent_lo - 1).end_time.date()),
                recent_mean=float(r["score"].mean()), baseline_mean=float(b["score"].mean()), change=change,
                recent_negative_share=float((r["label"] == "negative").mean()),
                baseline_negative_share=float((b["label"] == "negative").mean()),
                recent_texts=len(r), baseline_texts=len(b), p_value=pval, q_value=float(qv)))
    return sorted(out, key=lambda d: d.change)
