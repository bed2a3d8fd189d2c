"""What the Ansible inventory says about the cluster: which hosts play which part, their
addresses, the VIPs and the DCS. Read once, the way the playbooks read it; the drills,
the benchmarks and the infra tests take every address and group from here."""

import json
import pathlib
import subprocess
from dataclasses import dataclass, field

from .secrets import ansible_env, rendered

REPO = pathlib.Path(__file__).resolve().parents[1]
# Ports the roles give every node (their defaults; the inventories do not change them).
ETCD_CLIENT_PORT = 2379
CONSUL_HTTPS_PORT = 8501
PATRONI_PORT = 8008
API_PORT = 8080
PRIMARY_PORT = 5000  # HAProxy: the leader
REPLICA_PORT = 5001  # HAProxy: a streaming replica
PGBACKREST_PORT = 8432
# Where the pki role puts the CA, the node's certificate and key on every node.
NODE_TLS = "/etc/pgha/tls"


@dataclass
class Topology:
    inventory: str
    nodes: dict  # database node -> address
    balancers: dict = field(default_factory=dict)  # HAProxy node -> address
    aggregators: list = field(default_factory=list)  # the aggregator hosts
    monitoring: dict = field(default_factory=dict)  # Prometheus/Alertmanager node -> address
    backups: dict = field(default_factory=dict)  # pgBackRest repository host -> address
    vip: str = ""  # pgha_vip: the clients' address, kept on one balancer by keepalived
    leader_vip: str = ""  # pgha_leader_vip: kept on the Patroni leader
    dcs: str = "etcd3"  # patroni_dcs, as the inventory sets it
    lab: bool = False  # nodes are containers of the local lab

    @classmethod
    def from_inventory(cls, inventory):
        out = subprocess.run(
            ["ansible-inventory", "-i", str(inventory), "--list"],
            capture_output=True,
            text=True,
            check=True,
            env=ansible_env(),
        ).stdout
        data = json.loads(out)
        groups = {g: group_hosts(data, g) for g in ("postgres", "balancers", "aggregator", "monitoring", "backup")}
        named = list(dict.fromkeys(sum(groups.values(), [])))
        expression = "[node_address, pgha_vip | default(''), pgha_leader_vip | default(''), patroni_dcs]"
        found = rendered(inventory, named, expression)
        address = {name: values[0] for name, values in found.items()}
        first = found[groups["postgres"][0]]
        return cls(
            inventory=str(inventory),
            nodes={n: address[n] for n in groups["postgres"]},
            balancers={n: address[n] for n in groups["balancers"]},
            aggregators=groups["aggregator"],
            monitoring={n: address[n] for n in groups["monitoring"][:1]},
            backups={n: address[n] for n in groups["backup"]},
            vip=first[1],
            leader_vip=first[2],
            dcs=first[3],
            lab=bool(group_hosts(data, "lab_containers")),
        )


def group_hosts(data, group):
    """The hosts of a group of `ansible-inventory --list` output, children included."""
    hosts = list(data.get(group, {}).get("hosts", []))
    for child in data.get(group, {}).get("children", []):
        hosts += group_hosts(data, child)
    return hosts
