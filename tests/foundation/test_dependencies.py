"""What a user installs is exactly what we tested: bounded ranges, one lock in step with
them, and every install path (make, CI, the image) going through that lock."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from devstack import bootstrap

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())


def _runtime_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    texts = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        texts += extra
    return [Requirement(text) for text in texts]


@pytest.mark.parametrize("requirement", _runtime_requirements(), ids=str)
def test_every_runtime_dependency_has_a_floor_and_a_ceiling(requirement):
    operators = {spec.operator for spec in requirement.specifier}
    assert ">=" in operators, f"{requirement}: no lowest version (the 'lowest' cell tests it)"
    assert "<" in operators, f"{requirement}: open range; end it before the next major"


@pytest.mark.parametrize("requirement", _runtime_requirements(), ids=str)
def test_each_ceiling_admits_no_untested_major(requirement):
    """The ceiling is the next major (or Django's next feature release), not further: a
    major we never ran must not reach a user through a range."""
    ceiling = next(Version(s.version) for s in requirement.specifier if s.operator == "<")
    locked = [
        Version(p["version"]) for p in LOCK["package"] if p["name"] == requirement.name.lower()
    ]
    assert locked, f"{requirement.name} is not in uv.lock"
    newest = max(locked)
    if newest.major == 0:
        # 0.x: the next major is 1.0 (these projects release minors monthly).
        assert ceiling == Version("1") or ceiling.release[:2] == (0, newest.minor + 1)
    elif requirement.name.lower() == "django":
        assert ceiling.release[:2] == (newest.major, newest.minor + 1)
    else:
        assert ceiling.release[0] == newest.major + 1, (
            f"{requirement}: newest locked {newest}; the ceiling should be <{newest.major + 1}"
        )


def test_pyproject_and_the_lock_agree():
    assert bootstrap.lock_differences() == []


def test_a_disagreement_is_named(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        (ROOT / "pyproject.toml").read_text().replace('"Django>=5.2,<6.1"', '"Django>=5.2,<6.2"')
    )
    (tmp_path / "uv.lock").write_text((ROOT / "uv.lock").read_text())
    monkeypatch.setattr(bootstrap, "BASE_DIR", tmp_path)
    assert bootstrap.lock_differences() == [
        "dependencies: pyproject.toml has django<6.2,>=5.2, uv.lock does not",
        "dependencies: uv.lock has django<6.1,>=5.2, pyproject.toml does not",
    ]


def test_the_lock_pins_both_django_lines_and_hashes_every_file():
    django = sorted(Version(p["version"]) for p in LOCK["package"] if p["name"] == "django")
    assert [v.release[:2] for v in django] == [(5, 2), (6, 0)]
    for package in LOCK["package"]:
        if package.get("source", {}).get("registry"):
            files = [
                *package.get("wheels", []),
                *([package["sdist"]] if "sdist" in package else []),
            ]
            assert files, package["name"]
            assert all(f.get("hash", "").startswith("sha256:") for f in files), package["name"]


def test_every_install_path_goes_through_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install" not in makefile
    assert "devstack.bootstrap" in makefile
    assert "make test" in ci
    # The image: the pinned uv from hashed requirements, then only `uv sync --locked`.
    assert re.findall(r"pip install[^\n]*", dockerfile) == [
        "pip install --no-cache-dir --no-deps --require-hashes -r /tmp/uv-requirements.txt"
    ]
    assert "uv sync --locked" in dockerfile
    # uv itself comes pinned with hashes for every platform it ships for.
    pins = (ROOT / "devstack" / "uv-requirements.txt").read_text()
    assert re.search(r"^uv==\d+\.\d+\.\d+ \\$", pins, re.MULTILINE)
    assert pins.count("--hash=sha256:") > 5


def test_make_check_lock_fails_naming_the_difference(tmp_path):
    for name in ("pyproject.toml", "uv.lock"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"tqdm>=4.66,<5"', '"tqdm>=4.67,<5"'))
    script = (
        "import sys, pathlib; from devstack import bootstrap; "
        f"bootstrap.BASE_DIR = pathlib.Path({str(tmp_path)!r}); "
        "sys.exit(bootstrap.main(['check-lock']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "pyproject.toml has tqdm<5,>=4.67, uv.lock does not" in result.stderr
    assert "make lock" in result.stderr


@pytest.mark.parametrize(
    ("spec", "version"),
    [("", None), (sys.executable, f"{sys.version_info[0]}.{sys.version_info[1]}")],
)
def test_an_interpreter_is_found_by_command_or_path(spec, version):
    path, found = bootstrap.find_interpreter(spec)
    assert Path(path).exists()
    assert version is None or found == version


def test_a_missing_interpreter_is_named_with_where_it_was_looked_for():
    with pytest.raises(bootstrap.BootstrapError, match=r"PYTHON=3\.99.*python3\.99.*pyenv"):
        bootstrap.find_interpreter("3.99")


def test_the_matrix_has_every_supported_pair_and_both_ends():
    from devstack.matrix import all_cells, cell_name

    assert [cell_name(c) for c in all_cells()] == [
        "3.11-5.2-lock",
        "3.12-5.2-lock",
        "3.12-6.0-lock",
        "3.13-5.2-lock",
        "3.13-6.0-lock",
        "3.11-5.2-lowest",
        "3.13-6.0-newest",
    ]
    classifiers = PYPROJECT["project"]["requires-python"]
    assert classifiers == ">=3.11,<3.14"
