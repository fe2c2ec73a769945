"""Build a deterministic fleet of simulated cameras from a mix, a seed or a fleet description file."""

from __future__ import annotations

import ipaddress
import json
import random
import string
import tomllib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from camsim import catalog
from camsim.catalog import Model
from camsim.model import (
    AuthMode,
    AuthPolicy,
    Camera,
    Channel,
    Faults,
    Identity,
    IPFilter,
    Network,
    Protocol,
    User,
)

DEFAULT_AUTH_ONLY_SHARE = 0.1
# Share of a recorder's used channels served by cameras on its own PoE ports (reachable only through it).
DEFAULT_BEHIND_SHARE = 0.6
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


class FleetError(ValueError):
    """A fleet description or mix that cannot be turned into cameras."""


# ---- mix -------------------------------------------------------------------------------------------------
def parse_mix(text: str) -> dict[str, int]:
    """Parse "hikvision=40,dahua=30" into weights; unknown kinds and bad numbers are errors."""
    mix: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in catalog.FLEET_KINDS:
            raise FleetError(
                f"bad mix entry {part!r}; expected kind=weight with kind in {catalog.FLEET_KINDS}"
            )
        try:
            weight = int(value.strip())
        except ValueError as e:
            raise FleetError(f"bad weight in mix entry {part!r}") from e
        if weight < 0:
            raise FleetError(f"negative weight in mix entry {part!r}")
        mix[key] = mix.get(key, 0) + weight
    if not mix or sum(mix.values()) == 0:
        raise FleetError("mix has no positive weight")
    return mix


def apportion(n: int, mix: dict[str, int]) -> dict[str, int]:
    """Split n cameras over the weights by largest remainder (exact, order independent)."""
    total = sum(mix.values())
    if total <= 0:
        raise FleetError("mix has no positive weight")
    kinds = [k for k in catalog.FLEET_KINDS if mix.get(k, 0) > 0]
    unknown = set(mix) - set(catalog.FLEET_KINDS)
    if unknown:
        raise FleetError(f"unknown kinds in mix: {sorted(unknown)}")
    exact = {k: n * mix[k] / total for k in kinds}
    counts = {k: int(exact[k]) for k in kinds}
    rest = n - sum(counts.values())
    for k in sorted(kinds, key=lambda k: (-(exact[k] - counts[k]), catalog.FLEET_KINDS.index(k)))[:rest]:
        counts[k] += 1
    return counts


# ---- addresses -------------------------------------------------------------------------------------------
def addresses(base_address: str, n: int) -> list[str]:
    """n loopback addresses from base_address, skipping .0 and .255 in the last octet."""
    try:
        ip = ipaddress.IPv4Address(base_address)
    except ValueError as e:
        raise FleetError(f"bad base address {base_address!r}") from e
    out: list[str] = []
    while len(out) < n:
        if not ip.is_loopback:
            # Hard rule: simulated cameras live on 127.0.0.0/8 only.
            raise FleetError(f"address {ip} is outside 127.0.0.0/8")
        if int(ip) & 0xFF not in (0, 255):
            out.append(str(ip))
        ip += 1
    return out


# ---- one camera ------------------------------------------------------------------------------------------
def _mac(rng: random.Random, brand: str) -> str:
    oui = rng.choice(catalog.BRAND_OUIS[brand])
    return oui + "".join(f":{rng.randrange(256):02x}" for _ in range(3))


def _serial(rng: random.Random, model: Model, mac: str) -> str:
    if model.maker == "hikvision":
        # <model><yyyymmdd>AAWR<9 chars>, as in the deviceInfo fixtures (OEMs keep the Hikvision shape).
        date = f"20{rng.randrange(14, 25):02d}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        tail = rng.choice("ABCDEFGJ") + "".join(rng.choice(string.digits) for _ in range(8))
        return f"{model.name}{date}AAWR{tail}"
    if model.maker == "dahua":
        # 15 upper-case alphanumerics, e.g. 4X7C5A1ZAG21L3F (fixture).
        return "".join(rng.choice(string.digits + string.ascii_uppercase) for _ in range(15))
    if model.maker == "axis":
        return mac.replace(":", "").upper()  # Axis serial numbers are the MAC (param.cgi fixture)
    return "AV" + "".join(rng.choice(string.digits) for _ in range(10))


