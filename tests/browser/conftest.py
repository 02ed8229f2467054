"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Screenshots go to $BROWSER_SCREENSHOTS_DIR (default var/screenshots/ in the repository), and the
terminal summary of every run names that folder, so a reader of the CI log can find them even
though pytest hides a passing test's output.
"""

import os
from pathlib import Path

import pytest

from tests.browser.layout import VIEWPORT

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches for Google's hosts: this machine's network is closed and
# Chromium would otherwise retry refused connections at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPOSITORY = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 15_000  # per action or wait: generous for a loaded CI machine, short enough to fail fast

_screenshots: list[Path] = []
_reports_key = pytest.StashKey[dict]()  # each test's setup/call/teardown reports, for the failure screenshot


def pytest_collection_modifyitems(items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run does)")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


def screenshots_dir() -> Path:
    return Path(os.environ.get("BROWSER_SCREENSHOTS_DIR") or REPOSITORY / "var" / "screenshots")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_reports_key, {})[report.when] = report
    return report


@pytest.fixture
def browser_context(tmp_path):
    """A fresh Chromium with an empty profile, closed after the test (mark the test `browser`)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)

    profile = tmp_path / "chromium-profile"
    with sync_playwright() as playwright:
        # A persistent context is the only way to pass --user-data-dir: an empty folder per test.
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            accept_downloads=True,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context, request):
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    yield page
    call = request.node.stash.get(_reports_key, {}).get("call")
    if call is not None and call.failed:
        # The page as it was when the test failed: usually the quickest way to see why.
        save_screenshot(page, f"{_prefix(request)}-FAILED")


@pytest.fixture
def allow_orm_beside_playwright(page, monkeypatch):
    from django.db import connections

    # Playwright's sync API keeps an asyncio loop on this thread, so Django takes every ORM call
    # made here for one made from async code and refuses it. The calls are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    yield
    # Connections opened while that loop runs belong to its context, not to the one that tears
    # the test database down: close them here, or PostgreSQL refuses to drop the database.
    connections.close_all()


@pytest.fixture
def screenshot(page, request):
    """screenshot("name") saves the whole page as <dir>/<module>-<NN>-<name>.png and returns the path."""
    prefix = _prefix(request)
    counter = iter(range(1, 100))

    def take(name: str) -> Path:
        return save_screenshot(page, f"{prefix}-{next(counter):02d}-{name}")

    return take


def _prefix(request) -> str:
    return request.module.__name__.rpartition(".")[2].removeprefix("test_")


def save_screenshot(page, name: str) -> Path:
    path = screenshots_dir() / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    _screenshots.append(path)
    print(f"screenshot: {path}")
    return path


def pytest_terminal_summary(terminalreporter):
    if not _screenshots:
        return
    terminalreporter.section("browser screenshots")
    terminalreporter.write_line(f"{len(_screenshots)} screenshots saved in {screenshots_dir()}:")
    for path in _screenshots:
        terminalreporter.write_line(f"  {path}")
