"""docker-compose.yml runs the same stack as `make run`, from one image."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

COMPOSE_FILE = Path(settings.BASE_DIR) / "docker-compose.yml"
DJANGO_SERVICES = ["web", "worker", "beat", "flower"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_defines_the_whole_stack_with_health_checks(compose):
    services = compose["services"]
    assert {"postgres", "redis", *DJANGO_SERVICES} <= set(services)
    for name in ["postgres", "redis", *DJANGO_SERVICES]:
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"


def test_django_services_share_one_image_built_from_one_dockerfile(compose):
    services = compose["services"]
    images = {services[name]["image"] for name in DJANGO_SERVICES}
    assert images == {"batch-platform:latest"}
    assert all(services[name]["build"] == "." for name in DJANGO_SERVICES)


def test_redis_never_evicts_and_keeps_an_append_only_file(compose):
    command = " ".join(compose["services"]["redis"]["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_worker_consumes_every_platform_queue(compose):
    command = compose["services"]["worker"]["command"]
    queues = command[command.index("-Q") + 1].split(",")
    assert sorted(queues) == sorted(settings.PLATFORM_QUEUES)


@pytest.mark.skipif(
    not (shutil.which("docker-compose") or shutil.which("docker")),
    reason="no docker compose client on this machine",
)
def test_docker_compose_config_accepts_the_file():
    for command in (["docker", "compose"], ["docker-compose"]):
        if not shutil.which(command[0]):
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True)
        if probe.returncode != 0:
            continue
        result = subprocess.run(
            [*command, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return
    pytest.skip("docker is installed but has no compose plugin")


# --- what the image runs: checked without a Docker engine -------------------------------
#
# The image installs the project from uv.lock (with the extras its Dockerfile names,
# without the dev group); every command a compose service or its health check runs in that image must
# come from a distribution in that set. The set is the project's requirements closed
# over the metadata of this environment's installed distributions (a superset of the
# image's: it also has the dev extra).

SHELL_BUILTINS = {"if", "then", "else", "fi", "echo", "exit", "test", "[", "true", "{", "}"}


def _requirement_closure(requirements: list[str]) -> set[str]:
    import contextlib
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[tuple[str, str]] = set()  # (distribution, extra)
    todo = [(Requirement(text), "") for text in requirements]
    while todo:
        requirement, from_extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": from_extra}):
            continue
        name = canonicalize_name(requirement.name)
        for extra in ("", *requirement.extras):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            # Not installed here: not for this platform (its marker let it through above).
            with contextlib.suppress(metadata.PackageNotFoundError):
                todo += [(Requirement(text), extra) for text in metadata.requires(name) or []]
    return {name for name, _ in seen}


@pytest.fixture(scope="module")
def image_distributions() -> set[str]:
    import re
    import tomllib

    from packaging.utils import canonicalize_name

    dockerfile = (Path(settings.BASE_DIR) / "Dockerfile").read_text()
    installs = re.findall(r"uv sync --locked\b[^\n]*", dockerfile)
    assert installs, "the Dockerfile installs the project from the lock"
    assert all("--no-default-groups" in line for line in installs), "no dev tools in the image"
    project = tomllib.loads((Path(settings.BASE_DIR) / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in re.findall(r"--extra[= ](\S+)", installs[-1]):
        requirements += project["optional-dependencies"][extra]
    return _requirement_closure(requirements) | {canonicalize_name(project["name"])}


def _commands(service: dict) -> list[list[str]]:
    """The programs a service runs, from its command and its health check; shell lines
    are split into their simple commands, and shell builtins are left out."""
    import shlex

    found = []
    for argv in (service.get("command"), (service.get("healthcheck") or {}).get("test")):
        if not argv:
            continue
        argv = list(argv)
        if argv[0] == "CMD-SHELL":
            argv = ["sh", "-c", " ".join(argv[1:])]
        elif argv[0] == "CMD":
            argv = argv[1:]
        if argv[:2] != ["sh", "-c"]:
            found.append(argv)
            continue
        lexer = shlex.shlex(argv[2].replace("$$", "$"), posix=True, punctuation_chars=";&|<>")
        simple: list[str] = []
        redirect = False
        for token in [*lexer, ";"]:
            if token and set(token) <= set(";&|"):
                if simple and simple[0] == "exec":
                    simple = simple[1:]
                if simple and simple[0] not in SHELL_BUILTINS:
                    found.append(simple)
                simple = []
            elif set(token) & set("<>"):
                redirect = True  # `>&2`, `> file`: its target is no argument
            elif redirect:
                redirect = False
            else:
                simple.append(token)
    return found


def _distribution_of(argv: list[str]) -> str:
    """The distribution that provides `argv`: a console script, or a celery sub-command."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    program = Path(argv[0]).name
    if program in ("python", "python3"):
        return "django" if argv[1:2] == ["manage.py"] else "python"
    [script] = metadata.entry_points(group="console_scripts", name=program)
    provider = canonicalize_name(script.dist.name)
    if program == "celery":
        subcommand = next(
            word for word in argv[1:] if not word.startswith("-") and word != "config"
        )
        plugins = metadata.entry_points(group="celery.commands", name=subcommand)
        if plugins:
            provider = canonicalize_name(next(iter(plugins)).dist.name)
    return provider


