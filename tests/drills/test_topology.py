"""The settings the drills read are the ones the roles deploy: the inventory's value,
else the role's default, rendered under the failover preset in force."""

import pytest

from drills.topology import Topology

HOSTS = """\
all:
  children:
    postgres:
      hosts:
        db1: {node_address: 10.0.0.1}
    balancers:
      hosts:
        lb1: {node_address: 10.0.0.2}
    aggregator:
      hosts:
        lb1:
"""


@pytest.fixture
def inventory(tmp_path):
    (tmp_path / "hosts.yml").write_text(HOSTS)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("patroni_dcs: etcd3\npgha_failover_preset: safe\n")
    (tmp_path / "group_vars" / "balancers.yml").write_text("haproxy_check_rise: 5\n")
    return tmp_path / "hosts.yml"


def test_the_inventorys_preset_sets_what_it_does_not_set_itself(inventory):
    topology = Topology.from_inventory(inventory)
    assert (topology.setting("patroni_ttl"), topology.setting("patroni_loop_wait")) == ("35", "10")
    assert topology.setting("haproxy_check_interval") == "1s"
    assert int(topology.setting("haproxy_check_rise")) == 5
    assert topology.extra_vars == {}


def test_an_extra_preset_wins_over_the_inventorys_and_goes_to_every_playbook(inventory):
    topology = Topology.from_inventory(inventory, {"pgha_failover_preset": "fast"})
    assert (topology.setting("patroni_ttl"), topology.setting("patroni_loop_wait")) == ("20", "2")
    assert (topology.setting("haproxy_check_interval"), topology.setting("keepalived_advert_int")) == ("250ms", "0.5")
    assert int(topology.setting("haproxy_check_rise")) == 5
    assert topology.extra_vars == {"pgha_failover_preset": "fast"}
