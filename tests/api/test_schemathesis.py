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
