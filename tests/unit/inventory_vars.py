"""A host's variables as Ansible resolves them from an inventory (group_vars files in
Ansible's own order), with the repository's ansible.cfg."""

import json
import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]


def host_vars(inventory, host):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    out = subprocess.run(
        ["ansible-inventory", "-i", str(inventory), "--host", host], capture_output=True, text=True, check=True, env=env
    ).stdout
    return json.loads(out)
