"""Day-2 drills that change who is in the cluster: add-node grows it by the spare node
of a second inventory source (inventory/lab-grow in the lab), remove-node takes that node
out again. Each runs the project's playbook under load, like any other fault."""

import json
import pathlib
import subprocess

from .faults import Fault
from .front_door import PRIMARY_PROXY, proxy_servers
from .monitoring import Monitoring
from .secrets import ansible_env
from .topology import REPO, group_hosts

# The inventory source that names the spare database node (the lab's pg4).
GROW_INVENTORY = REPO / "inventory" / "lab-grow"
PLAYBOOK_TIMEOUT = 1500  # seconds: a new container installs its packages and restores


def spare_node(grow_inventory=GROW_INVENTORY):
    """The database node the grow inventory adds (one host of its postgres group)."""
    out = subprocess.run(
        ["ansible-inventory", "-i", str(grow_inventory), "--list"],
        capture_output=True, text=True, check=True, env=ansible_env(),
    ).stdout  # fmt: skip
    hosts = group_hosts(json.loads(out), "postgres")
    if len(hosts) != 1:
        raise RuntimeError(f"{grow_inventory} must add exactly one postgres host, found {hosts}")
    return hosts[0]


def run_grown(cluster, playbook, *argv):
    """A playbook on the cluster's inventory plus the grow inventory (the spare node)."""
    return cluster.playbook(playbook, *argv, timeout=PLAYBOOK_TIMEOUT, more_inventory=[GROW_INVENTORY])


def listed_by(cluster, node):
    """Where the node is listed now: each balancer's HAProxy primary backend, and
    Prometheus's active targets (labelled with the inventory name)."""
    places = [
        f"HAProxy on {balancer}"
        for balancer in cluster.balancers
        if node in proxy_servers(cluster.exec(balancer, "haproxy-admin", "show stat").stdout, PRIMARY_PROXY)
    ]
    monitoring = Monitoring.of(cluster)
    if monitoring:
        jobs = sorted(t["labels"]["job"] for t in monitoring.targets() if t["labels"].get("instance") == node)
        places += [f"Prometheus ({', '.join(jobs)})"] if jobs else []
    return places


class AddNode(Fault):
    """playbooks/add_node.yml under load: the spare node restores from the repository,
    streams, and every balancer and Prometheus list it; the leader never changes."""

    name, loses_node, expect_failover = "add-node", False, False

    def target(self, cluster, leader, sync_standby):
        node = spare_node()
        if node in {m["name"] for m in cluster.members()}:
            raise RuntimeError(f"add-node: {node} is already a member; run the remove-node drill first")
        return node

    def inject(self, cluster, node, before):
        run_grown(cluster, "playbooks/add_node.yml", "-e", f"add_node={node}")

    def effect(self, cluster, node, before):
        member = next((m for m in cluster.members() if m["name"] == node), None)
        if member is None or member["state"] != "streaming":
            return None
        restored = cluster.exec(node, "sh", "-c", "ls /var/log/pgbackrest/*-restore.log", check=False).returncode == 0
        places = listed_by(cluster, node)
        expected = len(cluster.balancers) + (1 if cluster.monitoring else 0)
        if not restored or len(places) < expected:
            return None
        return f"{node} streams ({member['role']}), restored from the repository, listed by {', '.join(places)}"

    def load_seconds(self, cluster):
        return PLAYBOOK_TIMEOUT


class RemoveNode(Fault):
    """playbooks/remove_node.yml under load on the node add-node added: it leaves the
    cluster and every list, its data directory is kept aside; then (lab only) its
    container goes, as a decommissioned VM would."""

    name, loses_node, expect_failover = "remove-node", False, False

    def target(self, cluster, leader, sync_standby):
        node = spare_node()
        if node not in {m["name"] for m in cluster.members()}:
            raise RuntimeError(f"remove-node: {node} is not a member; run the add-node drill first")
        return node

    def inject(self, cluster, node, before):
        run_grown(cluster, "playbooks/remove_node.yml", "-e", f"remove_node={node}", "-e", f"remove_confirm={node}")

    def effect(self, cluster, node, before):
        if node in {m["name"] for m in cluster.members()} or listed_by(cluster, node):
            return None
        marker = pathlib.PurePosixPath(cluster.setting("patroni_config_dir")) / "REMOVED"
        found = cluster.exec(node, "cat", str(marker), check=False).stdout
        fields = dict(line.split("=", 1) for line in found.splitlines() if "=" in line)
        kept = fields.get("kept_data_directory", "")
        if not kept or cluster.exec(node, "test", "-f", f"{kept}/PG_VERSION", check=False).returncode != 0:
            return None
        return f"{node} left the cluster and every list; its data directory is kept at {kept}"

    def heal(self, cluster, node):
        """Lab only: the container and its volumes go (what decommissioning a VM does)."""
        if cluster.lab:
            lose_container(cluster, node)

    def load_seconds(self, cluster):
        return PLAYBOOK_TIMEOUT


