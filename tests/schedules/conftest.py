import pytest

import tests.schedules.probe_tasks  # noqa: F401  (registers the test-only periodic tasks)


@pytest.fixture
def skipped_signals():
    from schedules.signals import periodic_run_skipped

    received: list[dict] = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    periodic_run_skipped.connect(receiver, weak=False, dispatch_uid="tests.skipped")
    yield received
    periodic_run_skipped.disconnect(dispatch_uid="tests.skipped")
