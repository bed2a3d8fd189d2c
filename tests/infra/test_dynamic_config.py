"""Patroni's dynamic configuration follows the inventory, removals included."""

import json

import yaml
from lab import BALANCER_HOST, INVENTORY, PRIMARY_PORT, query, run_playbook


def apply_config(tmp_path, parameters=None):
    args = []
    if parameters is not None:
        extra = tmp_path / "extra.json"
        extra.write_text(json.dumps({"patroni_postgresql_parameters": parameters}))
        args = ["-e", f"@{extra}"]
    run = run_playbook("playbooks/postgres_config.yml", *args, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def setting(name):
    return query(BALANCER_HOST, PRIMARY_PORT, "SELECT setting FROM pg_settings WHERE name = %s", (name,))[0][0]


def test_a_parameter_removed_from_the_inventory_is_reset(tmp_path):
    group_vars = yaml.safe_load((INVENTORY / "group_vars" / "all.yml").read_text())
    inventory_parameters = group_vars["patroni_postgresql_parameters"]
    assert "log_min_duration_statement" not in inventory_parameters
    assert setting("log_min_duration_statement") == "-1"

    apply_config(tmp_path, {**inventory_parameters, "log_min_duration_statement": 250})
    assert setting("log_min_duration_statement") == "250"

    apply_config(tmp_path)  # the inventory as it is: without the parameter
    assert setting("log_min_duration_statement") == "-1"
