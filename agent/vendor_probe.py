"""Vendor API detection on evidence: which maker the evidence points at, an unauthenticated probe first, and
credentials only where both say the API is there (DESIGN §4: "vendor APIs are probed on evidence")."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlencode

from agent.attribution import Evidence, Observation, VendorLookup, attribute
from agent.auth_guard import Withheld, space_of
from agent.drivers import DRIVERS, ProbeRequest, VendorDriver
from agent.errors import AuthFailed, CameraError, LockedOut, Unreachable
from agent.http import CameraHttp, HttpReply

log = logging.getLogger(__name__)

#: Support (attribution.attribute, 0..1) from which the evidence "points at" a maker: credentials may then go
#: to its API once an unauthenticated probe found a digest challenge there. Below it nothing is sent.
CREDENTIAL_SUPPORT = 0.4
#: Support from which one maker is taken as the camera's: only its API is probed (the others are not this
#: camera's, and every probe is a request). Same bar as attribution's verdict (rules min_support).
VERDICT_SUPPORT = 0.5

Verdict = Literal["present", "absent", "challenge"]
Status = Literal["present", "absent", "refused", "unavailable", "not_probed"]

# Lock and capacity bodies (VENDORS.md §3 userCheck lockStatus/unlockTime; Dahua "Too many connections").
_LOCK = re.compile(rb"lockStatus>\s*lock\s*<|unlockTime|user\s*locked|login\s*locked", re.IGNORECASE)
_TOO_MANY = re.compile(rb"too many connections", re.IGNORECASE)
_HTML = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body)", re.IGNORECASE)
_REALM = re.compile(r'realm\s*=\s*"([^"]*)"', re.IGNORECASE)
_BUSY = frozenset({502, 503, 504})


class Busy(Unreachable):
    """The vendor API is there but has no capacity now (Hikvision 503, Dahua 401 Too many connections)."""


@dataclass(frozen=True)
class Classified:
    """What one reply to a vendor probe says: the API is here, is not here, or asks for credentials."""

    verdict: Verdict
    reason: str
    realm: str | None = None


def classify(
    driver: VendorDriver,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials_sent: bool,
    schemes: tuple[str, ...] = (),
) -> Classified:
    """Read one reply to `driver.probe_request`. Pure: any status, header or body ends in a Classified or in
    LockedOut / AuthFailed / Unreachable, never in another exception.

    Only the API's own reply shape is "present". 401 with another scheme, 403, 404, 405, HTML, the wrong shape
    mean "not here": evidence, never a failed login. A 401 to a request that carried a digest answer is the
    refusal of the credential (AuthFailed; the caller sends credentials only where the API was identified).
    `schemes` are the challenge schemes of a 401, lower-case (HttpReply.schemes()).
    """
    api = driver.name
    if 200 <= status < 300:
        if driver.recognises(body):
            return Classified(
                "present", f"{api} API answered" + ("" if credentials_sent else " without credentials")
            )
        if _HTML.search(body[:512]):
            return Classified("absent", f"HTTP {status} with an HTML page, not the {api} API")
        return Classified("absent", f"HTTP {status} in a shape that is not the {api} API")
    if status == 401:
        if _TOO_MANY.search(body):
            raise Busy("camera connection limit reached (401 Too many connections)", operation=api)
        if credentials_sent:
            if _LOCK.search(body):
                raise LockedOut("camera reports this client/account locked", operation=api)
            raise AuthFailed(f"{api} API refused the credential (HTTP 401, digest sent)", operation=api)
        if "digest" in schemes:
            realm = _REALM.search(" ".join(v for k, v in headers.items() if k.lower() == "www-authenticate"))
            return Classified("challenge", "digest challenge", realm.group(1)[:200] if realm else None)
        if schemes:
            offered = ", ".join(sorted({s.capitalize() for s in schemes}))
            return Classified("absent", f"server offered {offered} only; nothing sent")
        return Classified("absent", "HTTP 401 without a challenge; nothing sent")
    if status == 403 and _LOCK.search(body):
        raise LockedOut("camera reports this client/account locked", operation=api)
    if status in _BUSY or (status == 500 and driver.recognises(body)):
        # Hikvision answers 503 under its connection limit (DESIGN §4): busy, not absent. Retry later.
        raise Busy(f"HTTP {status} from the {api} API", operation=api)
    return Classified("absent", f"HTTP {status}")


@dataclass(frozen=True)
class ApiProbe:
    """The outcome for one vendor API on one camera, kept as evidence in the inventory."""

    api: str
    status: Status
    reason: str
    credentials_sent: bool = False
    support: float = 0.0
    # The reply that showed the API present (with credentials), so a reader need not ask for it again.
    reply: HttpReply | None = field(default=None, repr=False, compare=False)

    def evidence(self) -> Evidence:
        """A note for the record's evidence list (weight 0: the verdict comes from attribution rules)."""
        sent = "credentials sent" if self.credentials_sent else "no credentials sent"
        return Evidence(f"vendor_api.{self.api}", f"{self.status}: {self.reason}"[:200], None, 0.0,
                        f"{self.api} API {self.status} ({sent}; evidence support {self.support:.2f})",
                        "camfleet", f"probe.{self.status}")  # fmt: skip


