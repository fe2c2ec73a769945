"""deploy/ansible: ansible-lint at the production profile, and the molecule scenario on this machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.net import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ANSIBLE_DIR = Path(__file__).resolve().parent.parent / "deploy" / "ansible"


def _tool(name: str) -> str:
    """The deploy extra's tools live next to this interpreter (the project venv)."""
    path = Path(sys.executable).parent / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[deploy]' (scripts/bootstrap does it)")
    return found


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    env.update(extra)
    return env


def _run(argv: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            cwd=ANSIBLE_DIR,
            env=_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else str(exc.stdout or "")
        pytest.fail(f"{argv[0]} did not finish in {timeout:.0f}s; last output:\n{out[-6000:]}")


def test_ansible_lint_production_profile() -> None:
    proc = _run([_tool("ansible-lint"), "--offline", "--profile", "production", "--nocolor"], timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    # ansible-lint says which profile it enforced; make sure it really was the strictest one.
    assert "Profile 'production' was required, and it passed" in out, out[-3000:]


def test_molecule_default_scenario_converge_idempotence_verify() -> None:
    if os.geteuid() != 0:
        pytest.skip("the molecule scenario creates system users and runs services as them: needs root")
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: scripts/bootstrap installs it (apt-get install mosquitto)")
    proc = _run(
        [_tool("molecule"), "test", "--scenario-name", "default"],
        timeout=600,
        CAMFLEET_MOLECULE_BROKER_PORT=str(free_port()),
        CAMFLEET_MOLECULE_PREFIX="/opt/camfleet-molecule",
    )
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0, out[-12000:]
    # The scenario really went through each step (a skipped step would still exit 0).
    for step in ("converge", "idempotence", "verify", "side_effect"):
        assert re.search(rf"default\W+{step}\W+Executed: Successful", out), (
            f"{step} did not run:\n{out[-4000:]}"
        )
    assert "The agent is online with this site, its version and one camera" in out
    assert "A new connection with the revoked certificate is refused" in out
    # cleanup left nothing behind
    assert not Path("/opt/camfleet-molecule").exists()
