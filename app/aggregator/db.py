"""Database connections: one-off connections (migrations) and the read pool; writers use their own pool (ingest.py)."""

import select
import threading
from contextlib import contextmanager

import psycopg2
import psycopg2.pool

from . import green

# Errors after which a connection is unusable and the operation may be retried.
RETRYABLE = (psycopg2.OperationalError, psycopg2.InterfaceError)


def _options(timeout):
    return {"connect_timeout": timeout, "application_name": "aggregator"}


def connect(url, timeout):
    with green.deadline(timeout):
        return psycopg2.connect(url, **_options(timeout))


def pool(url, size, timeout):
    """A psycopg2 pool of up to `size` connections like connect()'s, opened on demand;
    take them with `green.deadline(timeout)` around getconn()."""
    return psycopg2.pool.ThreadedConnectionPool(0, size, url, **_options(timeout))


class ReadPool:
    """Pool of autocommit connections, opened lazily and replaced when broken.

    More concurrent readers than connections wait up to `timeout` seconds for one
    (psycopg2's pool would raise "exhausted"); then they get a retryable error (503).
    """

    def __init__(self, url, size, timeout):
        self._pool = pool(url, size, timeout)
        # psycopg2 closes returned connections beyond minconn, and opens minconn of them
        # up front: raising it after construction keeps connections for reuse, lazily.
        self._pool.minconn = size
        self._slots = threading.BoundedSemaphore(size)
        self._size = size
        self._timeout = timeout

    @contextmanager
    def cursor(self):
        if not self._slots.acquire(timeout=self._timeout):
            raise psycopg2.OperationalError(f"all {self._size} read connections stayed busy for {self._timeout} s")
        try:
            with green.deadline(self._timeout):
                conn = self._checkout()
            broken = False
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    yield cur
            except RETRYABLE:
                broken = True
                raise
            finally:
                self._pool.putconn(conn, close=broken or conn.closed != 0)
        finally:
            self._slots.release()

    def _checkout(self):
        """A pooled connection the server has not closed meanwhile (a failover or
        HAProxy's shutdown-sessions closes idle ones), else a new one."""
        while True:
            conn = self._pool.getconn()
            if not conn.closed and _alive(conn):
                return conn
            self._pool.putconn(conn, close=True)

    def close(self):
        self._pool.closeall()


def _alive(conn):
    """An idle connection has nothing to read: readable means closed by the server."""
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    return not readable
