"""PostgreSQL takes only TLS over the network: plain connections are refused, and
replication and the aggregator run over TLS verified against the generated CA."""

import uuid

import psycopg2
import pytest
from lab import ADDRESSES, BALANCER_HOST, PG_NODES, PRIMARY_PORT, call, query, secret


@pytest.mark.parametrize(("host", "port"), [*((ADDRESSES[n], 5432) for n in PG_NODES), (BALANCER_HOST, PRIMARY_PORT)])
def test_a_plain_text_connection_is_refused(host, port):
    with pytest.raises(psycopg2.OperationalError, match="no encryption|SSL off"):
        psycopg2.connect(
            host=host, port=port, user="postgres", password=secret("postgres_superuser"),
            dbname="postgres", sslmode="disable", connect_timeout=5,
        )  # fmt: skip


def test_every_walsender_streams_over_tls():
    rows = query(
        BALANCER_HOST, PRIMARY_PORT,
        "SELECT a.application_name, s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
        "WHERE a.backend_type = 'walsender'",
    )  # fmt: skip
    assert len(rows) == len(PG_NODES) - 1, f"expected a walsender per replica, found {rows}"
    assert all(ssl for _, ssl, _ in rows), f"expected TLS on every walsender, found {rows}"


def test_every_aggregator_connection_uses_tls():
    # Make the app (re)connect to the current primary: a switchover earlier in the suite
    # closed its sessions, and it reconnects on demand.
    assert call("POST", "/publish", {"topic": "tls", "event_id": uuid.uuid4().hex})[0] == 202
    assert call("GET", "/stats")[0] == 200
    rows = query(
        BALANCER_HOST,
        PRIMARY_PORT,
        "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'aggregator'",
    )
    assert rows, "expected the aggregator connected to the primary"
    assert all(ssl for (ssl,) in rows), f"expected TLS on every aggregator connection, found {rows}"


def test_the_verified_connection_reports_tls():
    # lab.connect uses sslmode=verify-full with the CA: the name it dials is on the certificate.
    assert query(BALANCER_HOST, PRIMARY_PORT, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [(True,)]
