"""Hikvision SADP (UDP 37020, group 239.255.255.250): the XML Probe/ProbeMatch device search.

Modelled on public sources, not on a capture of ours: the probe `<Probe><Uuid>..</Uuid><Types>inquiry</Types>
</Probe>` (also `inquiry_v32`) as the SADP tools of julienblitte/UniversalScanner and cameronnewman/hikvision-
tooling send it, and the ProbeMatch field set of UniversalScanner's self-test sample and hikvision-tooling's
parser [S]. Replies go unicast to the prober's address and port (hikvision-tooling reads them on the socket it
sent from). The numeric DeviceType codes are the simulator's [U]; the Uuid is echoed [U].
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from camsim import catalog
from camsim.model import Camera

GROUP = "239.255.255.250"
PORT = 37020
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)
_TYPES = frozenset({"inquiry", "inquiry_v32"})


@dataclass(frozen=True)
class Probe:
    uuid: str
    types: str


def parse_probe(data: bytes) -> Probe | None:
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.LxmlError, ValueError):
        return None
    if root.getroottree().docinfo.doctype or root.tag != "Probe":
        return None
    types = (root.findtext("Types") or "").strip()
    if types not in _TYPES:
        return None
    return Probe(uuid=(root.findtext("Uuid") or "").strip()[:64], types=types)


def _sadp_version(text: str) -> str:
    """SADP writes version and build without a space: 'V5.5.0build 170725' (UniversalScanner sample [S])."""
    return text.replace(" build ", "build ")


def probe_match(cam: Camera, probe: Probe) -> bytes | None:
    """The ProbeMatch of a Hikvision-made device (OEM firmware keeps SADP [U]); None for other makers."""
    ident = cam.identity
    if ident.personality != "hikvision":
        return None
    net = cam.network
    fw = catalog.find_firmware(ident.firmware)
    dsp = dict(fw.extra).get("encoderVersion", "V7.3 build 240801") if fw else "V7.3 build 240801"
    mask_bits = 0xFFFFFFFF << (32 - net.prefix_length) & 0xFFFFFFFF
    mask = ".".join(str(mask_bits >> s & 0xFF) for s in (24, 16, 8, 0))
    channels = len(cam.channels) if cam.is_recorder else 1
    cmd_port = next((p.port for p in net.protocols if p.name == "DEV_MANAGE"), 8000)
    fields = [
        ("Uuid", probe.uuid),
        ("Types", probe.types),
        ("DeviceType", "1280" if cam.is_recorder else "135"),
        ("DeviceDescription", ident.model),
        ("DeviceSN", ident.serial),
        ("CommandPort", str(cmd_port)),
        ("HttpPort", str(cam.port)),
        ("MAC", ident.mac.replace(":", "-")),
        ("IPv4Address", net.address),
        ("IPv4SubnetMask", mask),
        ("IPv4Gateway", net.gateway[0] if net.gateway else "0.0.0.0"),
        ("IPv6Address", "::"),
        ("IPv6Gateway", "::"),
        ("IPv6MaskLen", "64"),
        ("DHCP", "false"),
        ("AnalogChannelNum", "0"),
        ("DigitalChannelNum", str(channels)),
        ("SoftwareVersion", _sadp_version(ident.firmware)),
        ("DSPVersion", _sadp_version(dsp)),
        ("BootTime", "2024-01-01 00:00:00"),
        ("Encrypt", "true"),
        ("ResetAbility", "false"),
        ("DiskNumber", "1" if cam.is_recorder else "0"),
        ("Activated", "true" if cam.activated else "false"),
        ("PasswordResetAbility", "true"),
        ("PasswordResetModeSecond", "true"),
        ("SupportHCPlatform", "true" if "ezviz" in cam.features else "false"),
        ("HCPlatformEnable", "true" if cam.features.get("ezviz") else "false"),
        ("IsModifyVerificationCode", "true"),
    ]
    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<ProbeMatch>{body}</ProbeMatch>\n'.encode()


class Sadp:
    name = "sadp"
    group = GROUP
    port = PORT

    def parse(self, data: bytes) -> object | None:
        return parse_probe(data)

    def answer(self, camera: Camera, probe: object) -> bytes | None:
        return probe_match(camera, probe) if isinstance(probe, Probe) else None
