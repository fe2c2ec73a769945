"""Recorder channels: which camera feeds each one, and whether it records right now (what the NVR would show)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from camsim.keys import LOOKUP, Lookup
from camsim.model import Camera, Channel

# The camera service each channel protocol needs: Hikvision NVRs pull over the SDK port (managePortNo 8000 in
# the DS-7608NXI-I2 InputProxy fixture), ONVIF channels stream over RTSP, Dahua's private protocol uses TCP 37777
# (VENDORS.md §4). Switching that service off on the camera takes the channel dark as surely as a filter does.
REQUIRED_PROTOCOL: dict[str, str] = {"HIKVISION": "DEV_MANAGE", "ONVIF": "RTSP", "Private": "SDK"}
MANAGE_PORT: dict[str, int] = {"HIKVISION": 8000, "ONVIF": 80, "Private": 37777}


@dataclass(frozen=True)
class ChannelView:
    """One channel as the recorder sees it now."""

    channel: Channel
    camera: Camera | None
    online: bool
    reason: str  # "connect" when online, else why not (offline, filtered, service off, missing)


def recorder_source(recorder: Camera, camera: Camera) -> str:
    """The address the camera sees the recorder's requests come from: its PoE-side NIC for PoE cameras."""
    if not camera.reachable and recorder.poe_address:
        return recorder.poe_address
    return recorder.network.address


def channel_view(recorder: Camera, channel: Channel, lookup: Lookup) -> ChannelView:
    cam = lookup(channel.camera_id)
    if cam is None:
        return ChannelView(channel, None, False, "notExist")
    if cam.is_down():
        return ChannelView(channel, cam, False, "offline")
    if not cam.activated:
        return ChannelView(channel, cam, False, "notActivated")
    # The camera's IP filter applies to the recorder like to anyone (camsim enforces it per source address).
    if not cam.network.ip_filter.permits(recorder_source(recorder, cam)):
        return ChannelView(channel, cam, False, "netUnreachable")
    needed = REQUIRED_PROTOCOL.get(channel.protocol)
    proto = next((p for p in cam.network.protocols if p.name == needed), None)
    if proto is not None and not proto.enabled:
        return ChannelView(channel, cam, False, "ipcStreamFail")
    return ChannelView(channel, cam, True, "connect")


def channel_views(recorder: Camera, lookup: Lookup) -> list[ChannelView]:
    return [channel_view(recorder, ch, lookup) for ch in recorder.channels]


def lookup_of(request: web.Request) -> Lookup:
    """The fleet lookup the server put on its application (a lone camera sees no other device)."""
    found = request.app.get(LOOKUP)
    return found if found is not None else (lambda _cid: None)
