"""A byte budget shared by the requests of one worker: a request reserves its body's
declared size before the body is read and gives it back when answered. Past the budget
the request is refused unread, so concurrent large bodies cannot grow the worker
without bound."""

import contextlib
import threading


class OverBudget(Exception):
    """The budget cannot take this many more bytes now."""


class ByteBudget:
    def __init__(self, limit):
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def reserve(self, size):
        """Hold `size` bytes for the block. A request larger than the whole budget is
        let in while nothing else is held, so one maximal request is never refused."""
        with self._lock:
            if self.used and self.used + size > self.limit:
                raise OverBudget(f"{self.used} of {self.limit} bytes of request bodies in flight")
            self.used += size
        try:
            yield
        finally:
            with self._lock:
                self.used -= size
