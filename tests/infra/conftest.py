import os
import pathlib
import sys

# The helpers module sits next to the tests and the drill runner at the repository
# root; molecule runs pytest from the scenario directory.
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

# The default scenario (etcd) runs every check but Consul's. The Consul scenario runs
# what depends on the DCS: Consul's checks, the replication checks, the network and
# socket checks, and its drills; the rest is the same code on the same lab.
CONSUL_SCENARIO = {"test_consul.py", "test_patroni.py", "test_network_security.py", "test_zz_drills.py"}


def runs_here(module):
    if os.environ.get("PGHA_DCS", "etcd3") == "consul":
        return module in CONSUL_SCENARIO
    return module != "test_consul.py"


def pytest_collection_modifyitems(config, items):
    # A hook, not collect_ignore: molecule passes every test file by name.
    deselected = [item for item in items if not runs_here(item.path.name)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if runs_here(item.path.name)]
