"""The HTTP API does what its own ``/openapi.json`` says, for inputs a fuzzer makes up.

schemathesis reads the document the app serves and, for each operation, sends valid and
invalid requests (its examples, boundary "coverage" cases, then random ones) through the app
in process (WSGI), with an admin token, running all its checks on each answer: no 5xx, a
documented status, a body and headers that match the document, invalid input refused,
credentials enforced. Seeded and derandomized: the same cases on every run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import fakeredis
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig

from app import create_app
from app.store import Store
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, seed

MAX_EXAMPLES = 30  # random ones per operation, besides the examples and boundary cases: ~2,200 requests
ADMIN = {"Authorization": "Bearer admin-token"}


def _app(lake: Path) -> Flask:
    """The seeded city over an empty lake. Writes (acknowledge, resolve, ingest) land in this app only."""
    speed = SpeedLayer(fakeredis.FakeRedis(), "conf:")
    seed(speed)
    return create_app(api_settings(lake), store=Store(speed))


def _may_refuse(path: str, *statuses: int) -> dict[str, Any]:
    accepted = ["2xx", "3xx", "401", "403", "404", "409", "429", *map(str, statuses)]
    return {"include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": accepted}}}


# Rules across values that a JSON Schema cannot state, for which a schema-valid request is still
# refused (each operation documents that status and why)
_UNSAID = [
    _may_refuse("/api/vehicles/locations", 400),  # bbox: south < north, west < east, latitudes within ±90
    _may_refuse("/api/history/{view}", 400),  # start before end, at most 31 days apart
    _may_refuse("/api/history/vehicles/{vehicle_id}/route", 400),
    _may_refuse("/api/ingest/{stream}", 422),  # a body of another stream than the path's, a time before 2000
    _may_refuse("/api/zones", 400),  # a self-intersecting or flat polygon
    _may_refuse("/api/rules", 400),  # a zone that does not exist, a threshold beyond the kind's range
    _may_refuse("/api/webhooks", 400),  # a URL's host must be a name or an address; a secret valid Unicode
]
_CONFIG = SchemathesisConfig.from_dict(
    {"generation": {"max-examples": MAX_EXAMPLES, "deterministic": True}, "operations": _UNSAID}
)
# Built when the module is collected, not in a fixture: schemathesis.pytest.from_fixture reads
# pytest's private Node._nodeid, which pytest 9 no longer has. The directory goes at exit.
_LAKE = tempfile.TemporaryDirectory(prefix="smartcity-conformance-")
# A WebSocket's handshake (101) is no HTTP request and answer; test_openapi.py speaks to it
schema = schemathesis.openapi.from_wsgi("/openapi.json", _app(Path(_LAKE.name)), config=_CONFIG).exclude(
    path="/ws/realtime"
)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
def test_each_operation_answers_as_its_document_says(case: Case) -> None:
    case.call_and_validate(headers=ADMIN)
