"""camsim as a subprocess for tests that drive the agent's command line: started, awaited, stopped."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CAMSIM = str(Path(sys.executable).with_name("camsim"))
READY = re.compile(r"camsim ready: (\d+) cameras .* control=(http://127\.0\.0\.1:\d+)")


@contextmanager
def camsim_process(out: Path, *args: str) -> Iterator[str]:
    """Run `camsim *args --control-port 0 --export out`; yields its control URL once it serves (targets.csv and
    truth.json are in `out` by then), and stops it afterwards."""
    proc = subprocess.Popen(
        [CAMSIM, *args, "--control-port", "0", "--export", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        control = next((m.group(2) for line in proc.stdout if (m := READY.search(line))), "")
        assert control, "camsim did not start"
        # Keep draining its output: a camsim that logs more than a pipe holds would block on a full pipe.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield control
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
