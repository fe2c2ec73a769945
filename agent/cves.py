"""Firmware-to-CVE matching against the reviewable table in agent/data/cves.toml."""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from agent.data import read_text

CVE_FILE = "cves.toml"
MatchConfidence = Literal["exact range", "approximate"]
FirmwareStyle = Literal["hikvision", "dahua"]
_MAX_LEN = 256  # firmware strings come from the camera: bound what the regexes see

# Hikvision: "V5.4.0 build 160530" (ONVIF) or "V5.7.18" + "build 240826" (ISAPI). NVRs use V4.x.
_HIK_VERSION = re.compile(r"(?<![0-9A-Za-z])V(\d{1,3})\.(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?", re.IGNORECASE)
_HIK_BUILD = re.compile(r"build\s*:?\s*(\d{6})(?!\d)", re.IGNORECASE)
# Dahua: "2.800.0000016.0.R, build: 2020-06-05", "2.420.AC00.15.R.20160908", "2.420.Dahua 00.14.R, build: ...".
_DAHUA_VERSION = re.compile(
    r"(?<![0-9.])V?(\d)\.(\d{3})\.([0-9A-Za-z ]{4,12})\.(\d{1,4})\.([A-Z])(?![A-Za-z])"
)
_DAHUA_BUILD = (
    re.compile(r"build\s*:?\s*(\d{4})-(\d{1,2})-(\d{1,2})", re.IGNORECASE),
    re.compile(r"\.[A-Z]\.(\d{4})(\d{2})(\d{2})(?!\d)"),
    re.compile(r"(?<!\d)(20\d{2})-(\d{2})-(\d{2})(?!\d)"),
)


@dataclass(frozen=True)
class Firmware:
    """A firmware string understood: maker format, numeric version and build date (when present)."""

    style: FirmwareStyle
    version: tuple[int, ...]
    build: dt.date | None
    raw: str


def _date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def parse_hikvision_firmware(text: object) -> Firmware | None:
    """'V5.4.0 build 160530' -> (5, 4, 0), 2016-05-30. Version without build -> build None."""
    if not isinstance(text, str):
        return None
    s = text[:_MAX_LEN]
    m = _HIK_VERSION.search(s)
    if m is None:
        return None
    version = tuple(int(g) for g in m.groups() if g is not None)
    build = None
    b = _HIK_BUILD.search(s)
    if b is not None:
        ymd = b.group(1)
        build = _date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
    return Firmware("hikvision", version, build, s)


def parse_dahua_firmware(text: object) -> Firmware | None:
    """'2.800.0000016.0.R, build: 2020-06-05' -> (2, 800, 0), 2020-06-05 (the alphanumeric OEM field dropped)."""
    if not isinstance(text, str):
        return None
    s = text[:_MAX_LEN]
    m = _DAHUA_VERSION.search(s)
    if m is None:
        return None
    version = (int(m.group(1)), int(m.group(2)), int(m.group(4)))
    build = None
    for pattern in _DAHUA_BUILD:
        b = pattern.search(s)
        if b is not None:
            build = _date(int(b.group(1)), int(b.group(2)), int(b.group(3)))
            if build is not None:
                break
    return Firmware("dahua", version, build, s)


def parse_firmware(text: object) -> Firmware | None:
    """Either maker format, or None when the string is in neither."""
    return parse_dahua_firmware(text) or parse_hikvision_firmware(text)


# ---------------------------------------------------------------------------------------------------------
# The table.


@dataclass(frozen=True)
class Bound:
    version: tuple[int, ...]
    build: dt.date

    def text(self) -> str:
        return "V" + ".".join(map(str, self.version)) + " build " + self.build.strftime("%y%m%d")


@dataclass(frozen=True)
class CveRange:
    family: str
    model: re.Pattern[str]
    model_exclude: re.Pattern[str] | None
    first: Bound | None
    last: Bound | None
    build_from: dt.date | None
    build_before: dt.date | None
    match_confidence: MatchConfidence


@dataclass(frozen=True)
class NotAffected:
    model: re.Pattern[str]
    firmware: Firmware
    source: str


@dataclass(frozen=True)
class CveEntry:
    id: str
    maker: str
    title: str
    cwe: str
    cvss: float
    kev: bool
    kev_note: str
    status: str
    sources: tuple[str, ...]
    ranges: tuple[CveRange, ...]
    not_affected: tuple[NotAffected, ...]


@dataclass(frozen=True)
class CveMatch:
    """One CVE the camera's firmware falls under, with why and how sure."""

    cve: str
    title: str
    maker: str
    kev: bool
    cvss: float
    family: str
    match_confidence: MatchConfidence
    status: str  # V / S / U as in VENDORS.md: how well the table row itself is sourced
    reason: str
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "cve": self.cve,
            "title": self.title,
            "maker": self.maker,
            "kev": self.kev,
            "cvss": self.cvss,
            "family": self.family,
            "match_confidence": self.match_confidence,
            "status": self.status,
            "reason": self.reason,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class CveCheck:
    """All matches plus notes on what could not be decided (unparseable firmware, unknown build date)."""

    matches: tuple[CveMatch, ...]
    notes: tuple[str, ...]

    @property
    def firmware_unparsed(self) -> bool:
        return any(n.startswith("firmware not understood") for n in self.notes)


