"""Worker processes pin glibc's mmap threshold so big freed buffers leave the process."""

import platform
import subprocess
import sys
import textwrap

import pytest
from celery.signals import worker_init, worker_process_init

from config.celery_app import _keep_worker_memory_flat
from config.worker_memory import pin_mmap_threshold

glibc_only = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc behaviour"
)

# A freed 16 MB buffer raises glibc's dynamic threshold; 4 MB buffers allocated after
# it then come from the heap, and small blocks above them keep that memory resident.
PROBE = textwrap.dedent(
    """
    import os, sys
    from config.worker_memory import pin_mmap_threshold

    def resident():
        pages = int(open("/proc/self/statm").read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")

    pinned = pin_mmap_threshold(int(sys.argv[1]))
    big = b"x" * (16 << 20)
    del big
    before = resident()
    buffers = [b"y" * (4 << 20) for _ in range(4)]
    small = [bytes(100) for _ in range(1000)]
    del buffers
    print(pinned, (resident() - before) >> 20)
    """
)


def _resident_growth_mb(threshold: int) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(threshold)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return out[0], int(out[1])


@glibc_only
def test_pinned_threshold_returns_freed_buffers_to_the_system():
    pinned, kept_mb = _resident_growth_mb(0)
    assert pinned == "False"
    assert kept_mb >= 12  # glibc's default keeps (nearly all of) the 16 MB
    assert _resident_growth_mb(128 * 1024) == ("True", 0)


def test_zero_disables_pinning():
    assert pin_mmap_threshold(0) is False


def test_every_worker_process_pins_it():
    for signal in (worker_init, worker_process_init):
        assert _keep_worker_memory_flat in signal._live_receivers(sender=None), signal
