"""Database connections: one-off connections (migrations) and the read pool; writers use their own pool (ingest.py)."""

import select
import threading
import urllib.parse
from contextlib import contextmanager

import psycopg2
import psycopg2.pool

from . import green

# Errors after which a connection is unusable and the operation may be retried.
RETRYABLE = (psycopg2.OperationalError, psycopg2.InterfaceError)


def _options(timeout):
    return {"connect_timeout": timeout, "application_name": "aggregator"}


def with_previous_password(url, previous):
    """(url, the same URL with the previous password): what connect() tries, in order,
    while the password rotates."""
    parts = urllib.parse.urlsplit(url)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(previous, safe='')}@{host}"
    return (url, urllib.parse.urlunsplit(parts._replace(netloc=netloc)))


def _open(urls, options):
    """The first connection the server accepts: a URL whose password it refuses gives
    way to the next one (the previous password, while it rotates)."""
    urls = (urls,) if isinstance(urls, str) else urls
    for index, url in enumerate(urls):
        try:
            return psycopg2.connect(url, **options)
        except psycopg2.OperationalError as exc:
            if index + 1 == len(urls) or "password authentication failed" not in str(exc):
                raise
    raise psycopg2.OperationalError("no database URL configured")


def connect(url, timeout):
    """One connection to `url` (a URL, or the URLs of with_previous_password())."""
    with green.deadline(timeout):
        return _open(url, _options(timeout))


class _Pool(psycopg2.pool.ThreadedConnectionPool):
    """psycopg2's pool, opening its connections like connect()."""

    def __init__(self, size, urls, options):
        self._urls = urls
        super().__init__(0, size, **options)

    def _connect(self, key=None):
        conn = _open(self._urls, self._kwargs)
        if key is not None:
            self._used[key] = conn
            self._rused[id(conn)] = key
        else:
            self._pool.append(conn)
        return conn


def pool(url, size, timeout):
    """A psycopg2 pool of up to `size` connections like connect()'s, opened on demand;
    take them with `green.deadline(timeout)` around getconn()."""
    return _Pool(size, url, _options(timeout))


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
