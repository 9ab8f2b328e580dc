"""The parts of external model versions that need no database: the circuit breaker, the back-off, the request
formats, reading answers, and the configuration's errors."""

from __future__ import annotations

import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from aihub.connectors.endpoint import MAX_BACKOFF_SECONDS, CircuitBreaker, backoff_wait
from aihub.errors import ConnectorError, ValidationError
from aihub.ml import external
from aihub.ml.external_config import ExternalConfig
from aihub.services.external_models import parse_config

URL = "http://127.0.0.1:5000/invocations"


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_breaker_opens_after_k_failures_lets_one_trial_through_and_closes_or_reopens():
    clock = Clock()
    b = CircuitBreaker(3, 10.0, clock)
    for _ in range(2):
        assert b.allow()
        b.failure("timeout")
    assert b.state == "closed" and b.allow()
    b.success()  # a success resets the count: failures must be consecutive
    for _ in range(3):
        assert b.allow()
        b.failure("HTTP 503")
    assert b.state == "open" and not b.allow() and b.retry_in() == pytest.approx(10.0)
    clock.t += 9.9
    assert not b.allow()
    clock.t += 0.2
    assert b.state == "half_open" and b.allow() and not b.allow()  # exactly one trial call
    b.failure("timeout again")  # the trial failed: open again for a full cool-down
    assert b.state == "open" and b.retry_in() == pytest.approx(10.0)
    clock.t += 10.0
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.consecutive == 0 and b.allow() and b.allow()


def test_backoff_doubles_with_jitter_within_bounds():
    rng = random.Random(1)
    for attempt in range(1, 6):
        waits = [backoff_wait(attempt, 0.2, rng) for _ in range(200)]
        base = 0.2 * 2 ** (attempt - 1)
        assert min(waits) >= 0.5 * base and max(waits) < 1.5 * base and np.std(waits) > 0
    assert backoff_wait(20, 1.0, rng) == MAX_BACKOFF_SECONDS


def _model(cfg: dict, classes=("No", "Yes")) -> external.ExternalModel:
    config = ExternalConfig.model_validate({"url": URL, **cfg})
    frame = pd.DataFrame({"tenure": [1.0, 30.0, 60.0], "Contract": ["Month-to-month", "One year", "Two year"]})
    schema = external.reference_schema(frame, ["tenure", "Contract"])
    bg, w = external.summarize_background(frame, schema, 2)
    return external.ExternalModel(config, "k", "External model 'x' version 1", schema,
                                  list(classes) if classes else None, classes[-1] if classes else None, bg, w)


def test_request_bodies_of_each_format_with_renamed_columns():
    frame = pd.DataFrame({"tenure": [1.0, 2.0], "Contract": ["One year", "Two year"]})
    rename = {"columns": {"tenure": "months"}}
    split = external.request_body(_model({"input": {"format": "mlflow_split", **rename}}).endpoint, frame)
    assert split == {"dataframe_split": {"columns": ["months", "Contract"],
                                         "data": [[1.0, "One year"], [2.0, "Two year"]]}}
    records = [{"months": 1.0, "Contract": "One year"}, {"months": 2.0, "Contract": "Two year"}]
    assert external.request_body(_model({"input": {"format": "mlflow_records", **rename}}).endpoint, frame) == {
        "dataframe_records": records}
    assert external.request_body(_model({"input": {"format": "bentoml", "field": "rows", **rename}}).endpoint,
                                 frame) == {"rows": records}
    tpl = {"format": "records", "template": {"model": "churn", "inputs": {"instances": "$records"}}, **rename}
    assert external.request_body(_model({"input": tpl}).endpoint, frame) == {
        "model": "churn", "inputs": {"instances": records}}
    assert external.request_body(_model({"input": {"format": "records", **rename}}).endpoint, frame) == records


