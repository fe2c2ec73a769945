"""Origin attribution: who really made a camera, judged from evidence rather than the Manufacturer string."""

from __future__ import annotations

import functools
import math
import re
import tomllib
import urllib.parse
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import aiooui

from agent.data import read_text

UNKNOWN = "unknown"
RULES_FILE = "attribution_rules.toml"
# Camera strings are untrusted: cap what a regex ever sees so a hostile banner cannot make matching slow.
_MAX_VALUE_LEN = 512
_KNOWN_SIGNALS = frozenset(
    {
        "onvif.manufacturer",
        "onvif.model",
        "onvif.firmware",
        "onvif.serial",
        "onvif.hardware_id",
        "onvif.scope",
        "mac.oui",
        "http.server",
        "http.realm",
        "soap.namespace",
        "isapi",
        "dahua",
        "axis",
        # Heard without any credential (the census) and from recorders' channel lists (issue 15).
        "http.page",
        "rtsp.server",
        "rtsp.realm",
        "tls.subject",
        "sadp",
        "dhip",
        "upnp",
        "channel",
    }
)
_DICT_SIGNAL_PREFIXES = ("isapi.", "dahua.", "axis.", "sadp.", "dhip.", "upnp.", "channel.")

MatchKind = Literal["regex", "prefix", "present"]


# ---------------------------------------------------------------------------------------------------------
# What the camera layer saw.


@dataclass(frozen=True)
class Observation:
    """Everything the camera layer gathered that bears on origin. Every field is optional: cameras lie,
    vendor APIs are absent or refuse, and zeep returns None for missing elements."""

    onvif_manufacturer: str | None = None
    onvif_model: str | None = None
    onvif_firmware: str | None = None
    onvif_serial: str | None = None
    onvif_hardware_id: str | None = None
    scopes: Sequence[str] = ()
    macs: Sequence[str] = ()
    http_server: str | None = None
    digest_realm: str | None = None
    soap_namespaces: Collection[str] = frozenset()
    # /ISAPI/System/deviceInfo fields (manufacturer, model, firmwareVersion, firmwareReleasedDate, OEMCode ...)
    isapi_device_info: Mapping[str, object] | None = None
    # magicBox getSystemInfo/getSoftwareVersion/getVendor merged (vendor, deviceType, updateSerial, version ...)
    dahua_magicbox: Mapping[str, object] | None = None
    # param.cgi list, keys with or without "root." (Brand.Brand, Brand.ProdNbr, Properties.Firmware.Version)
    axis_params: Mapping[str, object] | None = None
    # Pre-auth evidence (census): landing-page markers, RTSP banner and realm, TLS certificate subject.
    http_page: str | None = None
    rtsp_server: str | None = None
    rtsp_realm: str | None = None
    tls_subject: str | None = None
    # Hikvision SADP ProbeMatch fields (DeviceDescription, DeviceSN, SoftwareVersion ...), Dahua DHIP deviceInfo
    # (DeviceType, Vendor, Version ...), the UPnP root description plus the SSDP SERVER header (server).
    sadp: Mapping[str, object] | None = None
    dhip: Mapping[str, object] | None = None
    upnp: Mapping[str, object] | None = None
    # A recorder's record of the camera on one channel (model, serialNumber, firmwareVersion, proxyProtocol ...).
    channel: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Evidence:
    """One observed fact, which maker it points to (None for a note) and how much it weighs."""

    signal: str
    value: str
    points_to: str | None
    weight: float
    explanation: str
    source: str
    rule: str = ""
    contrary: bool = False  # points to a maker other than the verdict

    def to_dict(self) -> dict[str, object]:
        return {
            "signal": self.signal,
            "value": self.value,
            "points_to": self.points_to,
            "weight": self.weight,
            "explanation": self.explanation,
            "source": self.source,
            "rule": self.rule,
            "contrary": self.contrary,
        }


