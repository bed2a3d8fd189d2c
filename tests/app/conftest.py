from datetime import date

import psycopg2
import pytest
from flask.testing import FlaskClient

from aggregator import create_app, partitions

# One token for every scope in the app tests; test_auth.py builds apps with separate ones.
TOKEN = "test-token-for-every-scope"
TOKENS = {"WRITE_TOKENS": [TOKEN], "READ_TOKENS": [TOKEN], "METRICS_TOKENS": [TOKEN]}


class TokenClient(FlaskClient):
    """A test client that sends the test token with every request."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"


@pytest.fixture
def make_app(database_url):
    apps = []

    def factory(**overrides):
        app = create_app({"DATABASE_URL": database_url, "TESTING": True, **TOKENS, **overrides})
        app.test_client_class = TokenClient
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


def query_runner(url):
    """run(query, params): one statement against the database at `url`, its rows."""

    def run(query, params=None):
        conn = psycopg2.connect(url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    return run


@pytest.fixture
def sql(database_url):
    """Run a query directly against the test database."""
    return query_runner(database_url)


@pytest.fixture
def sql_at():
    """query_runner, for a test's other databases."""
    return query_runner


# The day the clock fixture starts at.
DAY = date(2031, 3, 10)


@pytest.fixture
def clock(monkeypatch):
    """The day the app counts expiry from: DAY, moved with clock.set(day)."""

    class Clock:
        day = DAY

        def set(self, day):
            self.day = day

    found = Clock()
    monkeypatch.setattr(partitions, "today", lambda: found.day)
    return found
