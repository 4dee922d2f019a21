"""Settings shared by every environment; the environment decides the rest.

Everything a deployment changes is an environment variable (see the settings table
in docs/settings.md and `.env.example`). `local`, `test` and `production` only hold
what the environment cannot express.
"""

from pathlib import Path
from typing import Any

import environ
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# `.env` for a team's own overrides, then what devstack wrote for the embedded
# servers; read_env never overrides a variable that is already set.
environ.Env.read_env(BASE_DIR / ".env")
environ.Env.read_env(VAR_DIR / "devstack.env")

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "import_export",
    "schedules.apps.SchedulesConfig",
    "batches.apps.BatchesConfig",
    "reporting.apps.ReportingConfig",
    "ops.apps.OpsConfig",
    "catalogue.apps.CatalogueConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# PostgreSQL only: several features (COPY, ON CONFLICT, SKIP LOCKED) depend on it.
DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env("DATABASE_NAME", default=""):
    # Lets a test's subprocess worker point at pytest-django's test database.
    DATABASES["default"]["NAME"] = env("DATABASE_NAME")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "static"))
MEDIA_URL = "media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# --- Email ----------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="batch-platform <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

# --- Redis / Celery --------------------------------------------------------------
REDIS_URL = env("REDIS_URL")

# One visibility timeout for the whole platform: a message not acked within it is
# delivered again, so every task's hard time limit must stay below it
# (enforced by the `ops.E002` system check).
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Survive a Redis restart without a worker wedging on a dead socket.
    "socket_timeout": 30,
    "socket_connect_timeout": 10,
    "retry_on_timeout": True,
    "health_check_interval": 25,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=7 * 24 * 3600)
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
# Per task, not global: only idempotent tasks opt into late acknowledgement.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
# Defaults for any task that does not set its own; all below the visibility timeout.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=660)
# Worker processes fix glibc's mmap threshold (config/worker_memory.py) so the memory
# of a big import chunk goes back to the system; 0 keeps glibc's dynamic default.
WORKER_MMAP_THRESHOLD_BYTES = env.int("WORKER_MMAP_THRESHOLD_BYTES", default=128 * 1024)

# Queues: one per kind of work so a flood of imports never delays a report or a heartbeat.
PLATFORM_QUEUES = ("default", "imports", "reports", "ops")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name), routing_key=name) for name in PLATFORM_QUEUES
)
CELERY_TASK_ROUTES = {
    "batches.*": {"queue": "imports", "routing_key": "imports"},
    "reporting.*": {"queue": "reports", "routing_key": "reports"},
    "ops.*": {"queue": "ops", "routing_key": "ops"},
}
CELERY_BEAT_SCHEDULER = env(
    "CELERY_BEAT_SCHEDULER", default="schedules.scheduler:PlatformScheduler"
)
CELERY_BEAT_MAX_LOOP_INTERVAL = env.int("CELERY_BEAT_MAX_LOOP_INTERVAL", default=5)

# celery-once: overlap locks for periodic tasks, in the same Redis.
CELERY_ONCE: dict[str, Any] = {
    "backend": "celery_once.backends.Redis",
    "settings": {"url": REDIS_URL, "default_timeout": CELERY_TASK_TIME_LIMIT + 60},
}

# Every task's before_start refuses a periodic run whose overlap lock expired while it
# waited in the queue (schedules.guard; checked by schedules.E001). Keep it in the list
# if you add annotations of your own.
CELERY_TASK_ANNOTATIONS = ["schedules.guard.OverlapGuard"]

DJANGO_CELERY_BEAT_TZ_AWARE = True

# Django's own task API (`@task`, `.enqueue()`; the django-tasks backport on Django 5.2)
# runs on these workers with a Celery task's guarantees (docs/standard-tasks.md). Its
# queues are CELERY_TASK_QUEUES' unless "QUEUES" lists some (schedules.E002).
TASKS = {"default": {"BACKEND": "schedules.tasks_backend.CeleryBackend"}}

# --- Cache -------------------------------------------------------------------------
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "bp-cache",
    }
}

# --- Uploads -----------------------------------------------------------------------
# Django streams anything above this to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 1
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=512 * 1024 * 1024)

# --- Logging -------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Sentry ----------------------------------------------------------------------------
SENTRY_DSN = env("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", default="local")
SENTRY_RELEASE = env("SENTRY_RELEASE", default="")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from ops.sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=SENTRY_RELEASE or None,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )

# --- Platform ----------------------------------------------------------------------------
DEMO_ADMIN_USERNAME = env("DEMO_ADMIN_USERNAME", default="admin")
DEMO_ADMIN_PASSWORD = env("DEMO_ADMIN_PASSWORD", default="admin")

