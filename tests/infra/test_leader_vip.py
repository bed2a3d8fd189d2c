"""The VIP for clients without balancers: keepalived on the database nodes keeps
pgha_leader_vip on the member whose Patroni answers 200 on /primary, and moves it with a
switchover."""

import pytest
from lab import LEADER_VIP, PG_NODES, assert_service_up, leader_name, node, query, run_playbook, wait_for

from drills.front_door import vip_check

pytestmark = pytest.mark.skipif(not LEADER_VIP, reason="the scenario's inventory sets no pgha_leader_vip")


def holders():
    return [name for name in PG_NODES if node(name).run(" ".join(vip_check(LEADER_VIP))).stdout.strip()]


@pytest.mark.parametrize("name", PG_NODES)
def test_keepalived_runs_on_every_database_node(name):
    assert_service_up(name, "keepalived")


def test_the_leader_alone_holds_the_vip_and_it_reaches_the_primary():
    leader = leader_name()
    assert wait_for(lambda: holders() == [leader], 10), f"leader {leader}, VIP on {holders()}"
    # Only the primary accepts writes: a writable session on the VIP is on the leader.
    rows = query(LEADER_VIP, 5432, "SELECT pg_is_in_recovery()")
    assert rows == [(False,)], f"expected the primary {leader} on the VIP, found a server in recovery"


def test_the_vip_follows_a_switchover():
    old = leader_name()
    run = run_playbook("playbooks/switchover.yml", timeout=300)
    assert run.returncode == 0, f"switchover playbook failed:\n{run.stdout[-3000:]}"
    new = leader_name()
    assert new != old, f"expected the leader to move away from {old}, found {new}"
    assert wait_for(lambda: holders() == [new], 15), f"VIP on {holders()} after the switchover to {new}"
    rows = query(LEADER_VIP, 5432, "SELECT pg_is_in_recovery()")
    assert rows == [(False,)], f"expected the new primary {new} on the VIP, found a server in recovery"
