"""The committed OpenAPI document (docs/openapi.json) is the one the app generates, and the app keeps it:
schemathesis calls every endpoint with generated requests against a real server on an archive."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from typer.testing import CliRunner

from services.api.app import create_app
from tests.support.api import served_in_thread
from tgpipe.cli import app
from tgpipe.ops.openapi import REFRESH_COMMAND, SPEC_PATH, render, specification


def test_committed_openapi_document_is_up_to_date():
    assert SPEC_PATH.exists(), f"{SPEC_PATH} is missing: run `{REFRESH_COMMAND}`"
    assert SPEC_PATH.read_text(encoding="utf-8") == render(specification()), (
        f"docs/openapi.json is stale (the API's routes or models changed): run `{REFRESH_COMMAND}` and commit it")


def test_docs_openapi_writes_the_document(tmp_path):
    out = tmp_path / "openapi.json"
    result = CliRunner().invoke(app, ["docs", "openapi", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == SPEC_PATH.read_text(encoding="utf-8")


schema = schemathesis.openapi.from_path(SPEC_PATH)
TOKEN = "schemathesis-token"


@pytest.fixture(scope="module")
def served(trantor) -> Iterator[str]:
    """The API on the archived trantor export with a token (the document says the endpoints need one),
    served by uvicorn in a thread; yields its base URL."""
    with served_in_thread(create_app(trantor.settings.model_copy(update={"api_token": SecretStr(TOKEN)}))) as url:
        yield url


@pytest.mark.e2e
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_answers_within_its_schema(case, served):
    # A search query's syntax (quotes, a positive word) and its opaque cursor are not expressible in
    # JSON Schema: a schema-valid search may be a 422, which the document lists.
    excluded = [positive_data_acceptance] if case.operation.path == "/api/v1/search" else []
    case.call_and_validate(base_url=served, headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=excluded)
