"""Fixtures shared by the app and drill tests: a real PostgreSQL for the session."""

import uuid

import psycopg2
import pytest

from aggregator import schema
from testbed.pgserver import PgServer


@pytest.fixture(scope="session")
def pg_server():
    server = PgServer()
    server.init()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def make_database(pg_server):
    """Fresh databases migrated through a schema version (all by default), dropped afterwards."""
    names = []

    def create(through=None):
        name = f"t_{uuid.uuid4().hex[:10]}"
        admin_sql(pg_server, f"CREATE DATABASE {name}")
        names.append(name)
        # Deployments run the migration once before starting the app; so do the tests.
        conn = psycopg2.connect(pg_server.url(name))
        schema.migrate(conn, through=through)
        conn.close()
        return pg_server.url(name)

    yield create
    for name in names:
        # A fresh connection: a test may have restarted the server.
        admin_sql(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def database_url(make_database):
    """A fresh database per test, at the current schema."""
    return make_database()


@pytest.fixture
def admin_sql_run(pg_server):
    """Run one statement as the superuser outside a transaction (databases, tablespaces)."""
    return lambda statement: admin_sql(pg_server, statement)


def admin_sql(server, statement):
    conn = psycopg2.connect(server.url())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()
