"""The SMTP sink of a chaos run: a real SMTP server (aiosmtpd) on loopback, in a thread
of the chaos process (faults never touch it), writing every message it accepts to a
JSON-lines file before it answers 250, so the file is what the recipients got."""

from __future__ import annotations

import email
import email.policy
import json
import os
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class SinkHandler:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        record = {
            "at": time.time(),
            "message_id": str(message.get("Message-ID", "")),
            "run": str(message.get("X-Report-Run", "")),
            "kind": str(message.get("X-Report-Kind", "")),
            "business_date": str(message.get("X-Report-Business-Date", "")),
            "subject": str(message.get("Subject", "")),
            "to": list(envelope.rcpt_tos),
        }
        with self.lock, self.path.open("a") as sink:
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            os.fsync(sink.fileno())
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, path: Path, port: int) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        path.touch()
        self.controller = Controller(SinkHandler(path), hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def messages(self) -> list[dict]:
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]