def _scopes(model: Model, mac: str, serial: str) -> list[str]:
    def s(item: str) -> str:
        return f"onvif://www.onvif.org/{item}"

    if model.maker == "hikvision":
        # VENDORS.md §2 observed Hikvision set; OEM firmware swaps the name only [U].
        brand = "HIKVISION" if not model.oem else model.brand
        return [
            s("type/video_encoder"),
            s(f"name/{quote(brand + ' ' + model.name, safe='')}"),
            s(f"hardware/{quote(model.name, safe='')}"),
            s("Profile/Streaming"),
            s("location/city/hangzhou"),
            s(f"MAC/{mac}"),
        ]
    if model.maker == "dahua":
        # Recorded Dahua/CP PLUS scope sets: the `extension/unique_identifier` shape survives rebranding.
        name = "Dahua" if not model.oem else model.brand.replace(" ", "")
        return [
            s(f"location/country/{catalog.BRAND_COUNTRY.get(model.brand, 'china')}"),
            s(f"name/{quote(name, safe='')}"),
            s(f"hardware/{quote(model.name, safe='')}"),
            s("Profile/Streaming"),
            s("type/Network_Video_Transmitter"),
            s("extension/unique_identifier/1"),
            s("Profile/T"),
        ]
    if model.maker == "axis":
        return [
            s("type/video_encoder"),
            s("type/audio_encoder"),
            s(f"hardware/{quote(model.name, safe='')}"),
            s(f"name/{quote('AXIS ' + model.name, safe='')}"),
            s("Profile/Streaming"),
            s("Profile/G"),
            s("Profile/T"),
        ]
    return [
        s("type/video_encoder"),
        s(f"hardware/{quote(model.name, safe='')}"),
        s(f"name/{quote(model.brand, safe='')}"),
        s("Profile/Streaming"),
    ]


def _protocols(maker: str, http_port: int) -> list[Protocol]:
    base = [Protocol("HTTP", True, http_port), Protocol("RTSP", True, 554)]
    if maker == "hikvision":
        # adminAccesses fixture: HTTP, HTTPS 443, DEV_MANAGE 8000 (SDK), RTSP 554.
        return [*base, Protocol("HTTPS", True, 443), Protocol("DEV_MANAGE", True, 8000)]
    if maker == "dahua":
        # TCP 37777 is the private SDK port (VENDORS.md §4); HTTPS is off by default on many units.
        return [*base, Protocol("HTTPS", False, 443), Protocol("SDK", True, 37777)]
    if maker == "axis":
        return [*base, Protocol("HTTPS", True, 443)]
    return [*base, Protocol("HTTPS", False, 443)]


def _password(rng: random.Random) -> str:
    return "".join(rng.choice(_PASSWORD_ALPHABET) for _ in range(12))


