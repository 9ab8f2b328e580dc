"""Which columns insights read: the roles of an orders table, and of any table.

Orders tables
-------------
Each dataset's orders roles (date, amount, customer, product, dimensions)
come from the analyst's stored choice (:func:`set_dataset_roles`) or are
detected from its saved schema by column kind and name (:func:`detect_roles`):
a date column, a money column named like sales/revenue/amount, a customer id,
and up to three low-cardinality category columns (region, category, segment
first). A column named like a quantity (volume, units, weight, count, ...)
is never taken for money. A dataset without a date and an amount is not an
orders table.

Any table
---------
Every other dataset is read as a plain table (:mod:`aihub.insights.tables`):
:func:`table_roles` proposes the outcome, date, dimensions and measures
(:func:`aihub.insights.roles.infer_roles`); the analyst confirms them with
:func:`set_table_roles`, including which numbers are money and in what
currency (none is money until confirmed). An orders table is read as a plain
table too once the analyst confirmed its table roles.

Both are stored on the dataset (``datasets.insight_roles``): the orders roles
at the top level, the table roles under :data:`TABLE_KEY`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aihub.auth import Principal, require
from aihub.db import insight_store, store
from aihub.db.session import tenant_session
from aihub.errors import ValidationError
from aihub.insights.roles import RoleProposal, TableRoles, infer_roles, parse_roles
from aihub.insights.tables import TableInput

ROLE_KEYS: tuple[str, ...] = ("date", "amount", "customer", "customer_name", "product", "order", "dimensions")
#: Key of the confirmed table roles inside a dataset's stored insight roles.
TABLE_KEY = "table"

_AMOUNT_NAMES = ("sales", "revenue", "amount", "turnover", "gmv", "order value", "order total", "total", "value")
_AMOUNT_EXCLUDE = re.compile(
    r"quantit|qty|discount|count|rate|percent|share|\bid\b|score|tax|margin|volume|\bunits?\b|weight|\bbags?\b"
    r"|\bkg\b|\blbs?\b|\btons?\b|litre|liter|\bitems?\b", re.IGNORECASE)
_DIMENSION_NAMES = ("region", "category", "segment", "channel", "country", "market", "department", "store",
                    "division", "team", "type")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(name).lower()).strip()


# ====================================================================== orders roles
def detect_roles(column_schema: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Orders roles of a dataset from its saved schema, or None when it is not an orders table.

    Parameters
    ----------
    column_schema : list of dict
        ``DatasetVersionRecord.column_schema`` (``name``, ``kind``, ``n_unique``).

    Returns
    -------
    dict or None
        ``{"date", "amount", "customer", "customer_name", "product", "order", "dimensions"}``
        (missing roles are None, ``dimensions`` a list of at most three), or
        None without a date column and a money column named like sales,
        revenue, amount, turnover, GMV, total or value.
    """
    cols = [c for c in column_schema if c.get("name") is not None]
    dates = [c["name"] for c in cols if c.get("kind") == "date"]
    if not dates:
        return None
    date = next((d for d in dates if "order" in _norm(d)), None) or next(
        (d for d in dates if not re.search(r"ship|deliver|due|birth|created|updated", _norm(d))), dates[0])
    numeric = [c["name"] for c in cols if c.get("kind") in ("number", "integer")]
    amount = None
    for word in _AMOUNT_NAMES:
        amount = next((n for n in numeric if word in _norm(n).split() or _norm(n) == word
                       or (len(word) > 5 and word in _norm(n))), None)
        if amount is not None and not _AMOUNT_EXCLUDE.search(_norm(amount)):
            break
        amount = None
    if amount is None:
        return None
    idlike = [c for c in cols if c.get("kind") in ("id", "category", "text") and c["name"] not in (date, amount)]

    def find(pattern: str, *, name: bool) -> str | None:
        hits = [c["name"] for c in idlike if re.search(pattern, _norm(c["name"]))]
        named = [h for h in hits if "name" in _norm(h).split()]
        plain = [h for h in hits if "name" not in _norm(h).split()]
        return (named[0] if named else None) if name else (plain[0] if plain else None)

    customer = find(r"\b(customer|client|account|buyer|shopper)", name=False)
    customer_name = find(r"\b(customer|client|account|buyer)", name=True)
    if customer is None and customer_name is not None:
        customer, customer_name = customer_name, None
    product = find(r"\b(product|sku|item|article)", name=True) or find(r"\b(product|sku|item|article)", name=False)
    order = next((c["name"] for c in idlike if c.get("kind") == "id" and re.search(r"\b(order|invoice|transaction)",
                                                                                   _norm(c["name"]))), None)
    used = {date, amount, customer, customer_name, product, order}
    cats = [c for c in cols if c.get("kind") == "category" and c["name"] not in used
            and 2 <= int(c.get("n_unique") or 0) <= 30]

    def rank(c: dict[str, Any]) -> tuple[int, int, int]:
        n = _norm(c["name"])
        pref = next((i for i, w in enumerate(_DIMENSION_NAMES) if w in n.split()), len(_DIMENSION_NAMES))
        return (0 if n in _DIMENSION_NAMES else 1), pref, int(c.get("n_unique") or 0)

    dims = [c["name"] for c in sorted(cats, key=rank) if rank(c)[1] < len(_DIMENSION_NAMES)][:3]
    return {"date": date, "amount": amount, "customer": customer, "customer_name": customer_name,
            "product": product, "order": order, "dimensions": dims}


