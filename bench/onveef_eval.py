"""Evaluate onveef (PyPI, zeep-free ONVIF parsers) as the agent's read path: recorded, camsim and broken replies.

onveef is not a dependency: install it beside the checkout and put it on the path, e.g.
    pip install --no-deps --target build/onveef onveef==0.6.0 defusedxml
    PYTHONPATH=build/onveef .venv/bin/python bench/onveef_eval.py
For each read the inventory makes it compares onveef's parser with the agent's read path (agent.onvif_read, which
returns what zeep returns) on (1) every recorded reply in ../shared/fixtures, (2) the replies of a small camsim
fleet of the default mix, (3) every recorded reply cut short at many offsets (not well-formed: the agent turns each
into a classified protocol error). Last line: key=value counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from agent import onvif_read
from agent.actions.onvif_settings import field, items, text
from agent.credentials import Credentials
from agent.errors import CameraError
from agent.http import Banner, CameraHttp, HttpPool, HttpReply
from agent.onvif_session import OnvifSession
from agent.onvif_transport import check_reply
from camsim.cli import DEFAULT_MIX
from camsim.export import admin_user
from camsim.fleet import generate_fleet, parse_mix
from tests.camsim.conftest import find_free_port, run_sim
from tests.fixtures import SHARED_FIXTURES

try:
    from onveef import parsers as ov
except ImportError:  # pragma: no cover - the evaluation needs it, the product does not
    raise SystemExit("onveef is not importable; see the docstring for how to run this") from None


class _Http:
    host = "127.0.0.1"
    check = CameraHttp.check

    def __init__(self) -> None:
        self.banner = Banner()


# ---- the fields the inventory reads, from both sides -------------------------------------------------------------
def ours_device(v: Any) -> Any:
    return {k: text(field(v, k)) for k in ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber")}


def theirs_device(x: bytes) -> Any:
    d = ov.parse_device_information(x.decode("utf-8", "replace"))
    return {k: d.get(k, "") for k in ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber")}


def ours_scopes(v: Any) -> Any:
    return [text(field(s, "ScopeItem")) for s in items(v)]


def theirs_scopes(x: bytes) -> Any:
    return [s["scope_item"] for s in ov.parse_scopes(x.decode("utf-8", "replace"))]


def ours_macs(v: Any) -> Any:
    return [text(field(field(i, "Info"), "HwAddress")) for i in items(v)]


def theirs_macs(x: bytes) -> Any:
    return [i["hardware_address"] for i in ov.parse_network_interfaces(x.decode("utf-8", "replace"))]


def ours_dns(v: Any) -> Any:
    return [
        text(field(e, "IPv4Address")) for e in items(field(v, "DNSManual")) + items(field(v, "DNSFromDHCP"))
    ]


def theirs_dns(x: bytes) -> Any:
    return ov.parse_dns(x.decode("utf-8", "replace")).get("servers", [])


def ours_gateway(v: Any) -> Any:
    return [text(g) for g in items(field(v, "IPv4Address"))]


def theirs_gateway(x: bytes) -> Any:
    return ov.parse_network_default_gateway(x.decode("utf-8", "replace"))["ipv4"]


def ours_users(v: Any) -> Any:
    return [(text(field(u, "Username")), text(field(u, "UserLevel"))) for u in items(v)]


def theirs_users(x: bytes) -> Any:
    return [(u["username"], u["user_level"]) for u in ov.parse_users(x.decode("utf-8", "replace"))]


def ours_caps(v: Any) -> Any:
    net = field(v, "Network")
    return {k: field(net, k) for k in ("IPFilter", "ZeroConfiguration", "DynDNS", "NTP")}


def theirs_caps(x: bytes) -> Any:
    net = ov.parse_service_capabilities(x.decode("utf-8", "replace")).get("Network", {})
    net = net if isinstance(net, dict) else {}
    # onveef keeps attributes as strings; typed here the way the schema types them, so only real differences count.
    raw = {k: net.get(f"@{k}") for k in ("IPFilter", "ZeroConfiguration", "DynDNS", "NTP")}
    return {
        k: (None if v is None else int(v) if k == "NTP" and v.isdigit() else v == "true")
        for k, v in raw.items()
    }


READS: dict[str, tuple[Callable[[Any], Any], Callable[[bytes], Any]]] = {
    "GetDeviceInformation": (ours_device, theirs_device),
    "GetScopes": (ours_scopes, theirs_scopes),
    "GetNetworkInterfaces": (ours_macs, theirs_macs),
    "GetDNS": (ours_dns, theirs_dns),
    "GetNetworkDefaultGateway": (ours_gateway, theirs_gateway),
    "GetUsers": (ours_users, theirs_users),
    "GetServiceCapabilities": (ours_caps, theirs_caps),
}


async def ours(op: str, body: bytes, status: int = 200) -> tuple[str, Any]:
    path = await onvif_read.read_path()
    reply = HttpReply(status, CIMultiDictProxy(CIMultiDict()), body, "")
    try:
        root = check_reply(_Http(), reply, operation=op, authenticate=True)  # type: ignore[arg-type]
        return "value", READS[op][0](path.interpret(op, reply, root, host="127.0.0.1", optional=True))
    except CameraError as exc:
        return "error", exc.error_class


def theirs(op: str, body: bytes) -> tuple[str, Any]:
    try:
        return "value", READS[op][1](body)
    except Exception as exc:  # onveef documents no exceptions from parsers; count any that escapes
        return "error", type(exc).__name__


async def camsim_replies() -> list[tuple[str, bytes]]:
    """(op, reply body) of every inventory read on 12 camsim cameras of the default mix."""
    cams = generate_fleet(
        12, parse_mix(DEFAULT_MIX), seed=5, base_address="127.0.17.1", port=find_free_port()
    )
    out: list[tuple[str, bytes]] = []
    async with run_sim(cams):
        pool = HttpPool(concurrency=8)
        try:
            for cam in cams:
                async with OnvifSession(cam.network.address, cam.port, Credentials(*admin_user(cam)),
                                        pool=pool) as s:  # fmt: skip
                    await s.connect()
                    for op in READS:
                        security = b""
                        if s.auth_scheme == "wsse" and s.credentials is not None:
                            security = onvif_read.username_token(s.credentials, s.clock_offset_s or 0.0)
                        reply = await s.http.exchange("POST", s.device_xaddr, data=onvif_read.envelope(op, {}, security),
                                                      headers=onvif_read.http_headers(op), operation=op)  # fmt: skip
                        out.append((op, reply.body))
        finally:
            await pool.close()
    return out


async def main() -> None:
    fixtures = [p.read_bytes() for p in sorted((SHARED_FIXTURES / "onvif_agsh_v0.8.2").glob("*.xml"))]
    tally = {"fixture_same": 0, "fixture_differ": 0, "camsim_same": 0, "camsim_differ": 0,
             "broken_error": 0, "broken_silent_value": 0, "broken_total": 0}  # fmt: skip
    print("recorded replies (each read with its own recorded answer), where the two differ:")
    for path in sorted((SHARED_FIXTURES / "onvif_agsh_v0.8.2").glob("*.xml")):
        op = path.stem.removeprefix("device.")
        if op not in READS:
            continue
        a, b = await ours(op, path.read_bytes()), theirs(op, path.read_bytes())
        tally["fixture_same" if a == b else "fixture_differ"] += 1
        if a != b:
            print(f"  {path.name:36} agent: {a}\n  {'':36} onveef: {b}")
    for op, body in await camsim_replies():
        a, b = await ours(op, body), theirs(op, body)
        tally["camsim_same" if a == b else "camsim_differ"] += 1
        if a != b:
            print(f"camsim {op}: agent {a} onveef {b}")
    for body in fixtures:
        for cut in range(1, len(body) - 1, 23):
            for op in READS:
                a, b = await ours(op, body[:cut]), theirs(op, body[:cut])
                if a[0] != "error":
                    continue  # still well-formed at this cut (cannot happen for a cut document) or agent read it
                tally["broken_total"] += 1
                tally["broken_error" if b[0] == "error" else "broken_silent_value"] += 1
    print(" ".join(f"{k}={v}" for k, v in tally.items()))


if __name__ == "__main__":
    asyncio.run(main())
