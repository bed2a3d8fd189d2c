"""Failover drills on the converged lab (runs last: it breaks the cluster on purpose).

Fails on any failure of the drill's verdict: an acknowledged loss, a split-brain sample
at any place a client can write, a probe over its unknown budget, a write gap above
the bound its configuration allows, an unloaded fault, a failed rejoin or an
inconsistency. Each prints its gap beside its bound.
"""

import pytest
from lab import DCS, INVENTORY, SECRETS, call, run_playbook

from drills.cluster import Cluster
from drills.restore import OperatorError
from drills.runner import Drill
from drills.secrets import forget

# On Consul the DCS drill runs instead of switchover; the front-door drills need the VIP
# over two balancers (the default scenario). replica-crash also checks that its alert
# fires in Alertmanager and resolves.
# Day 2: the lab's spare node joins under load and leaves again; every secret rotates.
# rotate-secrets deploys every aggregator twice, one at a time, under load: it holds the
# rolling-deploy drill's verdicts too, which therefore runs only with `make drill`.
DRILLS = [
    "switchover", "replica-crash", "crash-primary", "isolate-primary", "crash-balancer",
    "add-node", "remove-node", "rotate-secrets",
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


@pytest.mark.skipif(DCS == "consul", reason="rotate-secrets runs on the default scenario")
def test_rotate_finish_refuses_the_previous_tokens():
    """After rotate-secrets (its load used the previous write token throughout), the
    second step retires the previous tokens: the old one gets 401, the new one 202."""
    previous = SECRETS / "aggregator_write_token.previous"
    assert previous.is_file(), "rotate-secrets left no previous write token to retire"
    old = previous.read_text().strip()
    event = {"topic": "rotate-finish", "event_id": "before"}
    assert call("POST", "/publish", event, token=old)[0] == 202
    run = run_playbook("playbooks/rotate_secrets.yml", "-e", "rotate_finish=true")
    assert run.returncode == 0, run.stdout[-3000:]
    assert not previous.exists()
    forget()
    assert call("POST", "/publish", {**event, "event_id": "after"}, token=old)[0] == 401
    assert call("POST", "/publish", {**event, "event_id": "after"})[0] == 202


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
