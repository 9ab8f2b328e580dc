"""Batch predictions: every row of an uploaded file predicted and stored with one bulk insert.

Rows that fail validation are reported by row and file line and stored
with their error; warnings (an unseen category, a number that is text) are
kept per row and counted by kind for the screen (:attr:`BatchOutcome.warning_counts`).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aihub import exports, ingest, ml
from aihub.auth import Principal, require
from aihub.config import load_settings
from aihub.db import prediction_store as ps
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import NotFound, ValidationError
from aihub.jsonsafe import plain
from aihub.ml.predict import prepare_input
from aihub.services import jobs, model_cache, usage
from aihub.services import predictions as serving

#: Failed rows kept with a batch (all are counted).
MAX_BATCH_ERRORS = 1000

_ROW_RE = re.compile(r"\brow \d+:")
_SPLIT_RE = re.compile(r";\s*(?=row \d+:)")
_PREFIX_RE = re.compile(r"^row \d+:\s*")


def count_by_kind(messages: pd.Series) -> list[dict[str, Any]]:
    """Row messages (``"row 3: x = 'none' was not seen in training; ..."``) counted by what they say.

    Returns
    -------
    list of dict
        ``{"message", "rows", "first_row"}``, most frequent first; a message
        is the text after its ``row N:`` prefix.
    """
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for row, text in messages.dropna().items():
        for part in _SPLIT_RE.split(str(text)):
            msg = _PREFIX_RE.sub("", part).strip()
            if msg:
                counts[msg] += 1
                first.setdefault(msg, int(row))
    return [{"message": m, "rows": n, "first_row": first[m]} for m, n in counts.most_common()]


@dataclass(frozen=True)
class BatchOutcome:
    """Result of :func:`predict_batch`.

    Attributes
    ----------
    batch : BatchRecord
        Counts, failed rows and seconds as stored.
    results : pandas.DataFrame
        One row per input row (per customer for orders input), in input
        order: ``prediction_id``, ``row``, the input columns, the outputs
        (``prediction``, ``probability``, ``confidence``, ... see
        :func:`aihub.ml.predict`), ``served_by``, ``version``, ``error`` and
        ``warning``.
    errors : list of dict
        ``{"row", "line", "message"}`` of every row that failed validation;
        ``line`` is the line of the file (header = 1), None for orders input.
    warning_counts : list of dict
        Warnings counted by kind (:func:`count_by_kind`).
    label : str
        Name of the ``probability`` column's score (``"P(bad)"``).
    """

    batch: ps.BatchRecord
    results: pd.DataFrame
    errors: list[dict[str, Any]]
    warning_counts: list[dict[str, Any]]
    label: str = ""

    def csv(self) -> bytes:
        """The results as CSV bytes (UTF-8)."""
        return exports.to_csv_bytes(self.results)


def _parts(principal: Principal, info: ps.ServingInfo, frame: pd.DataFrame
           ) -> tuple[list[tuple[str, int, int, ml.TrainedModel, pd.DataFrame]], pd.DataFrame, ml.TrainedModel, bool]:
    """Rows per serving version: ``(parts, frame, champion, orders_input)``."""
    served, vid, number = serving.route(info)
    champion = model_cache.load(principal.tenant_id, info.active_version_id)
    if champion.config.data_prep is not None:
        model = champion if served == "champion" else model_cache.load(principal.tenant_id, vid)
        frame = prepare_input(model, frame).reset_index(drop=True)
        return [(served, vid, number, model, frame)], frame, champion, True
    share = info.challenger_share if info.challenger_version_id is not None else 0.0
    to_challenger = (np.asarray([serving._rng.random() < share for _ in range(len(frame))], dtype=bool)
                     if share > 0 else np.zeros(len(frame), dtype=bool))
    parts = [("champion", info.active_version_id, info.active_version, champion, frame[~to_challenger])]
    if to_challenger.any():
        challenger = model_cache.load(principal.tenant_id, info.challenger_version_id)
        parts.append(("challenger", info.challenger_version_id, info.challenger_version, challenger,
                      frame[to_challenger]))
    return parts, frame, champion, False


def _columns(result: pd.DataFrame, frame: pd.DataFrame, task: str, out_cols: list[str], per_row_ms: float
             ) -> dict[str, list]:
    inputs = frame.to_json(orient="records", lines=True, date_format="iso").splitlines() if len(frame) else []
    outputs = result[out_cols].to_json(orient="records", lines=True, date_format="iso").splitlines()
    if task == "clustering":
        preds = result["segment"]
    elif task == "regression":
        preds = result["prediction"].map(lambda v: "" if v is None or pd.isna(v) else repr(float(v)))
    else:
        preds = result["prediction"]
    preds = ["" if p is None or (isinstance(p, float) and math.isnan(p)) else str(p) for p in preds]

    def floats(col: str) -> list[float | None]:
        if col not in result.columns:
            return [None] * len(result)
        return [None if pd.isna(v) else float(v) for v in result[col].to_numpy(dtype=float, na_value=np.nan)]

    n = len(result)
    return {
        "model_version_id": result["model_version_id"].astype(int).tolist(),
        "served_by": result["served_by"].tolist(), "row_number": result["row"].astype(int).tolist(),
        "input": inputs, "input_hash": [hashlib.sha256(x.encode()).hexdigest() for x in inputs],
        "output": outputs, "prediction": preds, "probability": floats("probability"),
        "confidence": floats("confidence"), "latency_ms": [per_row_ms] * n, "cache_hit": [False] * n,
        "error": [None if pd.isna(e) else str(e) for e in result["error"]],
    }


def predict_batch(principal: Principal, model_id: int, filename: str, data: bytes, *, explain: bool = False
                  ) -> BatchOutcome:
    """Predict every row of an uploaded file and store each result. Needs ``predict``.

    Rows that fail validation are reported by row number (and file line)
    and stored with their error; the rest are predicted. With a challenger,
    each row is served by it with probability ``challenger_share``
    (models built from an orders table, RFM and customer value, serve a whole
    batch from one version, since their rows become customers). All rows are
    stored with one bulk ``INSERT ... SELECT FROM unnest``.

    Parameters
    ----------
    filename : str
        Its extension picks the reader (CSV, Excel, JSON; see :func:`aihub.ingest.read_upload`).
    data : bytes
    explain : bool, default False
        Add a one-sentence explanation and the top contributions per row
        (slower: SHAP for every row).

    Returns
    -------
    BatchOutcome

    Raises
    ------
    IngestError
        The file cannot be read.
    ValidationError
        The file lacks columns the model needs (all are named).
    """
    require(principal, "predict")
    usage.record(principal, "predict", "batch")
    store_batch = _prepare(principal, model_id, filename, data, explain=explain)
    with tenant_session(principal.tenant_id) as s:
        return store_batch(s)


def _prepare(principal: Principal, model_id: int, filename: str, data: bytes, *, explain: bool
             ) -> Callable[[Any], BatchOutcome]:
    """Read and predict a batch file; the returned step stores every row (one bulk insert) in a session."""
    t0 = time.perf_counter()
    parsed = ingest.read_upload(filename, data, max_bytes=load_settings().max_upload_bytes)
    with tenant_session(principal.tenant_id) as s:
        info = ps.serving_info(s, model_id)
    parts, frame, champion, orders = _parts(principal, info, parsed.frame)
    lines: list[int] | None = None if orders else (parsed.row_numbers or list(range(2, len(frame) + 2)))
    if frame.empty:
        raise ValidationError(f"{filename} has no rows to predict.", field="file")
    outs = []
    for served_by, version_id, version_number, model, sub in parts:
        if len(sub) == 0:
            continue
        out = ml.predict(model, sub, explain=explain)
        out["served_by"], out["model_version_id"], out["version"] = served_by, version_id, version_number
        outs.append(out)
    result = pd.concat(outs).sort_index() if len(outs) > 1 else outs[0]
    result["row"] = np.arange(1, len(result) + 1)
    for col in ("error", "warning"):  # messages number rows within each version's share; renumber them
        has = result[col].notna().to_numpy()
        if has.any():
            result.loc[has, col] = [_ROW_RE.sub(f"row {r}:", m) for r, m in
                                    zip(result.loc[has, "row"], result.loc[has, col])]
    meta = ["row", "served_by", "model_version_id", "version", "error", "warning"]
    out_cols = [c for c in result.columns if c not in meta and c != "customer"]
    failed = result["error"].notna().to_numpy()
    errors = [{"row": int(r), "line": (lines[int(r) - 1] if lines else None), "message": m}
              for r, m in zip(result.loc[failed, "row"], result.loc[failed, "error"])]
    n = len(result)
    columns = _columns(result, frame, champion.task, out_cols, (time.perf_counter() - t0) * 1000 / n)

    def store_batch(s) -> BatchOutcome:
        batch_id = ps.add_batch(s, tenant_id=principal.tenant_id, model_id=model_id, filename=filename,
                                rows_total=n, rows_predicted=int(n - failed.sum()), rows_failed=int(failed.sum()),
                                errors=plain(errors[:MAX_BATCH_ERRORS]), seconds=0.0, user_id=principal.user_id)
        ids = {r: i for i, r in serving.insert(s, principal, model_id, columns, batch_id)}
        ps.set_batch_seconds(s, batch_id, time.perf_counter() - t0)
        batch = ps.get_batch(s, batch_id)
        inputs_frame = frame.reset_index(drop=True)
        clash = [c for c in inputs_frame.columns if c in out_cols or c in meta or c == "prediction_id"]
        inputs_frame = inputs_frame.rename(columns={c: f"input_{c}" for c in clash})
        tidy = result.reset_index(drop=True)
        download = pd.concat(
            [pd.DataFrame({"prediction_id": [ids[int(r)] for r in tidy["row"]], "row": tidy["row"]}), inputs_frame,
             tidy[out_cols + ["served_by", "version", "error", "warning"]]],
            axis=1,
        )
        warnings = count_by_kind(pd.Series(tidy["warning"].to_numpy(), index=tidy["row"].to_numpy()))
        return BatchOutcome(batch, download, errors, warnings, champion.output_label)

    return store_batch


#: Job kind of a batch prediction submitted to run in the background (the HTTP API's batch route).
BATCH_KIND = "batch_predict"


def submit_batch(principal: Principal, model_id: int, filename: str, data: bytes, *, explain: bool = False,
                 run: bool = True) -> store.JobRecord:
    """Queue a batch prediction as a job (like training: poll it, cancel it). Needs ``predict``.

    The file is read now, so an unreadable file is refused at once naming
    the file, column and row; the rows are predicted by the job and stored
    in one transaction when it finishes (a cancelled or failed job stores
    none). The finished job's payload holds ``batch_id``, ``rows_total`` and
    ``rows_failed``; the file's bytes are dropped from it then.

    Raises
    ------
    IngestError
        The file cannot be read.
    ValidationError
        The model is not a predictive model.
    NotFound
        No such model in the caller's organization, or it has no deployed version.
    """
    require(principal, "predict")
    ingest.read_upload(filename, data, max_bytes=load_settings().max_upload_bytes)
    with tenant_session(principal.tenant_id) as s:
        info = ps.serving_info(s, model_id)
    serving.route(info)
    payload = {"filename": filename, "data": base64.b64encode(data).decode(), "explain": bool(explain),
               "user_id": principal.user_id}
    return jobs.submit(principal.tenant_id, model_id, BATCH_KIND, payload, principal.user_id, run=run)


@jobs.register(BATCH_KIND)
def _batch_job(job: store.JobRecord, control: jobs.JobControl) -> jobs.Persist:
    """Job handler: predict the file as the user who submitted it; the returned step stores the rows."""
    from aihub.auth import acting_principal

    user_id = job.payload.get("user_id")
    principal = acting_principal(control.tenant_id, user_id)
    if user_id is None or principal.user_id != user_id:
        raise NotFound("The user who submitted this batch is no longer active; nothing was predicted.")
    control.progress(0.05, "Predicting the rows")
    require(principal, "predict")
    usage.record(principal, "predict", "batch")
    store_batch = _prepare(principal, job.model_id, job.payload["filename"], base64.b64decode(job.payload["data"]),
                           explain=bool(job.payload.get("explain")))
    control.progress(0.9, "Storing the predictions")

    def persist(s) -> None:
        out = store_batch(s)
        store.update_job(s, job.id, payload={"filename": job.payload["filename"], "batch_id": out.batch.id,
                                             "rows_total": out.batch.rows_total, "rows_failed": out.batch.rows_failed,
                                             "user_id": user_id})

    return persist


def get_batch(principal: Principal, batch_id: int) -> ps.BatchRecord:
    """One batch prediction's counts and failed rows. Needs ``read``. Raises NotFound outside the tenant."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return ps.get_batch(s, batch_id)


def list_batches(principal: Principal, model_id: int | None = None, limit: int = 20) -> list[ps.BatchRecord]:
    """Latest batch predictions, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return ps.list_batches(s, model_id, limit)


def batch_results(principal: Principal, batch_id: int) -> pd.DataFrame:
    """A stored batch's rows again (for download later): id, row, inputs, outputs, version, error. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        ps.get_batch(s, batch_id)
        rows = ps.batch_rows(s, batch_id)
    if not rows:
        return pd.DataFrame(columns=["prediction_id", "row"])
    inputs = pd.DataFrame([r[4] for r in rows])
    outputs = pd.DataFrame([r[5] for r in rows])
    inputs = inputs.rename(columns={c: f"input_{c}" for c in inputs.columns if c in outputs.columns})
    head = pd.DataFrame({"prediction_id": [r[0] for r in rows], "row": [r[1] for r in rows]})
    tail = pd.DataFrame({"served_by": [r[2] for r in rows], "version": [r[3] for r in rows],
                         "error": [r[6] for r in rows]})
    return pd.concat([head, inputs, outputs, tail], axis=1)
