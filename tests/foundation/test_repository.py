"""The repository stands alone and its documentation holds together: a README a newcomer
reads in one pass, links that lead somewhere, nothing that needs files from outside."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 250
# Built from pieces so that this file does not contain what it looks for.
OUTSIDE_FILES = re.compile(re.escape(".." + "/shared") + "|" + re.escape("shared" + "/data"))


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md")), ROOT / "catalogue" / "data" / "README.md"]


def _outside_code_blocks(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        lines.append("" if fenced else line)
    return lines


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped,
    spaces as hyphens, `-1`, `-2` ... for repeats."""
    anchors: set[str] = set()
    for line in _outside_code_blocks(path.read_text()):
        match = re.match(r"#{1,6} (.+)", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        candidate, repeat = slug, 0
        while candidate in anchors:
            repeat += 1
            candidate = f"{slug}-{repeat}"
        anchors.add(candidate)
    return anchors


def relative_links(path: Path) -> list[tuple[int, str]]:
    links = []
    for number, line in enumerate(_outside_code_blocks(path.read_text()), start=1):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if not re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                links.append((number, target))
    return links


def test_the_readme_is_short_and_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to docs/"
    )
    top = "\n".join(lines[:15])
    assert re.search(r"^make run\b", top, flags=re.MULTILINE)
    assert re.search(r"^make test\b", top, flags=re.MULTILINE)
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command in README.read_text()
    assert "DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=" in README.read_text()


def test_nothing_in_the_readme_docs_or_tests_needs_files_from_outside_the_repository():
    files = [*markdown_files(), *sorted((ROOT / "tests").rglob("*.py")), ROOT / ".env.example"]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if OUTSIDE_FILES.search(line)
    ]
    assert not found, "refers to files outside the repository:\n" + "\n".join(found)


def test_every_relative_link_in_the_readme_and_docs_leads_to_a_file_and_heading_that_exist():
    broken = []
    for page in markdown_files():
        for number, target in relative_links(page):
            file_part, _, anchor = target.partition("#")
            destination = (page.parent / file_part).resolve() if file_part else page
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not destination.exists():
                broken.append(f"{where} (no such file)")
            elif (
                anchor
                and destination.suffix == ".md"
                and anchor not in heading_anchors(destination)
            ):
                broken.append(f"{where} (no heading with that anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_docs_index_lists_every_page():
    index = (DOCS / "index.md").read_text()
    linked = {
        (DOCS / target.partition("#")[0]).resolve()
        for _, target in relative_links(DOCS / "index.md")
    }
    missing = [
        str(page.relative_to(ROOT))
        for page in sorted(DOCS.rglob("*.md"))
        if page.name != "index.md" and page.resolve() not in linked
    ]
    assert index
    assert not missing, "add these pages to docs/index.md: " + ", ".join(missing)


def test_the_link_and_anchor_rules_match_githubs():
    assert len(relative_links(README)) > 10
    page = DOCS / "benchmarks.md"
    assert "duplicate-keys-across-chunks-importkey-claims-before--after" in heading_anchors(page)
    assert "health-endpoints-and-ops_status" in heading_anchors(DOCS / "ops.md")
