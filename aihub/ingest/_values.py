"""Cell-level parsers shared by schema inference and :func:`apply_schema`.

Every parser works on a 1-D object array of *distinct, stripped, non-missing*
cell strings (the "uniques" of a column) and returns, for each of them, the
parsed value and whether it fits. Columns are then rebuilt by indexing, so
each distinct string is parsed once however many rows repeat it.

Nothing here raises on bad cells: callers decide whether a misfit is an
inference signal or an :class:`~aihub.errors.IngestError`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Cell texts (compared after stripping whitespace, case-insensitively) that may mean "no value". Blank cells are
#: always missing; these tokens are missing in a column only when its schema says so
#: (:attr:`aihub.ingest.ColumnSchema.missing_tokens`): by default in number, date and boolean columns, where they
#: cannot be values, but not in text and category columns, where ``none`` may well be a category.
MISSING_TOKENS: frozenset[str] = frozenset(
    {"", "na", "n/a", "n.a.", "nan", "null", "none", "#n/a", "nat", "-", "--", "?"}
)
#: The tokens read as missing in every column before schemas recorded it (schemas saved without
#: ``missing_tokens`` replay with these).
LEGACY_MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "nat"})

#: Tokens accepted for a column the user marks ``boolean`` (case-insensitive).
TRUE_TOKENS: frozenset[str] = frozenset({"true", "t", "yes", "y", "1"})
FALSE_TOKENS: frozenset[str] = frozenset({"false", "f", "no", "n", "0"})

_CURRENCY = "$€£¥₹₩₽¢"
_GROUP_CHARS = " \u00a0\u202f'"
_INT_PART = {
    ".": rf"(?:\d+|\d{{1,3}}(?:,\d{{3}})+|\d{{1,3}}(?:[{_GROUP_CHARS}]\d{{3}})+)",
    ",": rf"(?:\d+|\d{{1,3}}(?:\.\d{{3}})+|\d{{1,3}}(?:[{_GROUP_CHARS}]\d{{3}})+)",
}
_NUMBER_RE = {
    dec: re.compile(
        rf"(?P<open>\()?\s*(?P<s1>[+\-\u2212])?\s*(?:[{_CURRENCY}]\s*)?(?P<s2>[+\-\u2212])?"
        rf"(?P<num>(?:{_INT_PART[dec]}(?:{re.escape(dec)}\d*)?|{re.escape(dec)}\d+)(?:[eE][+-]?\d+)?)"
        rf"\s*(?:[{_CURRENCY}])?\s*(?P<close>\))?"
    )
    for dec in (".", ",")
}
_SIMPLE_RE = {
    ".": re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"),
    ",": re.compile(r"[+-]?\d+"),
}
_STRIP_GROUPS = {".": re.compile(rf"[,{_GROUP_CHARS}]"), ",": re.compile(rf"[.{_GROUP_CHARS}]")}
_LEADING_ZERO_RE = re.compile(r"[+-]?0\d")
_INT64_MAX = 2**63 - 1


# ---------------------------------------------------------------------------
# text profile of one column
# ---------------------------------------------------------------------------


@dataclass
class TextColumn:
    """A column reduced to stripped text, its missing mask and distinct values.

    Attributes
    ----------
    stripped : numpy.ndarray of object, shape (n_rows,)
        Cell text with surrounding whitespace removed; missing cells are ``""``.
    missing : numpy.ndarray of bool, shape (n_rows,)
        True where the cell is blank or one of :data:`MISSING_TOKENS`.
    uniques : numpy.ndarray of object, shape (n_unique,)
        Distinct non-missing stripped texts, in order of first appearance.
    codes : numpy.ndarray of intp, shape (n_rows,)
        Index into ``uniques`` for each row, ``-1`` where missing.
    """

    stripped: np.ndarray
    missing: np.ndarray
    uniques: np.ndarray
    codes: np.ndarray

    @property
    def n_missing(self) -> int:
        return int(self.missing.sum())

    def first_row_of(self, unique_mask: np.ndarray) -> int | None:
        """Return the 0-based position of the first row whose unique is flagged.

        Parameters
        ----------
        unique_mask : numpy.ndarray of bool, shape (n_unique,)

        Returns
        -------
        int or None
            None when no row is flagged.
        """
        if not unique_mask.any():
            return None
        row_mask = np.zeros(len(self.codes), dtype=bool)
        valid = self.codes >= 0
        row_mask[valid] = unique_mask[self.codes[valid]]
        return int(np.argmax(row_mask))

    def rows_flagged(self, unique_mask: np.ndarray) -> int:
        """Return how many rows hold a flagged unique value."""
        if not unique_mask.any():
            return 0
        valid = self.codes >= 0
        return int(unique_mask[self.codes[valid]].sum())

    def gather(self, unique_values: np.ndarray) -> np.ndarray:
        """Broadcast per-unique values back to rows.

        Parameters
        ----------
        unique_values : numpy.ndarray, shape (n_unique,)

        Returns
        -------
        numpy.ndarray, shape (n_rows,)
            Same dtype; rows where ``missing`` is True hold an arbitrary
            value the caller must mask.
        """
        if len(unique_values) == 0:
            return np.zeros(len(self.codes), dtype=unique_values.dtype)
        return unique_values[np.where(self.codes >= 0, self.codes, 0)]


def as_text(series: pd.Series) -> np.ndarray:
    """Return a column's cells as an object array of ``str``.

    Parameters
    ----------
    series : pandas.Series, shape (n_rows,)
        Raw cells: strings (object or string dtype) or, for frames that are
        already typed, numbers, timestamps or booleans.

    Returns
    -------
    numpy.ndarray of object, shape (n_rows,)
        ``str`` for every row; missing values (None, NaN, NA) become ``""``.
    """
    values = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
            out[i] = ""
        elif isinstance(v, pd.Timestamp):
            out[i] = v.isoformat(sep=" ") if (v.hour or v.minute or v.second or v.microsecond) else v.date().isoformat()
        else:
            out[i] = str(v)
    return out


def _case_variants(word: str) -> set[str]:
    out = {""}
    for ch in word:
        out = {p + c for p in out for c in {ch.lower(), ch.upper()}}
    return out


def _variants(tokens: frozenset[str]) -> list[str]:
    """Every upper/lower-case spelling of ``tokens``, for hashed look-ups."""
    return sorted(set().union(*(_case_variants(t) for t in tokens)))


_VARIANTS_CACHE: dict[frozenset[str], list[str]] = {}
_EDGE_SPACE_RE = re.compile(r"\s\x00|\x00\s")


def _needs_strip(uniques: np.ndarray) -> bool:
    """True when some value has leading or trailing whitespace (one C-level scan)."""
    if len(uniques) == 0:
        return False
    joined = "\x00" + "\x00".join(uniques) + "\x00"
    return _EDGE_SPACE_RE.search(joined) is not None


def profile_text(values: np.ndarray, missing: frozenset[str] | set[str] | list[str] | None = None) -> TextColumn:
    """Strip cells, find missing ones and factorize the rest.

    Parameters
    ----------
    values : numpy.ndarray of object, shape (n_rows,)
        ``str`` cells, e.g. from :func:`as_text`.
    missing : collection of str, optional
        Lower-case tokens read as missing besides blank cells; default
        :data:`LEGACY_MISSING_TOKENS`. ``()`` reads only blank cells as missing.

    Returns
    -------
    TextColumn
    """
    tokens = LEGACY_MISSING_TOKENS if missing is None else frozenset({"", *(t.lower() for t in missing)})
    variants = _VARIANTS_CACHE.get(tokens)
    if variants is None:
        variants = _VARIANTS_CACHE.setdefault(tokens, _variants(tokens))
    raw_codes, raw_uniques = pd.factorize(values, sort=False)
    raw_uniques = np.asarray(raw_uniques, dtype=object)
    if _needs_strip(raw_uniques):
        stripped_uniques = np.array([u.strip() for u in raw_uniques], dtype=object)
        codes, uniques = pd.factorize(stripped_uniques, sort=False)
        codes = codes[raw_codes] if len(raw_codes) else raw_codes
        stripped = stripped_uniques[raw_codes] if len(raw_codes) else np.zeros(0, dtype=object)
    else:
        codes, uniques, stripped = raw_codes, raw_uniques, values
    uniques = np.asarray(uniques, dtype=object)
    is_missing_unique = pd.Index(uniques, dtype=object).isin(variants)
    if is_missing_unique.any():
        remap = np.full(len(uniques), -1, dtype=np.intp)
        keep = ~is_missing_unique
        remap[keep] = np.arange(int(keep.sum()))
        codes = remap[codes]
        uniques = uniques[keep]
    codes = codes.astype(np.intp, copy=False)
    missing = codes < 0
    stripped = np.where(missing, "", stripped).astype(object)
    return TextColumn(stripped=stripped, missing=missing, uniques=uniques, codes=codes)


def token_counts(col: TextColumn) -> dict[str, int]:
    """Cells holding each missing-like token (:data:`MISSING_TOKENS`, as written) in a column profiled with
    ``missing=()``."""
    is_token = np.array([u.lower() in MISSING_TOKENS for u in col.uniques], dtype=bool)
    if not is_token.any():
        return {}
    counts = np.bincount(col.codes[col.codes >= 0], minlength=len(col.uniques))
    return {str(col.uniques[i]): int(counts[i]) for i in np.flatnonzero(is_token)}


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------


@dataclass
class ParsedNumbers:
    """Result of :func:`parse_numbers` for n distinct cell texts.

    Attributes
    ----------
    values : numpy.ndarray of float64, shape (n,)
        Parsed value, NaN where ``ok`` is False.
    ok : numpy.ndarray of bool, shape (n,)
        The text is a number in the requested decimal style.
    fraction : numpy.ndarray of bool, shape (n,)
        The text is written with a decimal separator or an exponent.
    leading_zero : numpy.ndarray of bool, shape (n,)
        The text starts with a zero followed by a digit (``"007"``): a code,
        not a quantity.
    cleaned : numpy.ndarray of object, shape (n,)
        The text as a plain ``[-]digits[.digits][e..]`` literal.
    """

    values: np.ndarray
    ok: np.ndarray
    fraction: np.ndarray
    leading_zero: np.ndarray
    cleaned: np.ndarray


def parse_numbers(uniques: np.ndarray, decimal: str = ".") -> ParsedNumbers:
    """Parse cell texts as numbers.

    Accepts an optional sign (``-``, ``+`` or the Unicode minus), accounting
    negatives in parentheses ``(1,234.50)``, a currency symbol before or after
    (``$ € £ ¥ ₹ ₩ ₽ ¢``), thousands grouped by the other separator, a space,
    a no-break space or an apostrophe (``1,234.5`` / ``1.234,5`` /
    ``1 234,5`` / ``1'234.5``), and an exponent. Percent signs are *not*
    accepted.

    Parameters
    ----------
    uniques : numpy.ndarray of object, shape (n,)
        Stripped, non-missing cell texts.
    decimal : {".", ","}
        Decimal separator.

    Returns
    -------
    ParsedNumbers
    """
    n = len(uniques)
    values = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    fraction = np.zeros(n, dtype=bool)
    leading_zero = np.zeros(n, dtype=bool)
    cleaned = np.full(n, "nan", dtype=object)
    simple, full, groups = _SIMPLE_RE[decimal], _NUMBER_RE[decimal], _STRIP_GROUPS[decimal]
    for i, text in enumerate(uniques):
        if simple.fullmatch(text):
            num, negative = text, False
        else:
            m = full.fullmatch(text)
            if m is None:
                continue
            paren = m.group("open") is not None
            if paren != (m.group("close") is not None):
                continue
            s1, s2 = m.group("s1"), m.group("s2")
            if (s1 and s2) or (paren and (s1 or s2)):
                continue
            sign = s1 or s2 or ""
            num = groups.sub("", m.group("num"))
            if decimal == ",":
                num = num.replace(",", ".")
            negative = paren or sign in ("-", "\u2212")
            text = m.group("num")
        try:
            v = float(num)
        except ValueError:  # pragma: no cover - the regexes only let floats through
            continue
        if not math.isfinite(v):
            continue
        if negative:
            v, num = -v, "-" + num
        values[i] = v
        ok[i] = True
        fraction[i] = decimal in text or "e" in text or "E" in text
        leading_zero[i] = "0" in text[:2] and bool(_LEADING_ZERO_RE.match(text))
        cleaned[i] = num
    return ParsedNumbers(values, ok, fraction, leading_zero, cleaned)


def parse_integers(uniques: np.ndarray, decimal: str = ".") -> tuple[np.ndarray, np.ndarray]:
    """Parse cell texts as whole numbers that fit in a signed 64-bit integer.

    Parameters
    ----------
    uniques : numpy.ndarray of object, shape (n,)
    decimal : {".", ","}

    Returns
    -------
    values : numpy.ndarray of int64, shape (n,)
        Exact value (parsed from the digits, not through float), 0 where not ok.
    ok : numpy.ndarray of bool, shape (n,)
        True for numbers without a fractional part (``"12"``, ``"12.0"``,
        ``"1,200"``) within the int64 range.
    """
    parsed = parse_numbers(uniques, decimal)
    values = np.zeros(len(uniques), dtype=np.int64)
    ok = parsed.ok.copy()
    for i in np.flatnonzero(ok):
        text = parsed.cleaned[i]
        try:
            v = int(text)
        except ValueError:
            f = parsed.values[i]
            if not np.isfinite(f) or f != np.floor(f) or abs(f) > 2**53:
                ok[i] = False
                continue
            v = int(f)
        if abs(v) > _INT64_MAX:
            ok[i] = False
            continue
        values[i] = v
    return values, ok


def parse_booleans(uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse cell texts as booleans.

    Parameters
    ----------
    uniques : numpy.ndarray of object, shape (n,)

    Returns
    -------
    values : numpy.ndarray of bool, shape (n,)
    ok : numpy.ndarray of bool, shape (n,)
        True for :data:`TRUE_TOKENS` and :data:`FALSE_TOKENS` (any case).
    """
    lower = [u.lower() for u in uniques]
    values = np.fromiter((x in TRUE_TOKENS for x in lower), dtype=bool, count=len(lower))
    ok = values | np.fromiter((x in FALSE_TOKENS for x in lower), dtype=bool, count=len(lower))
    return values, ok


# ---------------------------------------------------------------------------
# dates
# ---------------------------------------------------------------------------

_MONTHS_ABBR = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_MONTHS_FULL = {
    m: i
    for i, m in enumerate(
        ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"], 1
    )
}
_DAYS_ABBR = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
_DAYS_FULL = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

_TIME_RE = re.compile(
    r"(?P<sep>T|\s+|,\s*)(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?P<frac>\.\d{1,9})?)?"
    r"(?P<ampm>\s*[AaPp][Mm])?(?P<tz>\s*(?:Z|[+-]\d{2}:?\d{2}))?$"
)
_NUMERIC_DATE_RE = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})")
_YEAR_MONTH_RE = re.compile(r"(\d{4})([/.\-])(\d{1,2})")
_MONTH_YEAR_RE = re.compile(r"(\d{1,2})([/.\-])(\d{4})")
_ISO_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?"
)
_TZ_TAIL_RE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")

