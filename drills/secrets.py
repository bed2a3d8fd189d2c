"""The deployment's secrets as Ansible renders them from the inventory: the generated
files of the lab and an Ansible Vault in production give the same answer, so drills and
tests never re-implement how an inventory derives a secret (set
ANSIBLE_VAULT_PASSWORD_FILE for an inventory with a vault)."""

import functools
import json
import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[1]

# Name the drills and tests use -> the inventory variable holding it.
VARIABLES = {
    "postgres_superuser": "patroni_superuser_password",
    "postgres_replication": "patroni_replication_password",
    "postgres_app": "patroni_app_password",
    "postgres_rewind": "patroni_rewind_password",
    "postgres_monitor": "patroni_monitor_password",
    "patroni_restapi": "patroni_restapi_password",
    "haproxy_stats": "haproxy_stats_password",
    "aggregator_write_token": "aggregator_write_tokens[0]",
    "aggregator_read_token": "aggregator_read_tokens[0]",
    "aggregator_metrics_token": "aggregator_metrics_tokens[0]",
    "monitoring_web": "monitoring_web_password",
    "consul_acl_master": "consul_acl_master_token",
    "consul_acl_patroni": "consul_acl_patroni_token",
}


def ansible_env():
    """The environment of every ansible call: the project's configuration, plain output."""
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")


def extra_vars_argv(extra_vars):
    """`-e name=value` for each of `extra_vars` (as ansible and ansible-playbook take them)."""
    return [arg for name, value in (extra_vars or {}).items() for arg in ("-e", f"{name}={value}")]


def rendered(inventory, hosts, expression, extra_vars=None):
    """{host: value} of a Jinja expression as Ansible renders it for each host (one
    ansible call; its output is captured, never printed, as it may hold secrets).
    `inventory`: one source, or a list of them."""
    sources = inventory if isinstance(inventory, (list, tuple)) else [inventory]
    argv = [
        "ansible",
        *(arg for source in sources for arg in ("-i", str(source))),
        ",".join(hosts),
        *extra_vars_argv(extra_vars),
        "-m",
        "ansible.builtin.debug",
    ]
    run = subprocess.run(
        [*argv, "-a", f"msg={{{{ {expression} }}}}"],
        capture_output=True,
        text=True,
        env=dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1"),
    )
    if run.returncode != 0:
        # Ansible's error names the cause (a vault it cannot decrypt, a missing file);
        # its stdout may hold rendered values, so only stderr is shown.
        raise RuntimeError(f"cannot render {inventory}: {run.stderr.strip()[-2000:]}")
    results = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"]
    return {host: result["msg"] for host, result in results.items()}


@functools.cache
def rendered_secrets(inventory):
    """Every secret of VARIABLES for the inventory (an undefined one is absent)."""
    fields = ", ".join(f"{name!r}: {variable} | default(none)" for name, variable in VARIABLES.items())
    result = rendered(inventory, ["localhost"], f"{{{fields}}}")["localhost"]
    return {name: value for name, value in result.items() if value is not None}


def forget():
    """Read the secrets from the inventory again at the next call (they were rotated)."""
    rendered_secrets.cache_clear()


def secret(inventory, name):
    try:
        return rendered_secrets(str(inventory))[name]
    except KeyError:
        raise KeyError(f"{name} ({VARIABLES.get(name, 'unknown')}) is not defined in {inventory}") from None
