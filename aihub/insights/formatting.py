"""Number formatting and template rendering for insight narratives.

One set of rules for every insight, so the same figure always reads the same:

============  =================================================  ===================
kind          rule                                               examples
============  =================================================  ===================
``money``     currency symbol (or ISO code), 3 significant       ``$512``, ``$8.50``,
              digits with k / M / B above 1,000; a trailing      ``$48.2k``, ``$48k``,
              ``.0`` is dropped                                  ``$482k``, ``$1.23M``
``smoney``    ``money`` with an explicit sign                    ``+$48.2k``, ``-$512``
``pct``       fraction as percent: whole percent at or above     ``64%``, ``4.3%``
              10%, one decimal below
``spct``      ``pct`` with an explicit sign                      ``+12%``, ``-4.3%``
``pp``        difference of two fractions in percentage points   ``2.3``, ``12``
              (same digits rule as ``pct``, no sign)
``count``     whole number with thousands separators             ``1,234``
``qty``       a quantity of any unit, compact: in full below     ``1,240``, ``0.82``,
              10,000, else one decimal and k / M / B / T         ``48.2 k``, ``138.5 M``
              (:func:`format_compact`)
``sqty``      ``qty`` with an explicit sign                      ``+48.2 k``, ``-3.5``
``num1``      one decimal                                        ``3.4``
``num2``      two decimals                                       ``0.45``
``prob``      probability: ``pct``, but ``over 99%`` / ``under 1%``  ``over 99%``, ``87%``
              at the ends
``p``         p-value: ``= 0.012`` (3 decimals) or ``< 0.001``   ``= 0.012``
``int``       whole number, no separators (years, windows)       ``24``
``n:a/b``     count and phrase ``a`` when it is 1, else ``b``    ``1 customer holds``,
              (``{n:n:customer holds/customers hold}``)          ``14 customers hold``
(none)        ``str(value)``                                     ``Q4 2022``
============  =================================================  ===================

:func:`render` fills a template such as ``"{slice} drove {share:pct} of the
growth ({delta:smoney})"`` and returns the text together with the exact
string each placeholder produced, so callers and tests can check every number
in a narrative against the figures it came from (:func:`untraced_numbers`).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from typing import Any

from aihub.errors import ValidationError

#: Currency symbols used before amounts; other ISO codes are written as a prefix ("CHF 48.2k").
CURRENCY_SYMBOLS: dict[str, str] = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "AUD": "A$",
    "CAD": "C$",
    "NZD": "NZ$",
}

#: Format kinds :func:`format_value` understands.
FORMAT_KINDS: tuple[str, ...] = (
    "money",
    "smoney",
    "pct",
    "spct",
    "pp",
    "prob",
    "count",
    "num1",
    "num2",
    "p",
    "int",
    "qty",
    "sqty",
)

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _finite(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValidationError(f"expected a number to format; got {x!r}", field="figures") from None
    return v


#: ``(threshold, size, suffix)`` of money amounts, largest first: an amount takes the first unit whose threshold it
#: reaches, where the threshold is the smallest amount the next smaller unit would round to 1,000 of ("999.5k" -> "$1M").
_MONEY_UNITS: tuple[tuple[float, float, str], ...] = (
    (1e9 * 0.9995, 1e9, "B"),
    (1e6 * 0.9995, 1e6, "M"),
    (1e3 * 0.9995, 1e3, "k"),
)

#: The same for quantities of any unit (:func:`format_compact`): one decimal, so "999.95 k" becomes "1 M"; numbers
#: below 10,000 are written in full.
_COMPACT_UNITS: tuple[tuple[float, float, str], ...] = (
    (1e12 * 0.99995, 1e12, "T"),
    (1e9 * 0.99995, 1e9, "B"),
    (1e6 * 0.99995, 1e6, "M"),
    (9_999.5, 1e3, "k"),
)


def _three_significant(x: float) -> int:
    return 2 if x < 10 else 1 if x < 100 else 0


def _one_decimal(x: float) -> int:
    return 1


def _suffixed(
    a: float, units: tuple[tuple[float, float, str], ...], decimals: Any, *, sep: str, grouping: str
) -> str | None:
    """``a`` (>= 0) in the first of ``units`` whose threshold it reaches, or None below them all.

    The mantissa ``a / size`` is rounded to ``decimals(mantissa)`` places, grouped with ``grouping`` ("," or "")
    and stripped of trailing zeros (``"48.0"`` -> ``"48"``); ``sep`` goes between it and the suffix.
    """
    for threshold, size, suffix in units:
        if a >= threshold:
            x = a / size
            d = decimals(x)
            text = f"{round(x, d):{grouping}.{d}f}"
            if "." in text:
                text = text.rstrip("0").rstrip(".")
            return text + sep + suffix
    return None


def format_compact(value: Any, unit: str = "") -> str:
    """A quantity of any unit for a sentence: ``1,240``, ``0.82``, ``48.2 k``, ``138.5 M``.

    Below 10,000 a number is written in full with thousands separators and
    at most three significant decimals (``"1,240"``, ``"0.82"``, ``"3.5"``);
    from 10,000 upwards with one decimal and k / M / B / T (``"48.2 k"``,
    ``"138.5 M"``), as issue 9 asks ("138.5 M", not "138,459,571..."). Money
    has its own rule (:func:`format_money`); both share the unit choice.

    Parameters
    ----------
    value : float
        Any real number; NaN and infinities give ``"n/a"``; a value that is
        not a number is returned as ``str(value)``.
    unit : str, optional
        Appended after a space (``"kg"``, ``"orders"``).

    Returns
    -------
    str
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "n/a"
    a = abs(v)
    text = _suffixed(a, _COMPACT_UNITS, _one_decimal, sep=" ", grouping=",")
    if text is None:
        if a >= 100 or a == round(a):
            text = f"{a:,.0f}"
        else:
            digits = max(0, 2 - math.floor(math.log10(a))) if a > 0 else 0
            text = f"{a:,.{min(digits, 6)}f}".rstrip("0").rstrip(".")
    if v < 0 and text.strip("0.,") != "":
        text = "-" + text
    return f"{text} {unit}".strip()


