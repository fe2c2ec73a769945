"""Alembic migrations of the fleet store (script location; run by controller.store.migrate)."""
