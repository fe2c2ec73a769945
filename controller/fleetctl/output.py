"""fleetctl output: plain-text tables, a progress bar on stderr, and the single JSON document of --json."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int = 48) -> str:
    """A left-aligned text table; cells longer than max_width are cut with an ellipsis."""
    cells = [[_cell(c, max_width) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(v: object, max_width: int) -> str:
    s = "" if v is None else str(v)
    s = " ".join(s.split())  # a newline inside a camera's message must not break the table
    return s if len(s) <= max_width else s[: max_width - 1] + "…"


def ago(ts: float, now: float | None = None) -> str:
    if not ts:
        return "never"
    d = max(0.0, (now if now is not None else time.time()) - ts)
    if d < 90:
        return f"{d:.0f}s ago"
    if d < 5400:
        return f"{d / 60:.0f}m ago"
    if d < 172800:
        return f"{d / 3600:.0f}h ago"
    return f"{d / 86400:.0f}d ago"


def when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def value(v: Any) -> str:
    """A setting's value as compact JSON (strings unquoted)."""
    if v is None:
        return "∅"
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


class Output:
    """Where fleetctl writes: tables or exactly one JSON document on stdout, everything else on stderr."""

    def __init__(
        self, as_json: bool, quiet: bool = False, out: TextIO | None = None, err: TextIO | None = None
    ):
        self.as_json = as_json
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.emitted = False

    def document(self, doc: Any) -> None:
        """The one JSON document of a --json run (a second call is a bug)."""
        assert not self.emitted, "fleetctl --json writes exactly one document"
        self.emitted = True
        json.dump(doc, self.out, indent=2, sort_keys=False, default=str)
        self.out.write("\n")
        self.out.flush()

    def text(self, s: str = "") -> None:
        if not self.as_json:
            self.out.write(s + "\n")

    def note(self, s: str) -> None:
        """A remark for the human at the terminal (stderr, so --json output stays clean)."""
        if not self.quiet:
            self.err.write(s + "\n")
            self.err.flush()


class ProgressBar:
    """A plain-text progress bar on stderr: redrawn in place on a terminal, a line per change otherwise
    (so logs and CI output show progress without control characters)."""

    WIDTH = 30

    def __init__(self, stream: TextIO, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last = ""
        self.drawn = False

    def update(self, done: int, total: int, detail: str = "") -> None:
        if not self.enabled:
            return
        frac = done / total if total else 1.0
        fill = round(frac * self.WIDTH)
        bar = "#" * fill + "-" * (self.WIDTH - fill)
        line = f"[{bar}] {done}/{total} {frac:4.0%}  {detail}".rstrip()
        if line == self.last:
            return
        self.last = line
        elapsed = f"  {time.monotonic() - self.started:.0f}s"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + elapsed)
            self.drawn = True
        else:
            self.stream.write(line + elapsed + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
