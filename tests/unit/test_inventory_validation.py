"""site.yml's first play rejects inventories that cannot give a healthy cluster.

Each case runs playbooks/validate.yml for real against a generated inventory and
checks that it fails with the message that names the problem (or passes).
"""

import os
import pathlib
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]

GOOD_VARS = {
    "patroni_dcs": "etcd3",
    "patroni_allowed_networks": ["10.0.0.0/24"],
    "patroni_superuser_password": "x" * 16,
    "patroni_replication_password": "x" * 16,
    "patroni_rewind_password": "x" * 16,
    "patroni_app_password": "x" * 16,
    "patroni_restapi_password": "x" * 16,
    "haproxy_stats_password": "x" * 16,
    "aggregator_write_tokens": ["w" * 24],
    "aggregator_read_tokens": ["r" * 24],
    "aggregator_metrics_tokens": ["m" * 24],
}


# site.yml's check of what already runs on the nodes (after provisioning).
NODES_PLAYBOOK = "playbooks/validate_nodes.yml"
# The play that reads each node's running Patroni configuration runs on the controller:
# patroni_config_dir points at a folder the test fills (or leaves empty, a new node).
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


def inventory(
    etcd=3, postgres=3, balancers=1, extra_vars=None, drop_address=None, drop_var=None, backup=(), monitoring=()
):
    hosts = {f"db{i}": {"node_address": f"10.0.0.{i}", **LOCAL} for i in range(1, max(etcd, postgres) + 1)}
    for i in range(1, max(balancers, 1) + 1):
        hosts[f"lb{i}"] = {"node_address": f"10.0.0.{99 + i}", **LOCAL}
    for i, name in enumerate((*backup, *monitoring)):
        hosts.setdefault(name, {"node_address": f"10.0.0.{200 + i}", **LOCAL})
    if drop_address:
        del hosts[drop_address]["node_address"]
    return {
        "all": {
            "vars": {k: v for k, v in {**GOOD_VARS, **(extra_vars or {})}.items() if k != drop_var},
            "hosts": hosts,
            "children": {
                "etcd": {"hosts": {f"db{i}": None for i in range(1, etcd + 1)}},
                "postgres": {"hosts": {f"db{i}": None for i in range(1, postgres + 1)}},
                "balancers": {"hosts": {f"lb{i}": None for i in range(1, balancers + 1)}},
                "aggregator": {"hosts": {"lb1": None}},
                **({"backup": {"hosts": dict.fromkeys(backup)}} if backup else {}),
                **({"monitoring": {"hosts": dict.fromkeys(monitoring)}} if monitoring else {}),
            },
        }
    }


def run_validate(tmp_path, inv, playbook="playbooks/validate.yml"):
    path = tmp_path / "hosts.yml"
    inv["all"]["vars"].setdefault("patroni_config_dir", str(tmp_path / "patroni"))
    path.write_text(yaml.safe_dump(inv))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", str(path), playbook],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


CONSUL = {
    "patroni_dcs": "consul",
    "consul_gossip_key": "k" * 44,
    "consul_acl_master_token": "m" * 36,
    "consul_acl_agent_token": "a" * 36,
    "consul_acl_patroni_token": "p" * 36,
}


def test_valid_inventory_passes(tmp_path):
    result = run_validate(tmp_path, inventory())
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_backup_group_with_a_passphrase_passes(tmp_path):
    result = run_validate(tmp_path, inventory(backup=["bk1"], extra_vars=BACKUP))
    assert result.returncode == 0, result.stdout[-2000:]


def test_two_balancers_with_a_vip_and_a_leader_vip_pass(tmp_path):
    vips = {"pgha_vip": "10.0.0.150", "pgha_leader_vip": "10.0.0.151"}
    result = run_validate(tmp_path, inventory(balancers=2, extra_vars=vips))
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_consul_inventory_needs_no_etcd_group(tmp_path):
    # The production example on Consul has consul_servers and no etcd group.
    inv = inventory(extra_vars=CONSUL)
    children = inv["all"]["children"]
    children["consul_servers"] = children.pop("etcd")
    result = run_validate(tmp_path, inv)
    assert result.returncode == 0, result.stdout[-2000:]


BACKUP = {"pgbackrest_cipher_pass": "c" * 48}
MONITORING = {"monitoring_web_password": "p" * 32, "patroni_monitor_password": "e" * 32}


def test_a_monitoring_host_with_its_secrets_passes(tmp_path):
    result = run_validate(tmp_path, inventory(monitoring=["mon1"], extra_vars=MONITORING))
    assert result.returncode == 0, result.stdout[-2000:]


VIP_UNUSABLE = "pgha_vip (keepalived_vip) must be an unused IPv4 address"

ONE_REPOSITORY = "exactly one host in the backup group, not a database node"


