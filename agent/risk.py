"""Risk score of one camera (0-100) from its origin, firmware CVEs and network exposure, with reasons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from agent.attribution import UNKNOWN, Origin
from agent.cves import CveCheck, CveMatch

RiskLevel = Literal["low", "medium", "high", "critical"]

# Level thresholds on the 0-100 score.
_LEVELS: tuple[tuple[int, RiskLevel], ...] = ((75, "critical"), (50, "high"), (25, "medium"), (0, "low"))

# Account names that ship as factory defaults or hidden service accounts. Dahua's 888888/666666 and
# "default" accounts were abused in the 2013-2017 Dahua advisories [S]; admin/root are everyone's default.
DEFAULT_USERNAMES = frozenset({"admin", "root", "888888", "666666", "default", "guest", "user", "service"})
_HIDDEN_ACCOUNTS = frozenset({"888888", "666666", "default"})
# Vendor private control ports: Hikvision SDK/DEV_MANAGE 8000, Dahua SDK 37777 (VENDORS.md §3-4).
_VENDOR_PROTOCOLS = ("dev_manage", "sdk", "37777", "8000")


@dataclass(frozen=True)
class Exposure:
    """What the inventory found about how reachable and how open the camera is. None means not known."""

    cloud_features_on: Sequence[str] = ()  # ezviz, ehome, t2u, remote_service, ddns, upnp, p2p ...
    has_gateway: bool | None = None
    has_dns: bool | None = None
    ip_filter_blocks_wan: bool | None = None  # an allow-list without a default route fences the camera in
    upnp_port_mapping: bool | None = None
    telnet: bool | None = None
    ssh: bool | None = None
    exposed_protocols: Sequence[str] = ()  # "http/80", "rtsp/554", "dev_manage/8000", "https/443" ...
    usernames: Sequence[str] = ()  # account names only: passwords are never collected
    auth_failed: bool = False  # our credentials were refused, so most settings were not read

    @property
    def cloud_reachable(self) -> bool | None:
        """Cloud on AND a way out (gateway, DNS) AND no filter fencing it in; None when it cannot be told."""
        if not self.cloud_features_on:
            return False
        if self.has_gateway is False or self.has_dns is False or self.ip_filter_blocks_wan is True:
            return False
        if self.has_gateway is None or self.has_dns is None:
            return None
        return True


@dataclass(frozen=True)
class RiskFactor:
    points: int
    reason: str


@dataclass(frozen=True)
class Risk:
    score: int
    level: RiskLevel
    factors: tuple[RiskFactor, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f.reason for f in self.factors)

    def to_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "level": self.level,
            "reasons": list(self.reasons),
            "factors": [{"points": f.points, "reason": f.reason} for f in self.factors],
        }


def default_usernames(names: Iterable[str]) -> list[str]:
    """The account names among `names` that are factory defaults or known hidden accounts."""
    return sorted({n for n in names if isinstance(n, str) and n.strip().lower() in DEFAULT_USERNAMES})


def _cve_factors(matches: Sequence[CveMatch]) -> list[RiskFactor]:
    out: list[RiskFactor] = []
    total = 0
    # KEV first: known exploitation in the wild outranks a CVSS number.
    for m in sorted(matches, key=lambda m: (not m.kev, m.match_confidence != "exact range", -m.cvss)):
        exact = m.match_confidence == "exact range"
        pts = (30 if exact else 22) if m.kev else (15 if exact else 10)
        if total:  # every further CVE adds less: the camera is already known-exploitable
            pts = max(3, pts // 3)
        pts = min(pts, 45 - total)
        if pts <= 0:
            break
        total += pts
        kev = "listed in CISA KEV (exploited in the wild)" if m.kev else "not in KEV"
        how = "firmware inside the published range" if exact else "approximate match on build date"
        out.append(RiskFactor(pts, f"{m.cve} ({m.title.split(':')[0]}), {kev}; {how}: {m.reason}"))
    return out


def assess_risk(origin: Origin, cves: CveCheck | Sequence[CveMatch], exposure: Exposure) -> Risk:
    """Score a camera. Points add up (capped at 100); every point comes with a human reason."""
    factors: list[RiskFactor] = []
    if origin.manufacturer != UNKNOWN and origin.covered:
        strong = origin.confidence >= 0.5
        reason = (
            f"made by {origin.manufacturer}, an NDAA §889 covered manufacturer"
            + (f" (sold as {origin.reported_brand})" if origin.oem_rebrand and origin.reported_brand else "")
            + f"; attribution confidence {origin.confidence:.2f}"
            + ("" if strong else " (weak: confirm before acting)")
        )
        factors.append(RiskFactor(30 if strong else 15, reason))
    elif origin.manufacturer == UNKNOWN:
        factors.append(RiskFactor(5, "maker of origin unknown: cannot rule out a covered OEM product"))

    if isinstance(cves, CveCheck):
        matches: Sequence[CveMatch] = cves.matches
        if cves.firmware_unparsed:
            factors.append(RiskFactor(5, "firmware version not understood: CVE exposure unknown"))
    else:
        matches = cves
    factors += _cve_factors(matches)

    cloud = sorted({c for c in exposure.cloud_features_on if isinstance(c, str) and c})
    reachable = exposure.cloud_reachable
    if cloud and reachable is True:
        factors.append(
            RiskFactor(
                20, f"vendor cloud/P2P on ({', '.join(cloud)}) with a gateway and DNS: it can reach out"
            )
        )
    elif cloud and reachable is None:
        factors.append(RiskFactor(15, f"vendor cloud/P2P on ({', '.join(cloud)}); route out not known"))
    elif cloud:
        factors.append(
            RiskFactor(6, f"vendor cloud/P2P on ({', '.join(cloud)}) but no route out today (no gateway/DNS "
                       "or fenced by the IP filter)")
        )  # fmt: skip
    if exposure.upnp_port_mapping:
        factors.append(
            RiskFactor(15, "UPnP port mapping is on: the router may forward internet traffic to it")
        )
    if exposure.telnet:
        factors.append(RiskFactor(15, "telnet is enabled (clear-text remote shell)"))
    if exposure.ssh:
        factors.append(RiskFactor(8, "SSH is enabled (remote shell on a device nobody patches)"))
    vendor_ports = sorted(
        p
        for p in exposure.exposed_protocols
        if isinstance(p, str) and p.lower().startswith(_VENDOR_PROTOCOLS)
    )
    if vendor_ports:
        factors.append(RiskFactor(5, f"vendor private control protocol open: {', '.join(vendor_ports)}"))
    defaults = default_usernames(exposure.usernames)
    hidden = [n for n in defaults if n in _HIDDEN_ACCOUNTS]
    if hidden:
        factors.append(RiskFactor(12, f"known hidden/service accounts present: {', '.join(hidden)}"))
    elif defaults:
        factors.append(RiskFactor(6, f"factory-default account names in use: {', '.join(defaults)}"))
    if exposure.auth_failed:
        factors.append(RiskFactor(5, "our credentials were refused: configuration could not be verified"))

    score = max(0, min(100, sum(f.points for f in factors)))
    level = next(lvl for threshold, lvl in _LEVELS if score >= threshold)
    factors.sort(key=lambda f: -f.points)
    return Risk(score=score, level=level, factors=tuple(factors))
