"""One settings table (docs/settings.md), and `.env.example` in step with it and the code.

The names are read from the sources, not imported: a setting read only in production
settings, or only when an integration is switched on, is still found.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SETTINGS_TABLE = ROOT / "docs" / "settings.md"
ENV_EXAMPLE = ROOT / ".env.example"
NAME = r"[A-Z][A-Z0-9_]*"


def table_names() -> set[str]:
    """The first cell of each row of docs/settings.md's tables: | `NAME` | meaning | default |"""
    return set(re.findall(rf"^\| `({NAME})` \|", SETTINGS_TABLE.read_text(), flags=re.MULTILINE))


def env_example_names() -> set[str]:
    """`NAME=value` lines of .env.example, commented out (`# NAME=...`) or not."""
    return set(re.findall(rf"^#? ?({NAME})=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def _string_argument(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _is_env_read(func: ast.expr) -> bool:
    """`env("X")` and django-environ's typed reads `env.int("X")`, `env.list("X")`, ..."""
    if isinstance(func, ast.Name):
        return func.id == "env"
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "env"
        and func.attr != "read_env"
    )


def _is_environ_get(func: ast.expr) -> bool:
    """`os.environ.get("X", default)` (devstack reads its own variables this way)."""
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "get"
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "environ"
    )


def variables_read(path: Path, *, reads) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and reads(node.func)
        and (name := _string_argument(node)) is not None
        and re.fullmatch(NAME, name)
    }


def reads_by_file() -> dict[str, set[str]]:
    found = {
        str(path.relative_to(ROOT)): variables_read(path, reads=_is_env_read)
        for path in sorted((ROOT / "config" / "settings").glob("*.py"))
    }
    for path in sorted((ROOT / "devstack").glob("*.py")):
        found[str(path.relative_to(ROOT))] = variables_read(path, reads=_is_environ_get)
    return found


# Read by the test settings to learn which xdist worker they run in; pytest-xdist sets it.
NOT_SETTINGS = {"PYTEST_XDIST_WORKER"}


def test_the_parsers_find_the_names_they_are_meant_to_find():
    # Guards the test below against a parser that silently finds nothing.
    reads = reads_by_file()
    assert {"DATABASE_URL", "IMPORT_CHUNK_ROWS", "OPS_QUEUE_THRESHOLDS", "EMAIL_URL"} <= reads[
        "config/settings/base.py"
    ]
    assert "DJANGO_SECRET_KEY" in reads["config/settings/production.py"]
    assert {"HOST", "PORT", "TEST_PROCESSES"} <= reads["devstack/cli.py"]
    assert len(table_names()) > 50
    assert len(env_example_names()) > 50


def test_every_variable_the_settings_read_is_in_the_settings_table():
    table = table_names()
    missing = {
        file: sorted(names - table - NOT_SETTINGS)
        for file, names in reads_by_file().items()
        if names - table - NOT_SETTINGS
    }
    assert not missing, (
        "Environment variables read in the code but missing from docs/settings.md "
        "(add a row: name, meaning, default, in the app's group):\n"
        + "\n".join(f"  {file}: {', '.join(names)}" for file, names in missing.items())
    )


def test_env_example_lists_exactly_the_variables_of_the_settings_table():
    table, example = table_names(), env_example_names()
    problems = []
    if table - example:
        problems.append(
            "in docs/settings.md but missing from .env.example (add '# NAME=default'): "
            + ", ".join(sorted(table - example))
        )
    if example - table:
        problems.append(
            "in .env.example but missing from docs/settings.md (add a row or drop the line): "
            + ", ".join(sorted(example - table))
        )
    assert not problems, "\n".join(problems)
