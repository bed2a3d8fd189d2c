"""inventory/lab-consul is inventory/lab with its own settings winning over the lab's."""

import pathlib

import yaml
from inventory_vars import host_vars

LAB_CONSUL = pathlib.Path(__file__).resolve().parents[2] / "inventory" / "lab-consul"


def test_the_consul_labs_overrides_win_over_the_labs_settings():
    # The lab's own file sets patroni_dcs: etcd3 too; read after this inventory's
    # settings it turned `make lab-consul` into an etcd lab without a word.
    pg1 = host_vars(LAB_CONSUL, "pg1")
    own = {}  # this inventory's own files, not the links to the lab's
    for path in sorted((LAB_CONSUL / "group_vars" / "all").iterdir()):
        if not path.is_symlink():
            own.update(yaml.safe_load(path.read_text()))
    assert own["patroni_dcs"] == "consul"
    assert {name: pg1.get(name) for name in own} == own
