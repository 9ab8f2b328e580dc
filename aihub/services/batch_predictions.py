"""Batch predictions: a file read, validated, predicted and stored in chunks of rows, with bounded memory.

A CSV is read in chunks (:func:`aihub.ingest.iter_table_chunks`, 20,000 rows
by default); each chunk is validated and predicted in one vectorised call
(:func:`prepare_chunk`) and handed to a writer thread that bulk-loads it with
binary ``COPY`` into a temporary staging table and moves it into
``prediction_results`` with ``INSERT ... SELECT`` under row-level security,
while the next chunk is predicted (PostgreSQL inserts on one core, Python
predicts on the other), and a reader thread parses the chunk after
(:class:`_Prefetch`; pyarrow parses without the GIL). All chunks and the batch's record are written in ONE
transaction: a failure anywhere leaves no row behind (and no ``running``
record: nobody sees the batch before its commit), and the batch is recorded
as failed with its reason (:func:`predict_batch`).

:func:`score_chunk` is the unit a distributed executor calls per partition:
it takes a tenant, the serving versions and a frame, and writes through the
app role in the tenant's session (its own transaction when it is not given
one); :func:`abandon_batch` removes a batch's rows when a partition fails.

Rows that fail validation are reported by row and file line and stored
with their error; warnings (an unseen category, a number that is text) are
kept per row and counted by kind for the screen (:attr:`BatchOutcome.warning_counts`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import math
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from aihub import exports, ingest, ml
from aihub.auth import Principal, require
from aihub.config import load_settings
from aihub.db import prediction_store as ps
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import DatabaseError, NotFound, ValidationError
from aihub.jsonsafe import plain
from aihub.ml.predict import prepare_input
from aihub.services import jobs, model_cache, usage
from aihub.services import predictions as serving

log = logging.getLogger(__name__)

#: Failed rows kept with a batch (all are counted).
MAX_BATCH_ERRORS = 1000
#: Rows validated, predicted and stored at a time (small enough that storing chunk k overlaps predicting k + 1,
#: large enough that per-chunk costs stay small).
CHUNK_ROWS = 20_000
#: The first chunk's first rows are predicted and handed to the writer on their own, so that storing starts
#: after a fifth of a chunk's prediction instead of a whole one (the writer is idle until its first chunk).
FIRST_PIECE_ROWS = 4_000
#: The last chunk is predicted and stored in pieces of this many rows, so that little is left to store once
#: the last row is predicted.
LAST_PIECE_ROWS = 5_000

_ROW_RE = re.compile(r"\brow \d+:")
_SPLIT_RE = re.compile(r";\s*(?=row \d+:)")
_PREFIX_RE = re.compile(r"^row \d+:\s*")
#: Output columns with a typed column of their own (the rest go to the ``output`` JSONB).
_TYPED_OUTPUTS = ("probability", "confidence", "positive_class")
_META = ("row", "served_by", "model_version_id", "version", "error", "warning")


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


def _merge_counts(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two :func:`count_by_kind` results added up (first rows kept at their minimum)."""
    merged: dict[str, dict[str, Any]] = {w["message"]: dict(w) for w in a}
    for w in b:
        if w["message"] in merged:
            m = merged[w["message"]]
            m["rows"] += w["rows"]
            m["first_row"] = min(m["first_row"], w["first_row"])
        else:
            merged[w["message"]] = dict(w)
    return sorted(merged.values(), key=lambda w: (-w["rows"], w["first_row"]))


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
        ``warning``. Empty when the caller asked not to keep them
        (``keep_results=False``; :func:`batch_results` reads them back).
    errors : list of dict
        ``{"row", "line", "message"}`` of every row that failed validation
        (the first :data:`MAX_BATCH_ERRORS` per chunk); ``line`` is the line
        of the file (header = 1), None for orders input.
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


