"""Poll a condition until it holds or a deadline passes."""

import time


def wait_until(predicate, timeout, interval=0.5):
    """The predicate's last result: truthy as soon as it holds, checked once more at
    the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)
