"""Batch predictions bulk-loaded through COPY (issue 16), on real PostgreSQL as the app role under RLS.

Values and types of the stored rows, tenant isolation of a batch, a failure
midway that stores nothing and records the batch failed, per-partition writes
that a failed job removes, chunked reading, and the migration's backfill of
the typed columns.
"""

from __future__ import annotations

import io
import json
import uuid

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from aihub import ingest
from aihub.db import engine as dbengine
from aihub.db import prediction_store as ps
from aihub.db.session import tenant_session
from aihub.demo import generate_customers
from aihub.errors import DatabaseError, IngestError, NotFound
from aihub.services import batch_predictions, predictions
from aihub.services.batch_predictions import _stack
from tests.conftest import new_tenant
from tests.fixtures import _csv, _quick_model, database_at


def _customers(n: int, seed: int = 3) -> pd.DataFrame:
    return generate_customers(n, seed=seed).drop(columns=["Churned"])


def test_copy_path_stores_typed_values_a_failed_row_and_counted_warnings(tenant):
    model, version = _quick_model(tenant)
    frame = _customers(120)
    frame["Tenure Months"] = frame["Tenure Months"].astype(object)
    frame.loc[4, "Tenure Months"] = "soon"                       # fails validation: row 5, line 6
    frame.loc[[7, 9, 11], "Contract"] = "Lifetime"               # unseen category: a warning on 3 rows
    out = batch_predictions.predict_batch(tenant, model.id, "typed.csv", _csv(frame), chunk_rows=50)
    b = out.batch
    assert (b.rows_total, b.rows_predicted, b.rows_failed, b.status) == (120, 119, 1, "succeeded")
    assert out.errors == [{"row": 5, "line": 6, "message": "row 5: Tenure Months = 'soon' is not a number"}]
    unseen = [w for w in out.warning_counts if "Lifetime" in w["message"]]
    assert len(unseen) == 1 and unseen[0]["rows"] == 3 and unseen[0]["first_row"] == 8
    assert out.results["row"].tolist() == list(range(1, 121)) and out.results["prediction_id"].is_unique
    with tenant_session(tenant.tenant_id) as s:
        rows = s.execute(sa.text(
            "SELECT id, row_number, prediction, probability, confidence, warning, error, output, "
            "jsonb_typeof(input), input ->> 'Customer ID', model_version_id, served_by, batch_id "
            "FROM prediction_results WHERE batch_id = :b ORDER BY row_number"), {"b": b.id}).all()
    assert [r[1] for r in rows] == list(range(1, 121))
    res = out.results.set_index("row")
    for r in rows:
        expect = res.loc[r[1]]
        assert r[0] == expect["prediction_id"] and r[10] == version.id and r[11] == "champion" and r[12] == b.id
        assert r[8] == "object" and r[9] == frame.loc[r[1] - 1, "Customer ID"]  # the input row, as JSON object
        assert r[7] is None                                                       # nothing left untyped
        if r[1] == 5:
            assert r[2] == "" and r[3] is None and "not a number" in r[6]
            continue
        assert r[2] == expect["prediction"] and r[2] in ("Yes", "No") and r[6] is None
        assert isinstance(r[3], float) and r[3] == pytest.approx(float(expect["probability"]), abs=1e-12)
        assert r[4] == pytest.approx(max(r[3], 1 - r[3]), abs=1e-12)
        assert (r[5] is not None and "Lifetime" in r[5]) == (r[1] in (8, 10, 12))
    # readers see the whole output from the typed columns
    stored = batch_predictions.batch_results(tenant, b.id)
    assert stored["prediction_id"].tolist() == out.results["prediction_id"].tolist()
    assert stored["probability"].astype(float).round(12).tolist()[:4] == \
        out.results["probability"].astype(float).round(12).tolist()[:4]
    assert "Lifetime" in stored.loc[7, "warning"] and pd.isna(stored.loc[6, "warning"])
    rec = predictions.get_prediction(tenant, int(rows[0][0]))
    assert rec.output["prediction"] == rows[0][2] and rec.output["probability"] == rows[0][3]


