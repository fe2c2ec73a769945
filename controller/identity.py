"""Stable camera identity: what a camera is (serial number, MAC addresses), not where it is.

An agent names a camera by its own reference (the address it reaches it at, `host:port`); the controller keys
it by an id that never changes. Each inventory report is matched against the reporting agent's cameras only
(an agent speaks only for its own cameras): first by identity, then, for a record without one (the camera did
not answer, or says nothing about itself), by the agent's reference. A camera that answers from another address
keeps its id, lifecycle and history; two cameras that swap addresses stay two cameras; a different device at a
known address is a new camera and the one it replaced loses the address. A camera with neither serial nor MAC
can only be known by its address, and says so (`identified_by` = "address").
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Placeholders firmware puts where a serial should be; such a "serial" identifies nothing.
_JUNK_SERIALS = frozenset({
    "UNKNOWN", "N/A", "NA", "NONE", "NULL", "DEFAULT", "SERIAL", "SERIALNUMBER", "SERIAL NUMBER", "TBD", "TEST",
    "0123456789", "123456789", "1234567890", "12345678", "ABCDEFG", "XXXXXXXX",
})  # fmt: skip
_MAC = re.compile(r"^[0-9A-F]{12}$")
_JUNK_MACS = frozenset({"000000000000", "FFFFFFFFFFFF"})


def serial_of(raw: str) -> str:
    """The serial as compared: trimmed, upper case; "" for none or a placeholder (one character, one repeated
    character, a known dummy)."""
    s = " ".join(raw.split()).upper()[:128]
    if len(s) < 2 or len(set(s)) == 1 or s in _JUNK_SERIALS:
        return ""
    return s


def macs_of(raw: Iterable[str]) -> list[str]:
    """MAC addresses as compared: AA:BB:CC:DD:EE:FF, sorted, unique; what is not a unicast hardware address
    (malformed, all zeros, broadcast, multicast) is dropped."""
    out: set[str] = set()
    for m in raw:
        hexes = re.sub(r"[^0-9A-Fa-f]", "", m).upper()
        if not _MAC.match(hexes) or hexes in _JUNK_MACS or int(hexes[:2], 16) & 1:
            continue
        out.add(":".join(hexes[i : i + 2] for i in range(0, 12, 2)))
    return sorted(out)[:16]


@dataclass(frozen=True)
class Identity:
    serial: str = ""
    macs: tuple[str, ...] = ()

    @classmethod
    def of(cls, serial: str, macs: Iterable[str]) -> Identity:
        return cls(serial_of(serial), tuple(macs_of(macs)))

    @property
    def known(self) -> bool:
        return bool(self.serial or self.macs)

    @property
    def how(self) -> str:
        """What identifies the camera: serial+mac, serial, mac, or only its address."""
        parts = [p for p, have in (("serial", self.serial), ("mac", self.macs)) if have]
        return "+".join(parts) or "address"

    @property
    def keys(self) -> tuple[str, ...]:
        """What two identities of one device share at least one of (same_device): its serial, each MAC."""
        return tuple([f"serial:{self.serial}"] if self.serial else []) + tuple(f"mac:{m}" for m in self.macs)

    def same_device(self, other: Identity) -> bool:
        """The same hardware. MACs decide when both sides have some: two devices on one network cannot share a
        MAC, while cheap firmware gives many devices one serial (and a serial read through another API may be
        spelled differently). Without MACs on both sides, equal serials decide."""
        if self.macs and other.macs:
            return not set(self.macs).isdisjoint(other.macs)
        return bool(self.serial) and self.serial == other.serial

    def merged(self, newer: Identity) -> Identity:
        """What is known after a new record: its fields where it has them, the stored ones where it has none
        (a camera that did not answer this time is still the device it was)."""
        return Identity(newer.serial or self.serial, newer.macs or self.macs)


def new_camera_id() -> str:
    """An opaque id for a camera identified by what it is (64 random bits: never reused, never guessed)."""
    return f"cam-{secrets.token_hex(8)}"


@dataclass
class Known:
    """A stored camera of the reporting agent, as the matcher sees it."""

    camera_id: str
    agent_ref: str
    identity: Identity
    vanished: bool = False
    updated_at: float = 0.0


@dataclass
class Resolution:
    """Which stored camera each record of a report is (None: a new camera), and what that changes."""

    matches: list[str | None]
    # camera id -> (old reference, new reference) for cameras that now answer from another address
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)
    # cameras whose reference another device took (and that are not in the report under another one)
    displaced: list[Known] = field(default_factory=list)


def resolve(records: Sequence[tuple[str, Identity]], known: Sequence[Known]) -> Resolution:
    """Match a report's records (agent reference, identity) to the agent's stored cameras.

    1. A record whose identity is that of the camera at its own reference is that camera.
    2. Any other identified record is the stored camera of the same identity (one that moved: preferring one
       still present, then the most recently seen); failing that, a camera never identified at its reference
       (now it says what it is); failing that, a new camera.
    3. A record without identity is the camera at its reference, unless that camera was found elsewhere in
       this report (it moved; something unidentified now answers at its old address: a new camera).
    A camera is matched at most once per report; a record listed twice is matched once (the last copy wins,
    as with the report's rows)."""
    by_ref = {k.agent_ref: k for k in known if k.agent_ref}
    matches: list[str | None] = [None] * len(records)
    claimed: dict[str, int] = {}  # camera id -> index of the record that is it
    last: dict[str, int] = {}
    for i, (ref, _) in enumerate(records):
        last[ref] = i  # a reference listed twice: its last copy is the one matched (and stored)
    order = [i for i in range(len(records)) if last[records[i][0]] == i]

    def claim(i: int, k: Known) -> None:
        matches[i] = k.camera_id
        claimed[k.camera_id] = i

    for i in order:
        ref, ident = records[i]
        k = by_ref.get(ref)
        if k is not None and ident.known and ident.same_device(k.identity):
            claim(i, k)
    for i in order:
        ref, ident = records[i]
        if matches[i] is not None or not ident.known:
            continue
        found = [k for k in known if k.camera_id not in claimed and ident.same_device(k.identity)]
        if found:
            claim(i, max(found, key=lambda k: (not k.vanished, k.updated_at, k.camera_id)))
            continue
        k = by_ref.get(ref)
        if k is not None and not k.identity.known and k.camera_id not in claimed:
            claim(i, k)
    for i in order:
        ref, ident = records[i]
        k = by_ref.get(ref)
        if matches[i] is None and not ident.known and k is not None and k.camera_id not in claimed:
            claim(i, k)
    for i in range(len(records)):
        matches[i] = matches[last[records[i][0]]]
    out = Resolution(matches)
    by_id = {k.camera_id: k for k in known}
    for cid, i in claimed.items():
        if by_id[cid].agent_ref != records[i][0]:
            out.moved[cid] = (by_id[cid].agent_ref, records[i][0])
    refs = {r for r, _ in records}
    out.displaced = [k for k in known if k.agent_ref in refs and k.camera_id not in claimed]
    return out
