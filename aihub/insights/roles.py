"""Roles of the columns of any table, proposed for the analyst to confirm.

Insights on a table that is not an orders table need to know what each
column is: the *outcome* whose drivers and segments are sought, the *date*
that splits rows into periods, the *dimensions* that cut rows into segments,
the numeric *measures*, and which numbers are *money* (and in what currency).
:func:`infer_roles` proposes them with a confidence and plain-word reasons;
the analyst confirms them on a page, which yields a :class:`TableRoles`
(validated like every configuration users write, :mod:`aihub.userconfig`).

Money is never assumed: :meth:`RoleProposal.suggested` leaves
``TableRoles.money`` empty, and a column counts as money only once the
analyst has confirmed it with its ISO 4217 currency. Until then narratives
speak of the column by its own name and unit ("Total Volume 38.4 M"), never
in dollars.

Inference rules (first match decides a column's kind)
-----------------------------------------------------
date
    datetime column (after :func:`aihub.ingest.read_upload` typing).
ignore
    an identifier (saved kind ``id``, a name word ``id``/``uuid``/``guid``/
    ``key``, an unnamed column, or a whole number that differs on every row
    like a row number), a constant column, or free text (more than 50
    distinct strings and more than half of the rows distinct).
dimension
    text/category/boolean columns with 2 to 50 values, whole-number
    columns with at most 10 values (codes such as ``cp`` or ``season``), and
    whole-number calendar parts named only by calendar words (``hr``,
    ``month``, ``weekday``, ``year``; not ``Year_Birth``) with at most 60
    values.
measure
    every other numeric column; aggregated by ``mean`` when the name says it
    is a level (average, price, rate, ratio, percent, share, score,
    temperature, humidity, age, speed, density, index, recency, tenure,
    duration, year of birth) or all values lie in [0, 1], else by ``sum``.

Outcome candidates add evidence: a name word such as target, label, class,
outcome, response, churn, converted, default, fraud, survived, approved,
status, result, attrition, quality or cnt (0.5); two values (0.3); 3 to 10
classes (0.1); being the last column, where published tables usually keep the
target (0.15). Money candidates: values written with a currency symbol in the
saved sample (0.6, the symbol gives the currency, ``$`` read as USD for the
analyst to confirm) and a money word in the name such as price, revenue,
sales, income, cost, amount, spend, salary, profit, fee, charges, payment,
balance or ``Mnt`` (0.45); quantity words (volume, quantity, count, units,
rate, percent, bags) rule a column out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import Field, field_validator

from aihub.errors import ValidationError
from aihub.ingest._infer import name_tokens
from aihub.insights.model import CATEGORIES
from aihub.userconfig import UserConfig, parse

__all__ = [
    "AGGREGATIONS",
    "COLUMN_KINDS",
    "ROLES",
    "Candidate",
    "ColumnRole",
    "RoleProposal",
    "TableRoles",
    "default_aggregation",
    "infer_roles",
    "parse_roles",
]

#: How a measure is totalled per segment and period.
AGGREGATIONS: tuple[str, ...] = ("sum", "mean")

#: What :func:`infer_roles` says a column is.
COLUMN_KINDS: tuple[str, ...] = ("date", "id", "constant", "text", "binary", "category", "numeric")

#: Roles a column can take.
ROLES: tuple[str, ...] = ("outcome", "date", "dimension", "measure", "ignore")

#: Most values a column may have to be proposed as a dimension.
MAX_DIMENSION_VALUES = 50
#: Most values of a whole-number column read as codes (a dimension) rather than a measure.
MAX_CODE_VALUES = 10

_OUTCOME_WORDS = frozenset(
    {
        "target",
        "label",
        "class",
        "outcome",
        "response",
        "responded",
        "churn",
        "churned",
        "converted",
        "conversion",
        "default",
        "defaulted",
        "fraud",
        "survived",
        "approved",
        "status",
        "result",
        "attrition",
        "quality",
        "cnt",
        "y",
        "won",
        "win",
        "purchased",
        "clicked",
    }
)
_MONEY_WORDS = frozenset(
    {
        "price",
        "prices",
        "revenue",
        "revenues",
        "sales",
        "income",
        "cost",
        "costs",
        "amount",
        "amt",
        "spend",
        "spent",
        "salary",
        "profit",
        "fee",
        "fees",
        "charge",
        "charges",
        "payment",
        "payments",
        "balance",
        "budget",
        "mnt",
        "gmv",
        "turnover",
        "wage",
        "wages",
        "earnings",
        "premium",
        "usd",
        "eur",
        "gbp",
        "dollars",
        "euros",
    }
)
_NOT_MONEY_WORDS = frozenset(
    {
        "volume",
        "quantity",
        "qty",
        "count",
        "units",
        "unit",
        "rate",
        "pct",
        "percent",
        "ratio",
        "share",
        "id",
        "bags",
        "number",
        "num",
        "score",
        "index",
    }
)
_LEVEL_WORDS = frozenset(
    {
        "average",
        "avg",
        "mean",
        "median",
        "price",
        "rate",
        "ratio",
        "pct",
        "percent",
        "share",
        "score",
        "temp",
        "atemp",
        "temperature",
        "hum",
        "humidity",
        "age",
        "speed",
        "windspeed",
        "density",
        "index",
        "ph",
        "recency",
        "tenure",
        "duration",
        "birth",
        "year",
        "yr",
    }
)
_ID_WORDS = frozenset({"id", "uuid", "guid", "key"})
_TIME_PART_WORDS = frozenset(
    {
        "hr",
        "hour",
        "hours",
        "month",
        "mnth",
        "mon",
        "weekday",
        "wday",
        "dow",
        "week",
        "year",
        "yr",
        "season",
        "quarter",
        "qtr",
        "minute",
    }
)
#: Most values of a whole-number calendar part (hour, month, weekday...) read as a dimension.
MAX_TIME_PART_VALUES = 60
_DATE_WORDS = frozenset({"date", "day", "week", "month", "time", "ts", "dt", "period", "timestamp"})
_ROW_NOUNS = {
    "customer": "customers",
    "client": "clients",
    "patient": "patients",
    "user": "users",
    "member": "members",
    "account": "accounts",
    "employee": "employees",
    "order": "orders",
    "applicant": "applicants",
    "student": "students",
    "product": "products",
    "store": "stores",
    "loan": "loans",
    "transaction": "transactions",
}
_CUSTOMER_OUTCOMES = frozenset({"churn", "churned", "response", "responded", "attrition", "converted", "purchased"})
_SYMBOL_CURRENCY = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB"}
_UNIT_IN_NAME = re.compile(r"\(([^()]{1,30})\)\s*$")


def _words(name: str) -> set[str]:
    return set(name_tokens(str(name)))


# ====================================================================== confirmed roles
Currency = Literal[
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CHF",
    "CAD",
    "AUD",
    "NZD",
    "INR",
    "CNY",
    "HKD",
    "SGD",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "CZK",
    "HUF",
    "BRL",
    "MXN",
    "ZAR",
    "KRW",
    "RUB",
    "TRY",
    "ILS",
    "AED",
    "SAR",
]


class TableRoles(UserConfig):
    """The roles of a table's columns, as the analyst confirmed them.

    Parameters
    ----------
    outcome : str, optional
        The column whose drivers and segments are sought (numeric, two-valued
        or a few classes). Without it only shifts and outliers are looked for.
    positive : str, optional
        The outcome value that counts as the event ("1", "Yes", "bad"): its
        rate is what drivers and segments compare. Default: ``1``/``yes``/
        ``true`` when present, else the rarer of two values; a many-class
        outcome without it is examined class by class.
    date : str, optional
        Date column; enables shifts between periods.
    money : dict of str to str
        ``{column: ISO 4217 code}`` of the columns the analyst confirmed to
        be money. Only these are written as money ("$48.2k").
    units : dict of str to str
        ``{column: unit}`` of other measures ("kg", "avocados"; at most 30
        characters), written after their values.
    dimensions : list of str, optional
        Columns that cut rows into segments; None: those :func:`infer_roles`
        proposes.
    measures : list of str, optional
        Numeric columns examined for shifts and outliers; None: those
        :func:`infer_roles` proposes.
    aggregations : dict of str to {"sum", "mean"}
        How a measure is totalled per segment and period; default as proposed
        (sum for amounts and counts, mean for levels such as prices).
    ignore : list of str
        Columns never examined (identifiers, free text).
    freq : {"D", "W", "M", "Q", "Y"}, optional
        Period of shifts; default from the spacing of the dates.
    compare : {"previous", "year_ago"}, default "previous"
        Compare the last complete period with the one before or with the
        same period a year earlier.
    category : {"sales", "customer", "operations", "finance"}, default "operations"
        Category of the table's insights.
    row_noun : str, default "rows"
        Plural word for one row ("customers", "cars"), used in narratives.

    Raises
    ------
    aihub.errors.ValidationError
        Via :func:`parse_roles`, naming the field path (``money.Income``) and
        the allowed values. Column names are checked against the table by
        :class:`aihub.insights.tables.TableInput`.
    """

    outcome: str | None = Field(default=None, min_length=1, max_length=200)
    positive: str | None = Field(default=None, min_length=1, max_length=200)
    date: str | None = Field(default=None, min_length=1, max_length=200)
    money: dict[str, Currency] = Field(default_factory=dict, max_length=200)
    units: dict[str, str] = Field(default_factory=dict, max_length=500)
    dimensions: list[str] | None = Field(default=None, max_length=200)
    measures: list[str] | None = Field(default=None, max_length=200)
    aggregations: dict[str, Literal["sum", "mean"]] = Field(default_factory=dict, max_length=500)
    ignore: list[str] = Field(default_factory=list, max_length=1000)
    freq: Literal["D", "W", "M", "Q", "Y"] | None = None
    compare: Literal["previous", "year_ago"] = "previous"
    category: Literal[CATEGORIES] = "operations"  # type: ignore[valid-type]
    row_noun: str = Field(default="rows", min_length=1, max_length=30)

    @field_validator("money", mode="before")
    @classmethod
    def _upper_codes(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: v.strip().upper() if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("units")
    @classmethod
    def _short_units(cls, value: dict[str, str]) -> dict[str, str]:
        for col, unit in value.items():
            unit = str(unit).strip()
            if len(unit) > 30 or any(ch in unit for ch in "{}\n\r"):
                raise ValueError(f"the unit of {col!r} must be at most 30 characters without braces or line breaks")
        return {k: str(v).strip() for k, v in value.items()}

    @field_validator("row_noun")
    @classmethod
    def _plain_noun(cls, value: str) -> str:
        if any(ch in value for ch in "{}\n\r"):
            raise ValueError("must be a plain word such as 'customers'")
        return value

    def currency_of(self, column: str) -> str | None:
        """The confirmed ISO 4217 code of a money column, or None when the column is not money."""
        return self.money.get(column)


def parse_roles(raw: TableRoles | Mapping[str, Any] | str | bytes | None) -> TableRoles:
    """Validate a role map (a :class:`TableRoles`, a dict or JSON text); None gives the empty map.

    Raises
    ------
    aihub.errors.ValidationError
        Naming the dotted field path, the bad value and what is allowed.
    """
    if raw is None:
        return TableRoles()
    if isinstance(raw, TableRoles):
        return raw
    return parse(TableRoles, raw, what="Table roles")


# ====================================================================== proposals
@dataclass(frozen=True)
class Candidate:
    """A column proposed for a role, with how sure the inference is and why.

    Attributes
    ----------
    column : str
    confidence : float
        0 to 1: the sum of the evidence weights of the module docstring, at most 0.95.
    reasons : tuple of str
        Plain-word evidence ("two values", "named like an outcome").
    currency : str, optional
        Proposed ISO 4217 code of a money candidate, None when unknown.
    """

    column: str
    confidence: float
    reasons: tuple[str, ...]
    currency: str | None = None


@dataclass(frozen=True)
class ColumnRole:
    """What :func:`infer_roles` makes of one column.

    Attributes
    ----------
    name : str
    kind : str
        One of :data:`COLUMN_KINDS`.
    role : str
        Proposed role, one of :data:`ROLES` (the top outcome candidate gets
        ``outcome``; money candidates stay ``measure`` until confirmed).
    n_unique : int
        Distinct non-missing values.
    reason : str
        Why the kind was chosen, in plain words.
    aggregation : {"sum", "mean"} or None
        For measures.
    unit : str, optional
        A unit found in the name ("Age (day)" -> "day"), a hint for the
        form: it is not put in :meth:`RoleProposal.suggested`, whose
        narratives already name the column.
    """

    name: str
    kind: str
    role: str
    n_unique: int
    reason: str
    aggregation: str | None = None
    unit: str | None = None


@dataclass
class RoleProposal:
    """Proposed roles of a table, for the analyst to confirm.

    Attributes
    ----------
    columns : dict of str to ColumnRole
        Every column, in table order.
    outcome_candidates : list of Candidate
        Best first.
    money_candidates : list of Candidate
        Best first; none of them is money until confirmed.
    date_candidates : list of Candidate
        Best first.
    category : str
        Proposed insight category.
    row_noun : str
        Proposed plural word for one row.
    """

    columns: dict[str, ColumnRole]
    outcome_candidates: list[Candidate]
    money_candidates: list[Candidate]
    date_candidates: list[Candidate]
    category: str = "operations"
    row_noun: str = "rows"
    n_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def of_role(self, role: str) -> list[str]:
        """Columns proposed for ``role`` (one of :data:`ROLES`), in table order."""
        return [c.name for c in self.columns.values() if c.role == role]

    def suggested(self, *, min_outcome_confidence: float = 0.5) -> TableRoles:
        """The role map to pre-fill the confirmation form with.

        The outcome is the best candidate when its confidence reaches
        ``min_outcome_confidence``; ``money`` is always empty (the analyst
        confirms each money column and its currency).
        """
        best = self.outcome_candidates[0] if self.outcome_candidates else None
        outcome = best.column if best is not None and best.confidence >= min_outcome_confidence else None
        date = self.date_candidates[0].column if self.date_candidates else None
        dims = [c for c in self.of_role("dimension") + self.of_role("outcome") if c != outcome]
        measures = [c for c in self.of_role("measure") + self.of_role("outcome") if c != outcome]
        dims = [c for c in dims if self.columns[c].kind in ("binary", "category")]
        measures = [c for c in measures if self.columns[c].kind == "numeric"]
        aggs = {c.name: c.aggregation for c in self.columns.values() if c.aggregation}
        return TableRoles(
            outcome=outcome,
            date=date,
            dimensions=dims,
            measures=measures,
            aggregations=aggs,
            ignore=self.of_role("ignore"),
            category=self.category,
            row_noun=self.row_noun,
        )


def _schema_map(schema: Sequence[Any] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in schema or ():
        d = c if isinstance(c, Mapping) else getattr(c, "__dict__", {})
        if d.get("name") is not None:
            out[str(d["name"])] = dict(d)
    return out


def _kind_of(name: str, s: pd.Series, saved: Mapping[str, Any], n_rows: int) -> tuple[str, str]:
    """Column kind and the reason, by the rules of the module docstring."""
    values = s.dropna()
    n_unique = int(values.nunique())
    words = _words(name)
    saved_kind = saved.get("kind")
    if ptypes.is_datetime64_any_dtype(s.dtype) or saved_kind == "date":
        return "date", "dates"
    if saved_kind == "id" or words & _ID_WORDS:
        return "id", "an identifier (named or saved as an id)"
    if not str(name).strip() or str(name).lower().startswith("unnamed"):
        return "id", "an unnamed column, usually a row index"
    if n_unique <= 1:
        return "constant", "one value on every row" if n_unique else "empty"
    if n_unique == 2:
        return "binary", "two values"
    numeric = ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype)
    if numeric:
        whole = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
        if whole and n_unique == len(values) and n_rows >= 20:
            return "id", "a different whole number on every row, like a row number"
        if whole and n_unique <= MAX_CODE_VALUES:
            return "category", f"whole-number codes ({n_unique} values)"
        if whole and n_unique <= MAX_TIME_PART_VALUES and words and words <= _TIME_PART_WORDS:
            return "category", f"a calendar part such as an hour or month ({n_unique} values)"
        return "numeric", "numbers"
    if n_unique <= MAX_DIMENSION_VALUES:
        return "category", f"{n_unique} categories"
    if n_unique > 0.5 * max(1, len(values)):
        return "text", "free text or names (most values distinct)"
    return "text", f"too many categories to compare ({n_unique})"


def default_aggregation(name: str, s: pd.Series) -> str:
    """``mean`` for levels (named like average, price, rate... or all values in [0, 1]), else ``sum``."""
    if _words(name) & _LEVEL_WORDS:
        return "mean"
    v = pd.to_numeric(s, errors="coerce").dropna()
    if len(v) and float(v.min()) >= 0 and float(v.max()) <= 1:
        return "mean"
    return "sum"


def _unit_from_name(name: str) -> str | None:
    m = _UNIT_IN_NAME.search(str(name))
    if not m:
        return None
    unit = m.group(1).strip()
    if not re.search(r"[A-Za-z]", unit) or re.match(r"(?i)component\b", unit):
        return None
    return unit


def _outcome_candidate(name: str, kind: str, n_unique: int, last: bool) -> Candidate | None:
    if kind not in ("binary", "category", "numeric"):
        return None
    score, reasons = 0.0, []
    if _words(name) & _OUTCOME_WORDS:
        score += 0.5
        reasons.append("named like an outcome")
    if kind == "binary":
        score += 0.3
        reasons.append("two values")
    elif kind == "category" and 3 <= n_unique <= 10:
        score += 0.1
        reasons.append(f"{n_unique} classes")
    if last:
        score += 0.15
        reasons.append("the last column, where tables usually keep the target")
    if score <= 0:
        return None
    return Candidate(name, round(min(0.95, score), 2), tuple(reasons))


def _money_candidate(name: str, kind: str, saved: Mapping[str, Any]) -> Candidate | None:
    if kind != "numeric":
        return None
    words = _words(name)
    if words & _NOT_MONEY_WORDS:
        return None
    score, reasons, currency = 0.0, [], None
    sample = " ".join(str(x) for x in saved.get("sample") or [])
    symbols = [sym for sym in _SYMBOL_CURRENCY if sym in sample]
    if symbols:
        score += 0.6
        currency = _SYMBOL_CURRENCY[symbols[0]]
        reasons.append(f"values written with {symbols[0]}")
    money_words = words & _MONEY_WORDS
    if money_words:
        score += 0.45
        reasons.append(f"named like money ({min(money_words)})")
        named = words & {"usd", "eur", "gbp"}
        if named:
            currency = min(named).upper()
    if score == 0:
        return None
    return Candidate(name, round(min(0.95, score), 2), tuple(reasons), currency)


def _row_noun(columns: Sequence[str], kinds: Mapping[str, str]) -> str:
    for c in columns:
        if kinds[c] != "id":
            continue
        for w in name_tokens(str(c)):
            if w in _ROW_NOUNS:
                return _ROW_NOUNS[w]
    return "rows"


def infer_roles(frame: pd.DataFrame, schema: Sequence[Any] | None = None) -> RoleProposal:
    """Propose the role of every column of a table.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        The typed table (``read_upload(...).typed()`` or a stored dataset
        version): dates as datetime64, numbers numeric.
    schema : sequence of dict or ColumnSchema, optional
        The saved column schema (``name``, ``kind``, ``sample``); its kinds
        and raw samples (currency symbols) sharpen the proposal.

    Returns
    -------
    RoleProposal

    Raises
    ------
    aihub.errors.ValidationError
        When ``frame`` is not a DataFrame or has no columns.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"infer_roles needs a pandas DataFrame; got {type(frame).__name__}", field="frame")
    if frame.shape[1] == 0:
        raise ValidationError("The table has no columns.", field="frame")
    saved = _schema_map(schema)
    names = [str(c) for c in frame.columns]
    n_rows = len(frame)
    kinds: dict[str, str] = {}
    reasons: dict[str, str] = {}
    uniques: dict[str, int] = {}
    for c in frame.columns:
        kinds[str(c)], reasons[str(c)] = _kind_of(str(c), frame[c], saved.get(str(c), {}), n_rows)
        uniques[str(c)] = int(frame[c].dropna().nunique())
    outcomes = [
        cand
        for i, c in enumerate(names)
        if (cand := _outcome_candidate(c, kinds[c], uniques[c], i == len(names) - 1)) is not None
    ]
    outcomes.sort(key=lambda k: (-k.confidence, names.index(k.column)))
    money = [cand for c in names if (cand := _money_candidate(c, kinds[c], saved.get(c, {}))) is not None]
    money.sort(key=lambda k: (-k.confidence, names.index(k.column)))
    dates = []
    for c in names:
        if kinds[c] == "date":
            words = _words(c)
            conf = 0.9 if sum(k == "date" for k in kinds.values()) == 1 else 0.6
            why = ["the only date column"] if conf == 0.9 else ["a date column"]
            if words & _DATE_WORDS and not words & {"birth", "born"}:
                conf = min(0.95, conf + 0.1)
                why.append("named like a date")
            if words & {"birth", "born", "created", "signup", "customer"}:
                conf -= 0.2
                why.append("looks like a birth or sign-up date, not the date of the rows' events")
            dates.append(Candidate(c, round(conf, 2), tuple(why)))
    dates.sort(key=lambda k: (-k.confidence, names.index(k.column)))
    best_outcome = outcomes[0].column if outcomes and outcomes[0].confidence >= 0.5 else None

    columns: dict[str, ColumnRole] = {}
    for c in names:
        k = kinds[c]
        role = {
            "date": "date",
            "id": "ignore",
            "constant": "ignore",
            "text": "ignore",
            "binary": "dimension",
            "category": "dimension",
            "numeric": "measure",
        }[k]
        if c == best_outcome:
            role = "outcome"
        agg = default_aggregation(c, frame[c]) if k == "numeric" else None
        columns[c] = ColumnRole(c, k, role, uniques[c], reasons[c], agg, _unit_from_name(c))
    noun = _row_noun(names, kinds)
    outcome_words = _words(best_outcome) if best_outcome else set()
    money_outcome = best_outcome is not None and any(m.column == best_outcome for m in money)
    category = (
        "customer"
        if noun == "customers" or outcome_words & _CUSTOMER_OUTCOMES
        else "sales"
        if money_outcome
        else "operations"
    )
    notes = []
    if not outcomes:
        notes.append("No column looks like an outcome; choose one to see drivers and segments.")
    return RoleProposal(columns, outcomes, money, dates, category, noun, n_rows, notes)
