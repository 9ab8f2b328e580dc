"""Column schema: the per-column reading instructions a user can correct.

A schema is a list of :class:`ColumnSchema`, one per column, in column order.
It is stored next to each dataset version as JSON (see :func:`schema_to_json`)
and replayed with :func:`aihub.ingest.apply_schema`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from aihub.errors import ValidationError
from aihub.ingest._values import ISO8601, MISSING_TOKENS, format_dayfirst, swap_day_month

#: Column kinds, in the order the UI should offer them.
KINDS: tuple[str, ...] = ("date", "number", "integer", "category", "id", "text", "boolean")
#: Allowed ``ColumnSchema.decimal`` values.
DECIMALS: tuple[str, ...] = (".", ",")
#: Allowed ``ColumnSchema.invalid`` values: fail on a misfit cell, or make it missing.
INVALID_POLICIES: tuple[str, ...] = ("raise", "missing")
#: Version written by :func:`schema_to_json`.
SCHEMA_VERSION = 1


@dataclass
class ColumnSchema:
    """How to read one column, as inferred by :func:`~aihub.ingest.read_upload`.

    Fields describing *how to convert* (``name``, ``kind``, ``date_format``,
    ``dayfirst``, ``decimal``, ``invalid``) may be edited by the user; the
    others describe what was seen in the upload and are informational.

    Parameters
    ----------
    name : str
        Column name exactly as in the header (whitespace and byte-order mark
        stripped).
    kind : {"date", "number", "integer", "category", "id", "text", "boolean"}
        Final type. ``number`` -> float64, ``integer`` -> nullable Int64,
        ``date`` -> datetime64[ns] (timezone-naive, UTC when the file had
        offsets), ``boolean`` -> nullable boolean, ``category`` -> pandas
        category of strings, ``id`` and ``text`` -> pandas string dtype.
    date_format : str, optional
        strftime format of a ``date`` column, e.g. ``"%d/%m/%y"``, or
        ``"ISO8601"`` for any ISO 8601 timestamp. None lets
        :func:`~aihub.ingest.apply_schema` infer it (honouring ``dayfirst``).
    dayfirst : bool, optional
        For dates written with numbers only: True for day/month, False for
        month/day, None when not applicable (ISO dates, month names) or unknown.
        When ``date_format`` has a numeric day and month, the format decides
        and ``dayfirst`` is set to match it (so editing only the format, e.g.
        ``"%d/%m/%y"`` -> ``"%m/%d/%y"``, is enough). Used on its own when
        ``date_format`` is None.
    ambiguous : bool, default False
        True for a date column where both day-first and month-first readings
        parse every value; the user should confirm ``dayfirst``.
    ambiguity : str, optional
        Human explanation of the ambiguity and of the reading picked.
    decimal : {".", ","}, default "."
        Decimal separator of a ``number``/``integer`` column; the other one
        (and spaces or apostrophes) may group thousands.
    invalid : {"raise", "missing"}, default "raise"
        What :func:`~aihub.ingest.apply_schema` does with a cell that does not
        fit ``kind``: raise :class:`~aihub.errors.IngestError`, or make it
        missing.
    null_count : int, default 0
        Missing cells seen (blank, or NA / N/A / NaN / null / None / #N/A).
    n_unique : int, default 0
        Distinct non-missing values seen (after stripping whitespace).
    sample : list of str
        Up to 5 distinct raw values, in order of appearance.
    note : str, optional
        A warning about this column (e.g. stray text in a numeric column).
    missing_tokens : list of str, optional
        Lower-case cell texts read as missing in this column besides blank
        cells (a subset of :data:`~aihub.ingest.MISSING_TOKENS`, e.g.
        ``["na", "null"]``). Inference puts the tokens it found here for
        number, date and boolean columns (they cannot be values there) and
        leaves it empty for text and category columns, where ``none`` may be a
        category; the user may change it in the schema step
        (:meth:`treat_tokens_as_missing`). None (schemas saved before this
        field existed) means the tokens read as missing then:
        :data:`~aihub.ingest._values.LEGACY_MISSING_TOKENS`.
    token_counts : dict of str to int
        Cells holding each missing-like token, as written (``{"none": 726}``),
        so the user can decide; informational.
    flagged_rows : list of int
        File rows (header = row 1) holding the values that ``note`` is about
        (at most 100); informational.
    """

    name: str
    kind: str
    date_format: str | None = None
    dayfirst: bool | None = None
    ambiguous: bool = False
    ambiguity: str | None = None
    decimal: str = "."
    invalid: str = "raise"
    null_count: int = 0
    n_unique: int = 0
    sample: list[str] = field(default_factory=list)
    note: str | None = None
    missing_tokens: list[str] | None = None
    token_counts: dict[str, int] = field(default_factory=dict)
    flagged_rows: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        validate_column(self)
        self.dayfirst = _effective_dayfirst(self)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict of every field."""
        validate_column(self)
        out = asdict(self)
        out["sample"] = list(self.sample)
        out["missing_tokens"] = None if self.missing_tokens is None else list(self.missing_tokens)
        out["dayfirst"] = _effective_dayfirst(self)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnSchema:
        """Build and validate a column from a dict made by :meth:`to_dict`.

        Raises
        ------
        ValidationError
            ``data`` is not a dict, lacks ``name`` or ``kind``, has an unknown
            key, or a value is not allowed (the message names the field, the
            value and the allowed set).
        """
        if not isinstance(data, dict):
            raise ValidationError(
                f"A schema column must be an object with 'name' and 'kind', got {type(data).__name__}: {data!r:.80}.",
                field="schema",
            )
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ValidationError(
                f"Unknown schema key {unknown[0]!r} in column {data.get('name')!r}; "
                f"allowed keys: {', '.join(allowed)}.",
                field=unknown[0],
                details={"value": unknown[0], "allowed": allowed, "column": data.get("name")},
            )
        for required in ("name", "kind"):
            if required not in data:
                raise ValidationError(
                    f"Schema column {data.get('name', data)!r} lacks the required key {required!r}.",
                    field=required,
                    details={"column": data.get("name")},
                )
        kwargs = dict(data)
        for key in ("sample", "flagged_rows"):
            if kwargs.get(key) is None:
                kwargs[key] = []
        if kwargs.get("token_counts") is None:
            kwargs["token_counts"] = {}
        return cls(**kwargs)

    def treat_tokens_as_missing(self, missing: bool) -> ColumnSchema:
        """Return a copy reading the tokens seen in this column (:attr:`token_counts`) as missing, or as values.

        Parameters
        ----------
        missing : bool
            True: ``none``, ``NA``, ``-``, ... become missing cells; False: they stay values
            (in a number or date column they then do not fit the kind, see ``invalid``).
        """
        tokens = sorted({t.lower() for t in self.token_counts}) if missing else []
        return replace(self, missing_tokens=tokens)

    def confirm_dayfirst(self, dayfirst: bool) -> ColumnSchema:
        """Return a copy with the user's day/month order confirmed.

        Swaps ``%d`` and ``%m`` in ``date_format`` when needed, sets
        ``dayfirst`` and clears ``ambiguous``/``ambiguity``.

        Parameters
        ----------
        dayfirst : bool
            True for day/month/year, False for month/day/year.

        Raises
        ------
        ValidationError
            The column is not a ``date`` column, or its format has no numeric
            day and month to swap.
        """
        if self.kind != "date":
            raise ValidationError(
                f"Column {self.name!r} is {self.kind!r}, not 'date'; day/month order applies to date columns only.",
                field="dayfirst",
                details={"column": self.name, "value": dayfirst},
            )
        if not isinstance(dayfirst, bool):
            raise ValidationError(
                f"dayfirst for column {self.name!r} must be true or false, got {dayfirst!r}.",
                field="dayfirst",
                details={"column": self.name, "value": dayfirst, "allowed": [True, False]},
            )
        fmt = self.date_format
        if fmt is not None:
            current = format_dayfirst(fmt)
            if current is None:
                raise ValidationError(
                    f"Column {self.name!r} uses date format {fmt!r}, which has no numeric day and month to reorder.",
                    field="dayfirst",
                    details={"column": self.name, "value": dayfirst, "date_format": fmt},
                )
            if current != dayfirst:
                fmt = swap_day_month(fmt)
        return replace(self, date_format=fmt, dayfirst=dayfirst, ambiguous=False, ambiguity=None)


def _effective_dayfirst(col: ColumnSchema) -> bool | None:
    """``date_format`` decides the day/month order when it has a numeric day and month."""
    fmt_dayfirst = format_dayfirst(col.date_format) if isinstance(col.date_format, str) else None
    return col.dayfirst if fmt_dayfirst is None else fmt_dayfirst


def _bad(col_name: Any, field_name: str, value: Any, allowed: Sequence[Any] | str) -> ValidationError:
    allowed_text = ", ".join(map(str, allowed)) if not isinstance(allowed, str) else allowed
    details: dict[str, Any] = {"column": col_name, "value": value}
    details["allowed"] = list(allowed) if not isinstance(allowed, str) else allowed
    return ValidationError(
        f"Invalid {field_name} {value!r} for column {col_name!r}; allowed: {allowed_text}.",
        field=field_name,
        details=details,
    )


def _valid_date_format(fmt: Any) -> bool:
    if not isinstance(fmt, str):
        return False
    if fmt == ISO8601:
        return True
    if "%" not in fmt:
        return False
    try:
        time.strptime("", fmt)
    except ValueError as exc:  # "bad directive" / "stray %" vs. the expected "does not match"
        return "does not match" in str(exc)
    return True


def validate_column(col: ColumnSchema) -> None:
    """Check every field of one column; the single place schemas are validated.

    Raises
    ------
    ValidationError
        Naming the field, the bad value and the allowed values.
    """
    name = col.name
    if not isinstance(name, str) or not name.strip():
        raise _bad(name, "name", name, "a non-blank string")
    if col.kind not in KINDS:
        raise _bad(name, "kind", col.kind, KINDS)
    if col.date_format is not None and not _valid_date_format(col.date_format):
        raise _bad(name, "date_format", col.date_format, "a strftime format such as '%d/%m/%Y', or 'ISO8601'")
    if col.dayfirst not in (None, True, False) or (col.dayfirst is not None and not isinstance(col.dayfirst, bool)):
        raise _bad(name, "dayfirst", col.dayfirst, [True, False, None])
    if not isinstance(col.ambiguous, bool):
        raise _bad(name, "ambiguous", col.ambiguous, [True, False])
    if col.ambiguity is not None and not isinstance(col.ambiguity, str):
        raise _bad(name, "ambiguity", col.ambiguity, "a string or null")
    if col.decimal not in DECIMALS:
        raise _bad(name, "decimal", col.decimal, DECIMALS)
    if col.invalid not in INVALID_POLICIES:
        raise _bad(name, "invalid", col.invalid, INVALID_POLICIES)
    _validate_seen(col)


def _validate_seen(col: ColumnSchema) -> None:
    """The informational fields of a column: what the upload held (counts, sample, note, tokens, flagged rows)."""
    name = col.name
    for count_field in ("null_count", "n_unique"):
        v = getattr(col, count_field)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise _bad(name, count_field, v, "an integer >= 0")
    if not isinstance(col.sample, (list, tuple)) or not all(isinstance(x, str) for x in col.sample):
        raise _bad(name, "sample", col.sample, "a list of strings")
    if col.note is not None and not isinstance(col.note, str):
        raise _bad(name, "note", col.note, "a string or null")
    if col.missing_tokens is not None and (
        not isinstance(col.missing_tokens, (list, tuple))
        or not all(isinstance(t, str) and t.lower() in MISSING_TOKENS for t in col.missing_tokens)
    ):
        raise _bad(name, "missing_tokens", col.missing_tokens, sorted(t for t in MISSING_TOKENS if t))
    if not isinstance(col.token_counts, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in col.token_counts.items()
    ):
        raise _bad(name, "token_counts", col.token_counts, "an object of token -> count >= 0")
    if not isinstance(col.flagged_rows, (list, tuple)) or not all(
        isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in col.flagged_rows
    ):
        raise _bad(name, "flagged_rows", col.flagged_rows, "a list of row numbers >= 1")


def validate_schema(schema: Sequence[ColumnSchema]) -> list[ColumnSchema]:
    """Validate a whole schema: each column, and no repeated names.

    Returns
    -------
    list of ColumnSchema
        The same columns, as a list.

    Raises
    ------
    ValidationError
        A column is invalid, an item is not a ColumnSchema, or a name repeats.
    """
    if isinstance(schema, (str, bytes, dict)) or not isinstance(schema, Sequence):
        raise ValidationError(
            f"A schema must be a list of ColumnSchema, got {type(schema).__name__}.", field="schema"
        )
    seen: set[str] = set()
    out = []
    for col in schema:
        if not isinstance(col, ColumnSchema):
            raise ValidationError(
                f"A schema must be a list of ColumnSchema, got an item of type {type(col).__name__}: {col!r:.80}.",
                field="schema",
            )
        validate_column(col)
        if col.name in seen:
            raise ValidationError(
                f"The schema names column {col.name!r} twice; each column may appear once.",
                field="name",
                details={"column": col.name, "value": col.name},
            )
        seen.add(col.name)
        out.append(col)
    return out


def schema_to_json(schema: Sequence[ColumnSchema]) -> dict[str, Any]:
    """Serialise a schema to a JSON-able dict.

    Parameters
    ----------
    schema : sequence of ColumnSchema

    Returns
    -------
    dict
        ``{"version": 1, "columns": [ColumnSchema.to_dict(), ...]}``; pass it
        to :func:`json.dumps` as is.
    """
    return {"version": SCHEMA_VERSION, "columns": [c.to_dict() for c in validate_schema(schema)]}


def schema_from_json(data: dict[str, Any] | list[dict[str, Any]] | str | bytes) -> list[ColumnSchema]:
    """Rebuild and validate a schema written by :func:`schema_to_json`.

    Parameters
    ----------
    data : dict, list of dict, str or bytes
        The dict from :func:`schema_to_json`, a bare list of column dicts, or
        either of them as JSON text.

    Returns
    -------
    list of ColumnSchema

    Raises
    ------
    ValidationError
        Malformed JSON, an unsupported version, an unknown key or kind, or a
        repeated column name.
    """
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ValidationError(f"The schema is not valid JSON: {exc}.", field="schema") from exc
    if isinstance(data, dict):
        version = data.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValidationError(
                f"Schema version {version!r} is not supported; allowed: {SCHEMA_VERSION}.",
                field="version",
                details={"value": version, "allowed": [SCHEMA_VERSION]},
            )
        extra = sorted(set(data) - {"version", "columns"})
        if extra:
            raise ValidationError(
                f"Unknown schema key {extra[0]!r}; allowed keys: version, columns.",
                field=extra[0],
                details={"value": extra[0], "allowed": ["version", "columns"]},
            )
        data = data.get("columns")
    if not isinstance(data, list):
        raise ValidationError(
            "A schema must be a list of columns or {'version': 1, 'columns': [...]}, "
            f"got {type(data).__name__}.",
            field="columns",
        )
    return validate_schema([ColumnSchema.from_dict(item) for item in data])


def coerce_schema(schema: Any) -> list[ColumnSchema]:
    """Accept a list of ColumnSchema or its JSON form; return validated columns."""
    if isinstance(schema, (dict, str, bytes)) or (
        isinstance(schema, list) and schema and all(isinstance(x, dict) for x in schema)
    ):
        return schema_from_json(schema)
    return validate_schema(schema)
