"""Deployments the drills compare on one running cluster: a failover preset
(pgha_failover_preset) or a durability mode (pgha_durability), deployed as extra
variables so the inventory stays as it is. deploy() checks that Patroni runs what the
deployment asks for and gives back the cluster whose settings the drills then read."""

from .cluster import Cluster

PRESETS = ("fast", "balanced", "safe")
DURABILITY_MODES = ("async", "sync", "strict", "quorum")
# The plays that carry these settings: Patroni's dynamic configuration, HAProxy and
# keepalived on the balancers, the aggregators' timeouts (a rolling restart).
PLAYBOOKS = ("playbooks/postgres.yml", "playbooks/balancers.yml", "playbooks/aggregator.yml")
# Patroni's dynamic configuration keys, by the role variable that sets each.
PATRONI_SETTINGS = {
    "patroni_ttl": "ttl",
    "patroni_loop_wait": "loop_wait",
    "patroni_retry_timeout": "retry_timeout",
    "patroni_synchronous_mode": "synchronous_mode",
}
# What `python -m drills matrix` runs: the failover drills under each preset, the
# standby loss under each durability mode.
MATRIX_DRILLS = ("switchover", "kill-postgres", "crash-primary", "isolate-primary")
MATRIX_DURABILITY_DRILLS = ("standby-loss",)


def matrix_plan():
    """[(extra variables, drills)] in the order the matrix runs them."""
    return [({"pgha_failover_preset": preset}, MATRIX_DRILLS) for preset in PRESETS] + [
        ({"pgha_durability": mode}, MATRIX_DURABILITY_DRILLS) for mode in DURABILITY_MODES
    ]


def as_patroni_writes(value):
    """A setting as Patroni's dynamic configuration shows it (quorum, else a number or a boolean)."""
    text = str(value).strip().lower()
    if text in ("true", "yes", "on"):
        return True
    if text in ("false", "no", "off"):
        return False
    return int(text) if text.isdigit() else text


def deploy(inventory, extra_vars):
    """The cluster with `extra_vars` deployed ({}: the inventory's own settings); raises
    when Patroni does not run them afterwards."""
    cluster = Cluster.from_inventory(inventory, extra_vars)
    with_leader_vip = ("playbooks/leader_vip.yml",) if cluster.leader_vip else ()
    for playbook in (*PLAYBOOKS, *with_leader_vip):
        print(f"--- {playbook} with {extra_vars or 'the inventory as it is'}", flush=True)
        cluster.playbook(playbook, timeout=1800)
    running = cluster.dynamic_config()
    wrong = {
        key: (running.get(key), as_patroni_writes(cluster.setting(name)))
        for name, key in PATRONI_SETTINGS.items()
        if running.get(key, False) != as_patroni_writes(cluster.setting(name))
    }
    if wrong:
        raise RuntimeError(f"Patroni runs {wrong} (running, asked) after deploying {extra_vars}")
    return cluster


def label(cluster):
    """What the cluster runs, as the drill table shows it."""
    asked = ", ".join(f"{name.removeprefix('pgha_')} {value}" for name, value in cluster.extra_vars.items())
    timings = "/".join(str(cluster.setting(name)) for name in list(PATRONI_SETTINGS)[:3])
    return f"{asked or 'inventory'} ({timings}, synchronous_mode {cluster.setting('patroni_synchronous_mode')})"