#: Special ``date_format`` value: any ISO 8601 timestamp (pandas ``format="ISO8601"``).
ISO8601 = "ISO8601"


def _time_format(m: re.Match) -> str:
    sep = m.group("sep")
    sep = "T" if sep == "T" else sep.replace("%", "%%")
    fmt = sep + ("%I" if m.group("ampm") else "%H") + ":%M"
    if m.group("s"):
        fmt += ":%S"
        if m.group("frac"):
            fmt += ".%f"
    if m.group("ampm"):
        fmt += m.group("ampm")[: len(m.group("ampm")) - 2] + "%p"
    if m.group("tz"):
        tz = m.group("tz")
        fmt += tz[: len(tz) - len(tz.lstrip())] + "%z"
    return fmt


def _date_part_formats(text: str) -> list[str]:
    """strftime formats the date part of a cell could be written in: numeric forms, then month names."""
    numeric = _numeric_date_formats(text)
    return numeric if numeric is not None else _month_name_formats(text)


def _numeric_date_formats(text: str) -> list[str] | None:
    """``2019-01-03``, ``03/01/2019``, ``3.1.19``, ``2019-01``, ``01/2019``; None when not numeric."""
    m = _NUMERIC_DATE_RE.fullmatch(text)
    if m:
        a, s, _, c = m.groups()
        if len(a) == 4 and len(c) <= 2:
            return [f"%Y{s}%m{s}%d"]
        if len(a) <= 2 and len(c) == 4:
            return [f"%d{s}%m{s}%Y", f"%m{s}%d{s}%Y"]
        if len(a) <= 2 and len(c) == 2:
            return [f"%d{s}%m{s}%y", f"%m{s}%d{s}%y"]
        return []
    m = _YEAR_MONTH_RE.fullmatch(text)
    if m:
        return [f"%Y{m.group(2)}%m"]
    m = _MONTH_YEAR_RE.fullmatch(text)
    if m:
        return [f"%m{m.group(2)}%Y"]
    return None