def test_the_image_has_what_every_compose_service_runs(compose, image_distributions):
    checked = {}
    for name in [*DJANGO_SERVICES, "migrate"]:
        for argv in _commands(compose["services"][name]):
            provider = _distribution_of(argv)
            checked[(name, argv[0], provider)] = provider
            assert provider == "python" or provider in image_distributions, (
                f"service {name!r} runs {' '.join(argv)!r}, from {provider!r}, which the "
                f"image (pyproject dependencies + the Dockerfile's extras) does not install"
            )
    assert ("flower", "celery", "flower") in checked, "the check sees Flower's command"
    assert ("worker", "celery", "celery") in checked
    assert ("web", "gunicorn", "gunicorn") in checked


def test_the_image_copies_every_package_the_project_installs():
    import re
    import tomllib

    dockerfile = (Path(settings.BASE_DIR) / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    pyproject = tomllib.loads((Path(settings.BASE_DIR) / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*") for pattern in
                pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}  # fmt: skip
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_flower_refuses_to_start_without_its_login(compose):
    command = compose["services"]["flower"]["command"]
    assert compose["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"]
    script = command[2].replace("$$", "$")
    result = subprocess.run(
        ["sh", "-c", script.replace("exec celery", "echo would-start")],
        env={"PATH": "/usr/bin:/bin", "FLOWER_BASIC_AUTH": ""}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Set FLOWER_BASIC_AUTH=user:password" in result.stderr
    started = subprocess.run(
        ["sh", "-c", script.replace("exec celery", "echo would-start")],
        env={"PATH": "/usr/bin:/bin", "FLOWER_BASIC_AUTH": "ops:pw"}, capture_output=True, text=True,
    )  # fmt: skip
    assert started.stdout.startswith("would-start -A config flower")


@pytest.mark.slow
def test_flower_runs_and_asks_for_its_login(transactional_db, clean_redis):
    import base64
    import time
    import urllib.error
    import urllib.request

    from tests.support.network import free_port
    from tests.support.processes import CeleryProcess, subprocess_env

    port = free_port()
    flower = CeleryProcess(
        "flower", [f"--port={port}", "--address=127.0.0.1"],
        env=subprocess_env(FLOWER_BASIC_AUTH="ops:s3cret"),
    ).start()  # fmt: skip
    try:

        def get(path, auth=None):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
            if auth:
                request.add_header("Authorization", "Basic " + base64.b64encode(auth).decode())
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        deadline = time.monotonic() + 60
        while True:
            try:
                assert get("/healthcheck") == 200
                break
            except (urllib.error.URLError, ConnectionError, AssertionError):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        "flower never answered:\n" + flower.log()[-3000:]
                    ) from None
                time.sleep(0.5)
        assert get("/") == 401
        assert get("/", auth=b"ops:wrong") == 401
        assert get("/", auth=b"ops:s3cret") == 200
    finally:
        flower.stop()
