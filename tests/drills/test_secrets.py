"""The drills and tests read secrets as Ansible renders them: a lab inventory's
generated files and a production inventory's vault give what the roles receive."""

import pathlib
import shutil
import subprocess
import uuid

import pytest

from drills.secrets import rendered_secrets, secret

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_a_derived_secret_is_rendered_as_the_inventory_derives_it(tmp_path):
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    node1:\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(
        "consul_acl_patroni_token: \"{{ 's3cret-Value-42' | to_uuid }}\"\npatroni_superuser_password: plain\n"
    )
    # Ansible's to_uuid is a UUID5 in its own namespace: the value Patroni gets.
    expected = uuid.uuid5(uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E"), "s3cret-Value-42")
    assert secret(tmp_path, "consul_acl_patroni") == str(expected)
    assert secret(tmp_path, "postgres_superuser") == "plain"
    with pytest.raises(KeyError, match="patroni_restapi_password"):
        secret(tmp_path, "patroni_restapi")


def test_a_vault_is_decrypted_with_the_password_file_and_refused_without(tmp_path, monkeypatch):
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    node1:\n")
    (inventory / "group_vars" / "all" / "main.yml").write_text(
        'patroni_superuser_password: "{{ vault_patroni_superuser_password }}"\n'
    )
    password = tmp_path / "vault-password"
    password.write_text("correct horse\n")
    vault = inventory / "group_vars" / "all" / "vault.yml"
    vault.write_text("vault_patroni_superuser_password: from-the-vault\n")
    subprocess.run(
        [shutil.which("ansible-vault"), "encrypt", "--vault-password-file", str(password), str(vault)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert b"from-the-vault" not in vault.read_bytes()

    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    rendered_secrets.cache_clear()
    assert secret(inventory, "postgres_superuser") == "from-the-vault"

    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE")
    rendered_secrets.cache_clear()
    with pytest.raises(RuntimeError, match="(?i)vault"):
        secret(inventory, "postgres_superuser")
    rendered_secrets.cache_clear()
