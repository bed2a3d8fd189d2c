"""What the Ansible inventory says about the cluster: which hosts play which part, their
addresses, the VIPs and the DCS. Read once, the way the playbooks read it; the drills,
the benchmarks and the infra tests take every address and group from here."""

import importlib.util
import json
import pathlib
import subprocess
from dataclasses import dataclass, field

from .secrets import ansible_env, rendered

REPO = pathlib.Path(__file__).resolve().parents[1]
# The role variables the drills, benchmarks and tests read, by the group whose first host
# they are read for. Each is the inventory's value, else the role's default: no port,
# user or timing is typed a second time outside the roles.
SETTINGS = {
    "postgres": (
        "patroni_cluster_name", "patroni_namespace", "patroni_postgres_port", "patroni_restapi_port",
        "patroni_restapi_username", "patroni_superuser_username", "patroni_replication_username",
        "patroni_rewind_username", "patroni_app_username", "patroni_monitor_username", "patroni_etcd_port",
        "patroni_consul_port",
        "pki_node_dir", "patroni_config_dir", "etcd_data_dir", "consul_data_dir", "patroni_version",
        "patroni_ttl", "patroni_loop_wait", "patroni_retry_timeout", "patroni_synchronous_mode",
        "patroni_synchronous_mode_strict",
        "etcd_leader_away_interval", "consul_leader_away_interval",
    ),
    "balancers": (
        "haproxy_primary_port", "haproxy_replica_port", "haproxy_stats_port", "haproxy_stats_username",
        "haproxy_check_interval", "haproxy_check_fastinter", "haproxy_check_fall", "haproxy_check_rise",
        "haproxy_check_timeout", "haproxy_api_port", "keepalived_advert_int", "keepalived_check_interval",
        "keepalived_check_fall",
    ),
    "aggregator": ("aggregator_port", "aggregator_db_connect_timeout", "aggregator_retry_deadline_seconds"),
    "monitoring": ("monitoring_prometheus_port", "monitoring_alertmanager_port", "monitoring_web_username"),
    "backup": ("pgbackrest_tls_port",),
}  # fmt: skip


def load_plugin(path):
    """A plugin of the playbooks or roles (plain Python), shared with the drills."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A variable's default as its role writes it: the same filter playbooks/info.yml uses.
role_default = load_plugin(REPO / "playbooks" / "filter_plugins" / "role_defaults.py").role_default


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
    settings: dict = field(default_factory=dict)  # SETTINGS, resolved for this inventory
    # Extra variables every playbook run gets (`-e`), as the settings were resolved with
    # them: pgha_failover_preset while the drills run another preset.
    extra_vars: dict = field(default_factory=dict)

    @classmethod
    def from_inventory(cls, inventory, extra_vars=None):
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
        # The preset and the durability mode a role default may follow are read with them.
        variables = sorted(
            {v for names in SETTINGS.values() for v in names} | {"pgha_failover_preset", "pgha_durability"}
        )
        fields = ", ".join(f"{v!r}: {v} | default(none)" for v in variables)
        expression = f"[node_address, pgha_vip | default(''), pgha_leader_vip | default(''), patroni_dcs, {{{fields}}}]"
        found = rendered(inventory, named, expression, extra_vars)
        settings = {}
        for group, names in SETTINGS.items():
            first = found[groups[group][0]][4] if groups[group] else {}
            known = {v: value for v, value in first.items() if value is not None}
            settings.update({v: role_default(v, known) for v in names})
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
            settings=settings,
            extra_vars=dict(extra_vars or {}),
        )

    def setting(self, name):
        """A role variable of SETTINGS as this inventory resolves it."""
        return self.settings[name]

    # The ports and paths every module uses, named once.
    @property
    def postgres_port(self):
        return int(self.setting("patroni_postgres_port"))

    @property
    def patroni_port(self):
        return int(self.setting("patroni_restapi_port"))

    @property
    def api_port(self):
        return int(self.setting("aggregator_port"))

    @property
    def primary_port(self):
        return int(self.setting("haproxy_primary_port"))

    @property
    def replica_port(self):
        return int(self.setting("haproxy_replica_port"))

    @property
    def etcd_port(self):
        return int(self.setting("patroni_etcd_port"))

    @property
    def consul_port(self):
        return int(self.setting("patroni_consul_port"))

    @property
    def pgbackrest_port(self):
        return int(self.setting("pgbackrest_tls_port"))

    @property
    def node_tls(self):
        """Where the pki role puts the CA, the node's certificate and key on every node."""
        return self.setting("pki_node_dir")


def group_hosts(data, group):
    """The hosts of a group of `ansible-inventory --list` output, children included."""
    hosts = list(data.get(group, {}).get("hosts", []))
    for child in data.get(group, {}).get("children", []):
        hosts += group_hosts(data, child)
    return hosts
