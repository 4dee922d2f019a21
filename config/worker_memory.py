"""Keep a long-running worker's resident memory flat across many large tasks.

glibc serves big allocations (a chunk's decoded text, its row list, its key dict:
megabytes each) with mmap and returns them to the system when freed, but its
*dynamic* threshold then rises to the size of the freed block, so from the second
chunk on the same buffers come from the heap, where freed memory fragments and stays
resident. An import worker grew by about 12 MB after its first chunk that way. A
fixed threshold keeps big buffers on mmap for the life of the process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h


def pin_mmap_threshold(threshold_bytes: int) -> bool:
    """Fix glibc's mmap threshold; False (and no change) off glibc or when disabled (0)."""
    if threshold_bytes <= 0:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (not musl, not macOS)
    except (OSError, AttributeError):
        return False
    if libc.mallopt(M_MMAP_THRESHOLD, threshold_bytes) != 1:
        logger.warning("mallopt(M_MMAP_THRESHOLD, %s) failed", threshold_bytes)
        return False
    return True
