"""stall-short and stall-long: the primary's node freezes, then thaws.

`docker pause` stops every process of the node at once through the cgroup freezer:
PostgreSQL, Patroni and the DCS member on it, as a paused VM or a host starved for
seconds would. The kernel still answers TCP for it, so connections to it neither fail
nor answer. Patroni must tell a short stall from a dead node:

- stall-short freezes it for less than retry_timeout: the leader key, last renewed
  before the freeze, outlives it, so no replica may take over (a false failover).
- stall-long freezes it past the key's expiry: exactly one replica takes over. When the
  old primary thaws, its Patroni finds its own leadership expired (its REST API answers
  503 on /primary at once, so HAProxy sends it nothing) and demotes PostgreSQL on its
  first loop; the drill's probes check that no client could write to both.
"""

from .faults import Fault, LeaderLoss

PAUSED = "paused"


def short_stall(retry_timeout):
    """Seconds of stall-short: shorter than retry_timeout, and at least one."""
    return max(1.0, float(retry_timeout) - 1.0)


class Freeze:
    """docker pause the target, docker unpause it at the heal."""

    def inject(self, cluster, node, before):
        cluster.docker("pause", node)

    def heal(self, cluster, node):
        cluster.docker("unpause", node)

    def effect(self, cluster, node, before):
        state = cluster.container_state(node)
        return f"container {node} is {state}: every process in it is frozen" if state == PAUSED else None


class StallShort(Freeze, Fault):
    name, loses_node, expect_failover = "stall-short", False, False

    def hold_for(self, cluster):
        return short_stall(cluster.dynamic_config()["retry_timeout"])

    def write_gap_bound(self, terms):
        """Nothing commits while the primary is frozen; HAProxy may have marked it down
        (its checks time out), so after the thaw it must pass its rise checks again."""
        return terms.bound(stall=short_stall(terms.retry_timeout), haproxy_up=terms.haproxy_up)


class StallLong(Freeze, LeaderLoss):
    name, hold = "stall-long", 30
