"""Cursor (keyset) pagination shared by the services' list functions and the HTTP API.

A list is read newest first by id; a page ends with ``next_cursor``, an opaque
string that encodes the last id seen, and the next page holds the rows with a
smaller id. Unlike an offset, a cursor neither skips nor repeats a row when
rows are added while a client pages (the "keyset pagination" of Markus Winand,
*Use The Index, Luke*; GitHub's and Stripe's ``starting_after`` cursors).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aihub.errors import ValidationError

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_PREFIX = "id:"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items and the cursor of the next page (None on the last page)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    """Opaque cursor that continues after the row with id ``last_id``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{int(last_id)}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor continues after (None for no cursor).

    Raises
    ------
    ValidationError
        If ``cursor`` was not made by :func:`encode_cursor` (field ``cursor``).
    """
    if cursor is None or cursor == "":
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_PREFIX):
            raise ValueError(text)
        value = int(text[len(_PREFIX):])
        if value <= 0:
            raise ValueError(text)
        return value
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("This cursor is not valid; pass the next_cursor of the previous page.",
                              field="cursor") from None


def check_limit(limit: int | None) -> int:
    """``limit`` checked to be 1 to :data:`MAX_LIMIT` (default :data:`DEFAULT_LIMIT`).

    Raises
    ------
    ValidationError
        Outside that range (field ``limit``).
    """
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}; got {limit}.", field="limit")
    return int(limit)


def page_of(rows: Sequence[T], limit: int, key: Callable[[T], int] = lambda r: r.id) -> Page[T]:
    """The page from ``limit + 1`` rows read after the cursor: ``limit`` items and the next cursor if more exist."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, encode_cursor(key(items[-1])) if more and items else None)


def paginate(rows: Sequence[T], cursor: str | None, limit: int | None, key: Callable[[T], int] = lambda r: r.id
             ) -> Page[T]:
    """Page a short list already in memory (newest first by ``key``): rows after the cursor, ``limit`` of them.

    For lists that stay small (datasets, models, monitors, workflows); long
    lists page in the database with a ``before_id`` bound and :func:`page_of`.
    """
    after = decode_cursor(cursor)
    n = check_limit(limit)
    ordered = sorted(rows, key=key, reverse=True)
    if after is not None:
        ordered = [r for r in ordered if key(r) < after]
    return page_of(ordered[: n + 1], n, key)
