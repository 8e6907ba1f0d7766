"""Wake-ups from the job managers' worker threads to the event streams' asyncio tasks.

A manager's ``touch`` (any change of any of its jobs) calls ``Changes.notify``; each stream holds a
``Watch`` (an ``asyncio.Event`` of its own loop) and sleeps on it instead of polling. A stream
registers before it reads a job's version, so a change between the read and the sleep still wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator


class Watch:
    """One waiting stream: ``wait`` returns at the next change since the last ``wait`` (or at once)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            self.loop.call_soon_threadsafe(self.event.set)

    async def wait(self, timeout: float) -> bool:
        """True when woken by a change, False after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        self.event.clear()
        return True


class Tracked:
    """What a job manager shares with the event streams: ``touch`` moves a job's ``version`` and wakes
    the threads waiting on ``lock`` and the streams watching ``changes``. Painting and training jobs."""

    lock: threading.Condition
    changes: Changes

    def touch(self, job) -> None:
        """Mark a change, so event streams send the new state."""
        with self.lock:
            job.version += 1
            self.lock.notify_all()
        self.changes.notify()


class Changes:
    """The streams of one manager: thread-safe ``notify``, async ``watch``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: set[Watch] = set()

    def notify(self) -> None:
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.wake()

    @contextlib.contextmanager
    def watch(self) -> Iterator[Watch]:
        """A ``Watch`` registered for the block's duration (in an event loop's task)."""
        watch = Watch()
        with self._lock:
            self._watches.add(watch)
        try:
            yield watch
        finally:
            with self._lock:
                self._watches.discard(watch)