@dataclass
class ChunkResult:
    """What :func:`score_chunk` did with one chunk.

    Attributes
    ----------
    rows, failed : int
        Rows staged or stored, of which failed validation.
    errors : list of dict
        ``{"row", "line", "message"}`` of failed rows (at most :data:`MAX_BATCH_ERRORS`).
    warning_counts : list of dict
        :func:`count_by_kind` of the chunk's warnings.
    label : str
        The score's name.
    seconds : float
        Time spent in :func:`score_chunk`.
    frame : pandas.DataFrame or None
        The download rows (without ``prediction_id``) when asked for.
    """

    rows: int
    failed: int
    errors: list[dict[str, Any]]
    warning_counts: list[dict[str, Any]]
    label: str
    seconds: float
    frame: pd.DataFrame | None = None


@dataclass
class _Totals:
    rows: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    frames: list[pd.DataFrame] = field(default_factory=list)
    label: str = ""

    def add(self, res: ChunkResult) -> None:
        self.rows += res.rows
        self.failed += res.failed
        self.errors.extend(res.errors[:max(0, MAX_BATCH_ERRORS - len(self.errors))])
        self.warnings = _merge_counts(self.warnings, res.warning_counts)
        self.label = res.label or self.label
        if res.frame is not None:
            self.frames.append(res.frame)


def _split(info: ps.ServingInfo, tenant_id: int, frame: pd.DataFrame,
           models: Mapping[int, ml.TrainedModel] | None = None
           ) -> tuple[list[tuple[str, int, int, ml.TrainedModel, pd.DataFrame]], ml.TrainedModel, pd.DataFrame]:
    """The chunk's rows per serving version (a challenger takes each row with its share), and the rows predicted.

    Orders input of a customer model becomes one row per customer (the rows stored as inputs). ``models``
    (version id -> model) are used before the model cache (a Dask worker is handed them with its task).
    """
    def load(version_id: int) -> ml.TrainedModel:
        return models[version_id] if models and version_id in models else model_cache.load(tenant_id, version_id)

    champion = load(info.active_version_id)
    share = info.challenger_share if info.challenger_version_id is not None else 0.0
    if champion.config.data_prep is not None:  # orders in, customers out: one version serves the whole batch
        served, vid, number = serving.route(info)
        model = champion if served == "champion" else load(vid)
        frame = prepare_input(model, frame).reset_index(drop=True)
        return [(served, vid, number, model, frame)], champion, frame
    to_challenger = (np.asarray([serving._rng.random() < share for _ in range(len(frame))], dtype=bool)
                     if share > 0 else np.zeros(len(frame), dtype=bool))
    parts = [("champion", info.active_version_id, info.active_version, champion, frame[~to_challenger])]
    if to_challenger.any():
        challenger = load(info.challenger_version_id)
        parts.append(("challenger", info.challenger_version_id, info.challenger_version, challenger,
                      frame[to_challenger]))
    return parts, champion, frame


def _predict_parts(parts: list, explain: bool, first_row: int) -> pd.DataFrame:
    outs = []
    for served_by, version_id, version_number, model, sub in parts:
        if len(sub) == 0:
            continue
        out = ml.predict(model, sub, explain=explain)
        out["served_by"], out["model_version_id"], out["version"] = served_by, version_id, version_number
        outs.append(out)
    result = pd.concat(outs).sort_index() if len(outs) > 1 else outs[0]
    result["row"] = np.arange(first_row, first_row + len(result))
    for col in ("error", "warning"):  # messages number rows within each version's share; renumber them
        has = result[col].notna().to_numpy()
        if has.any():
            result.loc[has, col] = [_ROW_RE.sub(f"row {r}:", m) for r, m in
                                    zip(result.loc[has, "row"], result.loc[has, col])]
    return result


def _texts(values: Iterable[Any]) -> list[str | None]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else str(v) for v in values]


