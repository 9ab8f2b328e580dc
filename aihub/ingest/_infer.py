"""Schema inference: guess each column's kind from its cell texts.

Decision order for one column (first match wins)
------------------------------------------------
1. Every cell missing -> ``text`` with a note.
2. Every value is ``true``/``false`` (any case) -> ``boolean``. ``Yes``/``No``
   columns stay ``category`` so charts keep the analyst's labels; the user may
   switch them to ``boolean`` (then yes/no, y/n, t/f, 1/0 are accepted).
3. Every value is a number -> ``integer`` when none is written with decimals
   or an exponent and all fit int64, else ``number``. Exceptions: values with
   a leading zero (``"007"``) or a code-like column name (zip, postal, phone,
   ``... code``) are kept as strings (step 5). The decimal separator is ``.``
   unless only ``,`` fits every value (or both fit and the file is ``;``
   separated).
4. Every value fits one date format -> ``date``. For numeric dates where both
   day/month and month/day parse everything, the column is flagged
   ``ambiguous``; see :func:`_pick_reading`.
5. Strings: ``id`` when the name looks like an identifier (a word ``id``,
   ``uuid``, ``guid`` or ``sku``: "Row ID", "customerID", "order_id") and the
   values are unique per row or more than 50 distinct, or when unnamed but
   every one of at least 20 values is a distinct code-like token with a digit
   (``"7590-VHVEG"``). Integer columns with an id-like name follow the same
   rule. Otherwise ``category`` when few distinct values (at most 50, or at
   most 1,000 and at most 10 % of the rows) and short (mean length <= 50),
   else ``text``.
6. A column that is *mostly* numbers or dates (>= 80 % of non-missing rows)
   but has stray values is not an error: it becomes ``text`` with a note
   naming the first offending row and value, so the user can fix the file,
   keep it as text, or set the kind and ``invalid="missing"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from aihub.ingest._schema import ColumnSchema
from aihub.ingest._values import (
    ISO8601,
    MISSING_TOKENS,
    TextColumn,
    date_candidates,
    format_dayfirst,
    formats_for,
    parse_dates,
    parse_integers,
    parse_numbers,
    profile_text,
    swap_day_month,
    token_counts,
)

_ID_TOKENS = {"id", "uuid", "guid", "sku"}
_CODE_TOKENS = {"zip", "zipcode", "postal", "postcode", "phone", "code", "fips", "ean", "upc", "isbn", "iban"}
_CODE_VALUE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-./:#]*")
_MOSTLY = 0.8
_CATEGORY_MAX = 50
_CATEGORY_MAX_LARGE = 1000
_CATEGORY_RATIO = 0.10
_TEXT_MEAN_LEN = 50
_SAMPLE_SIZE = 5


def name_tokens(name: str) -> list[str]:
    """Split a column name into lower-case words: ``"customerID"`` -> ``["customer", "id"]``."""
    return [t.lower() for t in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]


def looks_like_id_name(name: str) -> bool:
    """True when a word of the column name is ``id``, ``uuid``, ``guid`` or ``sku``."""
    return any(t in _ID_TOKENS for t in name_tokens(name))


def looks_like_code_name(name: str) -> bool:
    """True for names of numeric codes that are not quantities (zip, postal, phone, ... code)."""
    return any(t in _CODE_TOKENS for t in name_tokens(name))


def row_label(pos: int | None, row_numbers: Sequence[int] | None) -> int | None:
    """File row number of the 0-based data position ``pos`` (header is row 1)."""
    if pos is None:
        return None
    if row_numbers is not None:
        return int(row_numbers[pos])
    return pos + 2


def infer_column(
    name: str,
    values: np.ndarray,
    *,
    decimal_hint: str = ".",
    row_numbers: Sequence[int] | None = None,
) -> ColumnSchema:
    """Infer the schema of one column.

    Missing-like tokens (``NA``, ``none``, ``-``, ... :data:`~aihub.ingest.MISSING_TOKENS`) are counted
    (``token_counts``). They are read as missing (``missing_tokens``) when the column's other values make it
    a number, date or boolean column, where a token cannot be a value; in a text or category column they
    stay values (``none`` is a category in many tables), and the user may decide otherwise in the schema
    step (:meth:`ColumnSchema.treat_tokens_as_missing`).

    Parameters
    ----------
    name : str
        Column name, used for id and code detection.
    values : numpy.ndarray of object, shape (n_rows,)
        Raw ``str`` cells.
    decimal_hint : {".", ","}
        Decimal separator to prefer when both fit (``","`` for ``;`` files).
    row_numbers : sequence of int, optional, shape (n_rows,)
        File row of each cell, for notes; default position + 2.

    Returns
    -------
    ColumnSchema
    """
    strict = profile_text(values, missing=())
    counts = token_counts(strict)
    if not counts:
        return replace(_infer(name, strict, decimal_hint, row_numbers), missing_tokens=[])
    guess = _infer(name, profile_text(values, missing=MISSING_TOKENS), decimal_hint, row_numbers)
    if guess.kind in ("number", "integer", "date", "boolean") or guess.flagged_rows:  # numbers or dates at heart
        return replace(guess, missing_tokens=sorted({t.lower() for t in counts}), token_counts=counts)
    return replace(_infer(name, strict, decimal_hint, row_numbers), missing_tokens=[], token_counts=counts)


def _infer(name: str, col: TextColumn, decimal_hint: str, row_numbers: Sequence[int] | None) -> ColumnSchema:
    n_rows = len(col.codes)
    n_present = n_rows - col.n_missing
    uniques = col.uniques
    base = {
        "name": name,
        "null_count": col.n_missing,
        "n_unique": len(uniques),
        "sample": [str(u) for u in uniques[:_SAMPLE_SIZE]],
    }
    if n_present == 0:
        return ColumnSchema(kind="text", note=f"Column {name!r} is empty: every cell is blank.", **base)

    if len(uniques) <= 2 and {u.lower() for u in uniques} <= {"true", "false"}:
        return ColumnSchema(kind="boolean", **base)

    id_name = looks_like_id_name(name)
    code_name = looks_like_code_name(name)

    # --- numbers -------------------------------------------------------------
    number_guess = _infer_number(col, decimal_hint)
    if number_guess is not None:
        kind, decimal, leading_zero = number_guess
        if kind == "integer" and id_name and _id_like_cardinality(col, n_present):
            return ColumnSchema(kind="id", **base)
        if not leading_zero and not code_name and not (id_name and kind == "integer"):
            return ColumnSchema(kind=kind, decimal=decimal, **base)
        # otherwise: a code written with digits; classified as a string below
        mostly_number = None
    else:
        mostly_number = None if (id_name or code_name) else _mostly_numbers(col, decimal_hint, n_present)

    # --- dates ---------------------------------------------------------------
    date_guess = _infer_date(col)
    if date_guess is not None and date_guess["fits"]:
        return _date_schema(name, col, date_guess, base)

    # --- strings -------------------------------------------------------------
    kind = _string_kind(col, n_present, id_name)
    flag = None
    if not (id_name or code_name):
        flag = _nonfinite(name, col, decimal_hint, row_numbers)
        if flag is None and mostly_number is not None:
            flag = _mixed_note(name, "numbers", mostly_number, col, row_numbers)
        if flag is None and date_guess is not None:
            flag = _mixed_dates(name, col, row_numbers)
        if flag is None and date_guess is not None and date_guess["partial"] is not None:
            flag = _mixed_note(name, "dates", date_guess["partial"], col, row_numbers)
    if flag is None:
        return ColumnSchema(kind=kind, **base)
    note, rows = flag
    return ColumnSchema(kind="text", note=note, flagged_rows=rows, **base)


def _spread(values: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` values plus ``k`` evenly spaced ones (a cheap, order-robust sample)."""
    if len(values) <= 2 * k:
        return values
    return np.concatenate([values[:k], values[np.linspace(k, len(values) - 1, k).astype(np.intp)]])


