"""schemathesis against the controller's served OpenAPI document: no 500s, responses match the document."""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from controller.openapi import openapi_document
from tests.fuzz.api_server import LiveApi, running_api

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCHEMA = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Bounded: every operation gets this many generated cases (positive and negative) on top of schemathesis's
# deterministic coverage-phase cases (boundaries, wrong types, missing fields); the whole file well < 2 min.
# CAMFLEET_FUZZ_EXAMPLES=N runs a longer, randomised hunt (CI keeps the fixed, derandomised 25).
LONG = os.environ.get("CAMFLEET_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(LONG or 25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    derandomize=LONG is None,
    database=None,
)
FEW = settings(FUZZ, max_examples=4)
#: Statuses seen and seconds spent per operation in the admin run (checked by a later test).
SEEN: defaultdict[str, Counter[int]] = defaultdict(Counter)
ELAPSED: defaultdict[str, float] = defaultdict(float)
#: Path parameter -> ids that exist on the live server (filled by the fixture).
KNOWN_IDS: dict[str, list[str]] = {}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def live() -> Iterator[LiveApi]:
    with running_api(n_cameras=300) as api:
        h = bearer(api.tokens["operator"])
        # Some real commands and a campaign, so generated ids can be swapped for ids that exist.
        for action in ("disable_cloud", "inventory"):
            r = requests.post(f"{api.url}/api/v1/commands", json={"action": action, "where": {"origin": "dahua"},
                                                                   "dry_run": True}, headers=h, timeout=10)  # fmt: skip
            assert r.status_code == 201, r.text
            api.command_ids += [c["command_id"] for c in r.json()["commands"]]
        r = requests.post(f"{api.url}/api/v1/campaigns", json={"name": "fuzz", "where": {"origin": "hikvision"},
                                                                "stages": ["disable_cloud"]}, headers=h, timeout=10)  # fmt: skip
        assert r.status_code == 201, r.text
        api.campaign_ids.append(r.json()["campaign_id"])
        KNOWN_IDS.update(camera_id=api.camera_ids[:20], command_id=api.command_ids, cid=api.campaign_ids,
                         bid=[b["batch_id"] for b in r.json()["batches"]])  # fmt: skip
        yield api


@SCHEMA.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Mostly replace a generated path id with one that exists (filled in by the `live` fixture when
    the strategy is drawn), so the fuzzing reaches past the 404."""
    if not path_parameters:
        return st.just(path_parameters)
    options: dict[str, st.SearchStrategy[Any]] = {}
    for name, value in path_parameters.items():
        known = KNOWN_IDS.get(name, [])
        options[name] = st.sampled_from([value, *known[:20]]) if known else st.just(value)
    return st.fixed_dictionaries(options)


def test_served_document_is_the_fuzzed_one(live: LiveApi) -> None:
    r = requests.get(f"{live.url}/api/openapi.json", timeout=10)
    assert r.status_code == 200 and r.json() == openapi_document()


def sent_token(resp: schemathesis.Response) -> bool:
    """schemathesis's negative cases may drop the Authorization header on purpose (a missing security
    parameter), even over explicit headers; such a request must be a 401, not a 403."""
    return "Authorization" in resp.request.headers


@SCHEMA.parametrize()
@FUZZ
def test_every_operation_as_admin(case: schemathesis.Case[Any], live: LiveApi) -> None:
    started = time.monotonic()
    resp = case.call_and_validate(base_url=live.url, headers=bearer(live.tokens["admin"]), checks=CHECKS)
    assert resp.status_code < 500
    if sent_token(resp):
        assert resp.status_code != 401, resp.text
    op = f"{case.operation.method.upper()} {case.operation.path}"
    SEEN[op][resp.status_code] += 1
    ELAPSED[op] += time.monotonic() - started


def test_the_fuzzing_got_past_validation() -> None:
    """Runs after the admin run: every GET reached a 2xx at least once (the fuzzing did not only meet 400s)."""
    if not SEEN:
        pytest.skip("the admin run did not run")
    slow = sorted(ELAPSED.items(), key=lambda kv: -kv[1])[:5]
    calls = sum(sum(c.values()) for c in SEEN.values())
    print(f"{calls} calls; slowest operations:", ", ".join(f"{k} {v:.1f}s" for k, v in slow))
    for op, statuses in sorted(SEEN.items()):
        print(f"  {op}: {dict(sorted(statuses.items()))}")
    for op, statuses in SEEN.items():
        if op.startswith("GET ") and "{bid}" not in op:  # a batch id only exists under its own campaign
            assert any(200 <= code < 300 for code in statuses), (op, dict(statuses))
    assert any(200 <= c < 300 for op, st_ in SEEN.items() if op.startswith("POST ") for c in st_)


@SCHEMA.parametrize()
@FEW
def test_without_a_token_everything_is_401(case: schemathesis.Case[Any], live: LiveApi) -> None:
    resp = case.call_and_validate(base_url=live.url, checks=CHECKS)
    # Whatever schemathesis sends (no header, a made-up token for the security scheme, another method): 401.
    assert resp.status_code == 401, (case.method, case.formatted_path, resp.text)


@SCHEMA.include(method="POST").parametrize()
@FEW
def test_viewer_may_not_post(case: schemathesis.Case[Any], live: LiveApi) -> None:
    resp = case.call_and_validate(base_url=live.url, headers=bearer(live.tokens["viewer"]), checks=CHECKS)
    # schemathesis also sends the path with a method the operation does not take: 405 past authentication.
    expected = 405 if case.method.upper() != "POST" else 403 if sent_token(resp) else 401
    assert resp.status_code == expected, (case.method, case.formatted_path, resp.text)