def _stage_columns(result: pd.DataFrame, frame: pd.DataFrame, task: str, out_cols: list[str]) -> dict[str, Any]:
    """The chunk as staging columns (:data:`aihub.db.prediction_store.STAGE_COLUMNS`)."""
    n = len(result)
    inputs = frame.to_json(orient="records", lines=True, date_format="iso").splitlines() if len(frame) else []
    extra = [c for c in out_cols if c not in _TYPED_OUTPUTS and (c != "prediction" or task == "regression")]
    outputs = (result[extra].to_json(orient="records", lines=True, date_format="iso").splitlines()
               if extra else [None] * n)
    if task == "clustering":
        preds = result["segment"]
    elif task == "regression":
        preds = pd.Series([repr(float(v)) if pd.notna(v) else "" for v in result["prediction"]], index=result.index)
    else:
        preds = result["prediction"]
    floats = {c: (result[c].to_numpy(dtype=float, na_value=np.nan) if c in result.columns else np.full(n, np.nan))
              for c in ("probability", "confidence")}
    return {
        "model_version_id": result["model_version_id"].to_numpy(dtype=np.int64),
        "served_by": result["served_by"].tolist(), "row_number": result["row"].to_numpy(dtype=np.int64),
        "input": inputs, "input_hash": [hashlib.sha256(x.encode()).hexdigest() for x in inputs],
        "output": outputs, "prediction": [p or "" for p in _texts(preds)],
        "probability": floats["probability"], "confidence": floats["confidence"],
        "warning": _texts(result["warning"]), "error": _texts(result["error"]),
    }


def _download(result: pd.DataFrame, frame: pd.DataFrame, out_cols: list[str]) -> pd.DataFrame:
    inputs = frame.reset_index(drop=True)
    clash = [c for c in inputs.columns if c in out_cols or c in _META or c == "prediction_id"]
    inputs = inputs.rename(columns={c: f"input_{c}" for c in clash})
    tidy = result.reset_index(drop=True)
    return pd.concat([tidy[["row"]], inputs, tidy[out_cols + ["served_by", "version", "error", "warning"]]], axis=1)


def prepare_chunk(tenant_id: int, info: ps.ServingInfo, chunk: pd.DataFrame, *, first_row: int = 1,
                  lines: np.ndarray | None = None, explain: bool = False, keep_frame: bool = False,
                  models: Mapping[int, ml.TrainedModel] | None = None) -> tuple[ChunkResult, dict[str, Any]]:
    """Validate and predict one chunk: its counts, and its rows as staging columns (nothing is written).

    Parameters are those of :func:`score_chunk`.

    Returns
    -------
    (ChunkResult, dict of str to sequence)
        The chunk's counts (``seconds`` is the time spent here) and one
        equally long sequence per key of :data:`aihub.db.prediction_store.STAGE_COLUMNS`,
        ready for :func:`aihub.db.prediction_store.copy_to_stage`.

    Raises
    ------
    ValidationError
        The chunk lacks feature columns (all are named).
    """
    t0 = time.perf_counter()
    parts, champion, rows = _split(info, tenant_id, chunk, models)
    result = _predict_parts(parts, explain, first_row)
    out_cols = [c for c in result.columns if c not in _META and c != "customer"]
    columns = _stage_columns(result, rows, champion.task, out_cols)
    failed = result["error"].notna().to_numpy()
    rel = result.loc[failed, "row"].to_numpy() - first_row
    errors = [{"row": int(first_row + r), "line": (int(lines[r]) if lines is not None and r < len(lines) else None),
               "message": m} for r, m in zip(rel[:MAX_BATCH_ERRORS], result.loc[failed, "error"][:MAX_BATCH_ERRORS])]
    warnings = count_by_kind(pd.Series(result["warning"].to_numpy(), index=result["row"].to_numpy()))
    res = ChunkResult(len(result), int(failed.sum()), errors, warnings, champion.output_label,
                      time.perf_counter() - t0, _download(result, rows, out_cols) if keep_frame else None)
    return res, columns


