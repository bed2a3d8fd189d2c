"""role_default (playbooks/filter_plugins/role_defaults.py): a role variable as a host
gets it without running the role, the failover preset included."""

import importlib.util
import pathlib

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("role_defaults", REPO / "playbooks/filter_plugins/role_defaults.py")
role_defaults = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(role_defaults)
role_default = role_defaults.role_default

PRESETS = yaml.safe_load((REPO / "roles/patroni/defaults/main.yml").read_text())["patroni_failover_presets"]


def test_a_plain_default_is_returned_as_written():
    assert role_default("haproxy_primary_port") == 5000


@pytest.mark.parametrize("preset", ["fast", "balanced", "safe"])
def test_the_timings_follow_the_inventorys_preset(preset):
    known = {"pgha_failover_preset": preset}
    assert int(role_default("patroni_ttl", known)) == PRESETS[preset]["ttl"]
    assert int(role_default("patroni_loop_wait", known)) == PRESETS[preset]["loop_wait"]


def test_without_a_preset_the_timings_are_balanced():
    assert int(role_default("patroni_ttl")) == PRESETS["balanced"]["ttl"]
    assert role_default("haproxy_check_interval") == "500ms"


def test_a_value_the_inventory_sets_wins_over_the_preset():
    known = {"pgha_failover_preset": "safe", "patroni_loop_wait": 7}
    assert role_default("patroni_loop_wait", known) == 7
    assert int(role_default("patroni_ttl", known)) == PRESETS["safe"]["ttl"]


def test_one_role_may_follow_another_preset():
    known = {"pgha_failover_preset": "safe", "haproxy_failover_preset": "fast"}
    assert role_default("haproxy_check_interval", known) == "250ms"
    assert int(role_default("patroni_ttl", known)) == PRESETS["safe"]["ttl"]


def test_a_name_no_role_defines_is_refused():
    with pytest.raises(KeyError, match="patroni_no_such_setting"):
        role_default("patroni_no_such_setting")