def make_camera(
    index: int,
    kind: str,
    seed: int,
    address: str,
    *,
    port: int = 80,
    latency_ms: float = 0.0,
    auth_only_share: float = DEFAULT_AUTH_ONLY_SHARE,
    model_name: str | None = None,
    firmware: str | None = None,
) -> Camera:
    """One camera, fully determined by (seed, index, kind) and the optional model/firmware choice."""
    rng = random.Random(f"camsim:{seed}:{index}")  # str seeds hash deterministically (sha512)
    if model_name is not None:
        model = catalog.find_model(model_name)
    else:
        if kind not in catalog.MODELS_BY_KIND:
            raise FleetError(f"unknown camera kind {kind!r}")
        model = rng.choice(catalog.MODELS_BY_KIND[kind])
    fw = firmware if firmware is not None else rng.choice(model.firmwares).version
    maker = model.maker
    defaults = catalog.PERSONALITY[maker]
    mac = _mac(rng, model.brand)
    serial = _serial(rng, model, mac)
    onvif_brand = (
        model.brand.upper() if (defaults.onvif_manufacturer_upper and not model.oem) else model.brand
    )

    identity = Identity(
        personality=maker,
        manufacturer=onvif_brand,
        true_manufacturer=maker,
        model=model.name,
        firmware=fw,
        serial=serial,
        hardware_id=model.hardware_id,
        mac=mac,
        oem_brand=model.brand if model.oem else None,
        base_model=model.base_model,
        device_type=model.device_type,
    )

    if maker == "hikvision":
        realm = "IP Camera"
    elif maker == "dahua":
        realm = f"Login to {serial}"
    elif maker == "axis":
        realm = f"AXIS_{serial}"
    else:
        realm = model.brand
    modes: list[AuthMode] = ["digest", "wsse"]
    if rng.random() < auth_only_share:
        modes = [rng.choice(["digest", "wsse"])]
    auth = AuthPolicy(
        modes=modes,
        realm=realm,
        lockout_threshold=defaults.lockout_threshold,
        lockout_seconds=defaults.lockout_seconds,
        connection_limit=defaults.connection_limit,
    )

    features: dict[str, bool] = {}
    for name, share in defaults.feature_share.items():
        features[name] = rng.random() < share
    if "upnp_portmap" in features and not features.get("upnp"):
        features["upnp_portmap"] = False  # port mapping needs UPnP itself
    detail = dict(defaults.feature_detail)
    if "ddns" in features:
        detail["ddns.domain"] = f"{serial[-9:].lower()}.{detail.get('ddns.server', 'ddns.example')}"

    number = index + 1
    network = Network(
        address=address,
        # A camera on loopback is on-link with everything in 127.0.0.0/8 (that is the interface's network); the
        # agent checks this subnet before it clears a gateway. Cameras behind a recorder sit on its /24.
        prefix_length=8 if ipaddress.IPv4Address(address).is_loopback else 24,
        hostname=f"{model.brand.replace(' ', '')}-{serial[-6:]}".lower(),
        ntp=list(defaults.ntp),
        protocols=_protocols(maker, port),
        dyndns_type="NoUpdate",
        ip_filter=IPFilter(),
    )
    cam = Camera(
        id=f"cam-{number:04d}",
        port=port,
        identity=identity,
        network=network,
        users=[User("admin", _password(rng), "Administrator")],
        auth=auth,
        faults=Faults(latency_ms=latency_ms),
        features=features,
        feature_detail=detail,
        capabilities=list(defaults.capabilities),
        scopes=_scopes(model, mac, serial),
    )
    if model.profile:
        apply_profile(cam, model.profile)
    return cam


def apply_profile(cam: Camera, name: str) -> None:
    """Make `cam` behave like one of the independent servers of catalog.FOREIGN (FleetError if unknown)."""
    prof = catalog.FOREIGN.get(name)
    if prof is None:
        raise FleetError(f"unknown foreign profile {name!r}; known: {sorted(catalog.FOREIGN)}")
    cam.web = prof.web  # type: ignore[assignment]
    cam.server_banner = prof.banner
    cam.auth.modes = [m for m in ("digest", "wsse") if m in prof.auth_modes]
    cam.soap_reply_version = prof.soap_reply_version  # type: ignore[assignment]
    cam.onvif_ops = list(prof.onvif_ops) if prof.onvif_ops is not None else None
    cam.preauth_open = prof.preauth_open
    cam.capabilities = list(prof.capabilities)
    cam.ntp_count = prof.ntp_count


