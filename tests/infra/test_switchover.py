"""Planned switchover through playbooks/switchover.yml (runs last: it moves the leader)."""

import os
import subprocess

from lab import ADDRESSES, BALANCER_HOST, INVENTORY, PRIMARY_PORT, REPO, cluster, leader_name, query, wait_for


def test_switchover_moves_leader_and_haproxy_follows():
    old = leader_name()
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    run = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), "playbooks/switchover.yml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"switchover playbook failed:\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"

    new = leader_name()
    assert new != old, f"expected the leader to move away from {old}, found {new}"

    states = {m["Member"]: (m["Role"], m["State"]) for m in cluster()}
    assert states[old][1] == "streaming", f"expected old leader {old} streaming, found {states[old]}"

    def haproxy_follows():
        try:
            return query(BALANCER_HOST, PRIMARY_PORT, "SELECT host(inet_server_addr())") == [(ADDRESSES[new],)]
        except Exception:  # HAProxy may still be switching backends
            return False

    assert wait_for(haproxy_follows, timeout=10), f"expected port {PRIMARY_PORT} to reach {new} within 10 s"
