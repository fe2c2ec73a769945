"""The fleet store (SQLite or PostgreSQL through SQLAlchemy Core): `Store`, its unit of work and row types."""

from controller.store.store import Store

__all__ = ["Store"]
