"""inventory/lab-production, which molecule/consul converges, is
inventory/production.example with lab names and addresses: the same groups, connection
user, become, group_vars file and vault keys, and only the documented overrides."""

import base64
import json
import os
import pathlib
import shutil
import subprocess
import uuid

import yaml
from inventory_vars import host_vars

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventory" / "production.example"
LAB = REPO / "inventory" / "lab-production"
# Example host -> the lab container standing in for it.
LAB_NAME = {
    "db1.example.internal": "pg1",
    "db2.example.internal": "pg2",
    "db3.example.internal": "pg3",
    "lb1.example.internal": "app1",
}
# What the lab may set besides names and addresses (PostgreSQL source, lab network,
# where the lab keeps its generated files and SSH key, and the leader VIP the example
# shows commented: the production path is where the leader VIP variant runs).
ALLOWED_OVERRIDES = {
    "pgha_leader_vip",
    "postgresql_use_pgdg",
    "postgresql_version",
    "patroni_allowed_networks",
    "pgha_secrets_dir",
    "lab_ssh_user",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
}


def load(path):
    return yaml.safe_load(path.read_text())


def groups(inventory):
    children = inventory["all"]["children"]
    return {name: sorted(group.get("hosts") or {}) for name, group in children.items()}


def test_the_same_groups_connection_user_and_become():
    example, lab = load(EXAMPLE / "hosts.yml"), load(LAB / "hosts.yml")
    assert lab["all"]["vars"] == example["all"]["vars"]
    lab_groups = groups(lab)
    del lab_groups["lab_containers"]  # which containers to create; no role reads it
    assert lab_groups == {name: sorted(LAB_NAME[h] for h in hosts) for name, hosts in groups(example).items()}


def test_the_examples_own_group_vars_and_controller_settings():
    assert (LAB / "group_vars" / "all" / "main.yml").resolve() == EXAMPLE / "group_vars" / "all" / "main.yml"
    assert (LAB / "host_vars" / "localhost.yml").resolve() == EXAMPLE / "host_vars" / "localhost.yml"
    overrides = load(LAB / "group_vars" / "all" / "overrides.yml")
    assert set(overrides) <= ALLOWED_OVERRIDES, set(overrides) - ALLOWED_OVERRIDES


def test_the_overrides_win_over_the_example(tmp_path):
    copy = tmp_path / "inventory"
    shutil.copytree(LAB, copy, ignore=shutil.ignore_patterns("vault.yml", ".secrets"))
    pg1 = host_vars(copy, "pg1")
    overrides = load(LAB / "group_vars" / "all" / "overrides.yml")
    assert pg1["patroni_allowed_networks"] == overrides["patroni_allowed_networks"]
    assert pg1["postgresql_use_pgdg"] is False and pg1["patroni_dcs"] == "consul"


def test_host_vars_differ_only_in_addresses():
    for example_host, lab_host in LAB_NAME.items():
        example = load(EXAMPLE / "host_vars" / f"{example_host}.yml")
        lab = load(LAB / "host_vars" / f"{lab_host}.yml")
        assert set(lab) - {"lab_ipv4_address"} == set(example), lab_host
        assert lab["ansible_host"] == lab["node_address"] == lab["lab_ipv4_address"]


def test_the_scenario_vault_has_every_key_of_the_example_with_usable_values(tmp_path):
    template = REPO / "molecule" / "consul" / "vault.yml.j2"
    example_file = EXAMPLE / "group_vars" / "all" / "vault.yml.example"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1")  # fmt: skip
    run = subprocess.run(
        ["ansible", "localhost", "-m", "ansible.builtin.debug", "-e", f"vault_example={example_file}",
         "-a", f"msg={{{{ lookup('ansible.builtin.template', '{template}') | from_yaml }}}}"],
        capture_output=True, text=True, check=True, env=env, cwd=REPO,
    )  # fmt: skip
    vault = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    example = load(example_file)
    assert set(vault) == set(example)
    for key, value in vault.items():
        if isinstance(example[key], list):
            assert len(value) == 1 and len(value[0]) >= 32, key
        elif key == "vault_consul_gossip_key":
            assert len(base64.b64decode(value)) == 32
        elif key.startswith("vault_consul_") and key.endswith("_token"):
            assert str(uuid.UUID(value)) == value
        else:
            assert len(value) >= 32 and "change-me" not in value, key
    assert len(set(map(str, vault.values()))) == len(vault), "every secret is generated on its own"