def score_chunk(tenant_id: int, info: ps.ServingInfo, chunk: pd.DataFrame, *, batch_id: int | None = None,
                first_row: int = 1, lines: np.ndarray | None = None, explain: bool = False,
                session: Any = None, keep_frame: bool = False,
                models: Mapping[int, ml.TrainedModel] | None = None) -> ChunkResult:
    """Validate, predict and stage (or store) one chunk of a batch. The unit of work of one partition.

    Parameters
    ----------
    tenant_id : int
        The tenant whose model serves and whose rows are written (row-level security).
    info : ServingInfo
        The model's champion, challenger and share (:func:`aihub.db.prediction_store.serving_info`);
        a frozen, picklable record, so it can travel to a worker.
    chunk : pandas.DataFrame of shape (n_rows, n_columns)
        Input rows as read (text cells), holding the model's feature columns.
    batch_id : int, optional
        Without ``session``: the batch (already recorded) the rows are stored
        under, in a transaction of their own.
    first_row : int, default 1
        Row number (1-based, within the whole batch) of the chunk's first row.
    lines : ndarray of int, optional
        File line of each row, for error reports.
    explain : bool, default False
        Add SHAP explanations per row (slow).
    session : Session, optional
        A tenant session holding an open stage (:func:`aihub.db.prediction_store.open_stage`):
        the rows are staged there for the caller's final insert. Without it
        the rows are stored at once under ``batch_id``.
    keep_frame : bool, default False
        Return the chunk's download rows too.
    models : mapping of int to TrainedModel, optional
        The serving versions' models by version id, used instead of loading them (a Dask worker has no
        connection of its own to load them with before its tenant session).

    Returns
    -------
    ChunkResult

    Raises
    ------
    ValidationError
        The chunk lacks feature columns (all are named).
    DatabaseError
        The rows could not be written.
    """
    t0 = time.perf_counter()
    res, columns = prepare_chunk(tenant_id, info, chunk, first_row=first_row, lines=lines, explain=explain,
                                 keep_frame=keep_frame, models=models)
    if session is not None:
        ps.copy_to_stage(session, columns)
    else:
        if batch_id is None:
            raise ValueError("score_chunk needs a batch_id or a session")
        with tenant_session(tenant_id) as s:
            ps.open_stage(s)
            ps.copy_to_stage(s, columns)
            ps.flush_stage(s, tenant_id=tenant_id, model_id=info.model_id, batch_id=batch_id,
                           latency_ms=(time.perf_counter() - t0) * 1000 / max(res.rows, 1))
    res.seconds = time.perf_counter() - t0
    return res


class _Aborted(Exception):
    """The caller gave up on the batch: the writer rolls its transaction back."""


