"""Alembic revisions, oldest first: 0001 is the baseline (the schema before Alembic)."""
