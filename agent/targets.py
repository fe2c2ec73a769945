"""Targets the agent may talk to: the targets CSV (host,port,username,password) and configured address ranges."""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.credentials import Credentials

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The format `camsim --export` writes and site engineers keep in a spreadsheet (issue 4 §7).
TARGETS_HEADER = ("host", "port", "username", "password")
# A sweep of more than this many addresses in one go is almost certainly a typo (/16 instead of /24).
DEFAULT_MAX_ADDRESSES = 4096
# A targets file bigger than this is not a hand-kept site list; refuse before reading it whole.
MAX_TARGETS_BYTES = 16 * 1024 * 1024

# RFC 1123 host names: letters, digits, hyphens, dots; no spaces, quotes or other characters.
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


class TargetsError(ValueError):
    """The targets file is unusable. Messages carry line numbers and column names, never field values.

    Never echoing values matters: in a row with a missing comma the password slides into another column,
    so even "bad host 'x'" could print a password.
    """

    def __init__(self, problems: Sequence[str], *, source: str = "targets") -> None:
        self.problems = tuple(problems)
        self.source = source
        shown = "; ".join(self.problems[:20])
        more = f" (and {len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
        super().__init__(f"{source}: {shown}{more}")


class RangeError(ValueError):
    """An address range spec is malformed, too large, or not allowed by configuration."""


class RangeNotAllowed(RangeError):
    """The range is well formed but the configuration does not allow sweeping it."""


@dataclass(frozen=True)
class Target:
    """One camera the engineer handed us: where it is and how to log in."""

    host: str
    port: int
    credentials: Credentials


def normalize_host(raw: str) -> str:
    """Canonical host text: IP addresses in compressed form (brackets dropped for IPv6), names lower-case.

    Raises ValueError (without the value) for anything that is neither an IP address nor a host name.
    """
    host = raw.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if _HOSTNAME.match(host) and not host.replace(".", "").isdigit():
        return host.lower().rstrip(".")
    raise ValueError("not an IP address or host name")