def format_signed_compact(value: Any, unit: str = "") -> str:
    """:func:`format_compact` with ``+`` before positive values (``"+48.2 k"``); zero has no sign."""
    text = format_compact(value, unit)
    try:
        positive = float(value) > 0
    except (TypeError, ValueError):
        return text
    return "+" + text if positive and text.strip("0., ") and not text.startswith("n/a") else text


def format_money(amount: float, currency: str = "USD", *, signed: bool = False) -> str:
    """Format an amount of money compactly.

    Parameters
    ----------
    amount : float
        Currency units (not cents).
    currency : str, default "USD"
        ISO 4217 code; codes in :data:`CURRENCY_SYMBOLS` use their symbol,
        others are written before the amount (``"CHF 1.2k"``).
    signed : bool, default False
        Prefix ``+`` for positive amounts (``-`` is always shown).

    Returns
    -------
    str
        Three significant digits with ``k``/``M``/``B`` from 1,000 upwards
        (``$48.2k``, ``$482k``, ``$1.23M``), whole units from 10 to 999
        (``$512``), cents below 10 (``$8.50``), ``$0`` for zero; a trailing
        ``.0`` is dropped (``$48k``). Non-finite amounts give ``"n/a"``.
    """
    v = _finite(amount)
    if not math.isfinite(v):
        return "n/a"
    a = abs(v)
    body = _suffixed(a, _MONEY_UNITS, _three_significant, sep="", grouping="")
    if body is None:
        if round(a) >= 10:
            body = f"{round(a):,.0f}"
        elif a < 0.005:
            body, v = "0", 0.0
        else:
            body = f"{a:.2f}"
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    body = f"{symbol}{body}" if symbol else f"{currency.upper()} {body}"
    if v < 0:
        return "-" + body
    if signed and v > 0:
        return "+" + body
    return body


def _percent_digits(p: float) -> str:
    r1 = round(p, 1)
    if abs(r1) >= 10:
        text = f"{round(p):.0f}"
    else:
        text = f"{r1:.1f}"
        text = text.removesuffix(".0")
    return "0" if text in ("-0", "-0.0") else text


def format_percent(fraction: float, *, signed: bool = False) -> str:
    """Format a fraction (0.64) as a percent (``"64%"``).

    Whole percent at or above 10% in absolute value, one decimal below
    (``"4.3%"``, ``"4%"`` when the decimal is zero). ``signed`` adds ``+``.
    Non-finite values give ``"n/a"``.
    """
    v = _finite(fraction)
    if not math.isfinite(v):
        return "n/a"
    text = _percent_digits(v * 100.0)
    if signed and not text.startswith("-") and text != "0":
        text = "+" + text
    return text + "%"


def format_points(difference: float) -> str:
    """Absolute difference of two fractions in percentage points, digits only (``0.023`` -> ``"2.3"``)."""
    v = _finite(difference)
    if not math.isfinite(v):
        return "n/a"
    return _percent_digits(abs(v) * 100.0)


