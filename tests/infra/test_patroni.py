"""Patroni and streaming replication, checked on the real nodes."""

import pytest
from lab import PG_NODES, assert_service_up, cluster, leader_name, node


def psql(name, sql):
    """Run SQL on a node through its local socket as the postgres OS user."""
    cmd = node(name).run("runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -c %s", sql)
    return cmd


@pytest.mark.parametrize("name", PG_NODES)
def test_patroni_service_running_and_enabled(name):
    assert_service_up(name, "patroni")


def test_one_leader_and_two_streaming_replicas():
    members = cluster()
    roles = sorted(m["Role"] for m in members)
    leaders = [m for m in members if m["Role"] == "Leader"]
    replicas = [m for m in members if m["Role"] != "Leader"]
    assert len(leaders) == 1, f"expected one Leader, found roles {roles}"
    assert len(replicas) == 2, f"expected two replicas, found roles {roles}"
    states = {m["Member"]: m["State"] for m in replicas}
    assert set(states.values()) == {"streaming"}, f"expected replicas streaming, found {states}"


def test_primary_streams_to_every_replica_with_one_sync():
    leader = leader_name()
    rows = psql(leader, "SELECT application_name, state, sync_state FROM pg_stat_replication")
    assert rows.rc == 0, rows.stderr
    stats = [line.split("|") for line in rows.stdout.split()]
    replicas = sorted(n for n in PG_NODES if n != leader)
    assert sorted(r[0] for r in stats) == replicas, f"expected senders to {replicas}, found {stats}"
    assert all(r[1] == "streaming" for r in stats), f"expected all streaming, found {stats}"
    sync = [r[0] for r in stats if r[2] == "sync"]
    assert len(sync) == 1, f"expected one sync standby (synchronous_mode on), found {stats}"


def test_an_active_physical_slot_per_replica():
    leader = leader_name()
    rows = psql(leader, "SELECT slot_name, slot_type, active FROM pg_replication_slots")
    assert rows.rc == 0, rows.stderr
    slots = {r.split("|")[0]: r.split("|")[1:] for r in rows.stdout.split()}
    for replica in (n for n in PG_NODES if n != leader):
        assert slots.get(replica) == ["physical", "t"], f"expected an active physical slot '{replica}', found {slots}"


def test_replicas_are_read_only():
    leader = leader_name()
    for replica in (n for n in PG_NODES if n != leader):
        recovery = psql(replica, "SELECT pg_is_in_recovery()")
        assert recovery.stdout.strip() == "t", f"{replica}: expected in recovery, found {recovery.stdout!r}"
        create = psql(replica, "CREATE TABLE must_fail (id int)")
        assert create.rc != 0, f"{replica}: CREATE TABLE succeeded on a replica"
        assert "cannot execute CREATE TABLE in a read-only transaction" in create.stderr, (
            f"{replica}: expected the read-only error, found {create.stderr!r}"
        )
