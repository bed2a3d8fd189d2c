"""Authentication: no network trust, replication user limited, wrong passwords rejected."""

import psycopg2
import pytest
from lab import ADDRESSES, BALANCER_HOST, PG_NODES, PRIMARY_PORT, connect, node, secret


@pytest.mark.parametrize("name", PG_NODES)
def test_pg_hba_has_no_network_trust(name):
    sql = "SELECT type, auth_method FROM pg_hba_file_rules WHERE type <> 'local'"
    out = node(name).check_output("runuser -u postgres -- psql -XAtq -c %s", sql)
    rules = [line.split("|") for line in out.split()]
    assert rules, f"{name}: expected network rules in pg_hba, found none"
    trusted = [r for r in rules if r[1] == "trust"]
    assert not trusted, f"{name}: expected no network trust rules, found {trusted}"


def test_replication_user_cannot_open_a_session():
    with pytest.raises(psycopg2.OperationalError) as err:
        connect(ADDRESSES["pg1"], 5432, user="replicator", password=secret("postgres_replication"))
    assert "pg_hba.conf rejects connection" in str(err.value), f"expected a pg_hba reject, found {err.value}"


def test_wrong_password_is_rejected():
    with pytest.raises(psycopg2.OperationalError) as err:
        connect(BALANCER_HOST, PRIMARY_PORT, user="aggregator", password="wrong-password", dbname="aggregator")
    assert "password authentication failed" in str(err.value), f"expected an auth failure, found {err.value}"


def test_app_user_has_least_privilege():
    conn = connect(BALANCER_HOST, PRIMARY_PORT, user="aggregator", password=secret("postgres_app"), dbname="aggregator")
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication FROM pg_roles WHERE rolname = current_user"
        )
        flags = cur.fetchone()
    conn.close()
    expected = (False, False, False, False)
    assert flags == expected, f"expected no superuser/createdb/createrole/replication, found {flags}"
