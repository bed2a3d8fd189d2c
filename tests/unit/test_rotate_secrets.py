"""playbooks/rotate_secrets.yml refuses, in its first play on the controller, a rotation
it cannot do: unknown names, nothing named, and secrets from the vault that the
operator has not replaced yet (it names their variables). No host is reached."""

import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from test_inventory_validation import inventory, run_validate
from test_node_playbooks import refused

ROTATE = "playbooks/rotate_secrets.yml"
REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rotate": "postgres_replication,nope"}, "Unknown secret(s): nope."),
        ({}, "Name the secrets to rotate."),
        ({"rotate": " , "}, "Name the secrets to rotate."),
        (
            {"rotate": "postgres_replication,haproxy_stats"},
            "These secrets come from the inventory (Ansible Vault), not from generated files: "
            "patroni_replication_password, haproxy_stats_password.",
        ),
    ],
    ids=["unknown", "none", "blank", "vault-not-replaced"],
)
def test_rotate_secrets_refuses(tmp_path, extra, message):
    inv = inventory()
    inv["all"]["vars"].update(extra)
    refused(run_validate(tmp_path, inv, ROTATE), message)


def rotate(tmp_path, secrets, *extra):
    """The playbook with generated secrets, limited to the controller: its own plays run
    (generate, forget, report); the plays on hosts have none to run on."""
    inv = {"all": {"vars": {"pgha_secrets_dir": str(secrets)}, "hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}  # fmt: skip
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inv))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    run = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), "-l", "localhost", ROTATE, *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    return {f.name: f.read_text().strip() for f in secrets.iterdir()}


def test_generated_secrets_get_new_values_and_only_tokens_keep_the_old_one(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("haproxy_stats", "postgres_app", "aggregator_write_token"):
        (secrets / name).write_text(f"old-{name}\n")
    found = rotate(tmp_path, secrets, "-e", "rotate=haproxy_stats,postgres_app,aggregator_write_token")
    token, previous = "aggregator_write_token", "aggregator_write_token.previous"
    assert sorted(found) == [token, previous, "haproxy_stats", "postgres_app"]
    assert found["aggregator_write_token.previous"] == "old-aggregator_write_token"
    assert all(not value.startswith("old-") and len(value) >= 32 for name, value in found.items() if "." not in name)
    # An interrupted rotation resumes: an existing .previous keeps its value and the new one.
    again = rotate(tmp_path, secrets, "-e", "rotate=aggregator_write_token")
    assert again["aggregator_write_token"] == found["aggregator_write_token"]
    assert again["aggregator_write_token.previous"] == "old-aggregator_write_token"
    finished = rotate(tmp_path, secrets, "-e", "rotate_finish=true")
    assert "aggregator_write_token.previous" not in finished
    assert finished["aggregator_write_token"] == found["aggregator_write_token"]
