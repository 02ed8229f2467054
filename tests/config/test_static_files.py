"""Static files in production: DEBUG off, `manage.py collectstatic` run, and only the WSGI app
(WhiteNoise) serving STATIC_ROOT, as the README's Deployment section runs the web process."""

import gzip
import os
import subprocess
import sys

import pytest
import requests
from django.core.management import call_command
from django.test import Client, override_settings

from tests.web import gunicorn
from tests.workers import ROOT

# Django's admin, the API docs page's assets (drf-spectacular-sidecar) and the product's own.
ADMIN_CSS = "/static/admin/css/base.css"
SWAGGER_UI_JS = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
PRODUCT_FILES = {
    "/static/sfsurveys/admin.css": ROOT / "config/static/sfsurveys/admin.css",
    "/static/workflows/piped_text_menu.js": ROOT / "workflows/static/workflows/piped_text_menu.js",
    "/static/distributions/export_progress.js": ROOT / "distributions/static/distributions/export_progress.js",
}


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A STATIC_ROOT filled by collectstatic, once for the module (it takes a few seconds)."""
    static_root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=static_root):
        call_command("collectstatic", interactive=False, verbosity=0)
    return static_root


@pytest.fixture
def production(settings, collected):
    settings.DEBUG = False
    settings.STATIC_ROOT = collected
    return Client()  # a fresh client builds the middleware from the settings above


def test_the_admin_stylesheet_is_served_after_collectstatic(production):
    response = production.get(ADMIN_CSS)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"--body-fg" in b"".join(response.streaming_content)


@pytest.mark.parametrize("url", list(PRODUCT_FILES))
def test_the_products_own_static_files_are_served_after_collectstatic(production, url):
    response = production.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PRODUCT_FILES[url].read_bytes()


def test_the_api_docs_assets_are_served_after_collectstatic(production):
    response = production.get(SWAGGER_UI_JS)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")


def test_a_client_that_accepts_gzip_gets_the_copy_collectstatic_compressed(production):
    response = production.get(ADMIN_CSS, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert b"--body-fg" in gzip.decompress(b"".join(response.streaming_content))


def test_a_missing_static_file_is_a_404(production):
    assert production.get("/static/admin/css/no-such-file.css").status_code == 404


@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise's notice of the missing STATIC_ROOT
def test_admin_pages_render_before_collectstatic_has_run(admin_client, settings, tmp_path):
    """The quickstart and the tests run without collectstatic: {% static %} must still give a URL."""
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "never-collected"
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert ADMIN_CSS.encode() in response.content


@pytest.mark.slow
def test_gunicorn_serves_static_files_after_collectstatic(tmp_path):
    """The web process exactly as deployed, on its own SQLite file: static files need no database."""
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "test-secret-key-for-a-gunicorn-under-test-0123456789",
        "DEBUG": "false",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
    )
    with gunicorn(log_dir=tmp_path, env=env, options=("--workers", "1")) as port:
        for url in (ADMIN_CSS, SWAGGER_UI_JS, *PRODUCT_FILES):
            response = requests.get(f"http://127.0.0.1:{port}{url}", timeout=30)
            assert response.status_code == 200, url
        assert b"--body-fg" in requests.get(f"http://127.0.0.1:{port}{ADMIN_CSS}", timeout=30).content
