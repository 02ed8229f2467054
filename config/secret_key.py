"""SECRET_KEY: from the environment, or generated once and kept beside an SQLite database.

Django signs sessions, password-reset links and messages with it, so a key anybody can read
(one in the source code) lets them forge those. The rule:

- SECRET_KEY set: that key.
- unset, SQLite database: a random key generated on first start and kept in DATA_DIR/secret_key
  (readable by its owner only). Every process of an SQLite install runs on the machine that holds
  the database file and reads the same DATA_DIR, so they all sign with the same key, and the
  README's run command needs no configuration.
- unset, any other database: refused. The web and worker processes may run on several machines,
  and a key generated on each would differ, so it must be given.
"""

import os
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.sqlite3 import is_sqlite

KEY_FILE_NAME = "secret_key"
GENERATE_COMMAND = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def secret_key(*, given: str, database_engine: str, data_dir: Path) -> str:
    """The key to sign with: `given` (SECRET_KEY, blank if unset) or, with SQLite, the stored key.

    `database_engine` is DATABASES["default"]["ENGINE"]. Raises ImproperlyConfigured when no key
    is given for another database, or when the key file cannot be read or created.
    """
    if given.strip():
        return given.strip()
    if not is_sqlite(database_engine):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DATABASE_URL pointing at a database server, the web and worker "
            "processes may run on several machines, and all of them must sign with the same key: set "
            f"SECRET_KEY in their environment to one long random string, e.g. the output of {GENERATE_COMMAND}"
        )
    path = data_dir / KEY_FILE_NAME
    try:
        return _read(path) if path.exists() else _create(path)
    except OSError as error:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set and the key kept in {path} cannot be used ({error}): "
            "make DATA_DIR writable, or set SECRET_KEY."
        ) from error


def _create(path: Path) -> str:
    """Write a new key to `path`, unless another process starting at the same time wrote one first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written in full under a temporary name (mkstemp makes it mode 600), then linked into place:
    # link fails if the name exists, so two processes starting together end up with the same key.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{KEY_FILE_NAME}-")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
    return _read(path)


def _read(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it to have a new key generated, or set SECRET_KEY.")
    return key
