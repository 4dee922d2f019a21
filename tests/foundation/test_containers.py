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
