"""Forecasts: the active (or a chosen) version's forecast as JSON or CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from aihub.api.deps import Caller
from aihub.api.schemas import ERRORS, ForecastOut, ForecastPoint
from aihub.jsonsafe import plain
from aihub.services import forecasts as forecast_service

router = APIRouter(prefix="/forecasts", tags=["forecasts"], responses=ERRORS)
ModelId = Path(ge=1, le=2**62, description="Forecast model id")
VersionQ = Query(ge=1, le=2**62, description="Version id; default the deployed one")


@router.get("/{model_id:int}", response_model=ForecastOut, summary="The forecast with its 80 % and 95 % bands")
def forecast(p: Caller, model_id: int = ModelId, version_id: Annotated[int | None, VersionQ] = None) -> ForecastOut:
    """Periods ``ds`` with ``yhat`` and the bands; ``actuals`` are values that fell inside the horizon since."""
    view = forecast_service.forecast_view(p, model_id, version_id)
    points = [ForecastPoint.model_validate(plain({**r, "ds": str(r["ds"])[:19]}))
              for r in view.forecast.to_dict(orient="records")]
    actuals = plain([{"ds": str(r["ds"])[:19], "y": r["y"]} for r in view.actuals.to_dict(orient="records")])
    return ForecastOut(model_id=model_id, version_id=view.version.id, version=view.version.version,
                       algorithm=view.version.algorithm, freq=getattr(view.spec, "freq", None),
                       horizon=getattr(view.spec, "horizon", None), metrics=plain(view.version.metrics),
                       points=points, actuals=actuals)


@router.get("/{model_id:int}/forecast.csv", summary="The forecast as CSV",
            responses={200: {"content": {"text/csv": {}}, "description": "ds, yhat and the bounds"}})
def forecast_csv(p: Caller, model_id: int = ModelId, version_id: Annotated[int | None, VersionQ] = None
                 ) -> Response:
    return Response(forecast_service.forecast_csv(p, model_id, version_id), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="forecast-{model_id}.csv"'})