def parse_port(raw: str) -> int:
    text = raw.strip()
    if not text.isdigit():
        raise ValueError("port is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError("port is out of range 1-65535")
    return port


def parse_targets(text: str, *, source: str = "targets") -> list[Target]:
    """Parse targets CSV text. The header row is required; columns are matched by name, in any order.

    Tolerates a UTF-8 BOM, blank lines, `#` comment lines, spaces around fields, and IPv6 hosts (bare or in
    brackets). Every bad row is reported, each by line number, in one TargetsError.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
    problems: list[str] = []
    columns: dict[str, int] | None = None
    targets: list[Target] = []
    seen: dict[tuple[str, int], int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not f.strip() for f in row) or row[0].lstrip().startswith("#"):
                continue
            if columns is None:
                columns = _header(row, source)
                continue
            target, row_problems = _row(row, columns, line)
            problems.extend(row_problems)
            if target is None:
                continue
            key = (target.host, target.port)
            if key in seen:
                problems.append(f"line {line}: duplicate of line {seen[key]} (same host and port)")
                continue
            seen[key] = line
            targets.append(target)
    except csv.Error:
        # csv.Error text can quote the offending line (and so a password); report only where it happened.
        problems.append(f"line {reader.line_num}: malformed CSV (unbalanced quotes?)")
        raise TargetsError(problems, source=source) from None
    if columns is None:
        raise TargetsError([f"missing header row {','.join(TARGETS_HEADER)}"], source=source)
    if problems:
        raise TargetsError(problems, source=source)
    return targets


def load_targets(path: Path) -> list[Target]:
    """Read and parse a targets CSV file (UTF-8, with or without BOM)."""
    try:
        size = path.stat().st_size
        if size > MAX_TARGETS_BYTES:
            raise TargetsError([f"file is larger than {MAX_TARGETS_BYTES} bytes"], source=str(path))
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TargetsError(["file is not UTF-8 text"], source=str(path)) from None
    except OSError as exc:
        raise TargetsError([f"cannot read file: {exc.strerror}"], source=str(path)) from exc
    return parse_targets(text, source=str(path))


def _header(row: list[str], source: str) -> dict[str, int]:
    names = [f.strip().lstrip("\ufeff").lower() for f in row]
    missing = [h for h in TARGETS_HEADER if h not in names]
    if missing:
        raise TargetsError(
            [
                f"line 1: header must name the columns {','.join(TARGETS_HEADER)} (missing: {', '.join(missing)})"
            ],
            source=source,
        )
    return {h: names.index(h) for h in TARGETS_HEADER}


def _row(row: list[str], columns: dict[str, int], line: int) -> tuple[Target | None, list[str]]:
    problems: list[str] = []
    fields: dict[str, str] = {}
    for name, index in columns.items():
        if index >= len(row) or not row[index].strip():
            problems.append(f"line {line}: missing {name}")
        else:
            fields[name] = row[index]
    if len(row) > len(columns) and any(f.strip() for f in row[len(columns) :]):
        problems.append(f"line {line}: more fields than the header has columns (unquoted comma?)")
    host = port = None
    if "host" in fields:
        try:
            host = normalize_host(fields["host"])
        except ValueError as exc:
            problems.append(f"line {line}: bad host: {exc}")
    if "port" in fields:
        try:
            port = parse_port(fields["port"])
        except ValueError as exc:
            problems.append(f"line {line}: bad port: {exc}")
    if problems or host is None or port is None:
        return None, problems
    # Trailing spaces are trimmed from every field; a password cannot end in a space in this format.
    creds = Credentials(username=fields["username"].strip(), password=fields["password"].strip())
    return Target(host=host, port=port, credentials=creds), []


# ---- address ranges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    first: IPAddress
    last: IPAddress

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def contains(self, other: _Span) -> bool:
        return (
            self.first.version == other.first.version
            and int(self.first) <= int(other.first)
            and int(other.last) <= int(self.last)
        )


def _span(spec: str) -> _Span:
    """Parse "a.b.c.d", "a.b.c.d/nn" or "a.b.c.d-e.f.g.h" (IPv6 likewise) into an inclusive span."""
    text = spec.strip()
    if not text:
        raise RangeError("empty range")
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            return _Span(net.network_address, net.broadcast_address)
        if "-" in text:
            a, _, b = text.partition("-")
            first, last = ipaddress.ip_address(a.strip()), ipaddress.ip_address(b.strip())
            if first.version != last.version:
                raise RangeError(f"range {text!r} mixes IPv4 and IPv6")
            if int(last) < int(first):
                raise RangeError(f"range {text!r} ends before it starts")
            return _Span(first, last)
        addr = ipaddress.ip_address(text)
        return _Span(addr, addr)
    except RangeError:
        raise
    except ValueError as exc:
        raise RangeError(f"bad range {text!r}: expected an address, CIDR (a.b.c.d/nn) or a-b") from exc


def _addresses(span: _Span, from_cidr: bool) -> list[IPAddress]:
    start, end = int(span.first), int(span.last)
    # A CIDR block of /30 or wider (IPv4) skips its network and broadcast addresses, as a sweep should.
    if from_cidr and span.first.version == 4 and span.size >= 4:
        start, end = start + 1, end - 1
    make = ipaddress.IPv4Address if span.first.version == 4 else ipaddress.IPv6Address
    return [make(i) for i in range(start, end + 1)]


@dataclass(frozen=True)
class RangeAllowList:
    """The address ranges configuration explicitly allows sweeping. Empty means: sweep nothing."""

    spans: tuple[_Span, ...] = ()

    @classmethod
    def from_config(cls, specs: Iterable[str]) -> RangeAllowList:
        return cls(tuple(_span(s) for s in specs))

    def allows(self, spec: str) -> bool:
        span = _span(spec)
        return any(allowed.contains(span) for allowed in self.spans)


def resolve_ranges(
    specs: Sequence[str], allow: RangeAllowList, *, max_addresses: int = DEFAULT_MAX_ADDRESSES
) -> list[str]:
    """Expand `--range` specs into unique addresses, in order, after checking the allow-list and the cap.

    Every spec must lie wholly inside one configured range; anything else is refused (RangeNotAllowed)
    before a single address is produced. The cap is checked on the spans' sizes, so "10.0.0.0/8" fails
    without building a list of 16 million addresses.
    """
    parsed = [(s, _span(s)) for s in specs]
    if not parsed:
        raise RangeError("no range given")
    for spec, span in parsed:
        if not any(allowed.contains(span) for allowed in allow.spans):
            raise RangeNotAllowed(f"range {spec.strip()!r} is not inside any range allowed by configuration")
    total = sum(span.size for _, span in parsed)
    if total > max_addresses:
        raise RangeError(f"ranges cover {total} addresses; the limit is {max_addresses}")
    out: dict[str, None] = {}
    for spec, span in parsed:
        for addr in _addresses(span, "/" in spec):
            out.setdefault(str(addr), None)
    return list(out)