def format_probability(p: float) -> str:
    """A probability as a percent that never rounds to certainty: ``"over 99%"``, ``"under 1%"``, else as :func:`format_percent`."""
    v = _finite(p)
    if not math.isfinite(v):
        return "n/a"
    if v > 0.99:
        return "over 99%"
    if v < 0.01:
        return "under 1%"
    return format_percent(v)


def format_count(n: float) -> str:
    """Whole number with thousands separators (``1234`` -> ``"1,234"``)."""
    v = _finite(n)
    return "n/a" if not math.isfinite(v) else f"{round(v):,.0f}"


def format_p(p: float) -> str:
    """P-value as ``"= 0.012"`` (three decimals) or ``"< 0.001"``."""
    v = _finite(p)
    if not math.isfinite(v):
        return "n/a"
    return "< 0.001" if v < 0.0005 else f"= {v:.3f}"


def format_value(value: Any, kind: str = "", currency: str = "USD") -> str:  # noqa: C901 - over the complexity ceiling before it existed; split pending (insights formatting)
    """Format ``value`` by ``kind`` (one of :data:`FORMAT_KINDS`, or ``""`` for ``str``).

    Raises
    ------
    ValidationError
        Unknown ``kind`` (``field="format"``, message lists the allowed kinds).
    """
    if kind == "":
        return str(value)
    if kind == "money":
        return format_money(value, currency)
    if kind == "smoney":
        return format_money(value, currency, signed=True)
    if kind == "pct":
        return format_percent(value)
    if kind == "spct":
        return format_percent(value, signed=True)
    if kind == "pp":
        return format_points(value)
    if kind == "prob":
        return format_probability(value)
    if kind == "count":
        return format_count(value)
    if kind == "num1":
        return f"{_finite(value):.1f}"
    if kind == "num2":
        return f"{_finite(value):.2f}"
    if kind == "p":
        return format_p(value)
    if kind == "int":
        return str(round(_finite(value)))
    if kind == "qty":
        return format_compact(_finite(value))
    if kind == "sqty":
        return format_signed_compact(_finite(value))
    if kind.startswith("n:") and "/" in kind:
        one, many = kind[2:].split("/", 1)
        v = _finite(value)
        return f"{format_count(v)} {one if round(v) == 1 else many}"
    raise ValidationError(
        f"unknown format kind {kind!r}; allowed: {', '.join(FORMAT_KINDS)}, n:singular/plural",
        field="format",
        details={"value": kind, "allowed": list(FORMAT_KINDS)},
    )


class _Recorder(string.Formatter):
    def __init__(self, currency: str) -> None:
        super().__init__()
        self.currency = currency
        self.shown: dict[str, str] = {}
        self._field = ""

    def get_field(self, field_name, args, kwargs):
        self._field = field_name
        if field_name not in kwargs:
            raise ValidationError(
                f"template needs figure {field_name!r}, which the insight does not have", field="figures"
            )
        return super().get_field(field_name, args, kwargs)

    def format_field(self, value, format_spec):
        text = format_value(value, format_spec, self.currency)
        key = self._field if self.shown.get(self._field, text) == text else f"{self._field}:{format_spec}"
        self.shown[key] = text
        return text


def render(template: str, figures: Mapping[str, Any], currency: str = "USD") -> tuple[str, dict[str, str]]:
    """Fill ``template`` from ``figures``.

    Parameters
    ----------
    template : str
        ``str.format`` syntax whose format specs are kinds of
        :func:`format_value`: ``"{share:pct}"``, ``"{delta:smoney}"``, ``"{period}"``.
    figures : mapping
        Values by name.
    currency : str, default "USD"

    Returns
    -------
    text : str
    shown : dict of str to str
        The text each placeholder produced, by figure name (``name:kind`` when
        one figure is shown in two formats).

    Raises
    ------
    ValidationError
        A placeholder names a figure that is missing, or an unknown kind.
    """
    rec = _Recorder(currency)
    text = rec.vformat(template, (), dict(figures))
    return text, rec.shown


def numbers_in(text: str) -> list[str]:
    """Number tokens of ``text`` (``"48.2"``, ``"1,234"``, ``"2022"``), in order."""
    return _NUMBER.findall(text)


def untraced_numbers(text: str, shown: Mapping[str, str]) -> list[str]:
    """Number tokens of ``text`` that appear in none of the ``shown`` figure strings.

    An empty list means every number in the text was produced from a figure.
    """
    allowed = {tok for s in shown.values() for tok in numbers_in(str(s))}
    return [tok for tok in numbers_in(text) if tok not in allowed]
