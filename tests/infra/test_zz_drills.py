"""Failover drills on the converged lab (runs last: it breaks the cluster on purpose).

Fails on any failure of the drill's verdict: an acknowledged loss, a split-brain sample
at any place a client can write, a probe over its unknown budget, a write gap above
the bound its configuration allows, an unloaded fault, a failed rejoin or an
inconsistency. Each prints its gap beside its bound.
"""

import pytest
from lab import BACKUPS, DCS, INVENTORY, leader_name, node

from drills.cluster import Cluster
from drills.restore import OperatorError
from drills.runner import Drill

# On Consul the DCS drill runs instead of switchover; the front-door drills need the VIP
# over two balancers (the default scenario). replica-crash also checks that its alert
# fires in Alertmanager and resolves.
# Day 2, last: every secret rotates (the drill retires the previous tokens once its load
# is over), then the grow inventory's spare node joins from the repository (the drills
# after it would run on four nodes). The other day-2 drills (remove-node, node-replace,
# dcs-member-replace, rolling-upgrade) run with `make drills-day2`, outside CI's hour.
# disk-full fills the primary's own disk (the lab's loop-backed /var/lib/postgresql):
# nearly 3 minutes, so it runs with `make test-long`, making room in CI's hour for the
# two day-2 drills (the app's 503 on a full filesystem stays in `make unit`).
# stall-short must cause no failover, stall-long exactly one with the thawed old primary
# fenced; switchover must answer every request on its first attempt.
DRILLS = [
    "switchover", "replica-crash", "crash-primary", "isolate-primary", "stall-short", "stall-long",
    "crash-balancer", pytest.param("disk-full", marks=pytest.mark.long), "rotate-secrets", "add-node",
]  # fmt: skip
if DCS == "consul":
    DRILLS = ["crash-primary", "isolate-primary", "dcs-quorum-loss"]


@pytest.mark.parametrize("name", DRILLS)
def test_drill(name):
    result = Drill(Cluster.from_inventory(INVENTORY), name).run()
    print(
        f"\n{name}: write gap {result['write_downtime_s']} s (bound {result['write_gap_bound_s']} s: "
        f"{result['write_gap_bound_terms']}), acknowledgements in the second before the fault "
        f"{result['acks_second_before_fault']}, after the settle {result['ack_rate_after_settle']}/s, "
        f"unknown share {result['unknown_share']}, "
        f"new leader after {result['time_to_new_leader_s']} s, acknowledged {result['acknowledged']}, "
        f"lost {result['acknowledged_lost']}, split-brain samples {result['split_brain_samples']}, "
        f"rejoin {result['rejoin']}, observed effect: {result['fault_effect']}, alerts {result['alerts']}, "
        f"Prometheus leaders {result['prometheus_leaders']}, report {result['report']}"
    )
    assert result["acknowledged_lost"] == 0, f"expected no acknowledged loss, found {result['lost_examples']}"
    assert result["split_brain_samples"] == 0, f"expected no split brain, found {result['split_brain_examples']}"
    assert result["passed"], f"expected every invariant to hold, found: {result['failures']}"


@pytest.mark.skipif(not BACKUPS, reason="no backup group: nothing is archived")
def test_the_primary_still_archives_after_every_failover():
    """After the drills' switchovers and failovers, the primary of the moment archives
    a fresh segment. A promoted replica used to offer the stale last segment of an older
    timeline, which pgBackRest refuses with another checksum, stopping all archiving
    (roles/patroni/templates/pgbackrest-archive-push.j2)."""
    leader = leader_name()
    run = node(leader).run("runuser -u postgres -- pgbackrest --stanza=pgha check")
    stuck = node(leader).run(
        'runuser -u postgres -- psql -XAtc "SELECT last_failed_wal, last_failed_time FROM pg_stat_archiver"'
    )
    assert run.rc == 0, f"expected {leader} to archive a fresh segment, found: {run.stderr} (archiver: {stuck.stdout})"


@pytest.mark.long  # a whole restore: make test-long
@pytest.mark.skipif(DCS == "consul", reason="the production-path inventory has no backup group")
def test_operator_error_is_undone_by_a_point_in_time_restore():
    """Runs after the failover drills: it replaces the whole cluster from backup1."""
    result = OperatorError(Cluster.from_inventory(INVENTORY)).run()
    print(
        f"\noperator-error: restore.yml {result['restore_seconds']} s, RTO {result['rto_seconds']} s, "
        f"acknowledged before T {result['acknowledged_before_t']}, lost {result['acknowledged_lost']}, "
        f"after T survived {result['after_t_survived']}, report {result['report']}"
    )
    assert result["passed"], f"expected every invariant to hold, found: {result['failures']}"
