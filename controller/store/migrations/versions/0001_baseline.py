"""Baseline: the schema camfleet had before Alembic (agents, cameras, commands, audit, people, campaigns)."""

from __future__ import annotations

from alembic import op

from controller.store.dialect import PG_AUDIT_GUARDS, SQLITE_AUDIT_GUARDS
from controller.store.migrations.legacy import MIGRATIONS, statements

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for step in MIGRATIONS:
        for sql in statements(step, sqlite=sqlite):
            op.execute(sql)
    for sql in SQLITE_AUDIT_GUARDS if sqlite else PG_AUDIT_GUARDS:
        op.execute(sql)


def downgrade() -> None:
    raise RuntimeError("refusing to downgrade past the baseline: that would drop the whole fleet store")