def test_a_batch_row_shows_its_batch_requester_and_stays_out_of_the_cache_index(tenant):
    """Batch rows store no requester of their own (one key probe per row less, migration 0027) and no entry
    in the single-prediction cache's index; readers still name who submitted the batch."""
    model, version = _quick_model(tenant)
    out = batch_predictions.predict_batch(tenant, model.id, "who.csv", _csv(_customers(20)))
    single = predictions.predict_one(tenant, model.id, _customers(1, seed=9).iloc[0].to_dict(), explain=False)
    with tenant_session(tenant.tenant_id) as s:
        stored = s.execute(sa.text("SELECT count(*) FILTER (WHERE requested_by IS NULL), count(*) "
                                   "FROM prediction_results WHERE batch_id = :b"), {"b": out.batch.id}).one()
        assert tuple(stored) == (20, 20)
        pid = int(out.results["prediction_id"].iloc[0])
        assert ps.get_prediction(s, pid).requested_by == tenant.username == out.batch.created_by
        assert ps.get_prediction(s, single.id).requested_by == tenant.username
        # the cache's condition (ps._CACHED_WHERE) still implies the now partial index's predicate, so the
        # index stays usable (on a table this small the planner prefers other plans unless told otherwise)
        s.execute(sa.text("SET LOCAL enable_seqscan = off"))
        sql = sa.select(sa.literal(1)).select_from(ps.PredictionResult).where(*ps._CACHED_WHERE).compile(
            dialect=s.get_bind().dialect)
        plan = "\n".join(r[0] for r in s.connection().exec_driver_sql(
            f"EXPLAIN {sql}", {**sql.params, "version_id": version.id, "input_hash": "x"}).all())
    assert "ix_prediction_results_version_input_hash" in plan, plan


def test_a_batch_records_its_serving_versions_and_refuses_rows_of_another(tenant):
    """Batch rows reference batch and version with one key through the batch's versions (migration 0029): the
    batch records its champion, and a row of a version it was not recorded with is refused, nothing kept."""
    model, version = _quick_model(tenant)
    _, other_version = _quick_model(tenant, name="other churn")
    out = batch_predictions.predict_batch(tenant, model.id, "versions.csv", _csv(_customers(30)))
    with tenant_session(tenant.tenant_id) as s:
        recorded = s.execute(sa.text("SELECT batch_id, model_id, model_version_id FROM prediction_batch_versions "
                                     "WHERE batch_id = :b"), {"b": out.batch.id}).all()
        info = ps.serving_info(s, model.id)
    assert recorded == [(out.batch.id, model.id, version.id)]
    assert info.serving_version_ids == (version.id,)
    frame = _customers(10)
    _, columns = batch_predictions.prepare_chunk(tenant.tenant_id, info, frame)
    columns["model_version_id"] = np.full(len(frame), other_version.id, dtype=np.int64)
    with pytest.raises(DatabaseError, match="prediction_batch_versions"), tenant_session(tenant.tenant_id) as s:
        batch_id = ps.add_batch(s, tenant_id=tenant.tenant_id, model_id=model.id, filename="wrong.csv",
                                rows_total=0, rows_predicted=0, rows_failed=0, errors=[], seconds=0.0,
                                user_id=tenant.user_id, version_ids=info.serving_version_ids)
        ps.open_stage(s)
        ps.copy_to_stage(s, columns)
        ps.flush_stage(s, tenant_id=tenant.tenant_id, model_id=model.id, batch_id=batch_id, latency_ms=1.0)
    with tenant_session(tenant.tenant_id) as s:
        assert s.execute(sa.text("SELECT count(*) FROM prediction_batches WHERE filename = 'wrong.csv'")).scalar() == 0


