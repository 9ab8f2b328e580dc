"""The column-type editor shared by an upload and a saved dataset (Streamlit glue; rules in :mod:`aihub.ingest`)."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import streamlit as st

from aihub import ingest

KIND_HELP = ("How the column is read: number or integer (amounts, counts), date, category (a few repeated values "
             "such as Region), boolean (true/false), id (one value per row) or text (free words).")
BAD_CELLS = {"raise": "Stop and tell me", "missing": "Leave the cell empty"}
BAD_CELLS_HELP = ("What to do with a cell that does not fit the column's type, e.g. the word 'n/a' in a number "
                  "column: stop saving and name the row, or save the cell as empty.")
DATE_HELP = "How the dates are written, as a strftime pattern: %d/%m/%y for 31/12/24, %m/%d/%Y for 12/31/2024."


def schema_editor(columns: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Show every column's type for correction; return the columns as edited (copies, JSON-shaped).

    Parameters
    ----------
    columns : list of dict
        ``ingest.schema_to_json(...)["columns"]`` or a saved version's ``column_schema``.
    key : str
        Widget key prefix, unique per file or version, so one file's choices never show on another.
    """
    edited_columns = copy.deepcopy(columns)
    table = pd.DataFrame([{
        "column": c["name"], "type": c["kind"], "date format": c.get("date_format") or "",
        "bad cells": c.get("invalid", "raise"), "missing": c.get("null_count", 0),
        "examples": ", ".join(map(str, (c.get("sample") or [])[:3])),
    } for c in columns])
    edited = st.data_editor(
        table, key=f"{key}_editor", hide_index=True, use_container_width=True,
        disabled=["column", "missing", "examples"],
        column_config={
            "type": st.column_config.SelectboxColumn("Type", options=list(ingest.KINDS), required=True,
                                                     help=KIND_HELP),
            "bad cells": st.column_config.SelectboxColumn(
                "If a cell does not fit", options=list(ingest.INVALID_POLICIES), required=True,
                format_func=lambda v: BAD_CELLS.get(v, v), help=BAD_CELLS_HELP),
            "date format": st.column_config.TextColumn("Date format", help=DATE_HELP),
            "missing": st.column_config.NumberColumn("Empty cells", help="Cells with no value in the file."),
            "column": st.column_config.TextColumn("Column"),
            "examples": st.column_config.TextColumn("Examples"),
        },
    )
    for spec, row in zip(edited_columns, edited.to_dict("records"), strict=True):
        spec["kind"] = row["type"]
        spec["date_format"] = row["date format"] or None
        spec["invalid"] = row["bad cells"]
        spec["missing_tokens"] = _missing_words(spec, key)
    return edited_columns


def _missing_words(spec: dict[str, Any], key: str) -> list[str] | None:
    """The tokens of this column the user confirms as "missing" (none, NA, -, ...); unchanged without tokens."""
    counts = spec.get("token_counts") or {}
    if not counts:
        return spec.get("missing_tokens")
    shown = ", ".join(f"'{t}' ({n:,} cells)" for t, n in counts.items())
    ticked = st.checkbox(f"In '{spec['name']}', {shown} means missing", value=bool(spec.get("missing_tokens")),
                         key=f"{key}_missing_{spec['name']}",
                         help="Leave it unticked when the word is a real value, e.g. the category 'none'.")
    return sorted({t.lower() for t in counts}) if ticked else []


def date_check(columns: list[dict[str, Any]], key: str) -> bool:
    """Warn about day-first/month-first dates; True once the user ticked that they checked (or none is ambiguous)."""
    ambiguous = [c for c in columns if c.get("ambiguous")]
    for col in ambiguous:
        st.warning(col.get("ambiguity") or f"Column '{col['name']}' could be day-first or month-first.")
    return not ambiguous or st.checkbox("I checked the date formats above", key=f"{key}_confirm_dates")
