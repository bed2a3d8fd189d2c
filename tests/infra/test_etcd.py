"""etcd: three healthy members, service running and enabled."""

import json

import pytest
from lab import ADDRESSES, PG_NODES, TOPOLOGY, assert_service_up, dcs_leader_node, leader_name, node, wait_for

from drills.dcs import etcdctl

ETCDCTL = " ".join(etcdctl(TOPOLOGY))


@pytest.mark.parametrize("name", PG_NODES)
def test_etcd_service_running_and_enabled(name):
    assert_service_up(name, "etcd")


def healthy_members():
    out = node("pg1").run(f"{ETCDCTL} endpoint health --cluster --write-out=json")
    return sorted(e["endpoint"] for e in json.loads(out.stdout or "[]") if e["health"])


def test_etcd_reports_three_healthy_members():
    healthy = healthy_members()
    assert len(healthy) == 3, f"expected 3 healthy etcd members, found {len(healthy)}: {healthy}"


def etcd_statuses():
    return json.loads(node("pg1").check_output(f"{ETCDCTL} endpoint status --cluster --write-out=json"))


def etcd_leader_address():
    """The address of etcd's leader, or None during an election."""
    leader = dcs_leader_node()
    return ADDRESSES[leader] if leader else None


def leader_settled_away_from(address):
    current = etcd_leader_address()
    return current is not None and current != address


def test_etcd_leadership_is_moved_off_the_node_of_patronis_leader():
    # Put etcd's leadership on the node whose Patroni leads, as any etcd election may:
    # the timer on that node must hand it to another member.
    patroni_leader = ADDRESSES[leader_name()]
    assert wait_for(lambda: etcd_leader_address() is not None, 30), "etcd elected no leader in 30 s"
    current = etcd_leader_address()
    if current != patroni_leader:
        target = next(s for s in etcd_statuses() if f"//{patroni_leader}:" in s["Endpoint"])
        move = " ".join(etcdctl(TOPOLOGY, current))
        node("pg1").check_output(f"{move} move-leader {target['Status']['header']['member_id']:x}")
    interval = int(TOPOLOGY.setting("etcd_leader_away_interval"))
    assert wait_for(lambda: leader_settled_away_from(patroni_leader), 2 * interval + 5), (
        f"etcd still led from {patroni_leader}, the node of Patroni's leader, {2 * interval + 5} s later"
    )


def test_the_leader_away_check_leaves_a_stopped_etcd_stopped():
    # An operator (or a drill) stops a member on purpose; the check runs every few
    # seconds and must neither start it nor fail.
    stopped = next(name for name in PG_NODES if name != leader_name())
    member = node(stopped)
    member.check_output("systemctl stop etcd")
    try:
        check = member.run("systemctl start etcd-leader-away.service")
        assert check.rc == 0, f"the check failed with etcd stopped: {check.stderr}"
        state = member.run("systemctl is-active etcd").stdout.strip()
        assert state == "inactive", f"running the check left etcd {state} on {stopped}, expected inactive"
    finally:
        member.check_output("systemctl start etcd")
    assert wait_for(lambda: len(healthy_members()) == 3, 30), f"etcd on {stopped} did not rejoin: {healthy_members()}"
