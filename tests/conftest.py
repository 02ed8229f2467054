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