@pytest.mark.parametrize(
    ("inv", "message"),
    [
        (inventory(etcd=2), "odd number of at least 3 hosts"),
        (inventory(etcd=4, postgres=4), "odd number of at least 3 hosts"),
        (inventory(postgres=0), "The postgres group is empty"),
        (inventory(balancers=0), "The balancers group is empty"),
        (inventory(drop_address="db2"), "Host db2 has no node_address"),
        (
            inventory(extra_vars={"patroni_ttl": 20, "patroni_loop_wait": 10, "patroni_retry_timeout": 10}),
            "loop_wait + 2 * retry_timeout <= ttl",
        ),
        (
            inventory(extra_vars={"patroni_synchronous_mode": False, "patroni_synchronous_mode_strict": True}),
            "Invalid synchronous settings",
        ),
        (
            inventory(postgres=1, extra_vars={"patroni_synchronous_mode_strict": True}),
            "Invalid synchronous settings",
        ),
        (inventory(extra_vars={"patroni_allowed_networks": ["0.0.0.0/0"]}), "patroni_allowed_networks must list"),
        (inventory(extra_vars={"patroni_allowed_networks": ["not-a-cidr"]}), "patroni_allowed_networks must list"),
        (inventory(extra_vars={"patroni_app_password": ""}), "patroni_app_password is missing, empty"),
        (inventory(drop_var="patroni_rewind_password"), "patroni_rewind_password is missing, empty"),
        (inventory(extra_vars={"aggregator_read_tokens": ["short"]}), "aggregator_read_tokens is missing, empty"),
        (inventory(drop_var="aggregator_write_tokens"), "aggregator_write_tokens is missing, empty"),
        (inventory(drop_var="haproxy_stats_password"), "haproxy_stats_password is missing, empty"),
        (inventory(extra_vars={"haproxy_allowed_networks": ["0.0.0.0/0"]}), "haproxy_allowed_networks (default"),
        (inventory(extra_vars={"haproxy_allowed_networks": []}), "haproxy_allowed_networks (default"),
        (inventory(extra_vars={"aggregator_db_sslmode": "require"}), "aggregator_db_sslmode is"),
        (inventory(extra_vars={"patroni_dcs": "zookeeper"}), 'patroni_dcs = "zookeeper": not one of the choices'),
        (inventory(drop_var="patroni_dcs"), "patroni_dcs must be etcd3 or consul, set in the inventory's"),
        (
            inventory(extra_vars={"patroni_failsafe_mode": True, "patroni_retry_timeout": 6}),
            "patroni_failsafe_mode asks every member before demoting",
        ),
        (
            inventory(extra_vars={**CONSUL, "consul_gossip_suspicion_mult": 4}),
            "consul_gossip_suspicion_mult (5 x 4 s)",
        ),
        (inventory(postgres=2, extra_vars=CONSUL), "The Consul servers"),
        (inventory(extra_vars={**CONSUL, "consul_acl_agent_token": ""}), "consul_acl_agent_token is missing"),
        (inventory(backup=["bk1", "bk2"], extra_vars=BACKUP), ONE_REPOSITORY),
        (inventory(backup=["db1"], extra_vars=BACKUP), ONE_REPOSITORY),
        (inventory(backup=["bk1"]), "pgbackrest_cipher_pass must be set to at least 20 characters"),
        (
            inventory(extra_vars={"pgha_leader_vip": "10.0.0.2"}),
            "pgha_leader_vip = 10.0.0.2 is the node_address of db2",
        ),
        (
            inventory(balancers=2, extra_vars={"pgha_vip": "10.0.0.150", "pgha_leader_vip": "10.0.0.150"}),
            "pgha_leader_vip and pgha_vip are both 10.0.0.150",
        ),
        (inventory(balancers=2), "but pgha_vip is not set"),
        (
            inventory(balancers=2, extra_vars={"pgha_vip": "10.0.0.101"}),
            "pgha_vip = 10.0.0.101 is the node_address of lb2",
        ),
        (inventory(balancers=2, extra_vars={"pgha_vip": "192.168.7.5"}), VIP_UNUSABLE),
        (
            inventory(balancers=2, extra_vars={"pgha_vip": "10.0.0.150", "keepalived_virtual_router_id": 300}),
            "keepalived_virtual_router_id = 300: out of range",
        ),
        (inventory(monitoring=["mon1", "mon2"], extra_vars=MONITORING), "group needs exactly one host"),
        (
            inventory(monitoring=["mon1"], extra_vars={**MONITORING, "monitoring_web_password": "short"}),
            "monitoring_web_password is empty or shorter than 16 characters",
        ),
        (
            inventory(monitoring=["mon1"], extra_vars=MONITORING, drop_var="patroni_monitor_password"),
            "patroni_monitor_password (the PostgreSQL exporter",
        ),
        (
            inventory(extra_vars={"pgha_failover_preset": "turbo"}),
            "pgha_failover_preset must be fast, balanced or safe",
        ),
        (
            inventory(extra_vars={"pgha_failover_preset": "safe", "aggregator_retry_deadline_seconds": 30}),
            "(35 + 10 s)",
        ),
        (
            inventory(extra_vars={"aggregator_ready_grace_seconds": 31}),
            "aggregator_ready_grace_seconds (31) must not exceed",
        ),
        (
            inventory(extra_vars={"pgha_failover_preset": "fast", "haproxy_check_rise": 2}),
            "haproxy_check_rise (2) must exceed haproxy_check_fall (2)",
        ),
        (
            inventory(extra_vars={**CONSUL, "pgha_failover_preset": "safe", "consul_gossip_suspicion_mult": 7}),
            "patroni_ttl (35 s): Consul",
        ),
        (inventory(extra_vars={"pgha_durability": "eventual"}), "pgha_durability must be async, sync, strict or"),
        (inventory(postgres=1, etcd=3, extra_vars={"pgha_durability": "quorum"}), "Invalid synchronous settings"),
    ],
    ids=[
        "two-etcd",
        "four-etcd",
        "no-postgres",
        "no-balancer",
        "missing-address",
        "timing-rule",
        "strict-without-sync",
        "strict-single-node",
        "world-open",
        "bad-cidr",
        "empty-secret",
        "missing-secret",
        "short-token",
        "missing-token",
        "no-stats-password",
        "balancer-world-open",
        "balancer-no-networks",
        "unverified-database-tls",
        "unknown-dcs",
        "dcs-not-set",
        "failsafe-without-margin",
        "consul-detects-failure-before-ttl",
        "two-consul-servers",
        "consul-empty-token",
        "two-backup-hosts",
        "backup-on-a-database-node",
        "no-repository-passphrase",
        "leader-vip-is-a-node-address",
        "leader-vip-equals-the-balancers-vip",
        "two-balancers-without-vip",
        "vip-is-a-balancer-address",
        "vip-outside-the-subnet",
        "vrrp-router-id-out-of-range",
        "two-monitoring-hosts",
        "short-monitoring-password",
        "no-exporter-password",
        "unknown-failover-preset",
        "retry-deadline-below-the-safe-presets-failover",
        "ready-grace-beyond-the-retry-deadline",
        "haproxy-rise-not-above-fall",
        "consul-detection-below-the-safe-presets-ttl",
        "unknown-durability-mode",
        "quorum-on-one-node",
    ],
)
def test_bad_inventory_fails_with_a_clear_message(tmp_path, inv, message):
    result = run_validate(tmp_path, inv)
    assert result.returncode != 0, f"expected validation to fail with '{message}', it passed"
    assert message in result.stdout, f"expected '{message}' in the output, found:\n{result.stdout[-2000:]}"