def _id_like_cardinality(col: TextColumn, n_present: int) -> bool:
    n_unique = len(col.uniques)
    return n_unique == n_present or n_unique > _CATEGORY_MAX


def _string_kind(col: TextColumn, n_present: int, id_name: bool) -> str:
    uniques = col.uniques
    n_unique = len(uniques)
    if id_name and _id_like_cardinality(col, n_present):
        return "id"
    all_unique = n_unique == n_present
    if (
        all_unique
        and n_present >= 20
        and all(_CODE_VALUE_RE.fullmatch(u) and any(ch.isdigit() for ch in u) for u in uniques)
    ):
        return "id"
    mean_len = float(np.mean([len(u) for u in uniques[:2000]]))
    if mean_len > _TEXT_MEAN_LEN:
        return "text"
    if n_unique <= _CATEGORY_MAX and not (all_unique and n_present > 20):
        return "category"
    if n_unique <= _CATEGORY_MAX_LARGE and n_unique <= _CATEGORY_RATIO * n_present:
        return "category"
    return "text"


def _infer_number(col: TextColumn, decimal_hint: str) -> tuple[str, str, bool] | None:
    """Return (kind, decimal, leading_zero) when every value is a number."""
    uniques = col.uniques
    # Cheap rejection on a sample: text columns leave here.
    head = _spread(uniques, 50)
    order = [decimal_hint] + [d for d in (".", ",") if d != decimal_hint]
    # The first decimal style that fits every value wins: the hint ("," for
    # ';'-separated files, else ".") when both fit ("1.234" or "1,234" only).
    for decimal in order:
        if not parse_numbers(head, decimal).ok.all():
            continue
        parsed = parse_numbers(uniques, decimal)
        if parsed.ok.all():
            break
    else:
        return None
    leading_zero = bool(parsed.leading_zero.any())
    if not parsed.fraction.any():
        _, int_ok = parse_integers(uniques, decimal)
        if int_ok.all():
            return "integer", decimal, leading_zero
    return "number", decimal, leading_zero


