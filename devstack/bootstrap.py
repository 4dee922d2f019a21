"""What the Makefile calls, with the machine's own `python3` (3.11+), before any venv exists.

It finds the interpreter a cell asks for, brings the pinned uv (hash-checked, into
.tools/), installs exactly the lock into that cell's venv, then hands over to
`python -m devstack run|test` inside it. Standard library only.

    python3 -m devstack.bootstrap test [PYTEST ARGS]   # PYTHON=3.13 DJANGO=6.0 RESOLUTION=lock
    python3 -m devstack.bootstrap install | run | lock | upgrade | matrix

A cell is (Python, Django line, resolution): `lock` installs uv.lock (the default and
what users get), `lowest` the oldest versions pyproject.toml allows, `newest` the newest
it allows today. docs/dependencies.md says when each is used.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
TOOLS_DIR = BASE_DIR / ".tools"
UV_REQUIREMENTS = Path(__file__).with_name("uv-requirements.txt")
DJANGO_LINES = ("5.2", "6.0")
RESOLUTIONS = ("lock", "lowest", "newest")
MIN_PYTHON = (3, 11)


class BootstrapError(Exception):
    """Said to the user in one paragraph, without a traceback."""


@dataclass(frozen=True)
class Cell:
    python: str  # as asked: "", "3.13", or a path
    django: str  # "5.2" or "6.0"
    resolution: str  # "lock", "lowest" or "newest"

    @property
    def is_default(self) -> bool:
        return not self.python and self.django == DJANGO_LINES[0] and self.resolution == "lock"

    def venv_dir(self, python_version: str) -> Path:
        if self.is_default:
            return BASE_DIR / ".venv"
        return BASE_DIR / ".venvs" / f"py{python_version}-django{self.django}-{self.resolution}"


def cell_from_environment() -> Cell:
    django = os.environ.get("DJANGO") or DJANGO_LINES[0]
    resolution = os.environ.get("RESOLUTION") or "lock"
    if django not in DJANGO_LINES:
        raise BootstrapError(f"DJANGO={django} is not supported; choose one of {DJANGO_LINES}.")
    if resolution not in RESOLUTIONS:
        raise BootstrapError(f"RESOLUTION={resolution}: choose one of {RESOLUTIONS}.")
    return Cell(os.environ.get("PYTHON", ""), django, resolution)


# --- interpreters -------------------------------------------------------------------


def _version_of(executable: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except OSError:
        return None
    if out.returncode != 0:
        return None  # a pyenv shim for a version that is not active answers with an error
    major, minor = out.stdout.strip().split(".")
    return int(major), int(minor)


def find_interpreter(spec: str) -> tuple[str, str]:
    """(path, "3.X") of the interpreter PYTHON names: a version, a command or a path."""
    candidates: list[str] = []
    if not spec:
        candidates = ["python3"]
    elif re.fullmatch(r"3\.\d+", spec):
        candidates = [f"python{spec}"]
        pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
        found = glob.glob(os.path.join(pyenv_root, "versions", f"{spec}.*", "bin", f"python{spec}"))
        found.sort(key=lambda path: [int(n) for n in re.findall(r"\d+", Path(path).parts[-3])])
        candidates += reversed(found)
        candidates += glob.glob(f"/usr/local/bin/python{spec}") + glob.glob(
            f"/usr/bin/python{spec}"
        )
    else:
        candidates = [spec]
    for candidate in candidates:
        executable = shutil.which(candidate) or candidate
        version = _version_of(executable)
        if version is None:
            continue
        if spec and re.fullmatch(r"3\.\d+", spec) and f"{version[0]}.{version[1]}" != spec:
            continue
        if version < MIN_PYTHON:
            raise BootstrapError(
                f"{executable} is Python {version[0]}.{version[1]}; batch-platform needs 3.11+."
            )
        return str(Path(executable).resolve()), f"{version[0]}.{version[1]}"
    raise BootstrapError(
        f"No Python interpreter for PYTHON={spec or 'python3'}: looked for "
        f"{', '.join(candidates)} (on PATH and under pyenv). Install it, or pass a path: "
        "make test PYTHON=/path/to/python3.13"
    )


# --- uv -------------------------------------------------------------------------------


def uv() -> str:
    """The pinned uv from .tools/, installed from hash-checked requirements when missing."""
    pinned = re.search(r"^uv==(\S+)", UV_REQUIREMENTS.read_text(), re.MULTILINE)
    assert pinned, UV_REQUIREMENTS
    executable = TOOLS_DIR / "bin" / "uv"
    if executable.exists():
        out = subprocess.run([executable, "--version"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.split()[1] == pinned.group(1):
            return str(executable)
    print(f"[bootstrap] installing uv {pinned.group(1)} into {TOOLS_DIR.name}/", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(TOOLS_DIR)], check=True)
    subprocess.run(
        [TOOLS_DIR / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps",
         "--disable-pip-version-check", "--require-hashes", "-r", str(UV_REQUIREMENTS)],
        check=True,
    )  # fmt: skip
    return str(executable)


def uv_environment(venv: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Interpreters come from the machine; uv never downloads one.
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.pop("VIRTUAL_ENV", None)
    if venv is not None:
        env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    return env


# --- the lock ---------------------------------------------------------------------------


def _key(name: str, extras: list[str] | tuple[str, ...], specifier: str) -> str:
    """A requirement as pyproject.toml and uv.lock can both be read to (markers left out:
    uv rewrites them, and a range is what we bound)."""
    name = re.sub(r"[-_.]+", "-", name).lower()
    shown = name + (f"[{','.join(sorted(extras))}]" if extras else "")
    return shown + ",".join(sorted(s.strip() for s in specifier.split(",") if s.strip()))


def _from_pep508(requirement: str) -> str:
    requirement = requirement.partition(";")[0]
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?\s*(.*)", requirement)
    assert match, requirement
    extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
    return _key(match.group(1), extras, match.group(3).replace(" ", ""))


def _from_lock(entry: dict) -> str:
    return _key(entry["name"], entry.get("extras", []), entry.get("specifier", ""))


def lock_differences() -> list[str]:
    """What pyproject.toml declares that uv.lock was not made from, one line each."""
    lock_path = BASE_DIR / "uv.lock"
    if not lock_path.exists():
        return ["uv.lock is missing: run `make lock`."]
    project = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())
    lock = tomllib.loads(lock_path.read_text())
    root = next(p for p in lock["package"] if p["name"] == project["project"]["name"])
    metadata = root.get("metadata", {})

    wanted = {"dependencies": {_from_pep508(r) for r in project["project"]["dependencies"]}}
    for extra, requirements in project["project"].get("optional-dependencies", {}).items():
        wanted[f"extra {extra}"] = {_from_pep508(r) for r in requirements}
    for group, requirements in project.get("dependency-groups", {}).items():
        wanted[f"group {group}"] = {_from_pep508(r) for r in requirements}
    locked: dict[str, set[str]] = {"dependencies": set()}
    for entry in metadata.get("requires-dist", []):
        extra = re.search(r"extra == ['\"]([^'\"]+)", entry.get("marker", ""))
        section = f"extra {extra.group(1)}" if extra else "dependencies"
        locked.setdefault(section, set()).add(_from_lock(entry))
    for group, entries in metadata.get("requires-dev", {}).items():
        locked[f"group {group}"] = {_from_lock(entry) for entry in entries}
    differences = []
    for section in sorted(set(wanted) | set(locked)):
        for requirement in sorted(wanted.get(section, set()) - locked.get(section, set())):
            differences.append(f"{section}: pyproject.toml has {requirement}, uv.lock does not")
        for requirement in sorted(locked.get(section, set()) - wanted.get(section, set())):
            differences.append(f"{section}: uv.lock has {requirement}, pyproject.toml does not")
    return differences


def check_lock() -> None:
    differences = lock_differences()
    if differences:
        raise BootstrapError(
            "pyproject.toml and uv.lock disagree; run `make lock` (and the suite) and commit "
            "both:\n  " + "\n  ".join(differences)
        )


# --- environments ------------------------------------------------------------------------


def django_group(django: str) -> str:
    return "django" + django.replace(".", "")


def prepare(cell: Cell) -> Path:
    """The venv of a cell, installed exactly: from the lock, or from a resolution that
    `make test-matrix` records beside it. Returns the venv's python."""
    interpreter, version = find_interpreter(cell.python)
    if cell.django == "6.0" and tuple(map(int, version.split("."))) < (3, 12):
        raise BootstrapError(f"Django 6.0 needs Python 3.12+; PYTHON={version} cannot run it.")
    venv = cell.venv_dir(version)
    if cell.resolution == "lock":
        check_lock()
        command = [uv(), "sync", "--locked", "--extra", "embedded", "--no-default-groups",
                   "--group", "dev", "--group", django_group(cell.django),
                   "--python", interpreter, "--quiet"]  # fmt: skip
        subprocess.run(command, cwd=BASE_DIR, env=uv_environment(venv), check=True)
    else:
        _install_resolution(cell, interpreter, venv)
    return venv / "bin" / "python"