def _word_directive(low: str) -> str | None:
    if low in _MONTHS_ABBR or low == "sept":
        return "%b"
    if low in _MONTHS_FULL:
        return "%B"
    if low in _DAYS_ABBR:
        return "%a"
    if low in _DAYS_FULL:
        return "%A"
    return None


def _month_name_formats(text: str) -> list[str]:
    """Formats with month names: "3 Jan 2019", "Jan 3, 2019", "03-Jan-19", "Jan-19", "Mon, 3 Jan 2019"."""
    tokens = re.findall(r"\d+|[A-Za-z]+|[^\dA-Za-z]+", text)
    parts: list[str | None] = []
    month_at = None
    digits: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.isalpha():
            directive = _word_directive(tok.lower())
            if directive is None or (directive in ("%b", "%B") and month_at is not None):
                return []
            parts.append(directive)
            month_at = i if directive in ("%b", "%B") else month_at
        elif tok.isdigit():
            parts.append(None)
            digits.append(i)
        else:
            parts.append(tok.replace("%", "%%"))
    if month_at is None or not digits:
        return []
    return _place_numbers(tokens, parts, digits, month_at)


def _place_numbers(tokens: list[str], parts: list[str | None], digits: list[int], month_at: int) -> list[str]:
    """Assign day and year directives to the numbers around a month name."""
    four = [i for i in digits if len(tokens[i]) == 4]
    small = [i for i in digits if len(tokens[i]) <= 2]
    if len(four) + len(small) != len(digits) or len(four) > 1:
        return []
    if four:
        if len(small) > 1:
            return []
        parts[four[0]] = "%Y"
        if small:
            parts[small[0]] = "%d"
    elif len(small) == 2:
        parts[small[0]], parts[small[1]] = "%d", "%y"
    elif len(small) == 1 and small[0] > month_at:
        parts[small[0]] = "%y"
    else:
        return []
    return ["".join(p for p in parts if p is not None)]


