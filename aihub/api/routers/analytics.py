"""Analytics (issue 15) for other systems: recommendations per customer, "also bought", each analytic's result
table, and next best actions per at-risk customer of a deployed churn model.

Routes only call :mod:`aihub.services.analytics` and :mod:`aihub.services.analytics_results`, which check the
permission and run in the caller's organization (another organization's id is 404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field

from aihub.api.deps import Caller
from aihub.api.routers.models import Cursor, Limit, model_out
from aihub.api.schemas import ERRORS, Body, Model, ModelOut, Page
from aihub.errors import ValidationError
from aihub.jsonsafe import plain
from aihub.paging import paginate
from aihub.services import analytics, analytics_results
from aihub.services.analytics_specs import KINDS

router = APIRouter(tags=["analytics"], responses=ERRORS)
AnalyticId = Path(ge=1, le=2**62, description="Analytic (model) id")
ModelId = Path(ge=1, le=2**62, description="A deployed binary classification (churn) model's id")
VersionQ = Query(ge=1, le=2**62, description="Version id; default the deployed one")
KindQ = Query(pattern="^(" + "|".join(KINDS) + ")$", description="Only analytics of this kind")
#: Result tables an analytic kind answers with at ``/analytics/{id}/results``.
RESULT_TABLES = {"pricing": analytics_results.price_table, "inventory": analytics_results.inventory_policy,
                 "clv": analytics_results.clv_table}


class Rows(Model):
    """Rows of a result table; each row's keys are the table's columns."""

    analytic_id: int
    columns: list[str]
    rows: list[dict[str, Any]]


class NextBestActionsIn(Body):
    dataset_id: int = Field(ge=1, le=2**62, description="The customers to score (newest version)")
    actionable: dict[str, list[Any] | None] = Field(
        min_length=1, max_length=50, description="Feature -> allowed values (null: any value seen in training)")
    risk_threshold: float = Field(0.5, gt=0, lt=1, description="Customers at or above this risk get actions")
    max_actions: int = Field(3, ge=1, le=10)


def _rows(analytic_id: int, frame) -> Rows:
    return Rows(analytic_id=analytic_id, columns=[str(c) for c in frame.columns],
                rows=plain(frame.to_dict(orient="records")))


@router.get("/analytics", response_model=Page[ModelOut], summary="Analytics of the organization")
def list_analytics(p: Caller, kind: Annotated[str | None, KindQ] = None, cursor: str | None = Cursor,
                   limit: int = Limit) -> Page[ModelOut]:
    page = paginate(analytics.list_analytics(p, kind), cursor, limit)
    return Page[ModelOut](items=[model_out(m) for m in page.items], next_cursor=page.next_cursor)


@router.get("/analytics/{analytic_id:int}/recommendations", response_model=Rows,
            summary="Top products a customer has not bought, with score and reason")
def recommendations(p: Caller, analytic_id: int = AnalyticId,
                    customer: Annotated[str, Query(min_length=1, max_length=200)] = ...,
                    k: Annotated[int, Query(ge=1, le=100)] = 10,
                    version_id: Annotated[int | None, VersionQ] = None) -> Rows:
    """An unknown customer gets the popular products (``source`` = popularity)."""
    return _rows(analytic_id, analytics_results.recommendations_for(p, analytic_id, customer, k=k,
                                                                   version_id=version_id))


@router.get("/analytics/{analytic_id:int}/also-bought", response_model=Rows,
            summary="Customers who bought this product also bought")
def also_bought(p: Caller, analytic_id: int = AnalyticId,
                product: Annotated[str, Query(min_length=1, max_length=200)] = ...,
                k: Annotated[int, Query(ge=1, le=100)] = 10,
                version_id: Annotated[int | None, VersionQ] = None) -> Rows:
    return _rows(analytic_id, analytics_results.also_bought(p, analytic_id, product, k=k, version_id=version_id))


@router.get("/analytics/{analytic_id:int}/results", response_model=Rows,
            summary="Result table of a pricing, inventory or customer-value analytic")
def results(p: Caller, analytic_id: int = AnalyticId,
            version_id: Annotated[int | None, VersionQ] = None) -> Rows:
    """Pricing: elasticity with its interval and the recommended price per product; inventory: safety stock,
    reorder point, order quantity and stock-out risk per product; customer value: BG/NBD and Gamma-Gamma
    figures per customer. Recommendations answer per customer at ``/recommendations``."""
    model = analytics.get_analytic(p, analytic_id)
    table = RESULT_TABLES.get(model.kind)
    if table is None:
        raise ValidationError(f"'{model.name}' is a {model.kind} analytic; result tables exist for "
                              f"{', '.join(RESULT_TABLES)}.", field="analytic_id")
    return _rows(analytic_id, table(p, analytic_id, version_id=version_id))


@router.post("/models/{model_id:int}/next-best-actions", response_model=Rows,
             summary="Suggested actions for each at-risk customer, with the model's risk before and after")
def next_best_actions(body: NextBestActionsIn, p: Caller, model_id: int = ModelId) -> Rows:
    """Each risk is a model estimate from re-scoring the customer with the feature changed, not a promise."""
    return _rows(model_id, analytics_results.next_best_actions(
        p, model_id, body.dataset_id, body.actionable, risk_threshold=body.risk_threshold,
        max_actions=body.max_actions))