#: How long a camera's probe results stand in the daemon before the APIs are asked again: a service switched on
#: or off in the camera's web page changes no identity field, so only time can notice it.
PROBES_FOR_S = 6 * 3600.0


def probe_basis(obs: Observation) -> tuple[str, ...]:
    """What the probes were chosen from and cannot outlive: a firmware update (or another device at the address)
    can bring or remove a vendor API."""
    return tuple(
        x or "" for x in (obs.onvif_manufacturer, obs.onvif_model, obs.onvif_firmware, obs.onvif_serial)
    )


@dataclass
class VendorProbes:
    """Every vendor API the evidence led us to try on one camera, in the order tried."""

    apis: dict[str, ApiProbe] = field(default_factory=dict)
    support: dict[str, float] = field(default_factory=dict)
    basis: tuple[str, ...] = ()  # probe_basis() of the evidence they were chosen from
    at: float = field(default_factory=time.monotonic)

    def current(self, obs: Observation, now: float | None = None) -> bool:
        """Still true of this camera: the same identity, and asked within PROBES_FOR_S."""
        age = (time.monotonic() if now is None else now) - self.at
        return age < PROBES_FOR_S and probe_basis(obs) == self.basis

    @property
    def present(self) -> list[str]:
        return [a for a, p in self.apis.items() if p.status == "present"]

    def expected_but_unusable(self) -> list[ApiProbe]:
        """APIs the evidence points at that could not be used (refused, unavailable, or not found) while no other
        vendor API answered: the camera's own vendor switches are then unknown, not absent."""
        if self.present:
            return []
        return [p for p in self.apis.values() if p.status in ("refused", "unavailable")
                or (p.status == "absent" and p.support >= CREDENTIAL_SUPPORT)]  # fmt: skip


def driver_support(obs: Observation, oui: VendorLookup | None) -> dict[str, float]:
    """How strongly the evidence gathered so far points at each maker that has a vendor driver."""
    support = attribute(obs, oui).support
    return {name: float(support.get(name, 0.0)) for name in DRIVERS}


def probe_order(support: Mapping[str, float]) -> list[str]:
    """Which APIs to probe, most likely first, from attribution's support per maker: those the evidence points
    at (conflicting evidence: each of them); none when it names a maker without a driver; every API when it
    says nothing clear, unauthenticated (that costs no credential and may add evidence: a realm, a banner)."""
    pointed = [d for d in DRIVERS if support.get(d, 0.0) >= CREDENTIAL_SUPPORT]
    if pointed:
        return sorted(pointed, key=lambda d: (-support[d], d))
    if support and max(support.values()) >= VERDICT_SUPPORT:
        return []
    return sorted(DRIVERS, key=lambda d: (-support.get(d, 0.0), d))


async def _send(http: CameraHttp, req: ProbeRequest, *, authenticate: bool) -> HttpReply:
    data = urlencode(req.form) if req.form else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if req.form else None
    params = dict(req.params) if req.params else None
    op = f"{req.method} {req.path}"
    # A probe only reads: transient failures are retried with the camera's budget like any read.
    return await http.retrying(
        lambda: http.exchange(req.method, req.path, params=params, data=data, headers=headers,
                              authenticate=authenticate, operation=op),
        idempotent=True,
    )  # fmt: skip