class _BatchWriter:
    """Stores a batch's chunks on a thread of its own, in ONE transaction, while the caller predicts the next chunk.

    The thread owns a tenant session: it records the batch (``running``,
    visible to nobody until the commit), then per chunk copies the rows with ``COPY``
    into the temporary stage and moves them into ``prediction_results`` with
    ``INSERT ... SELECT`` under row-level security. PostgreSQL does that work
    in its own process, so on a machine with two cores the insert of chunk k
    overlaps the prediction of chunk k + 1 (psycopg releases the GIL while it
    waits). :meth:`finish` records the counts and commits; :meth:`abort` (or
    any failure) rolls back, so a failed batch stores no row.
    """

    def __init__(self, tenant_id: int, info: ps.ServingInfo, filename: str, user_id: int | None, job_id: int | None,
                 *, returning: bool, started: float) -> None:
        self.tenant_id, self.model_id, self.filename, self.user_id = tenant_id, info.model_id, filename, user_id
        self.version_ids = info.serving_version_ids
        self.job_id, self.returning, self.started = job_id, returning, started
        self.ids: list[np.ndarray] = []
        self.error: BaseException | None = None
        self.batch: ps.BatchRecord | None = None
        self._q: queue.Queue = queue.Queue(maxsize=1)  # at most one chunk waits: memory stays bounded
        self._thread = threading.Thread(target=self._work, name="aihub-batch-writer", daemon=True)
        self._thread.start()

    def _put(self, item: tuple) -> None:
        while True:
            if self.error is not None:
                raise self.error
            if not self._thread.is_alive():
                raise self.error or DatabaseError("The batch's writer stopped.")
            try:
                self._q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def add(self, columns: dict[str, Any], latency_ms: float) -> None:
        """Queue one chunk's staging columns (blocks while the previous chunk is still waiting)."""
        self._put(("rows", columns, latency_ms))

    def finish(self, **counts: Any) -> ps.BatchRecord:
        """Record the counts, commit, and return the batch as stored. Raises what the writer met."""
        self._put(("finish", counts))
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.batch is not None
        return self.batch

    def abort(self) -> None:
        """Roll everything back (the caller failed); waits for the thread."""
        if self._thread.is_alive() and self.error is None:
            try:
                self._put(("abort",))
            except BaseException:
                log.debug("batch writer had failed before the abort", exc_info=True)
        self._thread.join()

    def _work(self) -> None:
        try:
            with tenant_session(self.tenant_id) as s:
                batch_id = ps.add_batch(s, tenant_id=self.tenant_id, model_id=self.model_id, filename=self.filename,
                                        rows_total=0, rows_predicted=0, rows_failed=0, errors=[], seconds=0.0,
                                        user_id=self.user_id, status="running", job_id=self.job_id,
                                        version_ids=self.version_ids)
                ps.open_stage(s)
                while True:
                    item = self._q.get()
                    if item[0] == "rows":
                        ps.copy_to_stage(s, item[1])
                        out = ps.flush_stage(s, tenant_id=self.tenant_id, model_id=self.model_id, batch_id=batch_id,
                                             latency_ms=item[2], returning=self.returning)
                        if self.returning:
                            self.ids.append(out)
                    elif item[0] == "finish":
                        ps.finish_batch(s, batch_id, **item[1], seconds=time.perf_counter() - self.started)
                        self.batch = ps.get_batch(s, batch_id)
                        break
                    else:
                        raise _Aborted
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc


def abandon_batch(tenant_id: int, batch_id: int, reason: str) -> int:
    """Delete every row a failed batch stored (partitions that finished) and record it failed; returns rows deleted."""
    with tenant_session(tenant_id) as s:
        return ps.fail_batch(s, batch_id, reason)


def predict_batch(principal: Principal, model_id: int, filename: str, data: bytes | BinaryIO, *,
                  explain: bool = False, keep_results: bool = True, chunk_rows: int = CHUNK_ROWS,
                  progress: Callable[[int], None] | None = None) -> BatchOutcome:
    """Predict every row of a file in chunks and store each result. Needs ``predict``.

    Rows that fail validation are reported by row number (and file line)
    and stored with their error; the rest are predicted. With a challenger,
    each row is served by it with probability ``challenger_share``
    (models built from an orders table, RFM and customer value, serve a whole
    batch from one version, since their rows become customers; their file is
    read whole). Each chunk is stored (``COPY`` to a temporary stage, then
    ``INSERT ... SELECT``) by a writer thread while the next one is predicted;
    all chunks and the batch's record are written in one transaction, so a
    failure stores no row; the batch is then recorded ``failed`` with the reason.

    Parameters
    ----------
    filename : str
        Its extension picks the reader (CSV, Excel, JSON; see :func:`aihub.ingest.iter_table_chunks`).
    data : bytes or binary file object
        A UTF-8 CSV file object is read chunk by chunk.
    explain : bool, default False
        Add a one-sentence explanation and the top contributions per row
        (slower: SHAP for every row).
    keep_results : bool, default True
        Return the rows (``BatchOutcome.results``); False keeps memory bounded
        for very large files (read them back with :func:`batch_results`).
    chunk_rows : int, default 20,000
    progress : callable(rows done), optional

    Returns
    -------
    BatchOutcome

    Raises
    ------
    IngestError
        The file cannot be read.
    ValidationError
        The file lacks columns the model needs (all are named), or has no rows.
    """
    require(principal, "predict")
    usage.record(principal, "predict", "batch")
    return _run(principal, model_id, filename, data, explain=explain, keep_results=keep_results,
                chunk_rows=chunk_rows, progress=progress)