# --- Schedules app settings ----------------------------------------------------------------
# Seconds added to a task's hard time limit for its overlap lock's lifetime.
SCHEDULES_LOCK_MARGIN_SECONDS = env.int("SCHEDULES_LOCK_MARGIN_SECONDS", default=30)
# A due time older than this when beat gets to it counts as missed (beat was down);
# the task's catch-up policy then decides: run once, or skip.
SCHEDULES_CATCH_UP_GRACE_SECONDS = env.int("SCHEDULES_CATCH_UP_GRACE_SECONDS", default=60)
# A queued run that has not started within this (plus its time limit and the lock
# margin) is marked failed by schedules.reap_lost_runs: its message was lost.
SCHEDULES_QUEUE_WAIT_SECONDS = env.int("SCHEDULES_QUEUE_WAIT_SECONDS", default=3600)
# Run history (TaskRun) and the schedule audit trail (ScheduleChange) are kept this long.
SCHEDULES_HISTORY_DAYS = env.int("SCHEDULES_HISTORY_DAYS", default=30)
SCHEDULES_AUDIT_DAYS = env.int("SCHEDULES_AUDIT_DAYS", default=365)
# Task names whose successful runs are not recorded in TaskRun: ops heartbeats (one per
# queue every 30 s, with their own history) and the every-minute reaper. Failures and
# the first success after a failure still are.
SCHEDULES_HISTORY_EXCLUDE = env.list(
    "SCHEDULES_HISTORY_EXCLUDE", default=["ops.heartbeat", "schedules.reap_lost_runs"]
)

# --- Batches (imports) app settings -----------------------------------------------------------
# Rows per chunk task: bounds each worker's memory whatever the file size.
IMPORT_CHUNK_ROWS = env.int("IMPORT_CHUNK_ROWS", default=50_000)
# The first chunk of a file of several is this small and written by the planner itself,
# before it splits the rest: the first rows are in the table within a second.
IMPORT_FIRST_CHUNK_ROWS = env.int("IMPORT_FIRST_CHUNK_ROWS", default=5_000)
# Rows the admin validates synchronously before the user confirms an upload.
IMPORT_PREVIEW_ROWS = env.int("IMPORT_PREVIEW_ROWS", default=20)
# How often a failing chunk is retried (database errors) before it fails for good.
IMPORT_CHUNK_MAX_RETRIES = env.int("IMPORT_CHUNK_MAX_RETRIES", default=3)
# Inbox for scheduled imports, as paths in the default storage: `<dataset>__name.csv`
# or `<dataset>/name.csv`; each file imports once (by checksum) and moves to the archive.
IMPORT_INBOX_DIR = env("IMPORT_INBOX_DIR", default="imports/inbox")
IMPORT_ARCHIVE_DIR = env("IMPORT_ARCHIVE_DIR", default="imports/archive")
# An inbox file is taken once its size and modification time held over this many seconds
# (senders write slowly) or, with IMPORT_INBOX_REQUIRE_MARKER, once `<name>.done` is there.
IMPORT_INBOX_SETTLE_SECONDS = env.float("IMPORT_INBOX_SETTLE_SECONDS", default=5.0)
IMPORT_INBOX_REQUIRE_MARKER = env.bool("IMPORT_INBOX_REQUIRE_MARKER", default=False)
IMPORT_UPLOAD_DIR = "imports/uploads"
# A chunk whose deliveries keep dying unfinished (it kills its worker: out of memory, a
# crash in a C extension) is failed after this many, so the rest of the import completes.
IMPORT_CHUNK_MAX_DELIVERIES = env.int("IMPORT_CHUNK_MAX_DELIVERIES", default=3)
# batches.resume_stalled_imports re-drives a running import with no progress for this long
# (lost chunk messages, lost chord callback after a Redis restart) ...
IMPORT_STALL_SECONDS = env.int("IMPORT_STALL_SECONDS", default=300)
# ... and the relay re-sends the planner of a job queued this long ago (its message was
# lost after the broker handed it out); planning twice is a no-op.
IMPORT_REQUEUE_SECONDS = env.int("IMPORT_REQUEUE_SECONDS", default=30)
# Every worker's relay thread sends, this often, the planners and chunk chords that are
# due in PostgreSQL but never reached the broker (it was unreachable), seconds.
IMPORT_RELAY_INTERVAL = env.float("IMPORT_RELAY_INTERVAL", default=2.0)
# Uploads previewed but never confirmed (PENDING) are deleted with their file after this.
IMPORT_PENDING_TTL_HOURS = env.int("IMPORT_PENDING_TTL_HOURS", default=24)

