"""The strict request models and the one action module: the same input means the same thing everywhere."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from controller.actions import ACTIONS, PARAMS, build_action, describe_action, parse_params
from controller.app import build_app
from controller.config import ControllerConfig
from controller.csvsafe import csv_text, safe_cell
from controller.models import (
    COMMAND_CREATE,
    CamerasQuery,
    CampaignCreate,
    InputError,
    Selection,
    parse_body,
    parse_obj,
    parse_query,
)
from controller.openapi import OPERATIONS, openapi_document
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import SigningKey


def fields_of(exc: pytest.ExceptionInfo[InputError]) -> dict[str, str]:
    return dict(exc.value.fields)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "restrict_network", "where": {"site": "n"}, "params": {"allow": ["10.0.0.1"], "clear_dns": "false"}},
         "params.clear_dns"),
        ({"action": "decommission", "where": {"site": "n"}, "params": {"wipe_users": 0}}, "params.wipe_users"),
        ({"action": "disable_cloud", "where": {"site": "n"}, "params": {"featurez": []}}, "params.featurez"),
        ({"action": "disable_cloud", "where": {"site": "n"}, "dry_run": "true"}, "dry_run"),
        ({"action": "disable_cloud", "where": {"site": "n"}, "ttl_s": "900"}, "ttl_s"),
        ({"action": "disable_cloud", "where": {"sitee": "n"}}, "where.sitee"),
        ({"action": "disable_cloud", "where": {"site": ""}}, "where.site"),
        ({"action": "disable_cloud", "where": {}}, "where"),
        ({"action": "disable_cloud", "where": {"ids": "a,b"}}, "where.ids"),
        ({"action": "disable_cloud", "where": {"covered": "yes"}}, "where.covered"),
        ({"action": "format_c", "where": {"site": "n"}}, "action"),
        ({"where": {"site": "n"}}, "action"),
        ({"action": "inventory", "where": {"site": "n"}, "extra": 1}, "extra"),
    ],
)  # fmt: skip
def test_bad_command_bodies_name_the_field(body: dict[str, Any], field: str) -> None:
    import json

    with pytest.raises(InputError) as exc:
        parse_body(COMMAND_CREATE, json.dumps(body))
    assert field in fields_of(exc), exc.value.fields


def test_selection_is_explicit() -> None:
    assert parse_obj(Selection, {"all": True}).all
    assert parse_obj(Selection, {"site": "north", "ids": ["a"]}).camera_filter().camera_ids == ["a"]
    for bad in ({}, {"all": False}, {"all": True, "site": "x"}, {"all": "true"}):
        with pytest.raises(InputError):
            parse_obj(Selection, bad)


def test_query_strings_are_read_as_text_but_strictly() -> None:
    q = parse_query(CamerasQuery, {"covered": "false", "ids": "a,b", "limit": "10"})
    assert q.covered is False and q.ids == ["a", "b"] and q.limit == 10
    for bad in (
        {"limit": str(10**21)},
        {"offset": "-1"},
        {"sitee": "x"},
        {"q": "x" * 201},
        {"covered": "maybe"},
    ):
        with pytest.raises(InputError):
            parse_query(CamerasQuery, bad)

    class Twice(dict[str, str]):
        def keys(self) -> Any:
            return ["site", "site"]

    with pytest.raises(InputError, match="more than once"):
        parse_query(CamerasQuery, Twice(site="a"))


def test_a_deep_body_is_a_400_not_a_recursion_error() -> None:
    with pytest.raises(InputError):
        parse_body(COMMAND_CREATE, '{"where":' + "[" * 100_000 + "]" * 100_000 + "}")


@pytest.mark.parametrize("action", ACTIONS)
def test_every_parameter_of_every_action_reaches_the_description(action: str) -> None:
    """What an approver is shown is read back from the signed Action: no parameter goes missing."""
    params: dict[str, Any] = {
        "restrict_network": {"allow": ["10.1.2.3/32"], "ntp_server": "10.1.2.1", "keep_protocols": ["rtsp", "https"],
                             "clear_gateway": False, "clear_dns": False},
        "decommission": {"mode": "hard", "wipe_users": True},
        "disable_cloud": {"features": ["EZVIZ", "upnp"]},
        "inventory": {"include_vendor_apis": False},
        "rollback": {"snapshot_id": "cmd-1"},
        "reboot": {},
    }[action]  # fmt: skip
    described = describe_action(build_action(action, params))
    assert described["action"] == action
    assert set(described["params"]) == set(PARAMS[action].model_fields)
    model = parse_params(action, params).model_dump(mode="json")
    for k, v in model.items():
        assert described["params"][k] == v, (k, described["params"][k], v)


def test_false_is_signed_as_false() -> None:
    a = build_action("decommission", {"wipe_users": False, "mode": "soft"})
    assert a.decommission.wipe_users is False and a.decommission.mode == pb.FACTORY_RESET_MODE_SOFT
    a = build_action("restrict_network", {"allow": ["10.0.0.0/8"], "clear_gateway": False})
    assert a.restrict_network.clear_gateway is False and a.restrict_network.clear_dns is True


def test_campaign_stages_by_name_or_object_in_order() -> None:
    c = parse_obj(CampaignCreate, {"name": "x", "where": {"site": "n"},
                                   "stages": ["disable_cloud", {"action": "decommission", "params": {"mode": "hard"}}]})  # fmt: skip
    assert [s.action for s in c.stages] == ["disable_cloud", "decommission"]
    with pytest.raises(InputError):
        parse_obj(
            CampaignCreate, {"name": "x", "where": {"site": "n"}, "stages": ["decommission", "disable_cloud"]}
        )


@pytest.mark.parametrize(
    ("cell", "safe"),
    [("=1+1", "'=1+1"), (" =1+1", "' =1+1"), ("\t=1", "'\t=1"), ("@SUM(1)", "'@SUM(1)"), ("+1", "'+1"),
     ("-2+3", "'-2+3"), ("\r=1", "'\r=1"), ("＝1", "'＝1"), ("DS-2CD2043", "DS-2CD2043"), (-5, -5), (True, True),
     ("\u00a0=1", "'\u00a0=1"), ("\u2003@x", "'\u2003@x"), (" x", " x"), ("", ""), (0.5, 0.5)],
)  # fmt: skip
def test_csv_cells_that_would_be_formulas_are_neutralised(cell: object, safe: object) -> None:
    assert safe_cell(cell) == safe
    assert csv_text(["=h"], [[cell]]).splitlines()[0] == "'=h"
    # csv_text asks safe_cell only about cells that may start a formula: the same cells as asking about all.
    buf = io.StringIO()
    csv.writer(buf).writerow([safe])
    assert csv_text(["h"], [[cell]]) == "h\r\n" + buf.getvalue()


def test_the_document_describes_exactly_the_routes_served(tmp_path: Path) -> None:
    app = build_app(ControllerConfig(state_dir=tmp_path), SigningKey.generate(), mqtt=False)
    served = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/v1/") and r.method != "HEAD"
    }
    documented = {(m, p) for p, ops in openapi_document()["paths"].items() for m in ops}
    assert served == documented
    assert len(OPERATIONS) == len(documented)
