"""Planned switchover through playbooks/switchover.yml (runs last: it moves the leader)."""

import os
import subprocess

import psycopg2
from lab import ADDRESSES, BALANCER_HOST, INVENTORY, PRIMARY_PORT, REPO, cluster, leader_name, node, query, wait_for


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
        except psycopg2.OperationalError as err:
            # HAProxy may still be switching backends; a TLS or password error is a failure, not a wait.
            if not switching(err):
                raise
            return False

    assert wait_for(haproxy_follows, timeout=10), f"expected port {PRIMARY_PORT} to reach {new} within 10 s"


def switching(err):
    """Whether a connection error is what a backend switch looks like: no server yet,
    or a session cut while HAProxy moves it."""
    text = str(err)
    return any(sign in text for sign in ("server closed the connection", "Connection refused", "timeout expired"))


def test_the_new_primary_archives_into_the_repository():
    """After the switchover, a WAL switch on the new primary reaches pgBackRest's
    repository on backup1: no gap in the archive."""
    leader = leader_name()
    (segment,) = query(ADDRESSES[leader], 5432, "SELECT pg_walfile_name(pg_switch_wal())")[0]

    def archived():
        (last,) = query(ADDRESSES[leader], 5432, "SELECT last_archived_wal FROM pg_stat_archiver")[0]
        return last is not None and last >= segment

    assert wait_for(archived, timeout=60), f"expected {segment} archived by {leader} within 60 s"
    found = node("backup1").check_output(f"find /var/lib/pgbackrest/archive -name '{segment}-*'")
    assert found, f"expected {segment} in the repository"
