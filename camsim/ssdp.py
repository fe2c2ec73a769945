"""SSDP (UDP 1900, group 239.255.255.250) M-SEARCH answers and the UPnP device description they point to.

A camera answers only while its UPnP is on (the same switch disable_cloud turns off). The root description follows
UPnP Device Architecture 1.0 and, for Axis, the shape of axis-js's recorded root description ("AXIS M1014 -
ACCC8E270AD8") [S]. The SERVER banners are a libupnp-style guess per maker [U]: no capture of ours records them.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formatdate
from xml.sax.saxutils import escape

from camsim.fleet import device_uuid
from camsim.model import Camera

GROUP = "239.255.255.250"
PORT = 1900
DESCRIPTION_PATH = "/upnp/rootDesc.xml"
_ALL = frozenset({"ssdp:all", "upnp:rootdevice", "urn:schemas-upnp-org:device:Basic:1"})
_SERVER = {
    "hikvision": "Linux/3.0.8, UPnP/1.0, Portable SDK for UPnP devices/1.6.6",
    "dahua": "Linux/2.6, UPnP/1.0, Portable SDK for UPnP devices/1.6.0",
    "axis": "Linux/4.14, UPnP/1.0, Axis UPnP Stack/1.0",
}
_SITE = {
    "HIKVISION": "http://www.hikvision.com",
    "Dahua": "http://www.dahuasecurity.com",
    "AXIS": "http://www.axis.com/",
    "Amcrest": "http://www.amcrest.com",
    "Lorex": "http://www.lorextechnology.com",
    "CP PLUS": "http://www.cpplusworld.com",
    "LTS": "http://www.ltsecurityinc.com",
    "HiWatch": "http://www.hiwatch.com",
    "Annke": "http://www.annke.com",
}


@dataclass(frozen=True)
class Search:
    st: str


def parse_search(data: bytes) -> Search | None:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    if not lines or lines[0].strip().upper() != "M-SEARCH * HTTP/1.1":
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().upper()] = value.strip()
    if headers.get("MAN", "").strip('"') != "ssdp:discover":
        return None
    st = headers.get("ST", "")
    return Search(st) if st else None


def speaks_upnp(cam: Camera) -> bool:
    return bool(cam.features.get("upnp")) and cam.identity.personality in _SERVER


def answer(cam: Camera, search: Search) -> bytes | None:
    if not speaks_upnp(cam):
        return None
    udn = f"uuid:{device_uuid(cam)}"
    if search.st not in _ALL and search.st != udn:
        return None
    st = search.st if search.st != "ssdp:all" else "upnp:rootdevice"
    host = cam.network.address if cam.port == 80 else f"{cam.network.address}:{cam.port}"
    lines = [
        "HTTP/1.1 200 OK",
        "CACHE-CONTROL: max-age=1800",
        f"DATE: {formatdate(usegmt=True)}",
        "EXT:",
        f"LOCATION: http://{host}{DESCRIPTION_PATH}",
        f"SERVER: {_SERVER[cam.identity.personality]}",
        f"ST: {st}",
        f"USN: {udn}::{st}" if st != udn else f"USN: {udn}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def description(cam: Camera) -> str:
    """The root device description (unauthenticated, like every UPnP description)."""
    ident = cam.identity
    brand = ident.manufacturer
    friendly = f"{ident.model} - {ident.serial[-9:]}"
    device_type = "urn:schemas-upnp-org:device:Basic:1"
    return (
        '<?xml version="1.0"?>\n<root xmlns="urn:schemas-upnp-org:device-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion><device>"
        f"<deviceType>{device_type}</deviceType><friendlyName>{escape(friendly)}</friendlyName>"
        f"<manufacturer>{escape(brand)}</manufacturer>"
        f"<manufacturerURL>{escape(_SITE.get(brand, ''))}</manufacturerURL>"
        f"<modelDescription>{escape(ident.device_type)}</modelDescription>"
        f"<modelName>{escape(ident.model)}</modelName><modelNumber>{escape(ident.model)}</modelNumber>"
        f"<serialNumber>{escape(ident.serial)}</serialNumber><UDN>uuid:{device_uuid(cam)}</UDN>"
        f"<presentationURL>http://{cam.network.address}:{cam.port}/</presentationURL>"
        "</device></root>\n"
    )


class Ssdp:
    name = "ssdp"
    group = GROUP
    port = PORT

    def parse(self, data: bytes) -> object | None:
        return parse_search(data)

    def answer(self, camera: Camera, probe: object) -> bytes | None:
        return answer(camera, probe) if isinstance(probe, Search) else None