def test_first_and_last_chunks_in_pieces_keep_rows_lines_and_results_in_order(tenant, monkeypatch):
    """The first chunk's first rows go to the writer on their own and the last chunk in pieces; row numbers,
    file lines and results must come out exactly as without the split."""
    model, _ = _quick_model(tenant)
    frame = _customers(130)
    frame["Tenure Months"] = frame["Tenure Months"].astype(object)
    frame.loc[[3, 14, 71, 126], "Tenure Months"] = "soon"   # first piece, after it, chunk 2, last chunk's 2nd piece
    whole = batch_predictions.predict_batch(tenant, model.id, "whole.csv", _csv(frame), chunk_rows=200)
    monkeypatch.setattr(batch_predictions, "FIRST_PIECE_ROWS", 10)
    monkeypatch.setattr(batch_predictions, "LAST_PIECE_ROWS", 4)   # chunks 1-60, 61-120, then 121-130 as 4+4+2
    split = batch_predictions.predict_batch(tenant, model.id, "split.csv", _csv(frame), chunk_rows=60)
    assert [(e["row"], e["line"]) for e in split.errors] == [(4, 5), (15, 16), (72, 73), (127, 128)]
    assert split.errors == whole.errors
    cols = ["row", "prediction", "probability", "error", "warning"]
    pd.testing.assert_frame_equal(split.results[cols], whole.results[cols])
    rows = batch_predictions.batch_results(tenant, split.batch.id)
    assert rows["row"].tolist() == list(range(1, 131))
    with tenant_session(tenant.tenant_id) as s:  # each row stores its own input and digest (sliced with it)
        stored = {b: s.execute(sa.text("SELECT row_number, input, input_hash FROM prediction_results "
                                       "WHERE batch_id = :b ORDER BY row_number"), {"b": b}).all()
                  for b in (whole.batch.id, split.batch.id)}
    assert stored[split.batch.id] == stored[whole.batch.id]
    assert [r[1]["Customer ID"] for r in stored[split.batch.id]] == frame["Customer ID"].tolist()


def test_tenant_b_sees_none_of_tenant_a_batch_rows(tenant):
    model, _ = _quick_model(tenant)
    out = batch_predictions.predict_batch(tenant, model.id, "a.csv", _csv(_customers(60)))
    other = new_tenant("intruder")
    with tenant_session(other.tenant_id) as s:
        assert s.execute(sa.text("SELECT count(*) FROM prediction_results WHERE batch_id = :b"),
                         {"b": out.batch.id}).scalar() == 0
        assert s.execute(sa.text("SELECT count(*) FROM prediction_batches")).scalar() == 0
    with pytest.raises(NotFound):
        batch_predictions.batch_results(other, out.batch.id)
    with tenant_session(tenant.tenant_id) as s:
        assert s.execute(sa.text("SELECT count(*) FROM prediction_results WHERE batch_id = :b"),
                         {"b": out.batch.id}).scalar() == 60