def lose_container(cluster, node):
    """Lab only: the node's container and its volumes go (a lost VM and its disks)."""
    cluster.docker("rm", "-f", node)
    volumes = cluster.docker("volume", "ls", "-q", "--filter", f"name=pgha_{node}_").stdout.split()
    if volumes:
        cluster.docker("volume", "rm", *volumes)


class NodeReplace(Fault):
    """A replica is lost with its disks (container and volumes removed); the documented
    command, playbooks/replace_node.yml, builds it again: a new container, its DCS
    member removed and added again, the replica restored from the repository. The leader
    never changes; the synchronous standby is not the one lost (writes would wait one
    Patroni loop, as in replica-crash)."""

    name, expect_failover, rebuilds = "node-replace", False, True

    def target(self, cluster, leader, sync_standby):
        replicas = [n for n in cluster.nodes if n not in (leader, sync_standby)]
        if not cluster.lab or not replicas:
            raise RuntimeError("node-replace: needs the container lab and a replica besides the synchronous standby")
        return replicas[0]

    def inject(self, cluster, node, before):
        lose_container(cluster, node)

    def effect(self, cluster, node, before):
        return f"{node}'s container and volumes are gone" if cluster.container_state(node) == "absent" else None

    def heal(self, cluster, node):
        cluster.playbook("playbooks/replace_node.yml", "-e", f"replace_node={node}", timeout=PLAYBOOK_TIMEOUT)

    def load_seconds(self, cluster):
        return PLAYBOOK_TIMEOUT + 300


class DcsMemberReplace(Fault):
    """A DCS server loses its data (stopped, its data directory emptied); the DCS play
    (playbooks/etcd.yml or playbooks/consul.yml) removes its old incarnation and adds it
    again: it comes back under a new member ID, and Patroni never notices."""

    name, loses_node, expect_failover = "dcs-member-replace", False, False

    def target(self, cluster, leader, sync_standby):
        """A server that is neither the DCS's own leader nor on the Patroni leader's node."""
        dcs_leader = cluster.dcs_leader_node()
        return next(n for n in cluster.nodes if n not in (leader, dcs_leader))

    def before(self, cluster, node):
        return {"node": node, "member": cluster.dcs_member_id(node)}

    def data_dir(self, cluster):
        return cluster.setting("consul_data_dir" if cluster.dcs == "consul" else "etcd_data_dir")

    def inject(self, cluster, node, before):
        cluster.exec(node, "systemctl", "stop", cluster.dcs_unit)
        cluster.exec(node, "find", self.data_dir(cluster), "-mindepth", "1", "-delete")

    def effect(self, cluster, node, before):
        peer = next(n for n in cluster.nodes if n != node)
        if cluster.dcs_server_healthy(peer, node):
            return None
        return f"{cluster.dcs_unit} on {node} stopped, its data directory emptied"

    def heal(self, cluster, node):
        playbook = "playbooks/consul.yml" if cluster.dcs == "consul" else "playbooks/etcd.yml"
        cluster.playbook(playbook, timeout=PLAYBOOK_TIMEOUT)

    def after_load(self, cluster, before):
        """The server is back under a new identity, and healthy from another node."""
        node, old = before["node"], before["member"]
        now = cluster.dcs_member_id(node)
        peer = next(n for n in cluster.nodes if n != node)
        failures = []
        if now is None or now == old:
            failures.append(f"{node}'s {cluster.dcs_unit} member is {now}, not a new incarnation of {old}")
        if not cluster.dcs_server_healthy(peer, node):
            failures.append(f"{cluster.dcs_unit} on {node} is not healthy seen from {peer}")
        return failures

    def load_seconds(self, cluster):
        return PLAYBOOK_TIMEOUT + 300