def device_uuid(camera: Camera) -> str:
    """Stable per-camera UUID (ISAPI deviceID, WS-Discovery endpoint reference)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"camsim:{camera.identity.mac}:{camera.identity.serial}"))


# ---- fleets ----------------------------------------------------------------------------------------------
def _kinds(n: int, mix: dict[str, int], seed: int) -> list[str]:
    counts = apportion(n, mix)
    kinds = [k for k in catalog.FLEET_KINDS for _ in range(counts.get(k, 0))]
    random.Random(f"camsim-mix:{seed}").shuffle(kinds)
    return kinds


def generate_fleet(
    n: int,
    mix: dict[str, int],
    seed: int,
    *,
    base_address: str = "127.0.1.1",
    port: int = 80,
    latency_ms: float = 0.0,
    auth_only_share: float = DEFAULT_AUTH_ONLY_SHARE,
    recorders: int = 0,
    behind_share: float = DEFAULT_BEHIND_SHARE,
    unactivated_share: float = 0.0,
) -> list[Camera]:
    """n cameras split over `mix` (weights), identical for the same arguments; then `recorders` recorders on the
    next addresses, each with its channels, and the cameras hidden behind them (not reachable, listed last)."""
    if n < 0 or recorders < 0:
        raise FleetError("camera and recorder counts must be >= 0")
    for name, share in (("behind_share", behind_share), ("unactivated_share", unactivated_share)):
        if not 0.0 <= share <= 1.0:
            raise FleetError(f"{name} must be in [0, 1]")
    kinds = _kinds(n, mix, seed)
    addrs = addresses(base_address, n + recorders)
    fleet = [
        make_camera(
            i,
            kind,
            seed,
            addrs[i],
            port=port,
            latency_ms=latency_ms,
            auth_only_share=auth_only_share,
        )
        for i, kind in enumerate(kinds)
    ]
    _deactivate(fleet, unactivated_share, seed)
    if recorders:
        fleet += add_recorders(
            fleet, recorders, seed, addrs[n:], port=port, latency_ms=latency_ms, behind_share=behind_share
        )
    return fleet


def _deactivate(fleet: list[Camera], share: float, seed: int) -> None:
    """A seeded share of the Hikvision-made cameras left unactivated: no password at all (SADP says so)."""
    hik = [c for c in fleet if c.identity.personality == "hikvision"]
    k = round(share * len(hik))
    for cam in random.Random(f"camsim-unactivated:{seed}").sample(hik, k):
        cam.activated = False
        cam.users = []
        cam.defaults = cam._config_dict()


# ---- recorders -------------------------------------------------------------------------------------------
_VENDOR_PROTOCOL = {"hikvision": "HIKVISION", "dahua": "Private"}


def _channel_protocol(recorder: Camera, camera: Camera) -> str:
    """Same maker: the recorder's private protocol (Hikvision SDK / Dahua 37777); anything else over ONVIF."""
    maker = recorder.identity.personality
    return _VENDOR_PROTOCOL[maker] if camera.identity.personality == maker else "ONVIF"


def _hidden_kind(rng: random.Random, maker: str) -> tuple[str, str]:
    """(kind, model name) of a PoE camera: mostly the recorder's own maker, some OEM, some third party."""
    roll = rng.random()
    if roll < 0.75:
        return maker, rng.choice(catalog.MODELS_BY_KIND[maker]).name
    if roll < 0.85:
        return "oem", rng.choice([m for m in catalog.OEM_MODELS if m.maker == maker]).name
    other = rng.choice(("axis", "generic", "dahua" if maker == "hikvision" else "hikvision"))
    return other, rng.choice(catalog.MODELS_BY_KIND[other]).name