def _req_str(d: Mapping[str, object], key: str, where: str) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise ValueError(f"{where}: '{key}' must be a non-empty string")
    return v


def _regex(d: Mapping[str, object], key: str, where: str) -> re.Pattern[str] | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ValueError(f"{where}: '{key}' must be a string")
    try:
        return re.compile(v, re.IGNORECASE)
    except re.error as err:
        raise ValueError(f"{where}: bad regex {v!r}: {err}") from err


def _iso(d: Mapping[str, object], key: str, where: str) -> dt.date | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, dt.date):  # TOML bare dates arrive as datetime.date
        return v
    if not isinstance(v, str):
        raise ValueError(f"{where}: '{key}' must be an ISO date")
    try:
        return dt.date.fromisoformat(v)
    except ValueError as err:
        raise ValueError(f"{where}: '{key}' must be an ISO date") from err


def _bound(d: Mapping[str, object], key: str, where: str) -> Bound | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise ValueError(f"{where}: '{key}' must be a table {{version, build}}")
    fw = parse_hikvision_firmware(f"{v.get('version')} build {v.get('build')}")
    if fw is None or fw.build is None:
        raise ValueError(f"{where}: '{key}' is not a Hikvision version + yymmdd build")
    return Bound(fw.version, fw.build)


