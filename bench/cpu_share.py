"""CPU time of the lab's services, read from the host's cgroup tree.

Every lab container runs systemd, and its services sit in their own cgroups under the
container's (`<container>/system.slice/<unit>.service` in the cgroup v2 tree; on a
hybrid host such as this one, its `unified` mount), so the host sees what each of
PostgreSQL (under patroni.service), HAProxy, the aggregator, etcd and the monitoring
spent, on every node, without anything running inside the containers. The same cgroups'
CPU pressure says how long their tasks were ready to run but waited for a core.
"""

import os
import pathlib

# cgroup v2: the whole tree, or (hybrid hosts, v1 controllers) its `unified` mount.
CGROUP_ROOT = next(
    p for p in (pathlib.Path("/sys/fs/cgroup/unified"), pathlib.Path("/sys/fs/cgroup")) if (p / "cgroup.procs").exists()
)


def usage_seconds(cgroup):
    """A cgroup's CPU time (user + system) so far, in seconds."""
    for line in (cgroup / "cpu.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    raise RuntimeError(f"no usage_usec in {cgroup}/cpu.stat")


def waiting_seconds(cgroup):
    """How long some task of the cgroup was ready to run but had no core, so far (its
    CPU pressure's `some` total), in seconds."""
    some = (cgroup / "cpu.pressure").read_text().splitlines()[0]
    return int(some.rpartition("total=")[2]) / 1e6


def container_cgroup(cluster, name):
    """The host's cgroup directory of a running lab container (from its init's /proc entry)."""
    pid = cluster.docker("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    # The v2 line, "0::/docker/<id>/init.scope" (systemd's own leaf in the container).
    line = next(x for x in pathlib.Path(f"/proc/{pid}/cgroup").read_text().splitlines() if x.startswith("0::"))
    path = CGROUP_ROOT / line.removeprefix("0::").lstrip("/")
    return path.parent if path.name == "init.scope" else path


class CpuMeter:
    """CPU seconds and CPU wait per (container, service) between two readings, and the
    host's total busy time, so a run's figures are per event and per share of the cores."""

    def __init__(self, cluster, containers):
        self.cgroups = {name: container_cgroup(cluster, name) for name in containers}

    def read(self):
        """{(container, unit): seconds used} and {(container, unit): seconds waited};
        a container's time outside its services is under the unit "(rest)"; the host's
        busy time under ("host", "busy")."""
        used, waited = {}, {}
        for name, cgroup in self.cgroups.items():
            total = usage_seconds(cgroup)
            services = 0.0
            for unit in cgroup.glob("system.slice/*.service"):
                key = (name, unit.name.removesuffix(".service"))
                used[key], waited[key] = usage_seconds(unit), waiting_seconds(unit)
                services += used[key]
            used[(name, "(rest)")] = total - services
        used[("host", "busy")] = host_busy_seconds()
        return used, waited


def host_busy_seconds():
    """Every core's non-idle time so far (/proc/stat's first line), in seconds."""
    fields = [int(v) for v in pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def difference(before, after):
    return {key: after[key] - before.get(key, 0.0) for key in after}
