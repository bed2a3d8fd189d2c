"""HAProxy routes writes to the primary and reads to replicas."""

import uuid

import pytest
from lab import (
    ADDRESSES,
    APP_NODES,
    BALANCER_HOST,
    PG_NODES,
    PRIMARY_PORT,
    REPLICA_PORT,
    assert_service_up,
    leader_name,
    query,
    wait_for,
)


@pytest.mark.parametrize("name", list(APP_NODES))
def test_haproxy_running_and_enabled(name):
    assert_service_up(name, "haproxy")


def test_primary_port_reaches_the_leader():
    leader = leader_name()
    rows = query(BALANCER_HOST, PRIMARY_PORT, "SELECT host(inet_server_addr()), pg_is_in_recovery()")
    assert rows == [(ADDRESSES[leader], False)], f"expected {leader} ({ADDRESSES[leader]}) writable, found {rows}"


def test_replica_port_answers_from_a_replica():
    rows = query(BALANCER_HOST, REPLICA_PORT, "SELECT host(inet_server_addr()), pg_is_in_recovery()")
    leader = leader_name()
    assert rows[0][1] is True, f"port {REPLICA_PORT}: expected a replica, found {rows}"
    assert rows[0][0] != ADDRESSES[leader], f"port {REPLICA_PORT} reached the leader {leader}"


def test_write_through_primary_port_visible_on_every_replica_within_5s():
    marker = str(uuid.uuid4())
    query(BALANCER_HOST, PRIMARY_PORT, "CREATE TABLE IF NOT EXISTS replication_probe (marker text)")
    query(BALANCER_HOST, PRIMARY_PORT, "INSERT INTO replication_probe VALUES (%s)", (marker,))
    leader = leader_name()
    for replica in (n for n in PG_NODES if n != leader):

        def visible(replica=replica):
            sql = "SELECT count(*) FROM replication_probe WHERE marker = %s"
            return query(ADDRESSES[replica], 5432, sql, (marker,)) == [(1,)]

        assert wait_for(visible, timeout=5), f"{replica}: expected row {marker} within 5 s, not found"
