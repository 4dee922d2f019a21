"""No platform app imports the sample domain, and the platform starts without it."""

import os
import subprocess
import sys

import grimp
import pytest
from django.conf import settings

PLATFORM = ["config", "schedules", "batches", "reporting", "ops", "common"]
SAMPLE_DOMAIN = "catalogue"


def test_no_platform_app_imports_the_sample_domain():
    # grimp counts every import, inside functions too, like import-linter's contracts.
    graph = grimp.build_graph(*PLATFORM, SAMPLE_DOMAIN)
    chains = {
        app: graph.find_shortest_chain(importer=app, imported=SAMPLE_DOMAIN, as_packages=True)
        for app in PLATFORM
    }
    assert {app: chain for app, chain in chains.items() if chain} == {}


STARTS_WITHOUT_SAMPLE_DOMAIN = """
import sys
import django
django.setup()
from django.core.management import call_command
from django.template.loader import get_template
call_command("check")                       # loads every admin module and the URLconf
import batches.tasks, ops.tasks, reporting.tasks, schedules.tasks  # noqa: E401
from reporting import registry
get_template("reporting/reports/platform_day.html")
print(sorted(key for key, _ in registry.kind_choices()))
print(sorted(name for name in sys.modules if name.split(".")[0] == "catalogue"))
"""


@pytest.mark.slow
def test_the_platform_starts_and_offers_its_own_report_without_the_sample_domain():
    # The test settings exported DATABASE_URL and REDIS_URL (devstack) for children.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.reporting.settings_without_sample_domain"}
    result = subprocess.run(
        [sys.executable, "-c", STARTS_WITHOUT_SAMPLE_DOMAIN],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    kinds, catalogue_modules = result.stdout.strip().splitlines()[-2:]
    assert kinds == "['platform_day', 'team_readings']"
    assert catalogue_modules == "[]"
