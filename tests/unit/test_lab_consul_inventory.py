"""inventory/lab-consul is inventory/lab with its own settings winning over the lab's."""

import json
import os
import pathlib
import subprocess

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB_CONSUL = REPO / "inventory" / "lab-consul"


def test_the_consul_labs_overrides_win_over_the_labs_settings():
    # The lab's own file sets patroni_dcs: etcd3 too; read after this inventory's
    # settings it turned `make lab-consul` into an etcd lab without a word.
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    out = subprocess.run(
        ["ansible-inventory", "-i", str(LAB_CONSUL), "--host", "pg1"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    pg1 = json.loads(out)
    own = {}  # this inventory's own files, not the links to the lab's
    for path in sorted((LAB_CONSUL / "group_vars" / "all").iterdir()):
        if not path.is_symlink():
            own.update(yaml.safe_load(path.read_text()))
    assert own["patroni_dcs"] == "consul"
    assert {name: pg1.get(name) for name in own} == own
