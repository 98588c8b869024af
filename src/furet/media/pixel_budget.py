"""A process-wide budget of pixels being decoded at once, and giving the memory back after.

Decoded pixels cost 3-4 bytes each (more while converting): five 9400 x 9400 PNGs decoded at
once took 1.2 GB in one worker. Every decode holds its pixel count from this budget; a decode
that does not fit waits for others to finish, up to a timeout (then :class:`ServerBusyError`,
503 with ``Retry-After``). One image larger than the whole budget may still run, alone.

glibc keeps freed heap memory for reuse (its mmap threshold grows after each large free), so a
worker that decoded a huge image stayed hundreds of MB larger; after a large decode, when no
other decode is running, the heap is trimmed (``malloc_trim``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading
import time
from collections.abc import Iterator

from furet.errors import ServerBusyError

#: Decodes at least this large are followed by a heap trim.
TRIM_FROM_PIXELS = 8_000_000


def _malloc_trim() -> None:
    name = ctypes.util.find_library("c")
    if not name:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


class PixelBudget:
    def __init__(self, limit: int, wait_seconds: float = 30.0):
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.in_use = 0
        self._running = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` of the budget while decoding (waits for room)."""
        deadline = time.monotonic() + self.wait_seconds
        with self._cond:
            while self._running and self.in_use + pixels > self.limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerBusyError(
                        f"the server is decoding {self.in_use:,} pixels of images already; "
                        "retry in a few seconds",
                        retry_after=5,
                    )
                self._cond.wait(left)
            self.in_use += pixels
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= pixels
                self._running -= 1
                alone = self._running == 0
                self._cond.notify_all()
            if alone and pixels >= TRIM_FROM_PIXELS:
                _malloc_trim()


#: The budget of this process (``FURET_MAX_DECODE_PIXELS``; set by the server at start).
DECODE_BUDGET = PixelBudget(180_000_000)
