"""Migration 0029: a batch row references its batch and version with one key, through the batch's versions.

On a throw-away database of the PostgreSQL server: the migration's backfill of existing batches, what the
keys refuse (a version the batch was not recorded with, another model's version), and the cascades that
must still remove rows (deleting a batch, a version).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from aihub.db import engine as dbengine
from tests.fixtures import database_at


@pytest.fixture
def at_0028():
    with database_at("0028") as db:
        yield db


def _version(c, t: int, m: int, number: int) -> int:
    return c.execute(sa.text(
        "INSERT INTO model_versions (tenant_id, model_id, version, algorithm, params, metrics, training_data_hash, "
        "library_versions, artifact_format, artifact, training_seconds) VALUES "
        "(:t, :m, :n, 'lr', '{}', '{}', 'h', '{}', 'skops', '\\x00', 1) RETURNING id"),
        {"t": t, "m": m, "n": number}).scalar()


def _row(c, t: int, m: int, v: int, batch: int | None, n: int) -> None:
    c.execute(sa.text(
        "INSERT INTO prediction_results (tenant_id, model_id, model_version_id, served_by, batch_id, row_number, "
        "input, input_hash, prediction, latency_ms) VALUES (:t, :m, :v, 'champion', :b, :n, '{}', 'h', 'x', 1)"),
        {"t": t, "m": m, "v": v, "b": batch, "n": n})


def test_existing_batches_get_their_versions_and_the_keys_hold(at_0028):
    owner, eng = at_0028
    with eng.begin() as c:
        t = c.execute(sa.text("INSERT INTO tenants (name) VALUES ('k') RETURNING id")).scalar()
        m, m2 = (c.execute(sa.text("INSERT INTO models (tenant_id, name, kind, config) VALUES (:t, :n, 'ml', '{}') "
                                   "RETURNING id"), {"t": t, "n": n}).scalar() for n in ("m", "other"))
        v1, v2, other = _version(c, t, m, 1), _version(c, t, m, 2), _version(c, t, m2, 1)
        b = c.execute(sa.text("INSERT INTO prediction_batches (tenant_id, model_id, filename, rows_total, "
                              "rows_predicted, rows_failed, errors, seconds) VALUES (:t, :m, 'f', 3, 3, 0, '[]', 1) "
                              "RETURNING id"), {"t": t, "m": m}).scalar()
        for n, v in enumerate((v1, v2, v1), start=1):  # champion and challenger rows
            _row(c, t, m, v, b, n)
        _row(c, t, m, v1, None, None)  # a single prediction
    dbengine.upgrade(owner, "head")
    with eng.begin() as c:
        got = c.execute(sa.text("SELECT batch_id, model_id, model_version_id FROM prediction_batch_versions "
                                "ORDER BY model_version_id")).all()
        single = c.execute(sa.text("SELECT batch_id, single_version_id FROM prediction_results "
                                   "ORDER BY id")).all()
    assert got == [(b, m, v1), (b, m, v2)]
    assert single == [(b, None), (b, None), (b, None), (None, v1)]

    def refused(sql_row) -> None:
        with pytest.raises(sa.exc.IntegrityError, match="foreign key"), eng.begin() as c:
            sql_row(c)

    refused(lambda c: _row(c, t, m, _version(c, t, m, 3), b, 9))  # a version the batch was not recorded with
    refused(lambda c: _row(c, t, m2, other, b, 9))  # another model's row in this batch
    refused(lambda c: _row(c, t, m, other, None, None))  # a single prediction of another model's version
    refused(lambda c: c.execute(sa.text(  # a batch's version of another model
        "INSERT INTO prediction_batch_versions VALUES (:t, :b, :m2, :o)"), {"t": t, "b": b, "m2": m2, "o": other}))

    with eng.begin() as c:  # deleting a version removes its batch rows and its single predictions
        c.execute(sa.text("DELETE FROM model_versions WHERE id = :v"), {"v": v1})
        left = c.execute(sa.text("SELECT model_version_id FROM prediction_results")).scalars().all()
    assert left == [v2]
    with eng.begin() as c:  # deleting the batch removes the rest
        c.execute(sa.text("DELETE FROM prediction_batches WHERE id = :b"), {"b": b})
        assert c.execute(sa.text("SELECT count(*) FROM prediction_results")).scalar() == 0
        assert c.execute(sa.text("SELECT count(*) FROM prediction_batch_versions")).scalar() == 0


def _keys(eng) -> set[str]:
    with eng.connect() as c:
        return set(c.execute(sa.text("SELECT conname FROM pg_constraint WHERE conrelid = "
                                     "'prediction_results'::regclass AND contype = 'f'")).scalars())


def test_downgrade_restores_the_two_keys(at_0028):
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    owner, eng = at_0028
    before = _keys(eng)
    dbengine.upgrade(owner, "head")
    assert "fk_prediction_results_batch_id_prediction_batch_versions" in _keys(eng)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(dbengine.__file__).with_name("migrations")))
    cfg.attributes["url"] = owner
    command.downgrade(cfg, "0028")
    assert _keys(eng) == before
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT to_regclass('prediction_batch_versions')")).scalar() is None
