import pytest
from django.db import connection


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://...")


@pytest.fixture(autouse=True)
def response_export_storage(settings, tmp_path):
    """Response export files go to the test's own folder, never under DATA_DIR."""
    location = tmp_path / "response-exports"
    settings.STORAGES = {
        **settings.STORAGES,
        "response_exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


@pytest.fixture(autouse=True)
def no_sms_quiet_hours(settings):
    """Texts go at any hour unless a test sets SMS_QUIET_HOURS: what a test sees must not depend on
    the hour the suite runs at."""
    settings.SMS_QUIET_HOURS = ""
