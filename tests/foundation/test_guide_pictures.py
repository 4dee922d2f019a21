"""Every picture a guide shows is taken by a browser test, so none goes stale unnoticed.

A guide in docs/guide/ may show `![...](images/<name>.png)` only for a name registered
in tests/browser/support.py's GUIDE_PICTURES; each registered name is taken by a browser
test (a `save_guide_picture(page, "<name>")` call) and its file is in the repository.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.browser.support import GUIDE_IMAGES_DIR, GUIDE_PICTURES

GUIDE_DIR = Path(settings.BASE_DIR) / "docs" / "guide"
BROWSER_TESTS = Path(settings.BASE_DIR) / "tests" / "browser"
IMAGE = re.compile(r"!\[[^\]]*\]\((images/[^)\s]+)\)")
# Guides that must show at least one picture of the pages they describe.
ILLUSTRATED_GUIDES = ("schedules.md", "imports.md", "reports.md", "ops.md")


def pictures_taken_by_browser_tests() -> set[str]:
    taken = set()
    for path in BROWSER_TESTS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "save_guide_picture"
                and len(node.args) == 2
                and isinstance(node.args[1], ast.Constant)
            ):
                taken.add(node.args[1].value)
    return taken


def guide_pictures() -> list[tuple[str, str]]:
    return [
        (guide.name, link)
        for guide in sorted(GUIDE_DIR.glob("*.md"))
        for link in IMAGE.findall(guide.read_text(encoding="utf-8"))
    ]


@pytest.mark.parametrize(("guide", "link"), guide_pictures())
def test_every_picture_a_guide_shows_is_taken_by_a_browser_test(guide, link):
    name = link.removeprefix("images/").removesuffix(".png")
    assert link.endswith(".png"), f"{guide}: {link} is not a .png a browser test takes"
    assert name in GUIDE_PICTURES, (
        f"{guide} shows {link}, which no browser test takes: add it to GUIDE_PICTURES "
        "in tests/browser/support.py and call save_guide_picture(page, name) in a test"
    )
    assert (GUIDE_IMAGES_DIR / f"{name}.png").is_file(), f"{link} is missing: run the test"


def test_every_registered_picture_is_taken_by_a_browser_test():
    assert set(GUIDE_PICTURES) == pictures_taken_by_browser_tests()


@pytest.mark.parametrize("guide", ILLUSTRATED_GUIDES)
def test_each_guide_shows_the_pages_it_describes(guide):
    assert any(name == guide for name, _ in guide_pictures()), f"{guide} shows no picture"


def test_no_picture_in_the_images_folder_is_left_unused():
    shown = {link.removeprefix("images/") for _, link in guide_pictures()}
    files = {path.name for path in GUIDE_IMAGES_DIR.glob("*.png")}
    assert files <= shown | {f"{name}.png" for name in GUIDE_PICTURES}