@dataclass(frozen=True)
class Origin:
    """The verdict. `confidence` (0..1) measures how strongly the evidence backs `manufacturer`; for
    "unknown" it is the best (insufficient) support any maker got, so it stays low."""

    reported_brand: str | None
    manufacturer: str
    covered: bool
    oem_rebrand: bool
    confidence: float
    evidence: tuple[Evidence, ...] = ()
    support: Mapping[str, float] = field(default_factory=dict)

    @property
    def contrary_evidence(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.contrary)

    def summary(self) -> str:
        """One human line, e.g. 'hikvision (NDAA 889 covered), confidence 0.97; reported as LTS (OEM)'."""
        parts = [self.manufacturer]
        if self.covered:
            parts.append("(NDAA 889 covered)")
        text = " ".join(parts) + f", confidence {self.confidence:.2f}"
        if self.reported_brand:
            text += f"; reported as {self.reported_brand}" + (" (OEM rebrand)" if self.oem_rebrand else "")
        n_contra = len(self.contrary_evidence)
        if n_contra:
            text += f"; {n_contra} contrary signal(s)"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "reported_brand": self.reported_brand,
            "manufacturer": self.manufacturer,
            "covered": self.covered,
            "oem_rebrand": self.oem_rebrand,
            "confidence": self.confidence,
            "evidence": [e.to_dict() for e in self.evidence],
        }


# ---------------------------------------------------------------------------------------------------------
# MAC OUI lookups (aiooui ships the IEEE MA-L registry; its loader is async, so load once and pass it in).


class VendorLookup(Protocol):
    """Anything that maps a MAC address to its registry company name."""

    def vendor(self, mac: str) -> str | None: ...


class OuiLookup:
    """IEEE MA-L lookups backed by aiooui's packaged registry. Obtain one with `await load_oui()`."""

    def vendor(self, mac: str) -> str | None:
        prefix = oui_prefix(mac)
        if prefix is None:
            return None
        try:
            return aiooui.get_vendor(prefix)
        except RuntimeError as err:  # aiooui raises this when its table was never loaded
            raise RuntimeError("OUI registry not loaded: use `await load_oui()`") from err


async def load_oui() -> OuiLookup:
    """Load aiooui's registry (file read in an executor, idempotent) and return a lookup."""
    await aiooui.async_load()
    return OuiLookup()


def normalize_mac(mac: object) -> str | None:
    """'28-57-BE-65-7D-D5', '2857.be65.7dd5', '28:57:be:65:7d:d5' -> '28:57:BE:65:7D:D5'; junk -> None."""
    if not isinstance(mac, str):
        return None
    digits = re.sub(r"[\s:.\-]", "", mac[:64])
    if len(digits) != 12 or not re.fullmatch(r"[0-9A-Fa-f]{12}", digits):
        return None
    digits = digits.upper()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def oui_prefix(mac: object) -> str | None:
    norm = normalize_mac(mac)
    return norm[:8] if norm else None


def is_locally_administered(mac: str) -> bool:
    """Bit 0x02 of the first octet: randomised/locally assigned, so the OUI means nothing."""
    norm = normalize_mac(mac)
    return norm is not None and bool(int(norm[:2], 16) & 0x02)


# ---------------------------------------------------------------------------------------------------------
# Rules (agent/data/attribution_rules.toml).


@dataclass(frozen=True)
class Maker:
    key: str
    name: str
    covered: bool
    own_brand: re.Pattern[str] | None
    affiliates: str
    source: str


@dataclass(frozen=True)
class Rule:
    id: str
    group: str
    signals: tuple[str, ...]
    match: MatchKind
    pattern: re.Pattern[str] | None  # for match == "regex"
    prefix: str  # for match == "prefix" (compared case-insensitively)
    maker: str | None
    weight: float
    explanation: str
    source: str

    def matches(self, value: str) -> bool:
        if self.match == "present":
            return True
        if self.match == "prefix":
            return value.lower().startswith(self.prefix.lower())
        return self.pattern is not None and self.pattern.search(value) is not None


