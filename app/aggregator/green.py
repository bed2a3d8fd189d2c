"""Cooperative database I/O under gunicorn's gevent workers.

gevent patches sockets and threads, but psycopg2 talks to the server through libpq in
C, which would block the whole worker while it waits. A psycopg2 wait callback hands
every libpq wait to the gevent hub instead, so a worker serves other requests while a
writer waits for its commit. Outside a gevent-patched process nothing changes.
"""

import contextlib
import sys

import psycopg2
from psycopg2 import extensions


def active():
    """True in a process whose sockets gevent has monkey-patched (a gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def install():
    """Make psycopg2 yield to the gevent hub while it waits; returns whether it did."""
    if not active():
        return False
    if extensions.get_wait_callback() is None:
        extensions.set_wait_callback(_wait)
    return True


def _wait(conn, timeout=None):
    from gevent.socket import wait_read, wait_write

    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        if state == extensions.POLL_READ:
            wait_read(conn.fileno(), timeout=timeout)
        elif state == extensions.POLL_WRITE:
            wait_write(conn.fileno(), timeout=timeout)
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")


def deadline(seconds):
    """libpq ignores connect_timeout in the non-blocking mode a wait callback uses, so
    under gevent the deadline of a connection attempt is enforced here."""
    if extensions.get_wait_callback() is not _wait:
        return contextlib.nullcontext()
    from gevent import Timeout

    return Timeout(seconds, psycopg2.OperationalError(f"connection attempt timed out after {seconds} s"))