def _check_roles(roles: Mapping[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    unknown = sorted(set(roles) - set(ROLE_KEYS) - {"enabled"})
    if unknown:
        raise ValidationError(f"Unknown role {unknown[0]!r}; allowed: {', '.join(ROLE_KEYS)}, enabled.",
                              field=str(unknown[0]))
    out: dict[str, Any] = {"enabled": bool(roles.get("enabled", True))}
    for key in ROLE_KEYS:
        value = roles.get(key)
        if key == "dimensions":
            value = [str(v) for v in (value or [])]
            for v in value:
                if v not in columns:
                    raise ValidationError(f"Dimension column '{v}' is not in the dataset.", field="dimensions")
            out[key] = value[:5]
            continue
        if value in (None, ""):
            out[key] = None
            continue
        if value not in columns:
            raise ValidationError(f"Column '{value}' is not in the dataset; choose one of: {', '.join(columns)}.",
                                  field=key)
        out[key] = str(value)
    if out["enabled"]:
        for key, kinds in (("date", {"date"}), ("amount", {"number", "integer"})):
            if out[key] is None:
                raise ValidationError(f"Choose the {key} column (or turn the dataset off for insights).", field=key)
            if columns[out[key]] not in kinds:
                raise ValidationError(
                    f"Column '{out[key]}' is {columns[out[key]]}; the {key} column must be "
                    f"{' or '.join(sorted(kinds))}.", field=key)
    return out


@dataclass(frozen=True)
class DatasetRoles:
    """How insights read one dataset.

    Attributes
    ----------
    roles : dict or None
        The roles in use (None: not an orders table, skipped).
    stored : bool
        True when an analyst chose them; False when detected from the schema.
    enabled : bool
        False when an analyst turned the dataset off for insights.
    columns : dict of str to str
        ``{column: kind}`` of the dataset's newest version.
    """

    dataset_id: int
    dataset_name: str
    version_id: int | None
    roles: dict[str, Any] | None
    stored: bool
    enabled: bool
    columns: dict[str, str] = field(default_factory=dict)


def dataset_roles(principal: Principal) -> list[DatasetRoles]:
    """The roles insights use for each dataset of the tenant (stored or detected). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return _dataset_roles(s)


def _dataset_roles(s: Any) -> list[DatasetRoles]:
    stored = insight_store.insight_roles(s)
    out = []
    for d in store.list_datasets(s):
        if d.latest_version_id is None:
            continue
        version = store.get_dataset_version(s, d.latest_version_id)
        columns = {c["name"]: c["kind"] for c in version.column_schema}
        mine = stored.get(d.id)
        if mine and "date" in mine or (mine or {}).get("enabled") is False:
            enabled = bool(mine.get("enabled", True))
            roles = {k: mine.get(k) for k in ROLE_KEYS} if enabled else None
            out.append(DatasetRoles(d.id, d.name, version.id, roles, True, enabled, columns))
        else:
            out.append(DatasetRoles(d.id, d.name, version.id, detect_roles(version.column_schema), False, True,
                                    columns))
    return out


def set_dataset_roles(principal: Principal, dataset_id: int, roles: Mapping[str, Any] | None) -> DatasetRoles:
    """Store which columns insights read from a dataset, or with ``None`` go back to detection. Needs ``generate``.

    Parameters
    ----------
    roles : dict or None
        Keys of :data:`ROLE_KEYS` (``date`` and ``amount`` required) and
        ``enabled`` (False: do not use this dataset for insights).

    Raises
    ------
    ValidationError
        Naming the role whose column is missing or of the wrong kind.
    NotFound
        Outside the organization.
    """
    require(principal, "generate")
    with tenant_session(principal.tenant_id) as s:
        version = store.get_dataset_version(s, store.latest_dataset_version_id(s, dataset_id))
        columns = {c["name"]: c["kind"] for c in version.column_schema}
        checked = None if roles is None else _check_roles(roles, columns)
        table = (insight_store.insight_roles(s).get(dataset_id) or {}).get(TABLE_KEY)
        if table is not None:
            checked = {**(checked or {}), TABLE_KEY: table}
        insight_store.set_insight_roles(s, dataset_id, checked)
        return next(r for r in _dataset_roles(s) if r.dataset_id == dataset_id)


# ====================================================================== any table
@dataclass(frozen=True)
class TableRolesView:
    """The roles insights read a dataset with as a plain table, for the confirmation step.

    Attributes
    ----------
    roles : TableRoles
        The analyst's confirmed roles, else the proposal's (:meth:`RoleProposal.suggested`).
    confirmed : bool
        True once an analyst confirmed them.
    proposal : RoleProposal
        What inference makes of each column, with confidences and reasons.
    orders : bool
        The dataset is read as an orders table; its plain-table insights run only once confirmed.
    """

    dataset_id: int
    dataset_name: str
    version_id: int
    version: int
    roles: TableRoles
    confirmed: bool
    proposal: RoleProposal
    orders: bool


def _table_view(s: Any, rec: DatasetRoles, stored: Mapping[str, Any] | None) -> tuple[TableRolesView, Any]:
    version = store.get_dataset_version(s, rec.version_id)
    frame = store.load_dataset_frame(s, rec.version_id)
    proposal = infer_roles(frame, version.column_schema)
    mine = (stored or {}).get(TABLE_KEY)
    roles = parse_roles(mine) if mine else proposal.suggested()
    orders = rec.enabled and rec.roles is not None
    view = TableRolesView(rec.dataset_id, rec.dataset_name, version.id, version.version, roles, bool(mine),
                          proposal, orders)
    return view, frame


def table_views(s: Any) -> list[tuple[TableRolesView, Any]]:
    """``(view, typed frame)`` of each dataset insights read as a plain table (for :mod:`aihub.services.insight_sources`).

    Those are the enabled datasets that are not read as orders tables, and
    those whose table roles an analyst confirmed.
    """
    stored = insight_store.insight_roles(s)
    out = []
    for rec in _dataset_roles(s):
        mine = stored.get(rec.dataset_id) or {}
        if rec.version_id is None or not rec.enabled or (rec.roles is not None and not mine.get(TABLE_KEY)):
            continue
        out.append(_table_view(s, rec, mine))
    return out


def table_roles(principal: Principal, dataset_id: int) -> TableRolesView:
    """How insights read a dataset as a plain table: confirmed roles or the proposal. Needs ``read``.

    Raises
    ------
    NotFound
        Outside the organization, or the dataset has no version.
    """
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        store.latest_dataset_version_id(s, dataset_id)
        rec = next(r for r in _dataset_roles(s) if r.dataset_id == dataset_id)
        return _table_view(s, rec, insight_store.insight_roles(s).get(dataset_id))[0]


def set_table_roles(principal: Principal, dataset_id: int, roles: TableRoles | Mapping[str, Any] | None
                    ) -> TableRolesView:
    """Confirm the roles of a dataset's columns for insights on any table, or with None forget them.

    Needs ``generate``. The roles are checked against the dataset's newest
    version (every named column exists, measures and money are numeric, the
    outcome has 2 to 30 classes or is numeric).

    Parameters
    ----------
    roles : TableRoles or dict or None
        See :class:`aihub.insights.roles.TableRoles`: ``outcome``,
        ``positive``, ``date``, ``money`` (``{column: currency}``), ``units``,
        ``dimensions``, ``measures``, ``ignore``, ...

    Raises
    ------
    ValidationError
        Naming the role's path (``roles.outcome``, ``money.Income``) and what is allowed.
    NotFound
        Outside the organization.
    """
    require(principal, "generate")
    with tenant_session(principal.tenant_id) as s:
        version_id = store.latest_dataset_version_id(s, dataset_id)
        current = dict(insight_store.insight_roles(s).get(dataset_id) or {})
        if roles is None:
            current.pop(TABLE_KEY, None)
        else:
            checked = parse_roles(roles)
            name = next((d.name for d in store.list_datasets(s) if d.id == dataset_id), None)
            TableInput(store.load_dataset_frame(s, version_id), checked, dataset_id=dataset_id, dataset_name=name)
            current[TABLE_KEY] = checked.model_dump(mode="json")
        insight_store.set_insight_roles(s, dataset_id, current or None)
        rec = next(r for r in _dataset_roles(s) if r.dataset_id == dataset_id)
        return _table_view(s, rec, current)[0]


__all__ = [
    "ROLE_KEYS",
    "TABLE_KEY",
    "DatasetRoles",
    "TableRolesView",
    "dataset_roles",
    "detect_roles",
    "set_dataset_roles",
    "set_table_roles",
    "table_roles",
    "table_views",
]
