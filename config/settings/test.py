"""Test settings: the real PostgreSQL and Redis, never SQLite or a fake broker.

With DATABASE_URL / REDIS_URL unset, devstack starts (or reuses) the embedded
servers under var/ before the base settings read the environment.
"""

import os

if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
    from devstack.services import ensure_services

    ensure_services()

from config.settings.base import *  # noqa: F403
from config.settings.base import CELERY_ONCE, env
from devstack.services import redis_url_with_db

# A test-only app that plays a team plugging its own models, Resources, tasks and
# report kinds into the platform (tests/team/).
INSTALLED_APPS = [
    *INSTALLED_APPS,  # noqa: F405
    "tests.team.apps.TeamConfig",
    # The Resources of the import conformance suite and their models (tests/conformance/).
    "tests.conformance.apps.ConformanceConfig",
]

# Tests own one Redis database so that they never flush a developer's queues; each
# pytest-xdist worker (gw0, gw1, ...) takes the next one down, as pytest-django gives
# each its own PostgreSQL test database.
XDIST_WORKER_NUMBER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_TEST_DB = env.int("REDIS_TEST_DB", default=15) - XDIST_WORKER_NUMBER
REDIS_URL = redis_url_with_db(env("REDIS_URL"), REDIS_TEST_DB)
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_ONCE["settings"]["url"] = REDIS_URL
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "bp-test-cache",
    }
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = env(
    "MEDIA_ROOT",
    default=str(BASE_DIR / "var" / "test-media" / f"gw{XDIST_WORKER_NUMBER}"),  # noqa: F405
)
CELERY_BEAT_MAX_LOOP_INTERVAL = 1
# Tests never run collectstatic: WhiteNoise serves from the app finders, as in
# development, instead of warning on every request that var/static is missing.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
