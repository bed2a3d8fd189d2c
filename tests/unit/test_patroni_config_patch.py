"""The patroni role's filter that computes the PATCH /config body."""

import importlib.util
import pathlib

PATH = pathlib.Path(__file__).resolve().parents[2] / "roles" / "patroni" / "filter_plugins" / "patroni_config.py"
spec = importlib.util.spec_from_file_location("patroni_config", PATH)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
patch = module.patroni_config_patch

KEY = "pgha_managed_parameters"


def desired(**parameters):
    return {"ttl": 20, "synchronous_mode": True, "postgresql": {"parameters": parameters}, KEY: sorted(parameters)}


def test_nothing_to_do_when_the_values_match_as_patroni_compares_them():
    # Patroni itself treats "20" and 20 as one value: no change, no PATCH (idempotence).
    current = {"ttl": "20", "synchronous_mode": True, "postgresql": {"parameters": {"a": "1"}}, KEY: ["a"]}
    assert patch(current, desired(a=1), KEY) == {}


def test_only_what_differs_is_sent():
    current = {"ttl": 20, "synchronous_mode": False, "postgresql": {"parameters": {"a": "1"}}, KEY: ["a"]}
    assert patch(current, desired(a="2"), KEY) == {"synchronous_mode": True, "postgresql": {"parameters": {"a": "2"}}}


def test_a_parameter_the_inventory_dropped_is_reset():
    current = {"ttl": 20, "synchronous_mode": True, "postgresql": {"parameters": {"a": "1", "b": "2"}}, KEY: ["a", "b"]}
    assert patch(current, desired(a="1"), KEY) == {"postgresql": {"parameters": {"b": None}}, KEY: ["a"]}


def test_a_parameter_set_by_hand_is_left_alone():
    current = {"ttl": 20, "synchronous_mode": True, "postgresql": {"parameters": {"a": "1", "hand": "x"}}, KEY: ["a"]}
    assert patch(current, desired(a="1"), KEY) == {}


def test_a_cluster_without_the_record_only_gets_it():
    current = {"ttl": 20, "synchronous_mode": True, "postgresql": {"parameters": {"a": "1", "b": "2"}}}
    assert patch(current, desired(a="1"), KEY) == {KEY: ["a"]}