def formats_for(text: str) -> list[str]:
    """Return the strftime formats that could have produced one cell text.

    Parameters
    ----------
    text : str
        A stripped cell.

    Returns
    -------
    list of str
        Candidate formats, day-first before month-first where both are
        possible; empty when the text does not look like a date.
    """
    m = _TIME_RE.search(text)
    if m and m.start() > 0:
        date_part, time_fmt = text[: m.start()], _time_format(m)
    else:
        date_part, time_fmt = text, ""
    return [f + time_fmt for f in _date_part_formats(date_part)]


def looks_like_date(text: str) -> bool:
    """True when ``text`` matches one of the date shapes :func:`formats_for` knows."""
    return bool(formats_for(text)) or bool(_ISO_RE.fullmatch(text))


def format_dayfirst(fmt: str | None) -> bool | None:
    """Tell whether a format writes a numeric day before a numeric month.

    Returns
    -------
    bool or None
        None when the format has no numeric day and month pair (ISO, month
        names, ``ISO8601``).
    """
    if not fmt or fmt == ISO8601 or "%b" in fmt or "%B" in fmt or fmt.startswith("%Y"):
        return None
    if "%d" in fmt and "%m" in fmt:
        return fmt.index("%d") < fmt.index("%m")
    return None


def swap_day_month(fmt: str) -> str:
    """Return ``fmt`` with ``%d`` and ``%m`` exchanged."""
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def parse_dates(uniques: np.ndarray, fmt: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Parse cell texts with one date format.

    Parameters
    ----------
    uniques : numpy.ndarray of object, shape (n,)
    fmt : str
        A strftime format for :func:`pandas.to_datetime` or ``"ISO8601"``.
        Values with a UTC offset (``%z``, or ISO values ending in ``Z`` or
        ``+hh:mm``) are converted to UTC and the offset dropped.

    Returns
    -------
    values : numpy.ndarray of datetime64[ns], shape (n,)
        NaT where not ok.
    ok : numpy.ndarray of bool, shape (n,)
    had_offset : bool
        True when some values carried a UTC offset that was normalised away.
    """
    n = len(uniques)
    if n == 0:
        return np.zeros(0, dtype="datetime64[ns]"), np.zeros(0, dtype=bool), False
    s = pd.Series(uniques, dtype=object)
    utc = "%z" in fmt or (fmt == ISO8601 and bool(s.str.contains(_TZ_TAIL_RE).any()))
    try:
        parsed = pd.to_datetime(s, format=fmt, errors="coerce", utc=utc)
    except (ValueError, TypeError, OverflowError):
        try:
            parsed = pd.to_datetime(s, format=fmt, errors="coerce", utc=True)
            utc = True
        except (ValueError, TypeError, OverflowError):
            return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"), np.zeros(n, dtype=bool), False
    if utc:
        parsed = parsed.dt.tz_convert(None)
    values = parsed.to_numpy(dtype="datetime64[ns]")
    ok = ~np.isnat(values)
    return values, ok, utc and bool(ok.any())


def date_candidates(uniques: np.ndarray, max_probe: int = 12) -> list[str]:
    """Collect the formats suggested by the first distinct values.

    Parameters
    ----------
    uniques : numpy.ndarray of object, shape (n,)
    max_probe : int
        How many distinct values to derive formats from.

    Returns
    -------
    list of str
        Ordered, without repeats; ``"ISO8601"`` last when every probed value
        is ISO-shaped (covers columns mixing dates with and without times).
    """
    seen: dict[str, None] = {}
    probe = uniques[:max_probe]
    for text in probe:
        for f in formats_for(text):
            seen.setdefault(f, None)
        # A numeric day/month format always gets its swapped twin, so that
        # both readings are tested even when a value only suggested one.
    for f in list(seen):
        if format_dayfirst(f) is not None:
            seen.setdefault(swap_day_month(f), None)
    if len(probe) and all(_ISO_RE.fullmatch(t) for t in probe):
        seen.setdefault(ISO8601, None)
    return list(seen)
