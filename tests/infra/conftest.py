import os
import pathlib
import sys

# The helpers module sits next to the tests and the drill runner at the repository
# root; molecule runs pytest from the scenario directory.
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

# The default scenario (the lab path: container connection, etcd) runs every check but
# the production path's. molecule/consul (PGHA_DCS=consul: SSH, become, Vault, Consul)
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
    if os.environ.get("PGHA_DCS", "etcd3") == "consul":
        return module in PRODUCTION_SCENARIO
    return module not in PRODUCTION_PATH


def pytest_collection_modifyitems(config, items):
    # A hook, not collect_ignore: molecule passes every test file by name.
    deselected = [item for item in items if not runs_here(item.path.name)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if runs_here(item.path.name)]
