"""A wait that times out says what is wrong and shows the service's journal."""

import re

from lab import INVENTORY, node, run_playbook, wait_for

from drills.cluster import Cluster


def test_a_failed_cluster_wait_prints_the_problem_and_patroni_journal():
    cluster = Cluster.from_inventory(INVENTORY)
    assert wait_for(cluster.healthy, 120), "expected a whole cluster before the test"
    # Not the first host: the playbook's run-once reads go to it.
    first = next(iter(cluster.nodes))
    replica = next(m["name"] for m in cluster.members() if m["role"] != "leader" and m["name"] != first)
    node(replica).check_output("systemctl stop patroni")
    try:
        # Patroni designates the remaining replica as synchronous standby when needed.
        assert wait_for(lambda: any(m["role"] == "sync_standby" for m in cluster.members()), 60)
        # json results: messages on one line, unwrapped.
        run = run_playbook("playbooks/switchover.yml", "-e", "patroni_switchover_timeout=6", timeout=300,
                           ANSIBLE_CALLBACK_RESULT_FORMAT="json")  # fmt: skip
    finally:
        node(replica).check_output("systemctl start patroni")
    assert run.returncode != 0, "expected the wait to fail while a member is stopped"
    verdict = next((line for line in run.stdout.splitlines() if "did not become whole" in line), run.stdout[-3000:])
    # Gone from the DCS, or still listed as stopped: either way the message names it.
    assert re.search(rf"(missing members: {replica}|not streaming: {replica} \(stopped\))", verdict), verdict[:1500]
    assert f"Last 50 lines of the patroni.service journal on {replica}" in run.stdout, run.stdout[-3000:]
    assert "Stopped patroni.service" in run.stdout or "Stopping patroni.service" in run.stdout, run.stdout[-3000:]
    assert wait_for(cluster.healthy, 120), "expected the cluster whole again after the test"