def _chunks(info: ps.ServingInfo, tenant_id: int, filename: str, data: bytes | BinaryIO, chunk_rows: int):
    champion = model_cache.load(tenant_id, info.active_version_id)
    if champion.config.data_prep is not None:  # rows become customers: the whole file is one chunk
        raw = data if isinstance(data, bytes | bytearray) else data.read()
        parsed = ingest.read_upload(filename, raw, max_bytes=load_settings().max_upload_bytes)
        yield parsed.frame, None
        return
    # rows stand alone: the first and last chunks may go in pieces (never an orders file, above: one customer's
    # orders must stay together)
    yield from _pieces(ingest.iter_table_chunks(filename, data, chunk_rows=chunk_rows,
                                                max_bytes=load_settings().max_upload_bytes),
                       FIRST_PIECE_ROWS, LAST_PIECE_ROWS)


class _Prefetch:
    """Read the next chunk on a thread while the caller predicts this one (pyarrow parses without the GIL).

    Iterating yields what ``source`` yields, in order, at most one chunk ahead
    (memory stays bounded); an exception of the reader is raised to the caller
    as it was. :meth:`close` stops the thread (the caller failed or is done).
    """

    _END = object()

    def __init__(self, source: Iterable[Any]) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(source,), name="aihub-batch-reader", daemon=True)
        self._thread.start()

    def _offer(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, source: Iterable[Any]) -> None:
        try:
            for item in source:
                if not self._offer(("item", item)):
                    return
            self._offer(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._offer(("error", exc))

    def __iter__(self):
        while True:
            kind, value = self._q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (it stops at its next chunk)."""
        self._stop.set()
        self._thread.join(timeout=60)


def _rows(chunk: pd.DataFrame, lines: np.ndarray | None, start: int, stop: int | None = None):
    """Rows ``start:stop`` of a chunk and of its file lines (index from 0)."""
    return chunk.iloc[start:stop].reset_index(drop=True), (lines[start:stop] if lines is not None else None)


def _pieces(chunks: Iterable[tuple[pd.DataFrame, np.ndarray | None]], first_rows: int, last_rows: int):
    """``chunks`` in order, the first chunk's first ``first_rows`` rows apart and the last chunk in pieces of
    ``last_rows``.

    The writer can store nothing before the first piece is predicted, and the main thread has nothing to do
    while the last piece is stored; small first and last pieces shorten both idle ends of the pipeline. The
    last chunk is known by reading one chunk ahead (on the reader's thread; memory stays bounded: one chunk
    more). The rest of the first chunk follows its first piece without that read-ahead: at the start the
    main thread has nothing else to do, and waiting there for the next chunk's parsing left it and the writer
    idle (0.25 s of a 100,000-row batch); a file of one chunk keeps its rest whole.
    """
    it = iter(chunks)
    prev = next(it, None)
    if prev is not None and len(prev[0]) >= 2 * first_rows:  # before reading ahead: the writer starts sooner
        yield _rows(*prev, 0, first_rows)
        yield _rows(*prev, first_rows)
        prev = next(it, None)
    while prev is not None:
        nxt = next(it, None)
        if nxt is None and len(prev[0]) >= 2 * last_rows:
            for start in range(0, len(prev[0]), last_rows):
                yield _rows(*prev, start, start + last_rows)
        else:
            yield prev
        prev = nxt


def _run(principal: Principal, model_id: int, filename: str, data: bytes | BinaryIO, *, explain: bool,
         keep_results: bool, chunk_rows: int, job_id: int | None = None,
         progress: Callable[[int], None] | None = None) -> BatchOutcome:
    t0 = time.perf_counter()
    tenant = principal.tenant_id
    with tenant_session(tenant) as s:
        info = ps.serving_info(s, model_id)
    serving.route(info)  # a predictive model with a deployed version, or a clear refusal
    totals = _Totals()
    writer = _BatchWriter(tenant, info, filename, principal.user_id, job_id, returning=keep_results, started=t0)
    reader = _Prefetch(_chunks(info, tenant, filename, data, chunk_rows))
    try:
        for chunk, lines in reader:
            res, columns = prepare_chunk(tenant, info, chunk, first_row=totals.rows + 1, lines=lines,
                                         explain=explain, keep_frame=keep_results)
            totals.add(res)
            writer.add(columns, (time.perf_counter() - t0) * 1000 / max(totals.rows, 1))
            del columns
            if progress is not None:
                progress(totals.rows)
        if totals.rows == 0:
            raise ValidationError(f"{filename} has no rows to predict.", field="file")
        batch = writer.finish(rows_total=totals.rows, rows_predicted=totals.rows - totals.failed,
                              rows_failed=totals.failed, errors=plain(totals.errors))
    except Exception as exc:
        reader.close()
        writer.abort()
        _record_failure(principal, model_id, filename, totals, exc, time.perf_counter() - t0, job_id)
        raise
    reader.close()
    results = pd.DataFrame(columns=["prediction_id", "row"])
    if keep_results:
        pairs = np.concatenate(writer.ids) if writer.ids else np.empty((0, 2), dtype=np.int64)
        by_row = np.zeros(totals.rows + 1, dtype=np.int64)
        by_row[pairs[:, 1]] = pairs[:, 0]
        results = _stack(totals.frames)
        results.insert(0, "prediction_id", by_row[results["row"].to_numpy(dtype=np.int64)])
    return BatchOutcome(batch, results, totals.errors, totals.warnings, totals.label)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The chunks' download rows one under another, as ``pandas.concat(frames, ignore_index=True)`` gives them.

    Column by column with :func:`numpy.concatenate` when every chunk has the same columns and NumPy dtypes
    (a batch's chunks do): ``pandas.concat`` checks every value of an all-missing object column (``error``
    and ``warning`` of a clean batch) one by one in Python to choose its dtype, which took 0.23 s of a
    100,000-row batch after its last row was stored (nothing overlaps it). Anything else goes to ``pandas.concat``.

    Parameters
    ----------
    frames : list of pandas.DataFrame
        At least one frame.

    Returns
    -------
    pandas.DataFrame
        The rows in order, with a fresh ``RangeIndex``.
    """
    first = frames[0]
    plain_numpy = (not first.columns.has_duplicates and all(isinstance(t, np.dtype) for t in first.dtypes)
                   and all(f.columns.equals(first.columns) and f.dtypes.equals(first.dtypes) for f in frames[1:]))
    if not plain_numpy:
        return pd.concat(frames, ignore_index=True)
    return pd.DataFrame({c: np.concatenate([f[c].to_numpy() for f in frames]) for c in first.columns},
                        columns=first.columns)


def _record_failure(principal: Principal, model_id: int, filename: str, totals: _Totals, exc: Exception,
                    seconds: float, job_id: int | None) -> None:
    """Keep a failed batch's record (no rows) with its reason; never masks the original error."""
    try:
        with tenant_session(principal.tenant_id) as s:
            ps.add_batch(s, tenant_id=principal.tenant_id, model_id=model_id, filename=filename,
                         rows_total=totals.rows, rows_predicted=0, rows_failed=totals.failed,
                         errors=plain(totals.errors), seconds=seconds, user_id=principal.user_id,
                         status="failed", error=str(exc)[:4000] or type(exc).__name__, job_id=job_id)
    except Exception:  # the model may be gone, the database down: the caller sees the first error
        log.warning("could not record failed batch of model %s", model_id, exc_info=True)


#: Job kind of a batch prediction submitted to run in the background (the HTTP API's batch route).
BATCH_KIND = "batch_predict"

#: ``runner(principal, model_id, filename, data, *, explain, job_id, progress) -> BatchRecord | None``: runs a
#: batch job's file elsewhere (the runtime's Dask path), or returns None to leave it to this process.
LargeBatchRunner = Callable[..., ps.BatchRecord | None]
_large_runner: LargeBatchRunner | None = None


def use_runner(runner: LargeBatchRunner | None) -> None:
    """Let ``runner`` take batch jobs first (:func:`aihub.runtime.wiring.wire` sets the Dask one; None: none).

    The runner decides per job (a large file while a cluster is configured) and returns None to leave the
    job to :func:`_run` here; it stores the batch under ``job_id`` so a retried job finds it.
    """
    global _large_runner
    _large_runner = runner


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
    """Job handler: predict and store the file as the user who submitted it (one transaction).

    A retried job whose earlier attempt already stored its batch finds it
    (``job_id``) and stores nothing twice.
    """
    from aihub.auth import acting_principal

    user_id = job.payload.get("user_id")
    principal = acting_principal(control.tenant_id, user_id)
    if user_id is None or principal.user_id != user_id:
        raise NotFound("The user who submitted this batch is no longer active; nothing was predicted.")
    require(principal, "predict")
    with tenant_session(control.tenant_id) as s:
        done = ps.batch_of_job(s, job.id)
    if done is None:
        control.progress(0.05, "Predicting the rows")
        usage.record(principal, "predict", "batch")
        data = base64.b64decode(job.payload["data"])
        total = max(data.count(b"\n"), 1)

        def progress(rows: int) -> None:
            control.progress(min(0.05 + 0.9 * rows / total, 0.95), f"Predicted {rows:,} rows")

        if _large_runner is not None:
            done = _large_runner(principal, job.model_id, job.payload["filename"], data,
                                 explain=bool(job.payload.get("explain")), job_id=job.id, progress=progress)
        if done is None:
            done = _run(principal, job.model_id, job.payload["filename"], io.BytesIO(data),
                        explain=bool(job.payload.get("explain")), keep_results=False, chunk_rows=CHUNK_ROWS,
                        job_id=job.id, progress=progress).batch

    def persist(s) -> None:
        store.update_job(s, job.id, payload={"filename": job.payload["filename"], "batch_id": done.id,
                                             "rows_total": done.rows_total, "rows_failed": done.rows_failed,
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
    """A stored batch's rows again (for download later): id, row, inputs, outputs, version, error. Needs ``read``.

    Outputs come from the typed columns (``prediction``, ``probability``,
    ``confidence``, ``warning``) and the stored remainder (intervals,
    explanations, per-class probabilities).
    """
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        ps.get_batch(s, batch_id)
        rows = ps.batch_rows(s, batch_id)
    if not rows:
        return pd.DataFrame(columns=["prediction_id", "row"])
    cols = dict(zip(ps.BATCH_ROW_COLUMNS, zip(*rows, strict=True), strict=True))
    inputs = pd.DataFrame(list(cols["input"]))
    extras = pd.DataFrame([o or {} for o in cols["output"]])
    typed = pd.DataFrame({"prediction": [p if p != "" else None for p in cols["prediction"]],
                          "probability": cols["probability"], "confidence": cols["confidence"]})
    if "prediction" in extras.columns or "segment" in extras.columns:  # a value keeps its number, a segment its name
        typed = typed.drop(columns="prediction")
    typed = typed[[c for c in typed.columns if c == "prediction" or typed[c].notna().any()]]
    outputs = pd.concat([typed, extras], axis=1)
    inputs = inputs.rename(columns={c: f"input_{c}" for c in inputs.columns if c in outputs.columns})
    head = pd.DataFrame({"prediction_id": cols["prediction_id"], "row": cols["row"]})
    tail = pd.DataFrame({"served_by": cols["served_by"], "version": cols["version"], "error": cols["error"],
                         "warning": cols["warning"]})
    return pd.concat([head, inputs, outputs, tail], axis=1)
