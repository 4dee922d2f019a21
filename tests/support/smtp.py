"""A real SMTP server on localhost (aiosmtpd) for tests that send email.

One handler serves every case: it keeps each accepted message, can refuse the first
N messages or every message with a given reply, refuse recipients, and hold its reply
after storing a message (to kill a sender between "accepted" and "recorded as sent").
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller

from tests.support.network import free_port


class SmtpHandler:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refusals = 0
        self.refuse = 0  # refuse this many messages with 451, then accept
        self.refuse_with: str | None = None  # refuse every message with this reply
        self.refuse_recipients = False  # 550 for every recipient
        self.hold_reply = False
        self.stored = threading.Event()
        self.lock = threading.Lock()
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_recipients:
            return f"550 5.1.1 <{address}>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refuse_with:
                self.refusals += 1
                return self.refuse_with
            if self.refusals < self.refuse:
                self.refusals += 1
                return "451 Try again later"
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(
                email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            )
        self.stored.set()
        while self.hold_reply:
            await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


@contextmanager
def running_smtp_server() -> Iterator[SmtpHandler]:
    handler = SmtpHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()


def point_django_at(settings, handler: SmtpHandler) -> None:
    """Django's SMTP backend sends to `handler` (pytest-django's `settings`, which the
    in-process worker's threads share)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = handler.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