class _Broken(io.RawIOBase):
    """A file whose reading fails after ``limit`` bytes, like an upload cut off mid-way."""

    def __init__(self, data: bytes, limit: int):
        self.data, self.limit, self.pos = data, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.pos >= self.limit:
            raise OSError("connection reset while reading the upload")
        n = min(len(b), self.limit - self.pos, len(self.data) - self.pos)
        b[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def test_a_failure_midway_stores_no_row_and_records_the_batch_failed(tenant):
    model, _ = _quick_model(tenant)
    data = _csv(_customers(30_000))  # 1.5 MB: read 1 MB at a time, so chunks are predicted before the cut
    with pytest.raises(OSError, match="connection reset"):
        batch_predictions.predict_batch(tenant, model.id, "cut.csv", io.BufferedReader(_Broken(data, len(data) * 9 // 10)),
                                        chunk_rows=2000)
    batches = batch_predictions.list_batches(tenant, model.id)
    assert batches[0].status == "failed" and "connection reset" in batches[0].error
    assert batches[0].rows_total >= 2000 and batches[0].rows_predicted == 0  # chunks were predicted, none kept
    with tenant_session(tenant.tenant_id) as s:
        assert s.execute(sa.text("SELECT count(*) FROM prediction_results WHERE model_id = :m"),
                         {"m": model.id}).scalar() == 0
    # a ragged row in a later chunk: the same, with the file's problem as the reason
    ragged = data + b"CU9,1,Month-to-month,DSL,20.5,1,Mailed check,Yes,extra\n"
    with pytest.raises(IngestError):
        batch_predictions.predict_batch(tenant, model.id, "ragged.csv", io.BytesIO(ragged), chunk_rows=500)
    assert batch_predictions.list_batches(tenant, model.id)[0].status == "failed"
    with tenant_session(tenant.tenant_id) as s:
        assert s.execute(sa.text("SELECT count(*) FROM prediction_results WHERE model_id = :m"),
                         {"m": model.id}).scalar() == 0


def test_the_database_refusing_a_later_chunk_rolls_back_the_earlier_ones(tenant):
    """Chunks are stored while the next is predicted (a writer thread): a refusal at chunk 3 keeps none of 1 and 2."""
    model, _ = _quick_model(tenant)
    fn = f"aihub_test_refuse_{uuid.uuid4().hex[:8]}"
    ddl = [(f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'refused row %', NEW.row_number; END $$"),
           (f"CREATE TRIGGER {fn} BEFORE INSERT ON prediction_results FOR EACH ROW "
            f"WHEN (NEW.model_id = {model.id} AND NEW.row_number = 450) EXECUTE FUNCTION {fn}()")]
    with dbengine.get_database().owner.begin() as conn:
        for stmt in ddl:
            conn.execute(sa.text(stmt))
    try:
        with pytest.raises(DatabaseError, match="refused row 450"):
            batch_predictions.predict_batch(tenant, model.id, "refused.csv", _csv(_customers(600)), chunk_rows=200)
    finally:
        with dbengine.get_database().owner.begin() as conn:
            conn.execute(sa.text(f"DROP TRIGGER {fn} ON prediction_results"))
            conn.execute(sa.text(f"DROP FUNCTION {fn}()"))
    batches = batch_predictions.list_batches(tenant, model.id)
    assert [(b.status, b.rows_predicted) for b in batches] == [("failed", 0)]  # no 'running' record left behind
    assert "refused row 450" in batches[0].error
    with tenant_session(tenant.tenant_id) as s:
        assert s.execute(sa.text("SELECT count(*) FROM prediction_results WHERE model_id = :m"),
                         {"m": model.id}).scalar() == 0


def test_a_batch_being_stored_shows_neither_its_record_nor_its_rows(tenant):
    """Until the batch commits, other sessions see no batch (running or not) and none of its rows."""
    model, _ = _quick_model(tenant)
    seen = []

    def look(rows: int) -> None:  # called between chunks, while earlier chunks are being stored
        with tenant_session(tenant.tenant_id) as s:
            seen.append((rows, s.execute(sa.text("SELECT count(*) FROM prediction_results WHERE model_id = :m"),
                                         {"m": model.id}).scalar()))
        seen.append((rows, len(batch_predictions.list_batches(tenant, model.id))))

    out = batch_predictions.predict_batch(tenant, model.id, "watched.csv", _csv(_customers(500)), chunk_rows=100,
                                          progress=look)
    assert [r for r, _ in seen[::2]] == [100, 200, 300, 400, 500]
    assert all(n == 0 for _, n in seen)
    assert out.batch.status == "succeeded" and out.batch.rows_total == 500
    assert batch_predictions.list_batches(tenant, model.id)[0].status == "succeeded"
    assert out.results["prediction_id"].is_unique and (out.results["prediction_id"] > 0).all()


def test_partitions_write_under_rls_and_a_failed_job_keeps_none(tenant):
    """The per-partition unit (what a distributed executor calls): each commits; abandoning removes them all."""
    model, _ = _quick_model(tenant)
    with tenant_session(tenant.tenant_id) as s:
        info = ps.serving_info(s, model.id)
        batch_id = ps.add_batch(s, tenant_id=tenant.tenant_id, model_id=model.id, filename="parts", rows_total=0,
                                rows_predicted=0, rows_failed=0, errors=[], seconds=0.0, user_id=tenant.user_id,
                                status="running", version_ids=info.serving_version_ids)
    frame = _customers(300)
    for k in range(2):
        part = frame.iloc[k * 150:(k + 1) * 150].reset_index(drop=True)
        res = batch_predictions.score_chunk(tenant.tenant_id, info, part, batch_id=batch_id, first_row=k * 150 + 1)
        assert (res.rows, res.failed) == (150, 0)
    other = new_tenant("partition-intruder")
    with pytest.raises(NotFound):  # B's session cannot load A's model version...
        batch_predictions.score_chunk(other.tenant_id, info, frame.head(5), batch_id=batch_id)
    staged = {c: [None] * 2 for c in ps.STAGE_COLUMNS}
    staged.update(model_version_id=[info.active_version_id] * 2, served_by=["champion"] * 2, row_number=[1, 2],
                  input=["{}"] * 2, input_hash=["h"] * 2, prediction=["Yes"] * 2, probability=[0.5] * 2)
    with pytest.raises(DatabaseError, match="row-level security"), tenant_session(other.tenant_id) as s:
        ps.open_stage(s)  # ...nor move staged rows into A's tenant: the INSERT ... SELECT runs under B's policy
        ps.copy_to_stage(s, staged)
        ps.flush_stage(s, tenant_id=tenant.tenant_id, model_id=model.id, batch_id=batch_id, latency_ms=1.0)
    with tenant_session(tenant.tenant_id) as s:
        assert s.execute(sa.text("SELECT count(*), min(row_number), max(row_number) FROM prediction_results "
                                 "WHERE batch_id = :b"), {"b": batch_id}).one() == (300, 1, 300)
    assert batch_predictions.abandon_batch(tenant.tenant_id, batch_id, "worker 2 was killed") == 300
    b = batch_predictions.get_batch(tenant, batch_id)
    assert (b.status, b.error) == ("failed", "worker 2 was killed")
    with tenant_session(tenant.tenant_id) as s:
        assert s.execute(sa.text("SELECT count(*) FROM prediction_results WHERE batch_id = :b"),
                         {"b": batch_id}).scalar() == 0


def test_chunks_keep_file_lines_and_skip_blank_lines():
    text = "a,b\n1,x\n\n2,y\n3,z\n4,w\n"
    chunks = list(ingest.iter_table_chunks("t.csv", text.encode(), chunk_rows=2))
    frame = pd.concat([c for c, _ in chunks], ignore_index=True)
    lines = np.concatenate([x for _, x in chunks]).tolist()
    assert frame.to_dict("list") == {"a": ["1", "2", "3", "4"], "b": ["x", "y", "z", "w"]} and lines == [2, 4, 5, 6]
    semi = list(ingest.iter_table_chunks("s.csv", "\ufeffa;b\n1;x\n".encode(), chunk_rows=10))
    assert semi[0][0].columns.tolist() == ["a", "b"]
    with pytest.raises(IngestError, match="more than once"):
        list(ingest.iter_table_chunks("d.csv", b"a,a\n1,2\n"))
    jl = list(ingest.iter_table_chunks("r.json", json.dumps([{"a": 1}, {"a": 2}, {"a": 3}]).encode(), chunk_rows=2))
    assert [len(c) for c, _ in jl] == [2, 1]


def test_migration_backfills_typed_columns_from_the_old_output():
    with database_at("0024") as (owner, eng):
        with eng.begin() as c:
            t = c.execute(sa.text("INSERT INTO tenants (name) VALUES ('m') RETURNING id")).scalar()
            m = c.execute(sa.text("INSERT INTO models (tenant_id, name, kind, config) VALUES (:t, 'm', 'ml', '{}') "
                                  "RETURNING id"), {"t": t}).scalar()
            v = c.execute(sa.text(
                "INSERT INTO model_versions (tenant_id, model_id, version, algorithm, params, metrics, "
                "training_data_hash, library_versions, artifact_format, artifact, training_seconds) VALUES "
                "(:t, :m, 1, 'lr', '{}', '{}', 'h', '{}', 'skops', '\\x00', 1) RETURNING id"), {"t": t, "m": m}).scalar()
            b = c.execute(sa.text("INSERT INTO prediction_batches (tenant_id, model_id, filename, rows_total, "
                                  "rows_predicted, rows_failed, errors, seconds) VALUES (:t, :m, 'f', 3, 3, 0, '[]', 1)"
                                  " RETURNING id"), {"t": t, "m": m}).scalar()
            outputs = [
                (b, {"prediction": "Yes", "probability": 0.8, "confidence": 0.8, "positive_class": "Yes",
                     "warning": "row 1: x = 'q' was not seen in training"}),
                (b, {"prediction": 12.5, "lower": 10.0, "upper": 15.0}),
                (b, {"prediction": "No", "probability": 0.1, "confidence": 0.9, "positive_class": "Yes",
                     "explanation": "because", "top_contributions": "x = 1: +0.1"}),
                (None, {"prediction": "Yes", "probability": 0.7, "confidence": 0.7, "warning": "far out",
                        "explained": True, "contributions": []}),
            ]
            for i, (batch, out) in enumerate(outputs):
                c.execute(sa.text(
                    "INSERT INTO prediction_results (tenant_id, model_id, model_version_id, served_by, batch_id, "
                    "row_number, input, input_hash, output, prediction, probability, latency_ms) VALUES "
                    "(:t, :m, :v, 'champion', :b, :r, '{}', 'h', CAST(:o AS jsonb), :p, :pr, 1)"),
                    {"t": t, "m": m, "v": v, "b": batch, "r": i + 1, "o": json.dumps(out), "p": str(out["prediction"]),
                     "pr": out.get("probability")})
        dbengine.upgrade(owner, "0025")
        with eng.begin() as c:
            got = c.execute(sa.text("SELECT row_number, warning, output FROM prediction_results ORDER BY id")).all()
            status = c.execute(sa.text("SELECT status FROM prediction_batches")).scalar()
        assert got[0][1] == "row 1: x = 'q' was not seen in training" and got[0][2] is None
        assert got[1][1] is None and got[1][2] == {"prediction": 12.5, "lower": 10.0, "upper": 15.0}
        assert got[2][2] == {"explanation": "because", "top_contributions": "x = 1: +0.1"}
        assert got[3][1] == "far out" and got[3][2] == outputs[3][1]  # a single prediction keeps its whole output
        assert status == "succeeded"


def _chunk(n: int, start: int, *, errors: bool = False) -> pd.DataFrame:
    return pd.DataFrame({
        "row": np.arange(start, start + n), "tenure": [str(i) for i in range(n)],
        "prediction": ["Yes" if i % 2 else "No" for i in range(n)], "probability": np.linspace(0, 1, n),
        "error": [f"row {i}: bad" if errors and i == 0 else None for i in range(n)],
        "warning": [None] * n,
    })


def test_stacked_chunks_equal_pandas_concat_also_when_chunks_differ():
    same = [_chunk(5, 1), _chunk(3, 6, errors=True), _chunk(4, 9)]
    pd.testing.assert_frame_equal(_stack(same), pd.concat(same, ignore_index=True))
    other = [_chunk(2, 1), _chunk(2, 3).drop(columns=["warning"])]  # columns differ: pandas decides
    pd.testing.assert_frame_equal(_stack(other), pd.concat(other, ignore_index=True))
    typed = [_chunk(2, 1).astype({"prediction": "category"}), _chunk(2, 3).astype({"prediction": "category"})]
    pd.testing.assert_frame_equal(_stack(typed), pd.concat(typed, ignore_index=True))
    pd.testing.assert_frame_equal(_stack([_chunk(3, 1)]), _chunk(3, 1))