def _mostly_numbers(col: TextColumn, decimal_hint: str, n_present: int) -> dict | None:
    """For a column that is not all numbers: the stray values, if >= 80 % of rows are numbers."""
    head = _spread(col.uniques, 100)
    other = "." if decimal_hint == "," else ","
    decimals = [d for d in (decimal_hint, other) if parse_numbers(head, d).ok.mean() >= 0.5]
    best = None
    for decimal in decimals:
        ok = parse_numbers(col.uniques, decimal).ok
        bad_rows = col.rows_flagged(~ok)
        if best is None or bad_rows < best["bad_rows"]:
            best = {"ok": ok, "bad_rows": bad_rows}
    if best is None or (n_present - best["bad_rows"]) < _MOSTLY * n_present:
        return None
    return best


def _infer_date(col: TextColumn) -> dict | None:
    """Try date formats. Returns None when values do not look like dates.

    Returns
    -------
    dict or None
        ``fits``: formats parsing every value, ``partial``: for the best
        format parsing >= 80 % of rows but not all, ``{"ok", "bad_rows",
        "format"}``; ``parsed``: format -> (values, had_offset) for fits.
    """
    uniques = col.uniques
    candidates = date_candidates(uniques)
    if not candidates:
        return None
    head = _spread(uniques, 200)
    fits: list[str] = []
    parsed: dict[str, tuple[np.ndarray, bool]] = {}
    near: list[tuple[float, str]] = []
    for fmt in candidates:
        _, head_ok, _ = parse_dates(head, fmt)
        if not head_ok.all():
            near.append((float(head_ok.mean()), fmt))
            continue
        values, ok, had_offset = parse_dates(uniques, fmt)
        if ok.all():
            fits.append(fmt)
            parsed[fmt] = (values, had_offset)
        else:
            near.append((float(ok.mean()), fmt))
    best_partial = None
    if not fits and near:
        score, fmt = max(near)
        if score >= _MOSTLY:
            _, ok, _ = parse_dates(uniques, fmt)
            n_present = len(col.codes) - col.n_missing
            bad_rows = col.rows_flagged(~ok)
            if n_present - bad_rows >= _MOSTLY * n_present:
                best_partial = {"ok": ok, "bad_rows": bad_rows, "format": fmt}
    return {"fits": fits, "parsed": parsed, "partial": best_partial}


