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
if os.environ.get("PGHA_DCS", "etcd3") == "consul":
    collect_ignore = [p.name for p in HERE.glob("test_*.py") if p.name not in CONSUL_SCENARIO]
else:
    collect_ignore = ["test_consul.py"]
