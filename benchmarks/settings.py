"""Settings for the ingest benchmark: the product's settings plus two baseline views.

DATABASE_URL (and everything else) still comes from the environment, as in production.
"""

from config.settings import *  # noqa: F401,F403

ROOT_URLCONF = "benchmarks.urls"
DEBUG = False
ALLOWED_HOSTS = ["*"]
