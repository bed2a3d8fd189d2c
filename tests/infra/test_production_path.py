"""The production path (molecule/consul): the scenario converged over SSH as the
unprivileged `deploy` user with sudo and a vault, and bad access stops site.yml at its
first task on the nodes, naming the host and the cause, before anything changes."""

import re

import pytest
from lab import node, run_playbook

# A real inventory has no lab provisioning: without it, the provision play leaves the
# containers' SSH and sudo as the test broke them.
NO_LAB_SSH = ("-e", "lab_ssh_user=")
# Fresh SSH connections, so a multiplexed master from an earlier run cannot hide a
# stopped sshd.
NO_MULTIPLEXING = {"ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o ControlPath=none"}


def output_of(run):
    return re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)


def assert_nothing_changed(text):
    changed = [line for line in text.splitlines() if line.startswith("changed:")]
    assert not changed, f"expected the run to stop before changing anything, found {changed}"
    recaps = re.findall(r"^(\S+)\s*: ok=\d+\s+changed=(\d+)", text, flags=re.MULTILINE)
    assert all(count == "0" for _, count in recaps), recaps


def test_the_nodes_were_configured_over_ssh_as_deploy_with_sudo():
    pg1 = node("pg1")
    assert pg1.service("ssh").is_running
    assert pg1.user("deploy").uid != 0
    log = pg1.check_output("journalctl -u ssh --no-pager")
    assert "Accepted publickey for deploy" in log, log[-2000:]
    assert "Accepted publickey for root" not in log and "Accepted password" not in log
    sudo_log = pg1.check_output("journalctl _COMM=sudo --no-pager")
    assert "deploy : PWD=" in sudo_log and "USER=root" in sudo_log, sudo_log[-2000:]


def test_a_vault_that_cannot_be_decrypted_stops_the_run(tmp_path):
    wrong = tmp_path / "wrong-vault-password"
    wrong.write_text("not-the-password\n")
    run = run_playbook("site.yml", ANSIBLE_VAULT_PASSWORD_FILE=str(wrong))
    text = output_of(run)
    assert run.returncode != 0, text[-3000:]
    cause = r"Decryption failed.*vault\.yml|vault\.yml.*Decryption failed"
    assert re.search(cause, text, flags=re.DOTALL), text[-3000:]
    assert_nothing_changed(text)


# Each way in that can break: the command that breaks it on one node, the command that
# repairs it, and what the run must print.
ACCESS_FAULTS = {
    "sshd-stopped": (
        "pg2",
        "systemctl stop ssh.service ssh.socket",
        "systemctl start ssh.service",
        ["[pg2]: UNREACHABLE!", "Connection refused", "Unreachable: pg2 ("],
    ),
    "no-sudo": (
        "pg3",
        "mv /etc/sudoers.d/deploy /root/deploy.sudoers",
        "mv /root/deploy.sudoers /etc/sudoers.d/deploy",
        ["pg3: connected as deploy but could not become root (", "sudo"],
    ),
}


@pytest.mark.parametrize("fault", list(ACCESS_FAULTS))
def test_broken_access_stops_the_run_at_the_first_task_naming_the_host(fault):
    host, breaks, repairs, expected = ACCESS_FAULTS[fault]
    node(host).check_output(breaks)
    try:
        run = run_playbook("site.yml", *NO_LAB_SSH, **NO_MULTIPLEXING)
    finally:
        node(host).check_output(repairs)
    text = output_of(run)
    assert run.returncode != 0, text[-3000:]
    missing = [phrase for phrase in expected if phrase not in text]
    assert not missing, f"expected {missing} in the output: {text[-3000:]}"
    if fault == "sshd-stopped":
        assert "could not become root" not in text, text[-3000:]  # no host blamed for another's fault
    # Stopped at the connection check: no later play ran, nothing changed.
    assert "Refuse to move a running cluster" not in text, text[-3000:]
    assert_nothing_changed(text)
