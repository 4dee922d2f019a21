"""What Sentry would receive, captured at the SDK's transport instead of sent over HTTP."""

from __future__ import annotations

from sentry_sdk.transport import Transport


class CapturingTransport(Transport):
    """Keeps every envelope the SDK would send."""

    envelopes: list = []

    def capture_envelope(self, envelope) -> None:
        CapturingTransport.envelopes.append(envelope)

    def flush(self, timeout, callback=None) -> None:
        return None

    def kill(self) -> None:
        return None


def captured(kind: str) -> list[dict]:
    """The payloads of the captured items of this kind ("event", "check_in", ...)."""
    return [
        item.payload.json
        for envelope in CapturingTransport.envelopes
        for item in envelope.items
        if item.type == kind
    ]