def add_recorders(
    fleet: list[Camera],
    count: int,
    seed: int,
    addrs: list[str],
    *,
    port: int = 80,
    latency_ms: float = 0.0,
    behind_share: float = DEFAULT_BEHIND_SHARE,
) -> list[Camera]:
    """`count` recorders on `addrs`; their channels are fed by hidden PoE cameras (returned after the recorders)
    and by activated cameras of `fleet` on the site network (each feeds at most one recorder)."""
    rng = random.Random(f"camsim-recorders:{seed}")
    free = [c for c in fleet if c.activated and c.reachable and not c.is_recorder]
    rng.shuffle(free)
    recs: list[Camera] = []
    hidden: list[Camera] = []
    for r in range(count):
        model = rng.choice(catalog.RECORDER_MODELS)
        rec = make_camera(100_000 + r, model.maker, seed, addrs[r], port=port, latency_ms=latency_ms,
                          auth_only_share=0.0, model_name=model.name)  # fmt: skip
        rec.id = f"nvr-{r + 1:02d}"
        rec.scopes.append("onvif://www.onvif.org/Profile/G")  # recording (Hikvision/Dahua NVRs claim G)
        subnet = ipaddress.IPv4Network(catalog.POE_SUBNET[model.maker])
        rec.poe_address = str(subnet.network_address + 1)
        used = rng.randint(max(1, model.channels // 2), model.channels)
        for number in range(1, used + 1):
            if rng.random() < behind_share or not free:
                kind, name = _hidden_kind(rng, model.maker)
                cam = make_camera(200_000 + r * 100 + number, kind, seed, str(subnet.network_address + 1 + number),
                                  port=80, latency_ms=latency_ms, auth_only_share=0.0, model_name=name)  # fmt: skip
                cam.id = f"nvr{r + 1:02d}-ch{number:02d}"
                cam.reachable = False
                hidden.append(cam)
            else:
                cam = free.pop()
            rec.channels.append(
                Channel(
                    number, cam.id, cam.network.address, _channel_protocol(rec, cam), f"Camera {number:02d}"
                )
            )
        recs.append(rec)
    return recs + hidden


def _apply_overrides(cam: Camera, entry: dict[str, Any]) -> None:
    """Apply the explicit overrides of a fleet-file camera entry, then re-capture the factory state."""
    if "id" in entry:
        cam.id = str(entry["id"])
    if "password" in entry:
        cam.users[0].password = str(entry["password"])
    if "username" in entry:
        cam.users[0].username = str(entry["username"])
    if "auth_modes" in entry:
        modes = [str(m) for m in entry["auth_modes"]]
        if not modes or any(m not in ("digest", "wsse") for m in modes):
            raise FleetError(f"bad auth_modes {modes!r}")
        cam.auth.modes = modes  # type: ignore[assignment]
    for key in ("realm", "lockout_threshold", "lockout_seconds", "connection_limit", "freshness_s"):
        if key in entry:
            setattr(cam.auth, key, type(getattr(cam.auth, key))(entry[key]))
    if "clock_skew_s" in entry:
        cam.clock_skew_s = float(entry["clock_skew_s"])
    if "faults" in entry:
        for k, v in dict(entry["faults"]).items():
            if not hasattr(cam.faults, k):
                raise FleetError(f"unknown fault {k!r}")
            setattr(cam.faults, k, type(getattr(cam.faults, k))(v))
    if "features" in entry:
        for k, v in dict(entry["features"]).items():
            if k not in cam.features:
                raise FleetError(f"{cam.identity.personality} camera has no feature {k!r}")
            cam.features[k] = bool(v)
    if "profile" in entry:
        apply_profile(cam, str(entry["profile"]))
    if "capabilities" in entry:
        cam.capabilities = [str(c) for c in entry["capabilities"]]
    if "onvif_serial" in entry:
        cam.onvif_serial = bool(entry["onvif_serial"])
    if "routed_sources" in entry:
        cam.routed_sources = [str(n) for n in entry["routed_sources"]]
    if "discovery_mode" in entry:
        cam.network.discovery_mode = entry["discovery_mode"]
    if "gateway" in entry:
        cam.network.gateway = [str(g) for g in entry["gateway"]]
    if "dns" in entry:
        cam.network.dns = [str(d) for d in entry["dns"]]
    cam.defaults = cam._config_dict()


def _entry_model(entry: dict[str, Any], seed: int, index: int) -> tuple[str, str | None]:
    """(kind, model name or None) of an explicit camera entry: a catalog model, an OEM brand or a kind."""
    if "model" in entry:
        model = catalog.find_model(str(entry["model"]))
        return model.maker, model.name
    oem = entry.get("oem")
    if isinstance(oem, str):
        # "oem": "Lorex" picks one of that brand's catalog models (seeded)
        choices = [m for m in catalog.OEM_MODELS if m.brand.lower() == oem.lower()]
        if not choices:
            brands = sorted({m.brand for m in catalog.OEM_MODELS})
            raise FleetError(f"unknown OEM brand {oem!r}; known: {brands}")
        return "oem", random.Random(f"camsim-oem:{seed}:{index}").choice(choices).name
    if oem:
        maker = entry.get("personality")
        if maker in ("hikvision", "dahua"):
            # "oem": true with a personality: a rebrand made by that maker, not any OEM model
            made = [m for m in catalog.HIK_OEM_MODELS + catalog.DAHUA_OEM_MODELS if m.maker == maker]
            return "oem", random.Random(f"camsim-oem:{seed}:{index}").choice(made).name
        return "oem", None
    kind = str(entry.get("personality", entry.get("kind", "")))
    if kind not in catalog.FLEET_KINDS:
        raise FleetError(
            f"camera entry needs personality in {catalog.FLEET_KINDS}, an oem brand or a catalog model: {entry}"
        )
    return kind, None


def fleet_from_spec(spec: dict[str, Any]) -> list[Camera]:
    """Cameras from a parsed fleet description (generator spec or explicit list)."""
    seed = int(spec.get("seed", 0))
    port = int(spec.get("port", 80))
    base = str(spec.get("base_address", "127.0.1.1"))
    latency = float(spec.get("latency_ms", 0.0))
    share = float(spec.get("auth_only_share", DEFAULT_AUTH_ONLY_SHARE))
    cams = spec.get("cameras")
    if isinstance(cams, int):
        mix_raw = spec.get("mix", {"hikvision": 1})
        mix = parse_mix(mix_raw) if isinstance(mix_raw, str) else {str(k): int(v) for k, v in mix_raw.items()}
        fleet = generate_fleet(
            cams, mix, seed, base_address=base, port=port, latency_ms=latency, auth_only_share=share,
            recorders=int(spec.get("recorders", 0)),
            behind_share=float(spec.get("behind_share", DEFAULT_BEHIND_SHARE)),
            unactivated_share=float(spec.get("unactivated_share", 0.0)),
        )  # fmt: skip
        overrides = spec.get("overrides", {})
        by_id = {c.id: c for c in fleet}
        for cam_id, entry in dict(overrides).items():
            if cam_id not in by_id:
                raise FleetError(f"override for unknown camera {cam_id!r}")
            _apply_overrides(by_id[cam_id], dict(entry))
        return fleet
    if isinstance(cams, list):
        addrs = addresses(base, len(cams))
        fleet = []
        for i, raw in enumerate(cams):
            entry = dict(raw)
            kind, model_name = _entry_model(entry, seed, i)
            cam = make_camera(
                i,
                kind,
                seed,
                str(entry.get("address", addrs[i])),
                port=int(entry.get("port", port)),
                latency_ms=latency,
                auth_only_share=float(entry.get("auth_only_share", share)),
                model_name=model_name,
                firmware=str(entry["firmware"]) if "firmware" in entry else None,
            )
            if not ipaddress.IPv4Address(cam.network.address).is_loopback:
                raise FleetError(f"camera address {cam.network.address} is outside 127.0.0.0/8")
            _apply_overrides(cam, entry)
            fleet.append(cam)
        ids = [c.id for c in fleet]
        if len(set(ids)) != len(ids):
            raise FleetError("duplicate camera ids in fleet file")
        return fleet
    raise FleetError("fleet description needs `cameras`: a count (generator) or a list of camera entries")


def load_fleet_file(path: Path) -> list[Camera]:
    """Load a JSON (.json) or TOML (.toml) fleet description."""
    try:
        raw = path.read_bytes()
        if path.suffix.lower() == ".toml":
            spec: Any = tomllib.loads(raw.decode("utf-8"))
        else:
            spec = json.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise FleetError(f"cannot read fleet file {path}: {e}") from e
    if not isinstance(spec, dict):
        raise FleetError(f"fleet file {path} must hold an object/table")
    try:
        return fleet_from_spec(spec)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, FleetError):
            raise
        raise FleetError(f"bad fleet file {path}: {e!r}") from e
