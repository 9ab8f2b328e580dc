"""Predictions: one row with reasons, a batch file as a job, history, outcomes (one or many)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from aihub.api.deps import Caller
from aihub.api.idempotency import Idem
from aihub.api.routers._common import JOB_LINKS, accepted, json_response, link, links, read_upload, sha256
from aihub.api.schemas import (
    ERRORS,
    Batch,
    Job,
    OutcomeIn,
    OutcomesIn,
    OutcomesOut,
    Page,
    PredictIn,
    PredictionOut,
    StoredPrediction,
)
from aihub.jsonsafe import plain
from aihub.services import batch_predictions, outcomes, predictions

router = APIRouter(tags=["predictions"], responses=ERRORS)
ModelId = Annotated[int, Path(ge=1, le=2**62, description="Model id")]
BatchId = Annotated[int, Path(ge=1, le=2**62, description="Batch id")]
PredictionId = Annotated[int, Path(ge=1, le=2**62, description="Prediction id")]


def stored(r) -> StoredPrediction:
    return StoredPrediction.model_validate({**r.__dict__, "input": plain(r.input), "output": plain(r.output)})


@router.post("/models/{model_id:int}/predictions", status_code=201, response_model=PredictionOut,
             summary="Predict one row, with its reasons",
             responses=links(201, GetPrediction=link("GET", "/predictions/{prediction_id}",
                                                     prediction_id="$response.body#/id")))
def predict(p: Caller, body: PredictIn, idem: Idem, model_id: ModelId) -> JSONResponse:
    """The champion (or the challenger, for its share) answers; SHAP reasons in ``contributions`` and
    ``explanation``. An identical input on the same version is answered from the stored prediction
    (``cache_hit``). Needs ``ai_analytics:predict``."""
    def work() -> JSONResponse:
        out = predictions.predict_one(p, model_id, body.values, explain=body.explain)
        data = {k: v for k, v in out.__dict__.items() if k in PredictionOut.model_fields}
        return json_response(PredictionOut.model_validate(plain(data)), 201, f"/api/v1/predictions/{out.id}")

    return idem.run(f"POST /models/{model_id}/predictions", body.model_dump(mode="json"), work)


@router.get("/models/{model_id:int}/predictions", response_model=Page[StoredPrediction], summary="Prediction history")
def history(p: Caller, model_id: ModelId,
            single_only: Annotated[bool, Query(description="Leave out batch rows")] = False,
            cursor: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Page[StoredPrediction]:
    page = predictions.page_predictions(p, model_id, cursor=cursor, limit=limit, single_only=single_only)
    return Page[StoredPrediction](items=[stored(r) for r in page.items], next_cursor=page.next_cursor)


@router.post("/models/{model_id:int}/batches", status_code=202, response_model=Job,
             summary="Predict a file of rows as a job", responses=links(202, **JOB_LINKS))
def batch(p: Caller, idem: Idem, model_id: ModelId,
          file: Annotated[UploadFile, File(description="CSV, Excel or JSON rows")],
          explain: Annotated[bool, Form()] = False) -> JSONResponse:
    """Answers 202 with the job; when it succeeded its ``result.batch_id`` names the batch
    (``/api/v1/predictions/batches/{id}``, results as CSV at ``.../results.csv``). Needs ``ai_analytics:predict``."""
    filename, data = read_upload(file)
    return idem.run(f"POST /models/{model_id}/batches", [filename, sha256(data), explain],
                    lambda: accepted(batch_predictions.submit_batch(p, model_id, filename, data, explain=explain)))


@router.get("/predictions/batches/{batch_id:int}", response_model=Batch, summary="One batch: counts and failed rows")
def get_batch(p: Caller, batch_id: BatchId) -> Batch:
    return Batch.model_validate(plain_batch(batch_predictions.get_batch(p, batch_id)))


def plain_batch(b):
    return {**b.__dict__, "errors": plain(b.errors)}


@router.get("/predictions/batches/{batch_id:int}/results.csv", summary="A batch's results as CSV",
            responses={200: {"content": {"text/csv": {}}, "description": "One row per input row"}})
def batch_csv(p: Caller, batch_id: BatchId) -> Response:
    from aihub import exports

    return Response(exports.to_csv_bytes(batch_predictions.batch_results(p, batch_id)), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="batch-{batch_id}.csv"'})


@router.get("/predictions/{prediction_id:int}", response_model=StoredPrediction, summary="One stored prediction")
def get_prediction(p: Caller, prediction_id: PredictionId) -> StoredPrediction:
    return stored(predictions.get_prediction(p, prediction_id))


@router.put("/predictions/{prediction_id:int}/outcome", response_model=StoredPrediction,
            summary="Record what actually happened")
def outcome(p: Caller, body: OutcomeIn, prediction_id: PredictionId) -> StoredPrediction:
    """Needs ``ai_analytics:feedback``."""
    return stored(outcomes.record_outcome(p, prediction_id, body.actual))


@router.post("/predictions/outcomes", response_model=OutcomesOut, summary="Record many outcomes")
def record_outcomes(p: Caller, body: OutcomesIn) -> OutcomesOut:
    """Pairs that cannot be recorded are listed by position in ``errors``; the others are stored.
    Needs ``ai_analytics:feedback``."""
    out = outcomes.record_outcome_list(p, [(o.prediction_id, o.actual) for o in body.outcomes])
    return OutcomesOut(updated=out.updated, errors=plain(out.errors))
