"""The SQLite backend the settings use for the SQLite default (base.py: Django's, plus a fair
write gate)."""

ENGINE = "config.sqlite3"


def is_sqlite(engine: str) -> bool:
    """Whether DATABASES' `engine` is SQLite: Django's backend or this one."""
    return engine in {"django.db.backends.sqlite3", ENGINE}
