"""One watchdog thread that ends each fetch at its deadline, whatever phase it is in.

urllib3's timeouts bound each socket operation, not a whole fetch: a server
answering one byte every few seconds never trips them. Each fetch registers here
with its deadline; the connection it uses reports its socket (see fetcher's
connection classes), and at the deadline the watchdog shuts that socket down,
which ends a blocked connect, header read or body read in the fetching thread.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time


class Fetch:
    """One fetch's deadline and the socket it currently reads from."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self._sock: socket.socket | None = None
        self._done = False
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.expired and sock is not None:
                _shutdown(sock)

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)

    def finish(self) -> None:
        """Called before the connection goes back to the pool: the watchdog leaves it alone."""
        with self._lock:
            self._done = True
            self._sock = None

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            if self._sock is not None:
                _shutdown(self._sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """A heap of deadlines served by one daemon thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Fetch]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="fetch-deadlines", daemon=True)
        self._thread.start()

    def watch(self, seconds: float) -> Fetch:
        fetch = Fetch(time.monotonic() + seconds)
        with self._cond:
            heapq.heappush(self._heap, (fetch.deadline, next(self._counter), fetch))
            self._cond.notify()
        return fetch

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    heapq.heappop(self._heap)[2].expire()
                wait = self._heap[0][0] - now if self._heap else None
                self._cond.wait(timeout=wait)