def _install_resolution(cell: Cell, interpreter: str, venv: Path) -> None:
    """Resolve pyproject.toml's ranges at their lowest or newest (dev tools stay as
    locked, so a cell tests our ranges, not the linters'), write the pins with hashes
    next to the venv, install exactly those."""
    pins = venv.parent / f"{venv.name}.txt"
    venv.parent.mkdir(parents=True, exist_ok=True)
    env = uv_environment()
    command = [uv(), "pip", "compile", "pyproject.toml", "--extra", "embedded",
               "--group", "pyproject.toml:dev", "--group", f"pyproject.toml:{django_group(cell.django)}",
               "--python", interpreter, "--generate-hashes", "--quiet", "--output-file", str(pins)]  # fmt: skip
    if cell.resolution == "lowest":
        tools = venv.with_name(venv.name + "-tools.txt")
        tools.write_text(_locked_dev_tool_pins())
        command += ["--resolution", "lowest-direct", "--constraint", str(tools)]
    else:
        command += ["--upgrade"]
    subprocess.run(command, cwd=BASE_DIR, env=env, check=True)
    subprocess.run([uv(), "venv", "--quiet", "--allow-existing", "--python", interpreter,
                    str(venv)], cwd=BASE_DIR, env=env, check=True)  # fmt: skip
    subprocess.run([uv(), "pip", "sync", "--quiet", "--require-hashes", "--python",
                    str(venv / "bin" / "python"), str(pins)], cwd=BASE_DIR, env=env, check=True)  # fmt: skip
    # The project itself, editable, without touching the pinned packages.
    subprocess.run([uv(), "pip", "install", "--quiet", "--no-deps", "--python",
                    str(venv / "bin" / "python"), "-e", "."], cwd=BASE_DIR, env=env, check=True)  # fmt: skip