def _date_schema(name: str, col: TextColumn, guess: dict, base: dict) -> ColumnSchema:
    fits: list[str] = guess["fits"]
    fmt = fits[0]
    note = None
    dayfirst = format_dayfirst(fmt)
    twin = swap_day_month(fmt) if dayfirst is not None else None
    if twin is not None and twin in fits:
        picked, ambiguity = _pick_reading(name, col, fmt, twin, guess["parsed"])
        return ColumnSchema(
            kind="date",
            date_format=picked,
            dayfirst=format_dayfirst(picked),
            ambiguous=True,
            ambiguity=ambiguity,
            **base,
        )
    if guess["parsed"][fmt][1]:
        note = f"Column {name!r} has UTC offsets; times were converted to UTC and the offset dropped."
    return ColumnSchema(kind="date", date_format=fmt, dayfirst=dayfirst, note=note, **base)


def _plausibility(values_by_unique: np.ndarray, col: TextColumn) -> float:
    """Score one reading of a date column: ordered rows and regular steps.

    Returns
    -------
    float
        In [0, 2]: fraction of row-to-row changes going the dominant way
        (sorted files score 1) plus the fraction of steps between consecutive
        distinct dates that are regular (the most common step in days, or a
        calendar month, quarter or year).
    """
    rows = col.gather(values_by_unique)[~col.missing].astype("datetime64[D]").astype(np.int64)
    diffs = np.diff(rows)
    diffs = diffs[diffs != 0]
    order = max((diffs > 0).mean(), (diffs < 0).mean()) if len(diffs) else 0.5
    steps = np.diff(np.unique(values_by_unique.astype("datetime64[D]").astype(np.int64)))
    if len(steps) == 0:
        regular = 0.5
    else:
        _, counts = np.unique(steps, return_counts=True)
        regular = max(
            counts.max() / len(steps),
            ((steps >= 28) & (steps <= 31)).mean(),
            ((steps >= 89) & (steps <= 92)).mean(),
            ((steps >= 365) & (steps <= 366)).mean(),
        )
    return float(order + regular)


def _example(col: TextColumn, dayfirst_values: np.ndarray, monthfirst_values: np.ndarray) -> str | None:
    differs = np.flatnonzero(dayfirst_values != monthfirst_values)
    return col.uniques[differs[0]] if len(differs) else None


def _pick_reading(name: str, col: TextColumn, fmt: str, twin: str, parsed: dict) -> tuple[str, str]:
    """Choose between a day-first and a month-first format that both parse everything.

    The reading whose dates run in file order and in regular steps wins
    (:func:`_plausibility`); on a tie (score difference < 0.05) day-first
    wins, as most of the world writes dates that way.
    """
    day_fmt, month_fmt = (fmt, twin) if format_dayfirst(fmt) else (twin, fmt)
    day_vals, month_vals = parsed[day_fmt][0], parsed[month_fmt][0]
    day_score = _plausibility(day_vals, col)
    month_score = _plausibility(month_vals, col)
    if month_score > day_score + 0.05:
        picked, why = month_fmt, "the dates then run in order and in more regular steps"
    elif day_score > month_score + 0.05:
        picked, why = day_fmt, "the dates then run in order and in more regular steps"
    else:
        picked, why = day_fmt, "neither reading fits the data better, and day-first is the more common convention"
    example = _example(col, day_vals, month_vals)
    if example is not None:
        i = int(np.flatnonzero(col.uniques == example)[0])
        d, m = day_vals[i].astype("datetime64[D]").item(), month_vals[i].astype("datetime64[D]").item()
        ex = f" ({example!r} is {d:%d %b %Y} day-first but {m:%d %b %Y} month-first)"
    else:
        ex = ""
    reading = "day-first" if picked == day_fmt else "month-first"
    other = "month-first" if picked == day_fmt else "day-first"
    message = (
        f"Column {name!r} could be day-first ({day_fmt}) or month-first ({month_fmt}): no value has a "
        f"day above 12{ex}. It was read as {reading} because {why}. Please confirm, or switch it to {other}."
    )
    return picked, message