def parse_cve_table(text: str) -> tuple[CveEntry, ...]:
    """Parse and validate the CVE table; errors name the offending entry (ValueError)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"cve table: {err}") from err
    entries: list[CveEntry] = []
    for i, c in enumerate(doc.get("cve", [])):
        where = f"cve[{i}]"
        if not isinstance(c, dict):
            raise ValueError(f"{where}: must be a table")
        cid = _req_str(c, "id", where)
        where = cid
        kev = c.get("kev")
        if not isinstance(kev, bool):
            raise ValueError(f"{where}: 'kev' must be true or false")
        sources = c.get("sources")
        if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
            raise ValueError(f"{where}: 'sources' must be a non-empty list of strings")
        cvss = c.get("cvss", 0.0)
        if not isinstance(cvss, int | float):
            raise ValueError(f"{where}: 'cvss' must be a number")
        ranges: list[CveRange] = []
        for j, r in enumerate(c.get("ranges", [])):
            rw = f"{where} range {j}"
            if not isinstance(r, dict):
                raise ValueError(f"{rw}: must be a table")
            model = _regex(r, "model_regex", rw)
            if model is None:
                raise ValueError(f"{rw}: 'model_regex' is required")
            conf = r.get("match_confidence")
            if conf not in ("exact range", "approximate"):
                raise ValueError(f"{rw}: 'match_confidence' must be 'exact range' or 'approximate'")
            rng = CveRange(
                family=_req_str(r, "family", rw),
                model=model,
                model_exclude=_regex(r, "model_exclude_regex", rw),
                first=_bound(r, "first", rw),
                last=_bound(r, "last", rw),
                build_from=_iso(r, "build_from", rw),
                build_before=_iso(r, "build_before", rw),
                match_confidence=conf,
            )
            if rng.first is None and rng.last is None and rng.build_from is None and rng.build_before is None:
                raise ValueError(f"{rw}: needs first/last or a build_from/build_before window")
            ranges.append(rng)
        if not ranges:
            raise ValueError(f"{where}: needs at least one [[cve.ranges]]")
        not_affected: list[NotAffected] = []
        for j, n in enumerate(c.get("not_affected", [])):
            nw = f"{where} not_affected {j}"
            if not isinstance(n, dict):
                raise ValueError(f"{nw}: must be a table")
            nfw = parse_firmware(_req_str(n, "firmware", nw))
            nmodel = _regex(n, "model_regex", nw)
            if nfw is None or nmodel is None:
                raise ValueError(f"{nw}: needs a parseable 'firmware' and a 'model_regex'")
            not_affected.append(NotAffected(nmodel, nfw, _req_str(n, "source", nw)))
        entries.append(
            CveEntry(
                id=cid,
                maker=_req_str(c, "maker", where).lower(),
                title=_req_str(c, "title", where),
                cwe=str(c.get("cwe", "")),
                cvss=float(cvss),
                kev=kev,
                kev_note=str(c.get("kev_note", "")),
                status=str(c.get("status", "U")),
                sources=tuple(sources),
                ranges=tuple(ranges),
                not_affected=tuple(not_affected),
            )
        )
    return tuple(entries)


@functools.cache
def default_cve_table() -> tuple[CveEntry, ...]:
    """The table shipped in agent/data/cves.toml (parsed once per process)."""
    return parse_cve_table(read_text(CVE_FILE))


# ---------------------------------------------------------------------------------------------------------
# Matching.


def _pad(v: tuple[int, ...]) -> tuple[int, ...]:
    return v + (0,) * (4 - len(v))


def _in_range(rng: CveRange, fw: Firmware) -> tuple[bool | None, str]:
    """True/False, or None when the firmware lacks what the bound needs (a build date); plus a reason."""
    if rng.first is not None or rng.last is not None:
        v = _pad(fw.version)
        lo = (_pad(rng.first.version), rng.first.build) if rng.first else None
        hi = (_pad(rng.last.version), rng.last.build) if rng.last else None
        span = f"{rng.first.text() if rng.first else '...'} - {rng.last.text() if rng.last else '...'}"
        if fw.build is None:
            # Without a build date only versions strictly inside or outside the span decide.
            if (lo and v < lo[0]) or (hi and v > hi[0]):
                return False, ""
            if (lo is None or v > lo[0]) and (hi is None or v < hi[0]):
                return True, f"version inside {span} (no build date)"
            return None, f"version on the edge of {span} and no build date"
        key = (v, fw.build)
        if (lo and key < lo) or (hi and key > hi):
            return False, ""
        return True, f"within {span}"
    if fw.build is None:
        return None, "no build date to place it in the window"
    if rng.build_from is not None and fw.build < rng.build_from:
        return False, ""
    if rng.build_before is not None and fw.build >= rng.build_before:
        return False, ""
    window = " ".join(
        part
        for part in (
            f"from {rng.build_from.isoformat()}" if rng.build_from else "",
            f"before {rng.build_before.isoformat()}" if rng.build_before else "",
        )
        if part
    )
    return True, f"build {fw.build.isoformat()} in window {window}"


def _text(v: object) -> str | None:
    if not isinstance(v, str):
        return None
    s = " ".join(v.split())[:_MAX_LEN]
    return s or None


def check_firmware(
    maker: object,
    model: object,
    firmware: object,
    *,
    base_model: object = None,
    released: object = None,
    table: tuple[CveEntry, ...] | None = None,
) -> CveCheck:
    """Match a camera against the CVE table. `maker` is the attribution verdict (so OEM rebrands match
    their maker's CVEs); `base_model` is the maker's model behind an OEM name (Dahua updateSerial);
    `released` is ISAPI's separate firmwareReleasedDate. Never raises on camera data."""
    entries = table if table is not None else default_cve_table()
    notes: list[str] = []
    fw_text = _text(firmware)
    rel = _text(released)
    if fw_text and rel and "build" not in fw_text.lower():
        fw_text = f"{fw_text} {rel}"
    maker_n = (_text(maker) or "unknown").lower()
    models = [m for m in (_text(model), _text(base_model)) if m]
    if fw_text is None:
        return CveCheck((), ("firmware not reported; CVEs not checked",))
    fw = parse_firmware(fw_text)
    if fw is None:
        return CveCheck(
            (), (f"firmware not understood: {fw_text!r} is in no known format; CVEs not checked",)
        )
    matches: list[CveMatch] = []
    for entry in entries:
        if maker_n not in (entry.maker, "unknown") or fw.style != entry.maker:
            continue
        hit = _match_entry(entry, fw, models, maker_n, notes)
        if hit is not None:
            matches.append(hit)
    return CveCheck(tuple(matches), tuple(notes))


def _match_entry(
    entry: CveEntry, fw: Firmware, models: list[str], maker: str, notes: list[str]
) -> CveMatch | None:
    for rng in entry.ranges:
        model = next(
            (
                m
                for m in models
                if rng.model.search(m) and not (rng.model_exclude and rng.model_exclude.search(m))
            ),
            None,
        )
        if model is None and not (not models and rng.model.pattern == "."):
            continue
        inside, why = _in_range(rng, fw)
        if inside is None:
            notes.append(f"{entry.id}: {model or 'model'} {fw.raw!r}: {why}; not decided")
            continue
        if not inside:
            continue
        for na in entry.not_affected:
            if any(na.model.search(m) for m in models) and (na.firmware.version, na.firmware.build) == (
                fw.version,
                fw.build,
            ):
                notes.append(f"{entry.id}: {fw.raw!r} on {model} is listed as not affected ({na.source})")
                return None
        reason = f"{model or 'unknown model'} firmware {fw.raw!r}: {why} ({rng.family})"
        if maker == "unknown":
            reason += "; maker not established, matched on model and firmware format"
        return CveMatch(
            cve=entry.id,
            title=entry.title,
            maker=entry.maker,
            kev=entry.kev,
            cvss=entry.cvss,
            family=rng.family,
            match_confidence=rng.match_confidence,
            status=entry.status,
            reason=reason,
            sources=entry.sources,
        )
    return None


def match_cves(
    maker: object, model: object, firmware: object, *, base_model: object = None, released: object = None
) -> list[CveMatch]:
    """The CVEs a camera's firmware falls under (see check_firmware for the notes on undecided cases)."""
    return list(check_firmware(maker, model, firmware, base_model=base_model, released=released).matches)