def _locked_dev_tool_pins() -> str:
    """`name==version` for each direct dev-group requirement, as uv.lock has it."""
    project = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())
    lock = tomllib.loads((BASE_DIR / "uv.lock").read_text())
    versions = {p["name"]: p["version"] for p in lock["package"] if "version" in p}
    lines = []
    for requirement in project["dependency-groups"]["dev"]:
        name = re.split(r"[\[<>=!~;]", _from_pep508(requirement))[0]
        if name in versions:
            lines.append(f"{name}=={versions[name]}")
    return "\n".join(lines) + "\n"


# --- commands ------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("install", [])
    try:
        if command == "lock":
            return subprocess.run(
                [uv(), "lock", *rest], cwd=BASE_DIR, env=uv_environment()
            ).returncode
        if command == "upgrade":
            return subprocess.run([uv(), "lock", "--upgrade", *rest], cwd=BASE_DIR,
                                  env=uv_environment()).returncode  # fmt: skip
        if command == "check-lock":
            check_lock()
            print("pyproject.toml and uv.lock agree.")
            return 0
        if command == "matrix":
            from devstack.matrix import run_matrix

            return run_matrix(rest)
        cell = cell_from_environment()
        python = prepare(cell)
        if command == "install":
            print(f"[bootstrap] {python.parent.parent.relative_to(BASE_DIR)} is ready.")
            return 0
        if command in ("run", "test"):
            os.chdir(BASE_DIR)
            os.execv(str(python), [str(python), "-m", "devstack", command, *rest])
        raise BootstrapError(f"unknown command {command!r}")
    except BootstrapError as error:
        print(f"[bootstrap] {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"[bootstrap] failed: {' '.join(map(str, error.cmd))}", file=sys.stderr)
        return error.returncode or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
