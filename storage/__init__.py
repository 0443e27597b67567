"""Durable storage: SQLAlchemy 2 models, migrations, repositories and the group-commit writer.

Dependency rule: this package imports SQLAlchemy and the generated `ingestd.v1` messages, never
`server` or `gateway`. Repositories take a session and never commit; whoever opens the
transaction (`async with sessions.begin()`) owns it.
"""
