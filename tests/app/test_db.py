"""Read pool: more readers than connections wait for one instead of failing."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest

from aggregator.db import ReadPool, connect, pool, with_previous_password


def test_readers_beyond_the_pool_size_wait_for_a_connection(database_url):
    pool = ReadPool(database_url, size=2, timeout=10)

    def read(_):
        with pool.cursor() as cur:
            cur.execute("SELECT pg_sleep(0.1), pg_backend_pid()")
            return cur.fetchone()[1]

    try:
        with ThreadPoolExecutor(10) as executor:
            backends = set(executor.map(read, range(10)))
    finally:
        pool.close()
    assert len(backends) <= 2


def test_a_reader_gets_a_retryable_error_when_every_connection_stays_busy(database_url):
    pool = ReadPool(database_url, size=1, timeout=1)
    holding, release = threading.Event(), threading.Event()

    def hold():
        with pool.cursor():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holding.wait(10)
        with pytest.raises(psycopg2.OperationalError, match="busy"), pool.cursor():
            pass
    finally:
        release.set()
        holder.join()
        pool.close()


def test_a_pooled_connection_closed_by_the_server_is_replaced_not_reported(database_url, sql):
    pool = ReadPool(database_url, size=1, timeout=5)
    try:
        with pool.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            (first,) = cur.fetchone()
        # What a failover or HAProxy's shutdown-sessions does to idle connections.
        sql("SELECT pg_terminate_backend(%s, 5000)", (first,))
        with pool.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            (second,) = cur.fetchone()
    finally:
        pool.close()
    assert second != first


def admin_sql(server, statement):
    conn = psycopg2.connect(server.url())
    conn.autocommit = True
    with conn, conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


def test_a_refused_password_gives_way_to_the_previous_one_while_it_rotates(pg_server):
    """rotate_secrets.yml deploys the new password with the previous one beside it, then
    changes the role: connections work before, during and after."""
    role = f"r_{uuid.uuid4().hex[:8]}"
    admin_sql(pg_server, f"CREATE ROLE {role} LOGIN PASSWORD 'old-secret'")
    new = pg_server.url().replace(f"postgres:{pg_server.password}@", f"{role}:new%2Fsecret@")
    both = with_previous_password(new, "old-secret")
    try:
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            connect(new, 5)
        pooled = pool(both, 1, 5)
        for urls in (both, both):
            conn = connect(urls, 5)
            with conn.cursor() as cur:
                cur.execute("SELECT current_user")
                assert cur.fetchone()[0] == role
            conn.close()
            admin_sql(pg_server, f"ALTER ROLE {role} PASSWORD 'new/secret'")
        assert pooled.getconn().closed == 0
        pooled.closeall()
        admin_sql(pg_server, f"ALTER ROLE {role} PASSWORD 'another'")
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            connect(both, 5)  # neither works: the last refusal is reported
    finally:
        admin_sql(pg_server, f"DROP ROLE {role}")
