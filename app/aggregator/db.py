"""Database connections: a small pool for reads, dedicated connections for writers."""

from contextlib import contextmanager

import psycopg2
import psycopg2.extras
import psycopg2.pool

# Errors after which a connection is unusable and the operation may be retried.
RETRYABLE = (psycopg2.OperationalError, psycopg2.InterfaceError)


def connect(url, timeout):
    return psycopg2.connect(url, connect_timeout=timeout, application_name="aggregator")


class ReadPool:
    """Thread-safe pool of autocommit connections, opened lazily and replaced when broken."""

    def __init__(self, url, size, timeout):
        self._pool = psycopg2.pool.ThreadedConnectionPool(0, size, url, connect_timeout=timeout)

    @contextmanager
    def cursor(self):
        conn = self._pool.getconn()
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

    def close(self):
        self._pool.closeall()
