"""Dahua CGI reply models and pure parsers: key=value lines, configManager tables, magicBox, 'Error' replies."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.drivers.base import parse_bool
from agent.errors import ProtocolError

# `table.T2UServer.Enable=true`, `table.T2UServer[0].Enable=true`, `table.DDNS[1].Enable=false`.
_ENABLE_KEY = re.compile(r"^table\.(?P<name>[A-Za-z0-9_]+)(?P<idx>\[\d+\])?\.Enable$")
_MAX_LINES = 20_000  # a full getConfig dump is a few thousand lines; more is not a camera reply


def decode_text(raw: bytes) -> str:
    """Dahua bodies are ASCII/UTF-8; OEM firmware sometimes sends Latin-1 names, which must not crash us."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def is_error_reply(raw: bytes) -> bool:
    """`Error\\r\\nBad Request!` (and bare `Error`) is how Dahua refuses a request (VENDORS.md §4)."""
    first = decode_text(raw).lstrip().split("\n", 1)[0].strip()
    return first.lower() == "error"


def is_ok_reply(raw: bytes) -> bool:
    """setConfig and friends answer a bare `OK`."""
    return decode_text(raw).strip() == "OK"


def parse_kv(raw: bytes, *, operation: str = "") -> tuple[tuple[str, str], ...]:
    """Lines of `key=value` (CRLF on the wire). Blank lines are skipped; any other line is malformed."""
    if is_error_reply(raw):
        raise ProtocolError("Dahua Error reply where key=value was expected", operation=operation, raw=raw)
    lines = decode_text(raw).splitlines()
    if len(lines) > _MAX_LINES:
        raise ProtocolError("reply too long", operation=operation, raw=raw)
    out: list[tuple[str, str]] = []
    for line in lines:
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ProtocolError(f"not a key=value line: {line[:60]!r}", operation=operation, raw=raw)
        out.append((key, value.strip()))
    if not out:
        raise ProtocolError("empty key=value reply", operation=operation, raw=raw)
    return tuple(out)


@dataclass(frozen=True)
class MagicBoxInfo:
    """magicBox.cgi key=value reply (getSystemInfo / getSoftwareVersion / getVendor / getDeviceType).

    Keys are matched case-insensitively: OEM firmware answers `Vendor=IntelBras` where Dahua says `vendor=`.
    """

    fields: tuple[tuple[str, str], ...]

    @classmethod
    def decode(cls, raw: bytes, operation: str = "magicBox") -> MagicBoxInfo:
        return cls(fields=parse_kv(raw, operation=operation))

    def get(self, key: str) -> str | None:
        k = key.lower()
        return next((v for name, v in self.fields if name.lower() == k), None)

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)


@dataclass(frozen=True)
class ConfigEnable:
    """The Enable switch(es) of one configManager table, and the exact keys to write back.

    Firmware differs in whether the table is indexed (`T2UServer.Enable` vs `T2UServer[0].Enable`), so the
    write keys echo what the camera itself sent (without the `table.` prefix).
    """

    name: str
    entries: tuple[tuple[str, bool], ...]  # (write key, enabled)

    @property
    def enabled(self) -> bool:
        """Any entry on means the feature is on (DDNS[1] enabled alone still phones home)."""
        return any(v for _, v in self.entries)

    @classmethod
    def decode(cls, raw: bytes, name: str, operation: str = "getConfig") -> ConfigEnable:
        entries: list[tuple[str, bool]] = []
        for key, value in parse_kv(raw, operation=operation):
            m = _ENABLE_KEY.match(key)
            if m and m.group("name") == name:
                write_key = key.removeprefix("table.")
                entries.append((write_key, parse_bool(value, operation=operation, raw=raw)))
        if not entries:
            raise ProtocolError(f"no table.{name}.Enable in reply", operation=operation, raw=raw)
        return cls(name=name, entries=tuple(entries))

    def set_params(self, enabled: bool) -> dict[str, str]:
        """setConfig query for every entry (`DDNS[0].Enable=false&DDNS[1].Enable=false`)."""
        text = "true" if enabled else "false"
        return {key: text for key, _ in self.entries}