@pytest.mark.parametrize("preset", ["fast", "balanced", "safe"])
def test_every_failover_preset_passes_with_failsafe_mode_and_consul(tmp_path, preset):
    inv = inventory(extra_vars={**CONSUL, "pgha_failover_preset": preset, "patroni_failsafe_mode": True})
    result = run_validate(tmp_path, inv)
    assert result.returncode == 0, result.stdout[-2000:]


@pytest.mark.parametrize("mode", ["async", "sync", "strict", "quorum"])
def test_every_durability_mode_passes(tmp_path, mode):
    result = run_validate(tmp_path, inventory(extra_vars={"pgha_durability": mode}))
    assert result.returncode == 0, result.stdout[-2000:]


def test_unverified_database_tls_passes_when_acknowledged(tmp_path):
    inv = inventory(extra_vars={"aggregator_db_sslmode": "require", "pgha_allow_unverified_tls": True})
    result = run_validate(tmp_path, inv)
    assert result.returncode == 0, result.stdout[-2000:]


def test_the_patroni_role_refuses_to_start_without_its_secrets(tmp_path):
    """The role's argument spec fires on its own (a playbook without site.yml's
    validation play): no default may satisfy a required secret."""
    inv = inventory(drop_var="patroni_superuser_password")
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inv))
    play = [{"hosts": "db1", "gather_facts": False, "roles": ["patroni"]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "missing required arguments: patroni_superuser_password" in result.stdout, result.stdout[-2000:]


@pytest.mark.parametrize(("running", "wanted"), [("etcd3", "consul"), ("consul", "etcd3")])
def test_a_running_cluster_keeps_its_dcs(tmp_path, running, wanted):
    """A node whose Patroni runs on one DCS stops the play when the inventory names the
    other, and the file is left as it was."""
    config = tmp_path / "patroni" / "patroni.yml"
    config.parent.mkdir()
    config.write_text(f"scope: pgha\n{running}:\n  hosts: []\n")
    result = run_validate(tmp_path, inventory(extra_vars={**CONSUL, "patroni_dcs": wanted}), NODES_PLAYBOOK)
    assert result.returncode != 0, result.stdout[-2000:]
    assert f"runs Patroni on {running} but patroni_dcs is {wanted}" in result.stdout, result.stdout[-2000:]
    assert config.read_text() == f"scope: pgha\n{running}:\n  hosts: []\n"


def test_a_running_cluster_on_the_named_dcs_passes(tmp_path):
    config = tmp_path / "patroni" / "patroni.yml"
    config.parent.mkdir()
    config.write_text("scope: pgha\nconsul:\n  host: 127.0.0.1:8501\n")
    result = run_validate(tmp_path, inventory(extra_vars=CONSUL), NODES_PLAYBOOK)
    assert result.returncode == 0, result.stdout[-2000:]