def test_answers_are_read_by_the_output_mapping_and_misfits_name_the_setting():
    m = _model({"output": {"prediction_key": "label", "probabilities_key": "scores"}})
    rows = external.parse_answer(m, {"predictions": [{"label": "Yes", "scores": {"No": 0.2, "Yes": 0.8}}]}, 1)
    assert rows[0]["prediction"] == "Yes" and list(rows[0]["probabilities"]) == [0.2, 0.8]
    decided = external._decide(m, rows[0])
    assert decided["probability"] == 0.8 and decided["confidence"] == 0.8 and decided["positive_class"] == "Yes"

    bento = _model({"output": {"predictions_path": "", "probability_key": "p_yes"}})
    out = external._decide(bento, external.parse_answer(bento, [{"p_yes": 0.3}], 1)[0])
    assert out["prediction"] == "No" and out["probability"] == pytest.approx(0.3)

    reg = _model({"task": "regression"}, classes=None)
    assert external._decide(reg, external.parse_answer(reg, {"predictions": [41.5]}, 1)[0])["prediction"] == 41.5

    for answer, n, where in (({"outputs": [1]}, 1, "output.predictions_path"),
                             ({"predictions": [{"label": "Yes"}]}, 2, "output.predictions_path"),
                             ({"predictions": [{"scores": [0.1, 0.9]}]}, 1, "output.prediction_key"),
                             ({"predictions": [{"label": "Yes", "scores": [0.9]}]}, 1, "output.probabilities_key")):
        with pytest.raises(ConnectorError) as caught:
            external.parse_answer(m, answer, n)
        assert caught.value.kind == "bad_data" and where in str(caught.value), str(caught.value)
    with pytest.raises(ConnectorError, match="output.classes"):
        external._decide(m, {"prediction": "Maybe", "probabilities": np.asarray([0.5, 0.5])})


@pytest.mark.parametrize(("raw", "field", "words"), [
    ({"url": "ftp://h/x"}, "url", "http://"),
    ({"url": "http://user:pw@h/x"}, "url", "auth header"),
    ({"url": URL, "task": "ranking"}, "task", "classification"),
    ({"url": URL, "input": {"format": "soap"}}, "input.format", "mlflow_split"),
    ({"url": URL, "input": {"format": "records", "template": {"rows": "$rows"}}}, "input.template", "$records"),
    ({"url": URL, "task": "regression", "output": {"probabilities_key": "p"}}, "output.probabilities_key",
     "regression"),
    ({"url": URL, "output": {"classes": ["a", "b"], "positive_class": "c"}}, "output.positive_class", "one of"),
    ({"url": URL, "explain": {"background_size": 50}}, "explain.background_size", "20"),
    ({"url": URL, "calls": {"retries": 9}}, "calls.retries", "5"),
    ({"url": URL, "auth_header_name": "X Bad\nHeader"}, "auth_header_name", ""),
    ({"url": URL, "secret": "x"}, "secret", "known"),
])
def test_configuration_errors_name_the_field_and_say_what_to_do(raw, field, words):
    with pytest.raises(ValidationError) as caught:
        parse_config(raw)
    assert caught.value.field == field, (caught.value.field, str(caught.value))
    assert words in str(caught.value)


def test_prepare_fills_blanks_and_names_a_bad_number():
    m = _model({})
    data, errors, warns = external.prepare(m, pd.DataFrame({"tenure": [None, "abc"], "Contract": [" ", "One year"]}))
    assert errors[0] is None and data.loc[0, "tenure"] == 30.0 and "tenure blank" in warns[0]
    assert errors[1] and "row 2: tenure = 'abc' is not a number" in errors[1]
    with pytest.raises(ValidationError) as caught:
        external.prepare(m, pd.DataFrame({"tenure": [1]}))
    assert caught.value.field == "Contract"


class _BadGzip(BaseHTTPRequestHandler):
    """Claims a gzip body and sends plain bytes: httpx fails decoding, an error outside the transport ones."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", "7")
        self.end_headers()
        self.wfile.write(b"not gz!")


def test_an_unexpected_failure_still_counts_and_ends_a_half_open_trial():
    from aihub.connectors import endpoint

    endpoint.forget_breakers()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BadGzip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/score"
    limits = endpoint.Limits(retries=0, breaker_failures=1, breaker_cooldown=0.05)
    try:
        for _ in range(2):
            with pytest.raises(ConnectorError, match="DecodingError"):
                endpoint.post_json(url, {}, name="m", key="gz", limits=limits, allowed_hosts=["127.0.0.1"])
            b = endpoint.breaker("gz", 1, 0.05)
            assert b.state == "open" and not b.trial_running
            time.sleep(0.06)  # half-open: the next call is the trial, and it fails the same way
    finally:
        server.shutdown()
