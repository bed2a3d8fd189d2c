"""validate.yml, the main job's first play, refuses every variable a role's
meta/argument_specs.yml does not allow, with the variable, the value and what is
allowed in its message, before any host is touched; and the address, port and group
mistakes no single role sees.

The type, choice and range cases are generated from every role's argument specs: one
inventory carries a wrong value for every variable at once, and the message must name
each one. The hand-written cases are the mistakes that once passed validation.
"""

import os
import pathlib
import subprocess

import pytest
import yaml
from test_inventory_validation import inventory, run_validate

REPO = pathlib.Path(__file__).resolve().parents[2]
RULES = yaml.safe_load((REPO / "playbooks" / "vars" / "inventory_rules.yml").read_text())
# A value of the wrong type for each spec type (str and path take any scalar).
WRONG = {
    "int": "not-a-number",
    "float": "not-a-number",
    "bool": "maybe",
    "dict": "not-a-dict",
    "list": {"not": "a list"},
    "str": {"not": "a string"},
    "path": {"not": "a path"},
}


def specs():
    """{variable: option} of every role's main argument spec."""
    found = {}
    for path in sorted((REPO / "roles").glob("*/meta/argument_specs.yml")):
        found.update(yaml.safe_load(path.read_text())["argument_specs"]["main"].get("options") or {})
    return found


def wrong_types():
    return {
        name: WRONG[option.get("type", "str")] for name, option in specs().items() if option.get("type", "str") in WRONG
    }


def outside_choices():
    return {name: "not-a-choice" for name, option in specs().items() if option.get("choices")}


def outside_ranges():
    ranged = dict(RULES["pgha_variable_ranges"])
    ranged.update(
        {name: [1, 65535] for name, o in specs().items() if name.endswith("_port") and o.get("type") == "int"}
    )
    return {name: low - 1 for name, (low, _high) in ranged.items()}


def refused(tmp_path, extra, playbook="site.yml", **shape):
    result = run_validate(tmp_path, inventory(extra_vars=extra, **shape), playbook)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-3000:]
    # Only the validation play ran: no host was provisioned or changed.
    assert output.count("PLAY [") == 1 and "PLAY [Validate the inventory]" in output, output[-3000:]
    return output


@pytest.mark.parametrize(
    "values", [wrong_types(), outside_choices(), outside_ranges()], ids=["type", "choice", "range"]
)
def test_every_variable_a_spec_does_not_allow_is_named(tmp_path, values):
    assert len(values) > 5, "the specs gave too few cases: the generator is broken"
    output = refused(tmp_path, values, playbook="playbooks/validate.yml")
    missing = sorted(name for name in values if f"{name} = " not in output)
    assert not missing, f"not named: {missing}\n{output[-3000:]}"


@pytest.mark.parametrize(
    ("extra", "shape", "message"),
    [
        ({"pgha_vip": "10.0.0.1"}, {}, "pgha_vip = 10.0.0.1 is the node_address of db1"),
        (
            {"patroni_synchronous_mode": "maybe"},
            {},
            "patroni_synchronous_mode must be true, false or quorum (pgha_durability: async, sync, strict or quorum",
        ),
        (
            {"patroni_restapi_port": 5432},
            {},
            "patroni_postgres_port and patroni_restapi_port are all 5432: two services cannot listen on one port",
        ),
        (
            {"aggregator_workers": "zero"},
            {},
            'aggregator_workers = "zero": wrong type; role aggregator allows an int, from 1 to 64',
        ),
        (
            {"aggregator_workers": 0},
            {},
            "aggregator_workers = 0: out of range; role aggregator allows an int, from 1 to 64",
        ),
        (
            {"pgha_vip": "10.0.0.150", "pgha_leader_vip": "10.0.0.150"},
            {"balancers": 2},
            "pgha_leader_vip and pgha_vip are both 10.0.0.150",
        ),
    ],
    ids=["vip-is-a-node", "sync-mode-maybe", "restapi-on-postgres-port", "workers-zero-word", "workers-0", "same-vips"],
)
def test_a_mistake_is_refused_before_any_host_is_touched(tmp_path, extra, shape, message):
    assert message in refused(tmp_path, extra, **shape)


def test_two_hosts_with_one_address_are_refused(tmp_path):
    inv = inventory()
    inv["all"]["hosts"]["db2"]["node_address"] = "10.0.0.1"
    result = run_validate(tmp_path, inv)
    output = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "node_address 10.0.0.1 is given to db1 and db2" in output, output[-3000:]


def test_a_host_no_play_deploys_to_is_refused(tmp_path):
    inv = inventory()
    inv["all"]["hosts"]["stray"] = {"node_address": "10.0.0.77"}
    result = run_validate(tmp_path, inv)
    output = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "stray is in no group that a play deploys" in output, output[-3000:]


def test_a_secret_is_never_shown(tmp_path):
    output = refused(tmp_path, {"patroni_superuser_password": ["hunter2-hunter2"]}, playbook="playbooks/validate.yml")
    assert "patroni_superuser_password = (a secret, not shown): wrong type" in output
    assert "hunter2" not in output


@pytest.mark.parametrize("name", ["lab", "lab-consul"])
def test_the_lab_inventories_pass(tmp_path, name):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PGHA_SECRETS_DIR=str(tmp_path / "secrets"))
    result = subprocess.run(
        ["ansible-playbook", "-i", f"inventory/{name}", "playbooks/validate.yml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
