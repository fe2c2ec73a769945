"""Run a census: multicast searches out of the agent's own interfaces, passive probes of configured ranges only."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from agent import discovery
from agent.attribution import VendorLookup
from agent.census import dhip, sadp, ssdp
from agent.census.budget import DEFAULT_MAX_MESSAGES, DEFAULT_RATE_PER_S, Budget, BudgetExhausted
from agent.census.device import (
    CensusDevice,
    Known,
    apply_known,
    from_dhip,
    from_findings,
    from_sadp,
    from_ssdp,
    from_ws_discovery,
    merge,
)
from agent.census.passive import HostFindings, Prober
from agent.census.udp import InterfaceError, local_interface, multicast_probe
from agent.targets import DEFAULT_MAX_ADDRESSES, RangeAllowList, resolve_ranges

log = logging.getLogger(__name__)

SOURCES = ("ws-discovery", "sadp", "dhip", "ssdp", "passive")
MAX_DEVICES = 10_000


@dataclass(frozen=True)
class CensusConfig:
    """What the census may do. Unicast goes only to addresses inside `allow`; multicast only out of `interfaces`."""

    interfaces: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()
    allow: RangeAllowList = field(default_factory=RangeAllowList)
    http_ports: tuple[int, ...] = (80,)
    rtsp_ports: tuple[int, ...] = (554,)
    tls_ports: tuple[int, ...] = (443,)
    sources: frozenset[str] = frozenset(SOURCES)
    window_s: float = 2.0
    ttl: int = 1
    timeout_s: float = 3.0
    concurrency: int = 32
    rate_per_s: float = DEFAULT_RATE_PER_S
    max_messages: int = DEFAULT_MAX_MESSAGES
    max_addresses: int = DEFAULT_MAX_ADDRESSES
    max_devices: int = MAX_DEVICES
    # "link": every device that answers on the agent's segment; "ranges": only those inside the configured ranges
    # (an agent responsible for some VLANs of a shared segment reports only those).
    scope: str = "link"


@dataclass
class CensusResult:
    devices: list[CensusDevice]
    sent: Counter[str]
    started_at: float
    duration_s: float
    notes: list[str] = field(default_factory=list)
    truncated: bool = False

    def summary(self) -> dict[str, object]:
        by_status = Counter(d.status for d in self.devices)
        by_maker = Counter(d.origin.manufacturer if d.origin else "unknown" for d in self.devices)
        return {
            "devices": len(self.devices),
            "by_status": dict(by_status),
            "by_origin": dict(by_maker),
            "unactivated": sum(1 for d in self.devices if d.activated is False),
            "recorders": sum(1 for d in self.devices if d.device_class == "recorder"),
            "sent": dict(self.sent),
            "duration_s": round(self.duration_s, 2),
            "truncated": self.truncated,
            "notes": list(self.notes),
        }


class CensusError(Exception):
    """The census was refused before sending anything (an interface that is not ours, a range not allowed)."""


async def run_census(
    cfg: CensusConfig, *, oui: VendorLookup | None = None, known: Sequence[Known] = ()
) -> CensusResult:
    started, t0 = time.time(), time.monotonic()
    if not cfg.interfaces and not cfg.ranges:
        raise CensusError("nothing to do: give an interface to search from and/or a configured range")
    try:
        interfaces = [local_interface(i) for i in cfg.interfaces]
        addresses = (
            resolve_ranges(cfg.ranges, cfg.allow, max_addresses=cfg.max_addresses) if cfg.ranges else []
        )
    except (InterfaceError, ValueError) as exc:
        raise CensusError(str(exc)) from exc
    budget = Budget(cfg.rate_per_s, cfg.max_messages)
    notes: list[str] = []
    sightings: list[CensusDevice] = []
    truncated = False
    try:
        for iface in interfaces:
            sightings += await _multicast(iface, cfg, budget, notes)
        heard = {s.host for s in sightings}
        async with aiohttp.ClientSession(trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                                         connector=aiohttp.TCPConnector(limit=cfg.concurrency,
                                                                        force_close=True)) as session:  # fmt: skip
            sightings = await _describe(session, sightings, cfg, budget, notes)
            if "passive" in cfg.sources and addresses:
                sightings += await _passive(session, addresses, heard, cfg, budget)
    except BudgetExhausted as exc:
        truncated = True
        notes.append(f"stopped early: {exc}")
        if isinstance(exc, _Partial):
            sightings += exc.sightings
    if cfg.scope == "ranges":
        # Before merging: a sighting outside the ranges must not lend its address to a device inside them.
        inside = [s for s in sightings if cfg.allow.spans and cfg.allow.allows(s.host)]
        if len(inside) < len(sightings):
            notes.append(f"{len(sightings) - len(inside)} answers from outside the configured ranges left out "
                         "(census.scope = ranges)")  # fmt: skip
        sightings = inside
    devices = merge(sightings)
    if len(devices) > cfg.max_devices:
        truncated = True
        notes.append(f"{len(devices)} devices answered; keeping the first {cfg.max_devices}")
        devices = devices[: cfg.max_devices]
    for dev in devices:
        dev.attribute(oui)
    apply_known(devices, known)
    return CensusResult(devices, budget.sent, started, time.monotonic() - t0, notes, truncated)


async def _multicast(iface: str, cfg: CensusConfig, budget: Budget, notes: list[str]) -> list[CensusDevice]:
    """Every enabled search at once out of one interface, each on its own socket for the same window."""
    jobs = []
    if "ws-discovery" in cfg.sources:
        jobs.append(_ws_discovery(iface, cfg, budget))
    if "sadp" in cfg.sources:
        jobs.append(_udp(iface, sadp.GROUP, sadp.PORT, sadp.probes(), "sadp", cfg, budget))
    if "dhip" in cfg.sources:
        jobs.append(_udp(iface, dhip.GROUP, dhip.PORT, [dhip.search()], "dhip", cfg, budget))
    if "ssdp" in cfg.sources:
        jobs.append(_udp(iface, ssdp.GROUP, ssdp.PORT, [ssdp.m_search()], "ssdp", cfg, budget))
    out: list[CensusDevice] = []
    for result in await asyncio.gather(*jobs, return_exceptions=True):
        if isinstance(result, BudgetExhausted):
            raise result
        if isinstance(result, BaseException):
            notes.append(f"{iface}: {type(result).__name__}: {result}")
            continue
        out += result
    return out


async def _ws_discovery(iface: str, cfg: CensusConfig, budget: Budget) -> list[CensusDevice]:
    # agent.discovery sends each of its 2 probes (1 + DEFAULT_REPEATS) times.
    await budget.spend("ws-discovery", 2 * (1 + discovery.DEFAULT_REPEATS))
    found = await discovery.probe(multicast_interface=iface, ttl=cfg.ttl, window_s=cfg.window_s,
                                  max_devices=cfg.max_devices)  # fmt: skip
    return [from_ws_discovery(d.source_address, d.xaddrs, d.scopes) for d in found]


async def _udp(
    iface: str, group: str, port: int, payloads: list[bytes], source: str, cfg: CensusConfig, budget: Budget
) -> list[CensusDevice]:
    replies = await multicast_probe(iface, group, port, payloads, budget=budget, source=source,
                                    window_s=cfg.window_s, ttl=cfg.ttl, max_replies=cfg.max_devices)  # fmt: skip
    out: list[CensusDevice] = []
    seen: set[str] = set()
    for d in replies:
        if source == "sadp" and (fields := sadp.parse_probe_match(d.data)) is not None:
            out.append(from_sadp(d.source, fields))
        elif source == "dhip" and (info := dhip.parse_dev_info(d.data)) is not None:
            out.append(from_dhip(d.source, info))
        elif (
            source == "ssdp" and (headers := ssdp.parse_response(d.data)) is not None and d.source not in seen
        ):
            seen.add(d.source)
            out.append(from_ssdp(d.source, headers, None))
    return out


async def _describe(
    session: aiohttp.ClientSession,
    sightings: list[CensusDevice],
    cfg: CensusConfig,
    budget: Budget,
    notes: list[str],
) -> list[CensusDevice]:
    """Fetch the UPnP description an SSDP reply points to, when it is on that device and in a configured range."""
    skipped = 0
    for dev in sightings:
        if "ssdp" not in dev.sources or dev.upnp is None:
            continue
        location = ssdp.location_on({"LOCATION": dev.upnp.get("location", "")}, dev.host)
        if location is None:
            continue
        if not cfg.allow.spans or not cfg.allow.allows(dev.host):
            skipped += 1
            continue
        await budget.spend("ssdp")
        try:
            async with session.get(location, allow_redirects=False,
                                   timeout=aiohttp.ClientTimeout(total=cfg.timeout_s)) as r:  # fmt: skip
                body = await r.content.read(64 * 1024) if r.status == 200 else b""
        except (aiohttp.ClientError, TimeoutError, OSError):
            continue
        desc = ssdp.parse_description(body) if body else None
        if desc:
            dev.upnp = {**dev.upnp, **desc}
            dev.serial, dev.model = desc.get("serialNumber"), desc.get("modelName")
    if skipped:
        notes.append(
            f"{skipped} UPnP descriptions not fetched: their devices are outside the configured ranges"
        )
    return sightings


async def _passive(
    session: aiohttp.ClientSession, addresses: list[str], heard: set[str], cfg: CensusConfig, budget: Budget
) -> list[CensusDevice]:
    prober = Prober(session, budget, cfg.timeout_s)
    work = iter(addresses)
    found: list[HostFindings] = []
    exhausted: list[BudgetExhausted] = []

    async def worker() -> None:
        # A fixed pool pulling from one iterator bounds concurrency; the first exhausted budget stops every worker.
        for host in work:
            if exhausted:
                return
            try:
                f = await prober.host(
                    host, cfg.http_ports, cfg.rtsp_ports, cfg.tls_ports, known=host in heard
                )
            except BudgetExhausted as exc:
                exhausted.append(exc)
                return
            if f.answered:
                found.append(f)

    await asyncio.gather(*(worker() for _ in range(min(cfg.concurrency, len(addresses)))))
    sightings = [from_findings(f) for f in found]
    if exhausted:
        raise _Partial(sightings, exhausted[0])
    return sightings


class _Partial(BudgetExhausted):
    """The passive sweep ran out of budget part-way; what it found so far is kept."""

    def __init__(self, sightings: list[CensusDevice], cause: BudgetExhausted) -> None:
        super().__init__(str(cause))
        self.sightings = sightings
