"""Schema upgrades with Alembic: at every start, and by `camfleet-controller db upgrade/downgrade/current`.

A database from before Alembic (a `schema_version` table) is adopted: the old steps it lacks run, then it is
stamped at the baseline. A database newer than this code is refused with a clear message, and so is a
downgrade past the baseline (it would drop the store).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from controller.store.migrations.legacy import MIGRATIONS, statements

SCRIPTS = Path(__file__).parent / "migrations"
BASELINE = "0001_baseline"


class SchemaError(RuntimeError):
    """The database schema cannot be used or changed as asked; the message says what to do."""


def _config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = conn
    return cfg


def scripts() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    return ScriptDirectory.from_config(cfg)


def head() -> str:
    h = scripts().get_current_head()
    assert h is not None
    return h


def current(conn: Connection) -> str | None:
    """The revision the database is at (None: empty, or not yet adopted from before Alembic)."""
    return MigrationContext.configure(conn).get_current_revision()


def _check_known(rev: str | None) -> None:
    if rev is not None and rev not in {s.revision for s in scripts().walk_revisions()}:
        raise SchemaError(
            f"the database schema is at revision {rev}, newer than this camfleet-controller knows (its newest "
            f"is {head()}): run the camfleet version that upgraded it, or restore a backup from before"
        )


def _adopt_legacy(conn: Connection) -> None:
    """A store created before Alembic: run the old steps it lacks, stamp the baseline, drop schema_version."""
    names = set(inspect(conn).get_table_names())
    if "schema_version" not in names or "alembic_version" in names:
        return
    version = int(conn.execute(text("SELECT COALESCE(MAX(version), 0) FROM schema_version")).scalar_one())
    if version > len(MIGRATIONS):
        raise SchemaError(f"the database is at legacy schema version {version}, newer than this code knows")
    sqlite = conn.dialect.name == "sqlite"
    for step in MIGRATIONS[version:]:
        for sql in statements(step, sqlite=sqlite):
            conn.exec_driver_sql(sql)
    conn.exec_driver_sql("DROP TABLE schema_version")
    command.stamp(_config(conn), BASELINE)


def upgrade(conn: Connection, target: str = "head") -> None:
    """Bring the schema to `target` (default: the newest this code knows), in the caller's transaction."""
    _adopt_legacy(conn)
    _check_known(current(conn))
    command.upgrade(_config(conn), target)


def downgrade(conn: Connection, target: str) -> None:
    """Back to an older revision at or after the baseline; going past the baseline would drop the store."""
    _check_known(current(conn))
    known = {s.revision for s in scripts().walk_revisions()}
    if target not in known:
        raise SchemaError(
            f"cannot downgrade to {target!r}: name a revision at or after the baseline {BASELINE} "
            f"(one of {', '.join(sorted(known))}); going past the baseline would drop the whole store"
        )
    command.downgrade(_config(conn), target)
