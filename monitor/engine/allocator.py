"""Keep freed tensor memory in the process (glibc) instead of handing it back to the OS at once.

A CPU forward pass allocates and frees many activation tensors of 0.1-10 MB. glibc's defaults give
such blocks back to the kernel soon after they are freed (its mmap threshold and heap trimming), so
the next pass touches fresh pages: on the demo organism, scoring the 160 held-out prompts at k = 0
took ~25k minor page faults per call and ~20% of its time in them; keeping the memory took them to
~0 (measured in ``docs/engine.md``). PyTorch's CPU tuning guides give the same advice (jemalloc or
tcmalloc, or these glibc settings). The setting is process-wide: freed memory up to
``TRIM_MB`` stays mapped for reuse; results are unchanged, bit for bit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys

__all__ = ["keep_freed_memory", "MMAP_MB", "TRIM_MB"]

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_MB = 32  # blocks below this come from the heap (glibc's largest allowed value on 64-bit)
TRIM_MB = 256  # free memory at the heap's top kept before it is given back
_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process (once); True if they were set.

    Nothing is changed off glibc (macOS, Windows, musl), where the user has set glibc's malloc
    variables themselves, or where ``MONITOR_KEEP_FREED_MEMORY=0``. Later calls return the first
    call's answer."""
    if not sys.platform.startswith("linux") or os.environ.get("MONITOR_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if any(os.environ.get(v) for v in _ENV):
        return False  # the user's own allocator settings win
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; both or neither, so a half-set allocator never stays.
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_MB * 2**20) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_MB * 2**20) == 1
    if not ok:
        log.debug("mallopt refused the thresholds; the allocator keeps its defaults")
    return ok