# --- Reporting app settings ---------------------------------------------------------------
# A report running before this local hour reports on the previous day (00:30 -> yesterday).
REPORTING_DAY_ROLLOVER_HOUR = env.int("REPORTING_DAY_ROLLOVER_HOUR", default=6)
# SMTP failures retry with exponential backoff (base seconds, cap) and full jitter.
REPORTING_SEND_MAX_RETRIES = env.int("REPORTING_SEND_MAX_RETRIES", default=5)
REPORTING_SEND_RETRY_BACKOFF = env.int("REPORTING_SEND_RETRY_BACKOFF", default=60)
REPORTING_SEND_RETRY_BACKOFF_MAX = env.int("REPORTING_SEND_RETRY_BACKOFF_MAX", default=900)
REPORTING_TOP_ITEMS = env.int("REPORTING_TOP_ITEMS", default=10)
# Detail rows shown in an email body by the default templates; the attachment has them all.
REPORTING_BODY_MAX_ROWS = env.int("REPORTING_BODY_MAX_ROWS", default=50)

# --- Ops app settings ---------------------------------------------------------------------
OPS_ALERT_EMAIL = env.list("OPS_ALERT_EMAIL", default=[])
# Where people reach this site: alert emails link to the alert and the dashboard with it.
SITE_URL = env("SITE_URL", default="http://localhost:8000")
# Beat sends `ops.heartbeat` to every queue this often (seconds); the checks run as often.
OPS_HEARTBEAT_INTERVAL = env.int("OPS_HEARTBEAT_INTERVAL", default=30)
OPS_CHECK_INTERVAL = env.int("OPS_CHECK_INTERVAL", default=OPS_HEARTBEAT_INTERVAL)
# Thresholds (seconds unless named otherwise); OPS_QUEUE_THRESHOLDS overrides them per queue,
# e.g. {"imports": {"depth_amber": 50000, "latency_amber": 300}}.
OPS_THRESHOLDS = {
    # red: no heartbeat started for this long (or one sent and still waiting this long)
    "heartbeat_stale": env.int("OPS_HEARTBEAT_STALE_AFTER", default=2 * OPS_HEARTBEAT_INTERVAL),
    "latency_amber": env.float("OPS_LATENCY_AMBER", default=10.0),
    "depth_amber": env.int("OPS_DEPTH_AMBER", default=1000),
}
OPS_QUEUE_THRESHOLDS = env.json(
    "OPS_QUEUE_THRESHOLDS", default={"imports": {"depth_amber": 100000, "latency_amber": 120}}
)
OPS_BEAT_STALE_AFTER = env.int("OPS_BEAT_STALE_AFTER", default=3 * OPS_HEARTBEAT_INTERVAL)
OPS_TASK_FAILURE_WINDOW = env.int("OPS_TASK_FAILURE_WINDOW", default=10)
OPS_TASK_FAILURE_RATE = env.float("OPS_TASK_FAILURE_RATE", default=0.5)
OPS_TASK_CONSECUTIVE_FAILURES = env.int("OPS_TASK_CONSECUTIVE_FAILURES", default=3)
OPS_TASK_FAILURE_MIN_RUNS = env.int("OPS_TASK_FAILURE_MIN_RUNS", default=4)
OPS_TASK_FAILURE_LOOKBACK_HOURS = env.int("OPS_TASK_FAILURE_LOOKBACK_HOURS", default=24)
OPS_IMPORT_STALL_AFTER = env.int("OPS_IMPORT_STALL_AFTER", default=900)
OPS_HISTORY_DAYS = env.int("OPS_HISTORY_DAYS", default=7)
OPS_CHECKS_IN_BEAT = env.bool("OPS_CHECKS_IN_BEAT", default=True)
OPS_CHECKS_IN_WORKERS = env.bool("OPS_CHECKS_IN_WORKERS", default=True)
# Heartbeats are frequent and watched by ops itself; no Sentry cron monitor for them.
OPS_SENTRY_CRONS_EXCLUDE = env.list("OPS_SENTRY_CRONS_EXCLUDE", default=["ops.heartbeat"])
OPS_SENTRY_CHECKIN_MARGIN = env.int("OPS_SENTRY_CHECKIN_MARGIN", default=2)  # minutes
# /health/ready/ tells the public only its status and the names of failed checks; staff,
# or a request with `Authorization: Bearer <OPS_HEALTH_TOKEN>`, also get the details.
OPS_HEALTH_TOKEN = env.str("OPS_HEALTH_TOKEN", default="")
# /metrics answers staff with ops.view_dashboard, or `Authorization: Bearer <token>`.
OPS_METRICS_TOKEN = env.str("OPS_METRICS_TOKEN", default="")
# Every worker refreshes a liveness key this often (seconds); one not refreshed for
# OPS_WORKER_DEAD_AFTER is dead, and the late-acknowledged messages it held are sent
# again (checked every OPS_RECOVERY_INTERVAL by every worker and beat).
OPS_WORKER_ALIVE_INTERVAL = env.float("OPS_WORKER_ALIVE_INTERVAL", default=5.0)
OPS_WORKER_DEAD_AFTER = env.float("OPS_WORKER_DEAD_AFTER", default=20.0)
OPS_RECOVERY_INTERVAL = env.float("OPS_RECOVERY_INTERVAL", default=5.0)