def flagged_rows(col: TextColumn, unique_mask: np.ndarray, row_numbers: Sequence[int] | None,
                 limit: int = 100) -> list[int]:
    """File rows (header = 1) of the first ``limit`` rows whose value is flagged in ``unique_mask``."""
    valid = col.codes >= 0
    row_mask = np.zeros(len(col.codes), dtype=bool)
    row_mask[valid] = unique_mask[col.codes[valid]]
    return [int(row_label(int(p), row_numbers)) for p in np.flatnonzero(row_mask)[:limit]]


def _rows_text(rows: list[int], total: int) -> str:
    shown = ", ".join(map(str, rows[:10]))
    more = total - min(len(rows), 10)
    return f"row{'s' if total > 1 else ''} {shown}" + (f" and {more:,} more" if more > 0 else "")


def _nonfinite(name: str, col: TextColumn, decimal: str, row_numbers: Sequence[int] | None
               ) -> tuple[str, list[int]] | None:
    """A number column holding ``inf``/``infinity`` text: which rows, and what to do."""
    bad = np.array([u.lower().lstrip("+-") in ("inf", "infinity") for u in col.uniques], dtype=bool)
    if not bad.any() or bad.all() or not parse_numbers(col.uniques[~bad], decimal).ok.all():
        return None
    rows = flagged_rows(col, bad, row_numbers)
    total = col.rows_flagged(bad)
    values = ", ".join(repr(str(u)) for u in col.uniques[bad][:3])
    message = (
        f"Column {name!r} holds numbers, but {_rows_text(rows, total)} hold{'s' if total == 1 else ''} {values} "
        "(infinity), which no calculation can use, so the column was kept as text. Fix those cells in the file, "
        "or set the column to number with bad cells 'missing' to leave them empty."
    )
    return message, rows


def _mixed_dates(name: str, col: TextColumn, row_numbers: Sequence[int] | None) -> tuple[str, list[int]] | None:
    """A column of dates written in several formats: which rows use the less common ones, and what to do."""
    if len(col.uniques) > 20_000:
        return None
    first = []
    for u in col.uniques:
        fmts = formats_for(str(u))
        if not fmts:
            return None
        first.append(fmts[0])
    first_arr = np.array(first, dtype=object)
    groups = {f: col.rows_flagged(first_arr == f) for f in dict.fromkeys(first)}
    if len(groups) < 2:
        return None
    main = max(groups, key=groups.get)
    other = first_arr != main
    rows = flagged_rows(col, other, row_numbers)
    total = col.rows_flagged(other)
    examples = ", ".join(f"{col.uniques[int(np.flatnonzero(first_arr == f)[0])]!r}" for f in groups if f != main)
    message = (
        f"Column {name!r} holds dates written in {len(groups)} formats: most rows use {main}, but "
        f"{_rows_text(rows, total)} use another ({examples}). It was kept as text. Write every date the same way "
        f"and upload again, or set the column to date with format {main} and bad cells 'missing' to keep only "
        "the dates in that format."
    )
    return message, rows


def _mixed_note(name: str, what: str, info: dict, col: TextColumn, row_numbers: Sequence[int] | None
                ) -> tuple[str, list[int]]:
    bad = ~info["ok"]
    rows = flagged_rows(col, bad, row_numbers)
    pos = col.first_row_of(bad)
    value = col.stripped[pos] if pos is not None else ""
    n_present = len(col.codes) - col.n_missing
    kind = "number" if what == "numbers" else "date"
    message = (
        f"Column {name!r} looks like {what}, but {_rows_text(rows, info['bad_rows'])} hold values such as "
        f"{value!r} ({info['bad_rows']:,} of {n_present:,} values are not {what}). It was kept as text. "
        f"Fix those cells and upload again, keep the column as text, or set it to {kind} "
        f"with invalid values treated as missing."
    )
    return message, rows


__all__ = ["ISO8601", "infer_column", "looks_like_code_name", "looks_like_id_name", "name_tokens", "row_label"]
