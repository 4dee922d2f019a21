"""Test settings for subprocess workers that must send real email to the test's SMTP server.

`config.settings.test` pins the locmem email backend, which a subprocess's outbox
would hide from the test; this module points the worker at RELIABILITY_SMTP_PORT.
"""

import os

from config.settings.test import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("RELIABILITY_SMTP_PORT", "25"))
EMAIL_HOST_USER = ""
EMAIL_HOST_PASSWORD = ""
EMAIL_USE_TLS = False
EMAIL_USE_SSL = False
EMAIL_TIMEOUT = 5
