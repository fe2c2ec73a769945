"""Axis VAPIX param.cgi models and pure parsers: `root.X.Y=v` lists, `# Error:` replies, the IP filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent.drivers.base import IPFilterConfig, parse_bool
from agent.errors import ProtocolError

_MAX_LINES = 50_000  # a full `action=list` is ~1,000 lines (fixture axis_M1065-LW_param_list.txt)


def decode_text(raw: bytes) -> str:
    """VAPIX sends UTF-8 (Kane610/axis sniffs with cchardet); fall back to Latin-1 rather than crash."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def error_message(raw: bytes) -> str | None:
    """The text of a `# Error: ...` reply (unknown group/parameter, bad update), or None."""
    text = decode_text(raw).strip()
    if text.startswith("# Error"):
        return text.split("\n", 1)[0].removeprefix("# Error").lstrip(": ").strip()
    return None


def is_ok_reply(raw: bytes) -> bool:
    """param.cgi?action=update answers a bare `OK`."""
    return decode_text(raw).strip() == "OK"


@dataclass(frozen=True)
class ParamList:
    """A param.cgi list reply, keys without the leading `root.` (e.g. 'Network.UPnP.Enabled')."""

    params: tuple[tuple[str, str], ...]

    @classmethod
    def decode(cls, raw: bytes, operation: str = "param.cgi list") -> ParamList:
        if error_message(raw) is not None:
            raise ProtocolError(
                "VAPIX error reply where a parameter list was expected", operation=operation, raw=raw
            )
        lines = decode_text(raw).splitlines()
        if len(lines) > _MAX_LINES:
            raise ProtocolError("reply too long", operation=operation, raw=raw)
        out: list[tuple[str, str]] = []
        for line in lines:
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.startswith("root.") or len(key) <= len("root."):
                raise ProtocolError(f"not a root.X=v line: {line[:60]!r}", operation=operation, raw=raw)
            out.append((key.removeprefix("root."), value))
        if not out:
            raise ProtocolError("empty parameter list", operation=operation, raw=raw)
        return cls(params=tuple(out))

    def get(self, key: str) -> str | None:
        return dict(self.params).get(key.removeprefix("root."))

    def group(self, prefix: str) -> dict[str, str]:
        """All parameters under `prefix.` (e.g. 'Brand'), full keys kept."""
        p = prefix.removeprefix("root.") + "."
        return {k: v for k, v in self.params if k.startswith(p)}


# Network.Filter parameters (VENDORS.md §4; fixture: Enabled=no, Input.Policy=allow, AcceptAddresses=).
FILTER_ENABLED = "Network.Filter.Enabled"
FILTER_POLICY = "Network.Filter.Input.Policy"
FILTER_ADDRESSES = "Network.Filter.Input.AcceptAddresses"


def decode_ip_filter(params: ParamList, operation: str = "Network.Filter") -> IPFilterConfig:
    """Network.Filter.* -> IPFilterConfig. AcceptAddresses is a space (or comma) separated host/CIDR list."""
    en = params.get(FILTER_ENABLED)
    if en is None:
        raise ProtocolError(f"no {FILTER_ENABLED} in reply", operation=operation)
    policy_text = (params.get(FILTER_POLICY) or "allow").strip().lower()
    policy: Literal["allow", "deny"] = "deny" if policy_text == "deny" else "allow"
    addrs = (params.get(FILTER_ADDRESSES) or "").replace(",", " ").split()
    try:
        return IPFilterConfig.build(parse_bool(en, operation=operation), policy, addrs)
    except ValueError as exc:
        raise ProtocolError(f"bad AcceptAddresses: {exc}", operation=operation) from exc


def encode_ip_filter(value: IPFilterConfig) -> dict[str, str]:
    """param.cgi update parameters for an IPFilterConfig (hosts written without /32, as the UI does)."""
    addrs = [a.removesuffix("/32") for a in value.addresses]
    return {
        FILTER_ENABLED: "yes" if value.enabled else "no",
        FILTER_POLICY: value.policy,
        FILTER_ADDRESSES: " ".join(addrs),
    }
