"""What the browser journeys do with a page: log in, check it, photograph it."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

SCREENSHOT_DIR = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
GUIDE_IMAGES_DIR = Path(settings.BASE_DIR) / "docs" / "guide" / "images"
PASSWORD = "browser-test-password"
DESKTOP = {"width": 1280, "height": 900}
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# The overflow check tolerates a scrollbar's rounding, nothing more.
OVERFLOW_TOLERANCE_PX = 2


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]


def save_screenshot(page, name: str, *, folder: str = "") -> Path:
    """The page as a person sees it, whole, in artifacts/screenshots/[folder/]<name>.png."""
    directory = SCREENSHOT_DIR / folder
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{slug(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# The pictures in docs/guide/, by name: docs/guide/images/<name>.png, taken at LAPTOP
# size by the browser test that calls save_guide_picture(page, name). A guide may show
# only pictures listed here (tests/foundation/test_guide_pictures.py checks the guides,
# and that each name here is taken by a browser test), so none goes stale unnoticed.
GUIDE_PICTURES = {
    "periodic-tasks": "Periodic tasks list: 12 tasks with their run strips (schedules.md)",
    "periodic-task-change": "A periodic task's change page: plain words, next runs, runs",
    "import-upload": "Import a CSV file: the upload form (imports.md)",
    "import-preview": "The preview of an upload with a rejected row (imports.md)",
    "import-job-running": "A running import: phase, counts, chunks and first errors",
    "import-job-done": "A finished import that rejected one row (imports.md)",
    "report-definitions": "Report definitions with their schedule in words (reports.md)",
    "report-preview": "The preview of a report (reports.md)",
    "report-runs": "Report runs: status, kind and recipients (reports.md)",
    "admin-home": "The admin home after a night: state, alerts, imports, runs, sends (ops.md)",
    "ops-dashboard": "The ops dashboard: queues, charts, workers, alerts (ops.md)",
}


def save_guide_picture(page, name: str) -> Path:
    """The page at laptop size (1366 px wide, whole height) as docs/guide/images/<name>.png."""
    if name not in GUIDE_PICTURES:
        raise KeyError(f"{name!r} is not in GUIDE_PICTURES (tests/browser/support.py)")
    page.set_viewport_size(LAPTOP)
    GUIDE_IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    path = GUIDE_IMAGES_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


def login(page, username: str, password: str = PASSWORD) -> None:
    """Log in the way a person does: the admin login form."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


def _axe_script() -> str:
    # axe-core ships inside the axe-playwright-python wheel: no CDN, no npm.
    from axe_playwright_python.base import AXE_SCRIPT

    return AXE_SCRIPT


# Findings in Django's own admin chrome, not in anything this project renders: each is
# (axe rule, CSS selector prefix or exact HTML of the element), ignored only there.
DJANGO_ADMIN_CHROME = [
    # Breadcrumb links are told apart from the separators between them by colour
    # alone (Django's admin CSS); a project stylesheet could underline them.
    ("link-in-text-block", ".breadcrumbs > a"),
    # The changelist's "N results (Show all)" link, same cause.
    ("link-in-text-block", '<a href="?">Show all</a>'),
]


def _is_django_chrome(rule: str, node: dict) -> bool:
    target = " ".join(map(str, node["target"]))
    return any(
        rule == known and (target.startswith(where) or node["html"] == where)
        for known, where in DJANGO_ADMIN_CHROME
    )


def axe_violations(page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """axe-core's serious and critical findings on the page, Django's own chrome aside."""
    page.evaluate(_axe_script())
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in results["violations"]:
        if violation.get("impact") not in impacts:
            continue
        nodes = [n for n in violation["nodes"] if not _is_django_chrome(violation["id"], n)]
        if nodes:
            found.append({**violation, "nodes": nodes})
    return found


def format_violations(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['html'][:160]}")
    return "\n".join(lines)


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, (
        f"axe found serious accessibility problems on {page.url}:\n" + format_violations(violations)
    )


_OVERFLOW_SCRIPT = """
(tolerance) => {
  const width = window.innerWidth;
  const scrollWidth = document.scrollingElement.scrollWidth;
  const culprits = [];
  if (scrollWidth > width + tolerance) {
    for (const el of document.querySelectorAll('body *')) {
      const rect = el.getBoundingClientRect();
      if (rect.right > width + tolerance && rect.width > 0) {
        const id = el.id ? '#' + el.id : '';
        const cls = el.classList.length ? '.' + [...el.classList].join('.') : '';
        culprits.push(`${el.tagName.toLowerCase()}${id}${cls} right=${Math.round(rect.right)}`);
        if (culprits.length >= 8) break;
      }
    }
  }
  return {width, scrollWidth, culprits};
}
"""


def horizontal_overflow(page) -> dict:
    return page.evaluate(_OVERFLOW_SCRIPT, OVERFLOW_TOLERANCE_PX)


def assert_fits_viewport(page) -> None:
    result = horizontal_overflow(page)
    assert result["scrollWidth"] <= result["width"] + OVERFLOW_TOLERANCE_PX, (
        f"{page.url} is {result['scrollWidth']}px wide in a {result['width']}px viewport; "
        f"overflowing: {result['culprits']}"
    )


# The changelist's action button: "Go" up to Django 5.2, "Run" from Django 6.0.
ACTION_BUTTON = re.compile(r"^(Go|Run)$")


def run_admin_action(page, label: str) -> None:
    """Choose a changelist action by its label and submit it, on any supported Django."""
    page.get_by_label("Action:").select_option(label=label)
    page.get_by_role("button", name=ACTION_BUTTON).click()
