from lab import DCS

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


def pytest_collection_modifyitems(config, items):
    # A hook, not collect_ignore: molecule passes every test file by name.
    deselected = [item for item in items if not runs_here(item.path.name)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if runs_here(item.path.name)]
