"""Configuration guarantees: JSON only, time limits below the visibility timeout, queues."""

import os
import subprocess
import sys

from django.conf import settings
from django.core import checks
from django.test import override_settings

from config.celery_app import app
from ops.checks import check_task_time_limits


def test_celery_accepts_and_sends_json_only():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert app.conf.result_accept_content == ["json"]


def test_reliability_settings_are_in_force():
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_connection_retry_on_startup is True
    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is True
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert app.conf.result_expires > visibility


def test_every_task_has_time_limits_below_the_visibility_timeout():
    assert check_task_time_limits() == []


def test_the_check_reports_a_task_whose_time_limit_reaches_the_visibility_timeout():
    with override_settings(CELERY_VISIBILITY_TIMEOUT=12):
        errors = check_task_time_limits()
    assert any(e.id == "ops.E002" and "ops.ping" in e.msg for e in errors)
    assert all(isinstance(e, checks.Error) for e in errors)


def test_work_is_routed_to_its_own_queue():
    route = app.amqp.router.route
    assert route({}, "batches.import_chunk")["queue"].name == "imports"
    assert route({}, "reporting.send_report")["queue"].name == "reports"
    assert route({}, "ops.ping")["queue"].name == "ops"
    assert route({}, "catalogue.anything")["queue"].name == "default"
    assert set(settings.PLATFORM_QUEUES) == {"default", "imports", "reports", "ops"}


def test_the_project_package_does_not_shadow_the_standard_library_platform_module():
    import platform

    assert platform.__file__.startswith(os.path.dirname(os.__file__))


def test_production_settings_pass_the_deploy_check_and_demand_their_secrets():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 64 + "-a-long-random-production-secret-key",
        "DJANGO_ALLOWED_HOSTS": "batch.example.com",
        "EMAIL_URL": "smtp://localhost:25",
    }
    # Set by the browser tests' live server in this process; never set in a deployment.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    ok = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr

    del env["DJANGO_SECRET_KEY"]
    missing = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode != 0
    assert "DJANGO_SECRET_KEY" in missing.stderr


def test_a_worker_refuses_to_start_when_a_task_could_outlive_the_visibility_timeout(
    transactional_db,
):
    from tests.support.processes import WorkerProcess, subprocess_env

    worker = WorkerProcess(queues="default", env=subprocess_env(CELERY_VISIBILITY_TIMEOUT="12"))
    worker.start()
    try:
        exit_code = worker.process.wait(timeout=60)
    finally:
        worker.kill()
    assert exit_code != 0
    assert "Refusing to start the worker" in worker.log()
    assert "ops.E002" in worker.log()
