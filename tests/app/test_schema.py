"""Schema migrations are idempotent and exposed as a CLI command."""

import psycopg2

from aggregator import schema


def test_migrate_twice_applies_nothing_the_second_time(database_url):
    conn = psycopg2.connect(database_url)
    try:
        assert schema.migrate(conn) == []  # the fixture migrated already
        with conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert cur.fetchall() == [(version,) for version, _ in schema.MIGRATIONS]
    finally:
        conn.close()


def test_cli_migrate(app):
    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert "schema is up to date" in result.output
