"""Browser fixtures: Debian's headless Chromium driven by Playwright against live_server.

- `chromium_executable`: the `chromium` binary. When it is missing and we run as root on
  Debian (CI), it is installed with apt-get, by one pytest-xdist worker while the
  others wait for it; otherwise the browser tests are skipped with the reason. `CHROMIUM_PATH` points at another binary.
- `browser`: one headless Chromium for the session; each test gets fresh contexts.
- `new_page(viewport)`, `page_for(user, viewport)`, `admin_page`: pages on the live
  server, the last two logged in through the admin login form.
- `make_user(name, superuser=..., perms=(...))`: staff users with exact permissions.
A failing test leaves artifacts/screenshots/failed-<test>-<n>.png of every page it had.

Playwright is used only through `executable_path`: `playwright install` downloads
browsers, which we never do.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from tests.browser.support import (
    DESKTOP,
    PASSWORD,
    SCREENSHOT_DIR,
    login,
    save_screenshot,
    slug,
)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Waits for a dpkg lock another program holds (an unattended upgrade, say) instead of
# failing at once.
APT_INSTALL = (
    "apt-get -o DPkg::Lock::Timeout=600 update -qq && "
    "apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium"
)
# Each pytest-xdist worker has its own session: one installs, the others wait here and
# then find the browser (two apt-gets at once: "Could not get lock", and both fail).
INSTALL_LOCK = Path(tempfile.gettempdir()) / "batch-platform-chromium-install.lock"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Kept on the item so the page fixture's teardown knows whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _find_chromium() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _can_install_with_apt() -> bool:
    return (
        hasattr(os, "geteuid")
        and os.geteuid() == 0
        and Path("/etc/debian_version").exists()
        and shutil.which("apt-get") is not None
    )


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    found = _find_chromium()
    if found:
        return found
    if os.environ.get("CHROMIUM_PATH"):
        pytest.fail(f"CHROMIUM_PATH={os.environ['CHROMIUM_PATH']} does not exist")
    if not _can_install_with_apt():
        pytest.skip(
            "browser tests need Chromium: install Debian's `chromium` package "
            "(apt-get install chromium) or set CHROMIUM_PATH; the tests install it "
            "themselves only when running as root on Debian"
        )
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _find_chromium()
        if found:
            return found  # another worker installed it meanwhile
        result = subprocess.run(
            ["sh", "-c", APT_INSTALL],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            text=True,
            timeout=900,
        )
    found = _find_chromium()
    if result.returncode != 0 or not found:
        # Root on Debian is CI: a browser we could not install fails, it does not skip.
        pytest.fail(
            f"`{APT_INSTALL}` failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return found


@pytest.fixture(scope="package")
def browser(chromium_executable: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread, which makes
    # Django's async-safety guard refuse ORM calls from the test body. The test body is
    # plain synchronous code (the live server runs in its own thread), so the guard is
    # lifted while the browser is up. Package scope: both end with the last browser
    # test, so the rest of the suite runs with neither.
    # Screenshots describe the last run only; under pytest-xdist the workers share the
    # folder, so none of them empties it.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        shutil.rmtree(SCREENSHOT_DIR, ignore_errors=True)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser, live_server, request) -> Iterator[Callable]:
    """Factory: a page in a fresh browser context (its own cookies) on the live server."""
    contexts = []

    def make(viewport: dict | None = None):
        context = browser.new_context(
            base_url=live_server.url,
            viewport=viewport or DESKTOP,
            accept_downloads=True,
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for index, context in enumerate(contexts):
            for number, page in enumerate(context.pages):
                save_screenshot(page, f"failed-{slug(request.node.name)}-{index}-{number}")
    for context in contexts:
        context.close()


@pytest.fixture
def make_user(transactional_db) -> Callable:
    def make(username: str, *, superuser: bool = False, perms: tuple[str, ...] = ()):
        User = get_user_model()
        if superuser:
            return User.objects.create_superuser(username, f"{username}@example.com", PASSWORD)
        user = User.objects.create_user(
            username, f"{username}@example.com", PASSWORD, is_staff=True
        )
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make


@pytest.fixture
def page_for(new_page) -> Callable:
    """Factory: a page logged in as `user` through the login form."""

    def make(user, viewport: dict | None = None):
        page = new_page(viewport)
        login(page, user.get_username())
        return page

    return make


@pytest.fixture
def admin_user_browser(make_user):
    return make_user("ada", superuser=True)


@pytest.fixture
def admin_page(page_for, admin_user_browser):
    return page_for(admin_user_browser)