async def probe_api(
    http: CameraHttp,
    driver: VendorDriver,
    obs: Observation,
    oui: VendorLookup | None,
    support: float | None = None,
) -> ApiProbe:
    """Unauthenticated probe, then (only when the evidence points at this maker and the API challenged with
    digest) the same request with credentials. LockedOut propagates: a camera that locked us must not be asked
    anything more. `support`: driver_support(obs, oui) for this driver, when the caller already weighed `obs`."""
    if support is None:
        support = driver_support(obs, oui)[driver.name]
    req = driver.probe_request
    try:
        reply = await _send(http, req, authenticate=False)
        first = classify(driver, reply.status, reply.headers, reply.body, credentials_sent=False,
                         schemes=tuple(reply.schemes()))  # fmt: skip
    except LockedOut:
        raise
    except Unreachable as exc:
        return _unreached(driver.name, exc, support, credentials_sent=False)
    if first.verdict != "challenge":
        return ApiProbe(driver.name, first.verdict, first.reason, False, support)
    if support < CREDENTIAL_SUPPORT:
        # The challenge is evidence too (its realm, the Server banner): weigh it before deciding.
        seen = replace(obs, digest_realm=first.realm or obs.digest_realm,
                       http_server=obs.http_server or reply.headers.get("Server"))  # fmt: skip
        support = driver_support(seen, oui)[driver.name]
        if support < CREDENTIAL_SUPPORT:
            return ApiProbe(driver.name, "not_probed", f"digest challenge, but the evidence does not point at "
                            f"{driver.name} (support {support:.2f}); no credentials sent", False, support)  # fmt: skip
    if http.credentials is None:
        return ApiProbe(
            driver.name, "not_probed", "digest challenge; no credentials configured", False, support
        )
    try:
        reply = await _send(http, req, authenticate=True)
        second = classify(driver, reply.status, reply.headers, reply.body, credentials_sent=bool(reply.auth_sent),
                          schemes=tuple(reply.schemes()))  # fmt: skip
    except LockedOut:
        raise
    except Withheld as exc:
        # Refused or lost elsewhere on this camera (agent.auth_guard): nothing went to this API.
        return ApiProbe(driver.name, "refused", exc.message, False, support)
    except AuthFailed as exc:
        return ApiProbe(driver.name, "refused", exc.message, True, support)
    except Unreachable as exc:
        return _unreached(driver.name, exc, support, credentials_sent=True)
    if second.verdict == "challenge":
        # Still a bare challenge after CameraHttp's digest leg: the request never carried our answer.
        return ApiProbe(driver.name, "absent", "challenge not answerable; nothing sent", False, support)
    return ApiProbe(driver.name, second.verdict, second.reason, True, support, reply)


def _unreached(api: str, exc: CameraError, support: float, *, credentials_sent: bool) -> ApiProbe:
    """A busy API (503, no free connection) is there but unavailable now; a connection dropped or timed out on
    a path next to the camera's answering ONVIF service means the API is not here (servers drop unknown POSTs)."""
    if isinstance(exc, Busy):
        return ApiProbe(api, "unavailable", exc.message, credentials_sent, support)
    return ApiProbe(api, "absent", f"no usable answer ({exc.message})", credentials_sent, support)


def api_space(api: str) -> str:
    """The protection space (agent.auth_guard.space_of) of a vendor API: where its driver's requests go."""
    return space_of(DRIVERS[api].probe_request.path)


async def probe_vendors(http: CameraHttp, obs: Observation, oui: VendorLookup | None) -> VendorProbes:
    """Probe the vendor APIs the evidence suggests, one request at a time, stopping at the first present one.

    An API that turned the credential away before (the camera's AuthGuard remembers it, `denied`) is not asked
    again, not even without credentials, until the operator changes them; one that does now is remembered there.
    LockedOut propagates.
    """
    everything = attribute(obs, oui).support
    support = {name: float(everything.get(name, 0.0)) for name in DRIVERS}
    out = VendorProbes(support=dict(support), basis=probe_basis(obs))
    for name in probe_order(everything):
        driver = DRIVERS[name]
        earlier = http.guard.denial(api_space(name), host=http.host, operation=f"{name} API")
        if earlier is not None:
            reason = earlier.message  # "not sent: refused on <date> ..." while the guard holds it back
            if not isinstance(earlier, Withheld):
                reason = f"refused earlier ({earlier.message}); not retried until the credentials change"
            out.apis[name] = ApiProbe(name, "refused", reason, False, support[name])
            continue
        result = await probe_api(http, driver, obs, oui, support[name])  # obs weighed once, above
        out.apis[name] = result
        if result.status == "refused":
            http.guard.deny(
                api_space(name), AuthFailed(result.reason, host=http.host, operation=f"{name} API")
            )
        log.debug("%s: %s API %s (%s)", http.host, name, result.status, result.reason)
        if result.status == "present":
            break
    return out


__all__ = [
    "CREDENTIAL_SUPPORT",
    "VERDICT_SUPPORT",
    "ApiProbe",
    "Busy",
    "Classified",
    "VendorProbes",
    "api_space",
    "classify",
    "driver_support",
    "probe_api",
    "probe_order",
    "probe_vendors",
]
