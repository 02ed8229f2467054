"""Test settings: only what tests must change."""

import os

# Settings refuse to load without a key when DATABASE_URL names PostgreSQL; the processes tests
# start (workers, quickstart) inherit it from this environment, as production processes would.
os.environ.setdefault("SECRET_KEY", "tests-only-key-never-used-outside-the-test-suite-0123456789")

from config.settings import *  # noqa: E402, F403

Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests never read the checkout's collected files (var/static): WhiteNoise would scan them for
# every test client, and warn on every one when they are missing. Static file tests set their own.
STATIC_ROOT = None