#: Distinct (signal, value) pairs whose matching rules a RuleSet remembers: a fleet repeats the same banners,
#: manufacturers, namespaces and firmware strings, while serials and MACs are unique (bounded so they cannot grow it
#: without limit).
_MATCH_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class RuleSet:
    makers: Mapping[str, Maker]
    rules: tuple[Rule, ...]
    min_support: float
    # Per-fleet work done once: which rules read each signal, and which of them match a (signal, value) pair.
    _by_signal: dict[str, tuple[int, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    _matched: dict[tuple[str, str], tuple[int, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        index: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            for signal in dict.fromkeys(rule.signals):
                index.setdefault(signal, []).append(i)
        self._by_signal.update((k, tuple(v)) for k, v in index.items())

    def matching(self, signal: str, value: str) -> tuple[int, ...]:
        """Indices (in rule order) of the rules that read `signal` and match `value`."""
        key = (signal, value)
        hit = self._matched.get(key)
        if hit is None:
            hit = tuple(i for i in self._by_signal.get(signal, ()) if self.rules[i].matches(value))
            if len(self._matched) < _MATCH_CACHE_SIZE:
                self._matched[key] = hit
        return hit


def _str_field(d: Mapping[str, object], key: str, where: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str):
        raise ValueError(f"{where}: '{key}' must be a string")
    return v


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as err:
        raise ValueError(f"{where}: bad regex {pattern!r}: {err}") from err


def parse_rules(text: str) -> RuleSet:
    """Parse and validate a rules file; errors name the offending rule (ValueError)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"attribution rules: {err}") from err
    makers: dict[str, Maker] = {}
    for key, m in dict(doc.get("makers", {})).items():
        where = f"makers.{key}"
        if not isinstance(m, dict):
            raise ValueError(f"{where}: must be a table")
        own = m.get("own_brand")
        makers[key] = Maker(
            key=key,
            name=_str_field(m, "name", where),
            covered=bool(m.get("covered", False)),
            own_brand=_compile(own, where) if isinstance(own, str) else None,
            affiliates=_str_field(m, "affiliates", where, ""),
            source=_str_field(m, "source", where, ""),
        )
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, r in enumerate(doc.get("rules", [])):
        where = f"rules[{i}]"
        if not isinstance(r, dict):
            raise ValueError(f"{where}: must be a table")
        rid = _str_field(r, "id", where)
        where = f"rule {rid}"
        if rid in seen:
            raise ValueError(f"{where}: duplicate id")
        seen.add(rid)
        signals = r.get("signals")
        if not isinstance(signals, list) or not signals or not all(isinstance(s, str) for s in signals):
            raise ValueError(f"{where}: 'signals' must be a non-empty list of strings")
        for s in signals:
            if s not in _KNOWN_SIGNALS and not s.startswith(_DICT_SIGNAL_PREFIXES):
                raise ValueError(f"{where}: unknown signal {s!r}")
        match = r.get("match")
        if match not in ("regex", "prefix", "present"):
            raise ValueError(f"{where}: 'match' must be regex, prefix or present")
        text = "" if match == "present" else _str_field(r, "pattern", where)
        pattern = _compile(text, where) if match == "regex" else None
        maker_key = _str_field(r, "maker", where)
        weight = r.get("weight")
        if not isinstance(weight, int | float) or not 0.0 <= float(weight) <= 1.0:
            raise ValueError(f"{where}: 'weight' must be a number in [0, 1]")
        if maker_key and maker_key not in makers:
            raise ValueError(f"{where}: maker {maker_key!r} is not declared under [makers]")
        if not maker_key and weight != 0:
            raise ValueError(f'{where}: a note (maker = "") must have weight 0')
        rules.append(
            Rule(
                id=rid,
                group=_str_field(r, "group", where),
                signals=tuple(signals),
                match=match,
                pattern=pattern,
                prefix=text if match == "prefix" else "",
                maker=maker_key or None,
                weight=float(weight),
                explanation=_str_field(r, "explanation", where),
                source=_str_field(r, "source", where),
            )
        )
    verdict = doc.get("verdict", {})
    min_support = verdict.get("min_support", 0.5) if isinstance(verdict, dict) else 0.5
    if not isinstance(min_support, int | float) or not 0.0 < float(min_support) <= 1.0:
        raise ValueError("verdict.min_support must be in (0, 1]")
    return RuleSet(makers=makers, rules=tuple(rules), min_support=float(min_support))


@functools.cache
def default_rules() -> RuleSet:
    """The rules shipped in agent/data/attribution_rules.toml (parsed once per process)."""
    return parse_rules(read_text(RULES_FILE))


# ---------------------------------------------------------------------------------------------------------
# Turning an Observation into (signal, value-to-match, value-to-show) triples.

_Signal = tuple[str, str, str]


def _text(value: object) -> str | None:
    """A scalar camera value as text, or None for missing/structured values (nested dicts, lists)."""
    if type(value) is str:  # nearly every value: skip the isinstance chain (~2 % of a sweep's CPU)
        s = " ".join(value.split())[:_MAX_VALUE_LEN]
        return s or None
    if value is None or isinstance(value, Mapping | list | tuple | set | frozenset | bytes):
        return None
    if not isinstance(value, str | int | float | bool):
        return None
    s = " ".join(str(value).split())[:_MAX_VALUE_LEN]
    return s or None


def _items(values: object) -> list[str]:
    """A list-ish field as strings; a single string is split on whitespace (WS-Discovery scope lists)."""
    if values is None:
        return []
    if isinstance(values, str):
        return values.split()
    if not isinstance(values, Iterable):
        return []
    out: list[str] = []
    for v in values:
        t = _text(v)
        if t is not None:
            out.append(t)
    return out


def _dict_signals(prefix: str, data: Mapping[str, object] | None) -> list[_Signal]:
    if data is None or not isinstance(data, Mapping):
        return []
    out: list[_Signal] = [(prefix, "answered", "answered")]
    for k, v in data.items():
        if not isinstance(k, str):
            continue
        key = k.strip().lower()
        if prefix == "axis" and key.startswith("root."):
            key = key[5:]
        t = _text(v)
        if key and t is not None:
            out.append((f"{prefix}.{key}", t, f"{k}={t}"))
    return out


def _lookup(data: Mapping[str, object] | None, *keys: str) -> str | None:
    """Case-insensitive dict lookup (Dahua firmware answers both vendor= and Vendor=)."""
    if data is None or not isinstance(data, Mapping):
        return None
    wanted = {k.lower() for k in keys}
    for k, v in data.items():
        if isinstance(k, str) and k.strip().lower().removeprefix("root.") in wanted:
            t = _text(v)
            if t is not None:
                return t
    return None


def _extract(obs: Observation, oui: VendorLookup | None) -> tuple[list[_Signal], list[Evidence]]:
    sigs: list[_Signal] = []
    notes: list[Evidence] = []
    for name, raw in (
        ("onvif.manufacturer", obs.onvif_manufacturer),
        ("onvif.model", obs.onvif_model),
        ("onvif.firmware", obs.onvif_firmware),
        ("onvif.serial", obs.onvif_serial),
        ("onvif.hardware_id", obs.onvif_hardware_id),
        ("http.server", obs.http_server),
        ("http.realm", obs.digest_realm),
        ("http.page", obs.http_page),
        ("rtsp.server", obs.rtsp_server),
        ("rtsp.realm", obs.rtsp_realm),
        ("tls.subject", obs.tls_subject),
    ):
        t = _text(raw)
        if t is not None:
            sigs.append((name, t, t))
    for scope in _items(obs.scopes):
        # Scope values are percent-encoded (ONVIF Core: "HIKVISION%20DS-2CD...").
        decoded = urllib.parse.unquote(scope)[:_MAX_VALUE_LEN]
        sigs.append(("onvif.scope", decoded, decoded))
    for ns in sorted(_items(obs.soap_namespaces)):
        sigs.append(("soap.namespace", ns, ns))
    sigs += _dict_signals("isapi", obs.isapi_device_info)
    fw = _lookup(obs.isapi_device_info, "firmwareVersion")
    if fw is not None:
        # ISAPI splits "V5.7.18" and "build 240826"; ONVIF shows them joined, so compare like with like.
        date = _lookup(obs.isapi_device_info, "firmwareReleasedDate")
        joined = f"{fw} {date}" if date and "build" not in fw.lower() else fw
        sigs.append(("isapi.firmware", joined, joined))
    sigs += _dict_signals("dahua", obs.dahua_magicbox)
    sigs += _dict_signals("axis", obs.axis_params)
    for prefix, data in (
        ("sadp", obs.sadp),
        ("dhip", obs.dhip),
        ("upnp", obs.upnp),
        ("channel", obs.channel),
    ):
        sigs += _dict_signals(prefix, data)
    macs = _items(obs.macs)
    for mac in macs:
        norm = normalize_mac(mac)
        if norm is None:
            notes.append(_note("mac", mac, "not a MAC address; ignored", "mac.unparseable"))
        elif is_locally_administered(norm):
            notes.append(
                _note("mac", norm, "locally administered/randomised MAC: its OUI says nothing", "mac.local")
            )
        elif oui is not None:
            try:
                company = oui.vendor(norm)
            except Exception as err:  # a broken lookup must not stop attribution; record it instead
                notes.append(_note("mac", norm, f"OUI lookup failed: {type(err).__name__}", "mac.lookup"))
                continue
            if company:
                company = " ".join(company.split())[:_MAX_VALUE_LEN]
                sigs.append(("mac.oui", company, f"{norm[:8]} {company}"))
            else:
                notes.append(_note("mac", norm, "OUI not in the IEEE MA-L registry", "mac.unregistered"))
    if macs and oui is None:
        notes.append(_note("mac", ", ".join(macs[:4]), "OUI registry not loaded; MACs not used", "mac.noreg"))
    return sigs, notes


def _note(signal: str, value: str, explanation: str, rule: str) -> Evidence:
    return Evidence(signal, value[:_MAX_VALUE_LEN], None, 0.0, explanation, "camfleet", rule)


def reported_brand(obs: Observation) -> str | None:
    """What the camera calls itself: ONVIF Manufacturer, else the vendor API's brand field."""
    for candidate in (
        _text(obs.onvif_manufacturer),
        _lookup(obs.dahua_magicbox, "vendor"),
        _lookup(obs.axis_params, "Brand.Brand"),
        _lookup(obs.isapi_device_info, "manufacturer"),
        _lookup(obs.dhip, "Vendor"),
        _lookup(obs.upnp, "manufacturer"),
        _lookup(obs.channel, "manufacturer"),
    ):
        if candidate:
            return candidate
    return None


# ---------------------------------------------------------------------------------------------------------
# The verdict.


def _noisy_or(weights: Iterable[float]) -> float:
    return 1.0 - math.prod(1.0 - w for w in weights)


def attribute(obs: Observation, oui: VendorLookup | None = None, rules: RuleSet | None = None) -> Origin:
    """Weigh the observation against the rules and name the maker of origin. Pure and synchronous;
    never raises on camera data (pass the OUI lookup from `await load_oui()`, or None to skip MACs)."""
    rs = rules if rules is not None else default_rules()
    sigs, notes = _extract(obs, oui)
    by_signal: dict[str, list[tuple[str, str]]] = {}
    for name, value, shown in sigs:
        by_signal.setdefault(name, []).append((value, shown))

    # Which rules match which (signal, value), from the rule set's per-fleet cache; then the same walk in rule order
    # (rule, its signals, their values) as before the cache, so evidence keeps its order.
    hits: dict[int, set[tuple[str, str]]] = {}
    for name, pairs in by_signal.items():
        for value, _ in pairs:
            for i in rs.matching(name, value):
                hits.setdefault(i, set()).add((name, value))
    fired: list[tuple[Rule, str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for i in sorted(hits):
        rule, matched = rs.rules[i], hits[i]
        for signal in rule.signals:
            for value, shown in by_signal.get(signal, ()):
                key = (rule.id, signal, shown)
                if key not in seen and (signal, value) in matched:
                    seen.add(key)
                    fired.append((rule, signal, shown))

    # Correlated signals share a group: per maker and group only the strongest counts.
    best_in_group: dict[str, dict[str, float]] = {}
    for rule, _, _ in fired:
        if rule.maker is None:
            continue
        groups = best_in_group.setdefault(rule.maker, {})
        groups[rule.group] = max(groups.get(rule.group, 0.0), rule.weight)
    support = {m: round(_noisy_or(g.values()), 4) for m, g in best_in_group.items()}

    maker = UNKNOWN
    confidence = 0.0
    if support:
        best = max(sorted(support), key=lambda m: support[m])
        s = support[best]
        if s >= rs.min_support:
            maker = best
            # Opposition: everything pointing elsewhere, again one vote per group.
            against: dict[str, float] = {}
            for m, groups in best_in_group.items():
                if m != best:
                    for g, w in groups.items():
                        against[g] = max(against.get(g, 0.0), w)
            o = _noisy_or(against.values())
            confidence = s * s / (s + o)
        else:
            confidence = s

    evidence = [
        Evidence(
            signal=signal,
            value=shown,
            points_to=rule.maker,
            weight=rule.weight,
            explanation=rule.explanation,
            source=rule.source,
            rule=rule.id,
            contrary=maker != UNKNOWN and rule.maker is not None and rule.maker != maker,
        )
        for rule, signal, shown in fired
    ]
    evidence.sort(key=lambda e: (e.points_to is None, -e.weight, e.rule))
    brand = reported_brand(obs)
    maker_info = rs.makers.get(maker)
    oem = False
    if maker_info is not None and brand is not None:
        oem = maker_info.own_brand is None or maker_info.own_brand.search(brand) is None
    return Origin(
        reported_brand=brand,
        manufacturer=maker,
        covered=bool(maker_info and maker_info.covered),
        oem_rebrand=oem,
        confidence=round(confidence, 3),
        evidence=tuple(evidence) + tuple(notes),
        support=support,
    )
