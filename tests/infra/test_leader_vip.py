"""The VIP for clients without balancers: vip-manager keeps vip_manager_vip on the
Patroni leader, read from the DCS, and moves it with a switchover."""

import pytest
from lab import ADDRESSES, LEADER_VIP, PG_NODES, assert_service_up, leader_name, node, query, wait_for

pytestmark = pytest.mark.skipif(not LEADER_VIP, reason="the scenario's inventory sets no vip_manager_vip")


def holders():
    return [name for name in PG_NODES if node(name).run(f"ip -4 -o addr show to {LEADER_VIP}/32").stdout.strip()]


@pytest.mark.parametrize("name", PG_NODES)
def test_vip_manager_runs_on_every_database_node(name):
    assert_service_up(name, "vip-manager")


def test_the_leader_alone_holds_the_vip_and_it_reaches_the_primary():
    leader = leader_name()
    assert wait_for(lambda: holders() == [leader], 10), f"leader {leader}, VIP on {holders()}"
    rows = query(LEADER_VIP, 5432, "SELECT host(inet_server_addr()), pg_is_in_recovery()")
    assert rows == [(ADDRESSES[leader], False)], f"expected the primary {leader} on the VIP, found {rows}"


def test_the_vip_follows_a_switchover():
    leader = leader_name()
    candidate = next(name for name in PG_NODES if name != leader)
    node(leader).check_output(f"patronictl switchover --leader {leader} --candidate {candidate} --force")
    assert wait_for(lambda: leader_name() == candidate, 60), f"{candidate} did not take over"
    assert wait_for(lambda: holders() == [candidate], 15), f"VIP on {holders()} after the switchover to {candidate}"
    rows = query(LEADER_VIP, 5432, "SELECT host(inet_server_addr()), pg_is_in_recovery()")
    assert rows == [(ADDRESSES[candidate], False)], f"expected the new primary {candidate}, found {rows}"
