"""Which recorder each camera feeds, and which recorder channels an action would take dark.

The one place for the rule "restrict_network must keep a camera's recorder in its allow list": agent and
controller both apply it (the agent to its own cameras before writing anything, the controller to a preview, a
dry run or a campaign batch across sites), so it sits with the wire contract they share.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protos.camfleet.v1 import camfleet_pb2 as pb

#: The camera service a channel needs, for the protocols restrict_network can switch off (keep_protocols):
#: Hikvision recorders pull over the SDK port (DEV_MANAGE, managePortNo 8000 in the DS-7608NXI-I2 fixture),
#: ONVIF channels over RTSP. Dahua's private protocol (TCP 37777) is not a switch restrict_network touches.
REQUIRED_PROTOCOL: dict[str, str] = {"HIKVISION": "DEV_MANAGE", "ONVIF": "RTSP"}


@dataclass(frozen=True)
class Feed:
    """One recorder channel whose camera is known: the recorder, the channel, how the stream is pulled."""

    recorder_id: str
    recorder_host: str  # the recorder's address on the site network: what a LAN camera's filter must allow
    channel: int
    protocol: str
    address: str  # the camera as the recorder reaches it
    camera_id: str  # "" when the camera is seen only through this recorder
    online: bool


@dataclass(frozen=True)
class Impact:
    """A channel that would go dark, and why."""

    recorder_id: str
    recorder_host: str
    channel: int
    camera_id: str
    address: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "recorder_id": self.recorder_id,
            "recorder_host": self.recorder_host,
            "channel": self.channel,
            "camera_id": self.camera_id,
            "address": self.address,
            "reason": self.reason,
        }

    def describe(self) -> str:
        who = self.camera_id or self.address
        return f"{self.recorder_id} channel {self.channel} ({who}): {self.reason}"


def _ids(rec: pb.CameraRecord | pb.RecorderChannel) -> set[str]:
    ident = rec.identity
    out = {f"mac:{m.replace('-', ':').lower()}" for m in ident.macs if m}
    if ident.serial.strip():
        out.add(f"serial:{ident.serial.strip().upper()}")
    return out


def match_channels(records: Sequence[pb.CameraRecord]) -> None:
    """Fill channel.camera_id with the directly inventoried camera each channel is: by MAC or serial anywhere, by
    address only within the recorder's own site (PoE subnets repeat from site to site)."""
    cameras = [r for r in records if r.device_class != "recorder" and r.reachable]
    by_id: dict[str, str] = {}
    by_addr: dict[tuple[str, str], str] = {}
    for cam in cameras:
        for key in _ids(cam):
            by_id.setdefault(key, cam.camera_id)
        by_addr.setdefault((cam.site, cam.host), cam.camera_id)
    for rec in records:
        for ch in rec.channels:
            hit = next((by_id[k] for k in sorted(_ids(ch)) if k in by_id), "")
            ch.camera_id = hit or by_addr.get((rec.site, ch.address), "")


def feeds(records: Iterable[pb.CameraRecord]) -> tuple[dict[str, list[Feed]], dict[str, list[Feed]]]:
    """(camera_id -> the channels it feeds, recorder_id -> all its channels) from inventory records."""
    by_camera: dict[str, list[Feed]] = {}
    by_recorder: dict[str, list[Feed]] = {}
    for rec in records:
        for ch in rec.channels:
            f = Feed(rec.camera_id, rec.host, ch.channel, ch.protocol, ch.address, ch.camera_id, ch.online)
            by_recorder.setdefault(rec.camera_id, []).append(f)
            if ch.camera_id:
                by_camera.setdefault(ch.camera_id, []).append(f)
    return by_camera, by_recorder


def allows(allow: Iterable[str], address: str) -> bool:
    """Does one of the allow-list entries (address or CIDR) cover `address`?"""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in allow:
        try:
            if ip in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def channels_dark(
    action: pb.Action, camera_id: str, by_camera: dict[str, list[Feed]], by_recorder: dict[str, list[Feed]]
) -> list[Impact]:
    """The recorder channels `action` on `camera_id` would take dark (empty for actions that take none)."""
    kind = action.WhichOneof("kind")
    out: list[Impact] = []
    if kind == "decommission":
        for f in by_camera.get(camera_id, []):
            out.append(Impact(f.recorder_id, f.recorder_host, f.channel, camera_id, f.address,
                              "the camera is factory-reset and retired"))  # fmt: skip
        for f in by_recorder.get(camera_id, []):
            out.append(Impact(f.recorder_id, f.recorder_host, f.channel, f.camera_id, f.address,
                              "the recorder is factory-reset: it forgets its channels"))  # fmt: skip
    elif kind == "restrict_network":
        rn = action.restrict_network
        keep = {p.strip().upper() for p in rn.keep_protocols if p.strip()}
        for f in by_camera.get(camera_id, []):
            if not allows(rn.allow, f.recorder_host):
                out.append(Impact(f.recorder_id, f.recorder_host, f.channel, camera_id, f.address,
                                  f"the allow list lacks the recorder {f.recorder_host}"))  # fmt: skip
                continue
            needed = REQUIRED_PROTOCOL.get(f.protocol.upper())
            if keep and needed and needed not in keep:
                out.append(Impact(f.recorder_id, f.recorder_host, f.channel, camera_id, f.address,
                                  f"{needed} is switched off but the recorder pulls the stream over it"))  # fmt: skip
    return out


def refusal(action: pb.Action, impacts: Sequence[Impact]) -> str | None:
    """Why restrict_network must not run (it would cut cameras off their recorders), unless the operator accepted
    the recording gap; None when it may run."""
    if (
        action.WhichOneof("kind") != "restrict_network"
        or not impacts
        or action.restrict_network.accept_recording_gap
    ):
        return None
    shown = "; ".join(i.describe() for i in impacts[:4])
    more = f" (and {len(impacts) - 4} more)" if len(impacts) > 4 else ""
    return (
        f"would cut {len(impacts)} recorder channel(s) off: {shown}{more}. Add the recorder to the allow list, "
        "or accept the recording gap explicitly"
    )
