"""The disk-full drill fills only a small disk (never a host's root filesystem), and
fails when an aggregator was restarted during it."""

import subprocess

import pytest

from drills.disk import LARGEST_DISK, DiskFull


class OneNode:
    """A database node whose data directory is on a filesystem of `size` bytes."""

    nodes = {"pg1": "172.28.10.11"}
    aggregators = ("app1", "app2")

    def __init__(self, size, pids=None):
        self.size, self.pids = size, pids or {"app1": 101, "app2": 202}

    def unit_state(self, name, unit):
        return "active", self.pids[name]

    def data_directory(self, name):
        return "/var/lib/postgresql/15/main"

    def exec(self, name, *argv, timeout=30, check=True):
        assert argv[0] == "df", argv
        out = f"Filesystem Type 1B-blocks Mounted on\n/dev/loop3 ext4 {self.size} /var/lib/postgresql\n"
        return subprocess.CompletedProcess(argv, 0, out, "")

    def patroni(self, name, path, **kwargs):
        return 200, {"postmaster_start_time": "2031-03-10 00:00:00+00:00"}


def test_a_lab_disk_is_filled():
    before = DiskFull().before(OneNode(4 * 2**30), "pg1")
    assert before["disk"] == {
        "source": "/dev/loop3", "fstype": "ext4", "size": 4 * 2**30, "target": "/var/lib/postgresql",
    }  # fmt: skip


def test_a_disk_larger_than_a_lab_disk_is_refused():
    with pytest.raises(RuntimeError, match="fills only a disk of at most 64 GiB"):
        DiskFull().before(OneNode(LARGEST_DISK + 1), "pg1")


def test_an_aggregator_restarted_during_the_drill_fails_it():
    node = OneNode(4 * 2**30)
    fault = DiskFull()
    before = fault.before(node, "pg1")
    assert fault.after_load(node, before) == []
    node.pids = {"app1": 101, "app2": 303}
    assert fault.after_load(node, before) == [
        "aggregators restarted during the drill (before, after): {'app2': (202, 303)}"
    ]
