"""The controller's fleet store: a repository interface with SQLite (default) and PostgreSQL backends."""
