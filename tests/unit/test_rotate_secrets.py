"""playbooks/rotate_secrets.yml refuses, in its first play on the controller, a rotation
it cannot do: unknown names, nothing named, and secrets from the vault that the
operator has not replaced yet (it names their variables). No host is reached."""

import pytest
from test_inventory_validation import inventory, run_validate

ROTATE = "playbooks/rotate_secrets.yml"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rotate": "postgres_replication,nope"}, "Unknown secret(s): nope."),
        ({}, "Name the secrets to rotate."),
        ({"rotate": " , "}, "Name the secrets to rotate."),
        (
            {"rotate": "postgres_replication,haproxy_stats"},
            "These secrets come from the inventory (Ansible Vault), not from generated files: "
            "haproxy_stats_password, patroni_replication_password.",
        ),
    ],
    ids=["unknown", "none", "blank", "vault-not-replaced"],
)
def test_rotate_secrets_refuses(tmp_path, extra, message):
    inv = inventory()
    inv["all"]["vars"].update(extra)
    result = run_validate(tmp_path, inv, ROTATE)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert message in " ".join(output.split()), output[-2000:]
    assert output.count("PLAY [") == 1, output[-2000:]
