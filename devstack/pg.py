"""A throwaway PostgreSQL cluster (tests, benchmarks): initdb + pg_ctl as the postgres user, loopback only, torn down after."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack.net import ToolMissing, free_port

SKIP_ENV = "CAMFLEET_NO_POSTGRES"
APP_ROLE = "camfleet"


class PostgresNotWanted(Exception):
    """CAMFLEET_NO_POSTGRES=1: the caller skips what needs PostgreSQL (a pytest skip in tests)."""


def pg_bindir() -> Path:
    """The newest server under /usr/lib/postgresql/*/bin (Debian's layout). CI must have it: a missing server
    is a failure there, not a silent skip; developers without it set CAMFLEET_NO_POSTGRES=1."""
    if os.environ.get(SKIP_ENV) == "1":
        raise PostgresNotWanted(f"{SKIP_ENV}=1: PostgreSQL store tests skipped")
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise ToolMissing(
            "PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/initdb): scripts/bootstrap "
            f"installs it (apt-get install postgresql); set {SKIP_ENV}=1 to skip these tests locally"
        )
    return found[-1]


@dataclass
class PgCluster:
    """A running cluster; `superuser_dsn` for setup/tampering, `dsn(db)` for the application role."""

    root: Path
    port: int
    bindir: Path

    @property
    def superuser_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str, user: str = APP_ROLE) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the cluster's private unix socket."""
        out = _run(
            [str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.root), "-p",
             str(self.port), "-U", "postgres", "-d", database, "-At", "-c", sql],
        )  # fmt: skip
        return out


def _as_postgres() -> Callable[[list[str]], list[str]]:
    # initdb and postgres refuse to run as root; the server runs as the OS user `postgres` instead.
    if os.geteuid() != 0:
        return lambda argv: argv
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ToolMissing(
            "running as root but there is no `postgres` OS user to run the test cluster as"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        return lambda argv: ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(map(shlex.quote, argv))]
    return lambda argv: [runuser, "-u", "postgres", "--", *argv]


def _run(argv: list[str], timeout: float = 60) -> str:
    cmd = _as_postgres()(argv)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{argv[0]} timed out after {timeout}s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def running_postgres() -> Iterator[PgCluster]:
    """initdb into a temp dir, start on 127.0.0.1:<free port> (unix socket in the temp dir), trust auth,
    create the non-superuser application role; stop and delete everything at the end."""
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="camfleet-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data = root / "data"
    port = free_port()
    started = False
    try:
        # Trust auth is for this throwaway cluster only; C locale keeps sort order equal to SQLite's.
        _run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-locale",
              "-E", "UTF8", "--no-sync"])  # fmt: skip
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "30",
              "start"])  # fmt: skip
        started = True
        cluster = PgCluster(root=root, port=port, bindir=bindir)
        cluster.psql(f"CREATE ROLE {APP_ROLE} LOGIN")
        yield cluster
    finally:
        if started:
            with contextlib.suppress(RuntimeError):
                _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"])
        shutil.rmtree(root, ignore_errors=True)
