import pathlib
import sys

import psycopg2
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from aggregator import create_app  # noqa: E402


@pytest.fixture
def make_app(database_url):
    apps = []

    def factory(**overrides):
        app = create_app({"DATABASE_URL": database_url, "TESTING": True, **overrides})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["aggregator"].close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def sql(database_url):
    """Run a query directly against the test database."""

    def run(query, params=None):
        conn = psycopg2.connect(database_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    return run
