"""`make run`'s entry point, end to end: migrate, demo admin, web + worker + beat, Ctrl-C."""

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.network import free_port
from tests.support.processes import subprocess_env, wait_for


def _child_running(parent_pid: int, word: str) -> int:
    for child in Path(f"/proc/{parent_pid}/task/{parent_pid}/children").read_text().split():
        if word in Path(f"/proc/{child}/cmdline").read_bytes().decode().replace("\0", " "):
            return int(child)
    raise AssertionError(f"no child process of {parent_pid} runs {word}")


def _get(opener, url):
    try:
        with opener.open(url, timeout=3) as response:
            return response.status, response.read().decode()
    except OSError:
        return None, ""


@pytest.mark.slow
def test_run_command_serves_the_admin_with_a_working_demo_login_and_stops_on_ctrl_c(
    transactional_db, clean_redis, tmp_path
):
    port = free_port()
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        REDIS_URL=settings.REDIS_URL,
        PORT=str(port),
        STATIC_ROOT=str(tmp_path / "static"),
    )
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run"], cwd=settings.BASE_DIR, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_url = f"http://127.0.0.1:{port}/admin/login/"
        _status, page = wait_for(
            lambda: (r := _get(opener, login_url))[0] == 200 and r,
            timeout=90,
            message=f"the admin login page; log:\n{log_path.read_text()[-3000:]}",
        )
        output = log_path.read_text()
        assert "Log in as admin / admin" in output
        assert f"http://127.0.0.1:{port}/admin/" in output

        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": "admin", "password": "admin",
             "next": "/admin/"}
        ).encode()  # fmt: skip
        request = urllib.request.Request(login_url, data=form, headers={"Referer": login_url})
        with opener.open(request, timeout=10) as response:
            assert response.url.endswith("/admin/")
            assert "Log out" in response.read().decode()
        wait_for(lambda: "ready." in log_path.read_text(), timeout=60, message="worker ready")
        wait_for(lambda: "beat: Starting" in log_path.read_text(), timeout=30, message="beat")

        # A worker that dies (Celery can exit on an "Unrecoverable error" when Redis
        # dies mid-task) is restarted, as a container would be.
        os.killpg(_child_running(run.pid, "worker"), signal.SIGKILL)
        wait_for(
            lambda: (
                "[devstack] worker exited with -9; restarting" in log_path.read_text()
                and log_path.read_text().count(" ready.") >= 2
            ),
            timeout=90,
            message=f"the worker to be restarted; log:\n{log_path.read_text()[-3000:]}",
        )
    finally:
        run.send_signal(signal.SIGINT)
        exit_code = run.wait(timeout=60)
    assert exit_code == 0, log_path.read_text()[-3000:]
    assert "[devstack] stopped." in log_path.read_text()
