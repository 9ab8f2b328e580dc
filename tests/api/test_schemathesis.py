"""schemathesis runs the served OpenAPI document (/api/v1/openapi.json) against the live API: no 5xx, and every
answer conforms to the document (status codes, content types, headers, bodies)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from aihub.api.app import create_app
from aihub.api.settings import ApiSettings
from aihub.db import engine as dbengine
from tests.api.conftest import make_key
from tests.api.world import build_world


@pytest.fixture(scope="module")
def fuzz_world(_server_database_session, live_api):
    dbengine.set_database(_server_database_session)
    world = build_world()
    return {**world, "token": make_key(world["a"])}


#: The document the app serves at /api/v1/openapi.json (built without a server at collection time; the first
#: test checks the served one is the same). schemathesis' lazy fixture loader does not run on this pytest.
DOCUMENT = create_app(ApiSettings()).openapi()
#: Scenarios of the stateful test (each up to 6 calls): 30 to 80 s on the shared 2-core machine.
STATEFUL_EXAMPLES = 40
STATEFUL_STEPS = 6
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_fuzzed_document_is_the_served_one(api):
    import httpx

    assert httpx.get(api.url + "/api/v1/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_to_its_openapi_document(case, server_database, live_api, fuzz_world):
    # Schema-valid but meaningless values (a cursor this list never made, a column the dataset lacks, a status
    # the object already has) are rightly 404/409/422: positive_data_acceptance cannot know that, so it is left out.
    case.call_and_validate(base_url=live_api.url, headers={"Authorization": f"Bearer {fuzz_world['token']}"},
                           excluded_checks=[positive_data_acceptance])


#: Links the document declares on purpose (create -> its follow-ups, list -> item); schemathesis infers more.
DECLARED_LINKS = {
    ("POST /api/v1/models", "GET /api/v1/jobs/{job_id}"), ("POST /api/v1/models", "GET /api/v1/models/{model_id}"),
    ("POST /api/v1/datasets", "GET /api/v1/datasets/{dataset_id}/versions"),
    ("GET /api/v1/anomalies", "GET /api/v1/anomalies/{anomaly_id}"),
    ("POST /api/v1/monitors/{monitor_id}/run", "GET /api/v1/jobs/{job_id}"),
    ("POST /api/v1/insights/generate", "GET /api/v1/jobs/{job_id}"),
    ("POST /api/v1/models/{model_id}/predictions", "GET /api/v1/predictions/{prediction_id}"),
}


def _declared(document: dict) -> set[tuple[str, str]]:
    out = set()
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            for response in op.get("responses", {}).values():
                for target in response.get("links", {}).values():
                    ref = target["operationRef"].removeprefix("#/paths/").replace("~1", "/").replace("~0", "~")
                    t_path, _, t_method = ref.rpartition("/")
                    out.add((f"{method.upper()} {path}", f"{t_method.upper()} {t_path}"))
    return out


def test_the_document_links_creations_to_their_follow_ups():
    declared = _declared(DOCUMENT)
    assert DECLARED_LINKS <= declared, DECLARED_LINKS - declared
    labels = {f"{m.upper()} {p}" for p, ops in DOCUMENT["paths"].items() for m in ops}
    assert {t for _, t in declared} <= labels  # every link names an operation of the document


def test_stateful_sequences_follow_the_links(server_database, live_api, fuzz_world):
    """Chains of calls where each takes its ids from an earlier answer (the document's links, and the ones
    schemathesis infers): no 5xx and no answer outside the document, with the same checks as above."""
    import time

    from hypothesis import Phase
    from hypothesis.errors import Flaky
    from schemathesis import GenerationMode

    stateful_schema = schemathesis.openapi.from_dict(DOCUMENT)
    # Schema-valid requests only: an invalid one ends its chain at a 422, and its "missing Authorization" variant
    # is sent with the key anyway (get_call_kwargs), which schemathesis would then call an accepted invalid request.
    stateful_schema.config.generation.modes = [GenerationMode.POSITIVE]
    stateful_schema.config.phases.stateful.generation.modes = [GenerationMode.POSITIVE]
    base = stateful_schema.as_state_machine()
    labels = {f"{m.upper()} {p}" for p, ops in DOCUMENT["paths"].items() for m in ops}
    seen: dict[str, set] = {"operations": set(), "links": set(), "declared": set()}
    calls = [0]

    class LiveAPI(base):
        def get_call_kwargs(self, case):
            return {"base_url": live_api.url, "headers": {"Authorization": f"Bearer {fuzz_world['token']}"}}

        def step(self, input):
            seen["operations"].add(input.case.operation.label)
            if input.transition is not None and input.is_applied:
                seen["links"].add(input.transition.id)
                if not input.transition.is_inferred:
                    seen["declared"].add(input.transition.id)
            calls[0] += 1
            return super().step(input)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            try:
                case.validate_response(response, additional_checks=additional_checks,
                                       transport_kwargs=kwargs or None, recorder=self.recorder,
                                       excluded_checks=[positive_data_acceptance])
            except Exception as exc:
                failures.append(f"{case.operation.label} -> {response.status_code}: {exc}")
                raise

    failures: list[str] = []
    flaky = [False]
    started = time.monotonic()
    try:
        LiveAPI.run(settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=STATEFUL_STEPS,
                                      deadline=None, derandomize=True, database=None,
                                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck)))
    except Flaky:
        flaky[0] = True
        # A replay met the server in another state (an id a link extracted before is gone, a list grew): the
        # sequences cannot be replayed exactly. As in schemathesis' own runner, that is a failure only if a check
        # failed (kept in `failures`).
    seconds = time.monotonic() - started
    print(f"stateful: {calls[0]} calls, {len(seen['operations'])} of {len(labels)} operations, "
          f"{len(seen['links'])} links followed with extracted values ({len(seen['declared'])} declared, the rest "
          f"inferred by schemathesis), {seconds:.1f} s{'; a replay met another server state' if flaky[0] else ''}")
    assert not failures, "\n".join(failures[:5])
    # The chains reach deep enough: operations fed ids by an earlier answer, declared links among them.
    assert len(seen["links"]) >= 5 and seen["declared"] and len(seen["operations"]) >= 20, seen
