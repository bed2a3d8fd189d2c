"""The front door: keepalived keeps the VIP on exactly one balancer, HAProxy on it
routes the database ports and balances the API across every aggregator."""

import http.client
import json
import ssl
import threading
import time

import pytest
from lab import (
    ADDRESSES,
    APP_NODES,
    CA_FILE,
    INVENTORY,
    PRIMARY_PORT,
    REPLICA_PORT,
    VIP,
    assert_service_up,
    leader_name,
    node,
    query,
    recap,
    run_playbook,
    secret,
    wait_for,
)

from drills.cluster import Cluster
from drills.load import finish, publisher_counts, start_load
from drills.upgrade import current_build, running_builds

pytestmark = pytest.mark.skipif(not VIP, reason="the scenario's inventory sets no pgha_vip")


@pytest.fixture(scope="module")
def front_door():
    """The drills' view of the lab: VIP holders and HAProxy's API backend."""
    return Cluster.from_inventory(INVENTORY)


@pytest.mark.parametrize("name", list(APP_NODES))
def test_keepalived_runs_on_every_balancer(name):
    assert_service_up(name, "keepalived")


def test_exactly_one_balancer_holds_the_vip(front_door):
    holders = front_door.vip_holders()
    assert len(holders) == 1, f"expected one VIP holder, found {holders}"


def test_the_vip_primary_port_reaches_the_leader_and_the_replica_port_a_replica():
    leader = leader_name()
    primary = query(VIP, PRIMARY_PORT, "SELECT host(inet_server_addr()), pg_is_in_recovery()")
    assert primary == [(ADDRESSES[leader], False)], (
        f"port {PRIMARY_PORT} on the VIP: expected {leader}, found {primary}"
    )
    replica = query(VIP, REPLICA_PORT, "SELECT host(inet_server_addr()), pg_is_in_recovery()")
    assert replica[0][1] is True and replica[0][0] != ADDRESSES[leader], f"port {REPLICA_PORT}: found {replica}"


def served_by(requests=20):
    """Which aggregator answered each of `requests` GET /stats on the VIP (new
    connections, so HAProxy chooses each time)."""
    context = ssl.create_default_context(cafile=CA_FILE)
    servers = []
    for _ in range(requests):
        conn = http.client.HTTPSConnection(VIP, 8080, timeout=10, context=context)
        conn.request("GET", "/stats", headers={"Authorization": f"Bearer {secret('aggregator_read_token')}"})
        response = conn.getresponse()
        assert response.status == 200, response.read()
        json.loads(response.read())
        servers.append(response.getheader("X-Served-By"))
        conn.close()
    return servers


def test_api_requests_on_the_vip_are_served_by_every_aggregator():
    servers = served_by()
    assert set(servers) == set(APP_NODES), f"expected answers from {sorted(APP_NODES)}, found {servers}"


def test_every_aggregator_runs_the_checkouts_build(front_door):
    """GET /health names the build of the code each aggregator runs: the deploy left this
    checkout's app on every one (the rolling-upgrade drill reads it the same way)."""
    builds = running_builds(front_door)
    assert builds == dict.fromkeys(front_door.aggregators, current_build()), builds


def test_a_stopped_aggregator_is_taken_out_and_requests_still_succeed(front_door):
    """HAProxy's /ready check takes a stopped aggregator out; every request is answered
    by the other one meanwhile (a refused connection is retried elsewhere)."""
    stopped = next(iter(APP_NODES))
    node(stopped).run("systemctl stop aggregator")
    try:
        servers = served_by(10)
    finally:
        node(stopped).run("systemctl start aggregator")
        # Every balancer, not only the VIP's holder: each checks on its own clock, and
        # the next test fails on any aggregator not UP on any balancer.
        back = wait_for(
            lambda: all(front_door.api_servers(b)[stopped].startswith("UP") for b in front_door.balancers), 60
        )
        assert back, f"{stopped} did not pass every balancer's checks again"
    assert stopped not in servers and len(servers) == 10, f"with {stopped} stopped, served by {servers}"


def test_a_deploy_with_nothing_to_change_takes_nothing_out_of_service(front_door, tmp_path):
    """The aggregator play on an up-to-date cluster, under load: nothing changes, no
    aggregator is drained or put in maintenance on any balancer, no request fails (it
    once drained every node on every run, and still reported changed=0)."""
    states, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            for balancer in front_door.balancers:
                states.extend(front_door.api_servers(balancer).values())
            stop.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    stop_file = tmp_path / "stop"
    load = start_load(front_door, 100, str(tmp_path / "acks"), 600, f"deploy-{time.time_ns()}", str(stop_file))
    watcher.start()
    try:
        run = run_playbook("playbooks/aggregator.yml")
    finally:
        stop.set()
        stop_file.touch()
        output = finish(load, timeout=120)
        watcher.join(10)
    assert run.returncode == 0, run.stdout[-3000:]
    for host in APP_NODES:
        assert "changed=0" in recap(run, host), recap(run, host)
    assert states and all(state.startswith("UP") for state in states), sorted(set(states))
    assert publisher_counts(output)["failed_requests"] == 0, output[-1500:]
