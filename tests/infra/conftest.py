import os

from lab import DCS

# Tests marked `long` (a whole converge, a whole restore) stay out of CI's hour; on a
# running `make lab`, `make test-long` runs them (PGHA_LONG_TESTS=1).
LONG_TESTS = os.environ.get("PGHA_LONG_TESTS") == "1"

# The default scenario (the lab path: container connection, etcd) runs every check but
# the production path's. molecule/consul (inventory/lab-production: SSH, become, Vault, Consul)
# runs Consul's checks, the replication and aggregator checks, the network and socket
# checks, the production path's refusals and its drills.
PRODUCTION_PATH = {"test_consul.py", "test_production_path.py"}
PRODUCTION_SCENARIO = PRODUCTION_PATH | {
    "test_patroni.py",
    "test_aggregator.py",
    "test_network_security.py",
    "test_zz_drills.py",
    "test_leader_vip.py",
}


def runs_here(module):
    if DCS == "consul":
        return module in PRODUCTION_SCENARIO
    return module not in PRODUCTION_PATH


def pytest_configure(config):
    config.addinivalue_line("markers", "long: minutes long; only with PGHA_LONG_TESTS=1 (make test-long)")


def selected(item):
    return runs_here(item.path.name) and (LONG_TESTS or item.get_closest_marker("long") is None)


def pytest_collection_modifyitems(config, items):
    # A hook, not collect_ignore: molecule passes every test file by name.
    deselected = [item for item in items if not selected(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if selected(item)]
