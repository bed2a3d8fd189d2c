"""Failover presets on a running cluster: deploy one (pgha_failover_preset as an extra
variable, so the inventory stays as it is), check that Patroni runs its timings, and
give back the cluster whose settings the drills then read."""

from .cluster import Cluster

PRESETS = ("fast", "balanced", "safe")
# The plays that carry a preset's timings: Patroni's dynamic configuration, HAProxy
# and keepalived on the balancers, the aggregators' timeouts (a rolling restart).
PLAYBOOKS = ("playbooks/postgres.yml", "playbooks/balancers.yml", "playbooks/aggregator.yml")
# Patroni's dynamic configuration keys, by the role variable that sets each.
PATRONI_TIMINGS = {"patroni_ttl": "ttl", "patroni_loop_wait": "loop_wait", "patroni_retry_timeout": "retry_timeout"}
# What `python -m drills matrix` runs for each preset.
MATRIX_DRILLS = ("switchover", "kill-postgres", "crash-primary", "isolate-primary")


def deploy(inventory, preset):
    """The cluster with `preset` deployed (None: the inventory's own); raises when
    Patroni does not run the preset's timings afterwards."""
    extra_vars = {"pgha_failover_preset": preset} if preset else {}
    cluster = Cluster.from_inventory(inventory, extra_vars)
    with_leader_vip = ("playbooks/leader_vip.yml",) if cluster.leader_vip else ()
    for playbook in (*PLAYBOOKS, *with_leader_vip):
        print(f"--- {playbook} with pgha_failover_preset={preset or '(the inventory)'}", flush=True)
        cluster.playbook(playbook, timeout=1800)
    running = cluster.dynamic_config()
    wrong = {
        key: (running.get(key), int(cluster.setting(name)))
        for name, key in PATRONI_TIMINGS.items()
        if running.get(key) != int(cluster.setting(name))
    }
    if wrong:
        raise RuntimeError(f"Patroni runs {wrong} (running, preset) after deploying preset {preset}")
    return cluster


def timings(cluster):
    """The deployed preset's timings, as the drill table shows them."""
    return "/".join(str(cluster.setting(name)) for name in PATRONI_TIMINGS)
