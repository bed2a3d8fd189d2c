"""patroni_cluster_problems and patroni_switchover_candidate (roles/patroni/filter_plugins):
what makes a cluster whole, in synchronous and in quorum mode."""

import importlib.util
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location(
    "patroni_cluster", REPO / "roles/patroni/filter_plugins/patroni_cluster.py"
)
patroni_cluster = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(patroni_cluster)

NODES = ["pg1", "pg2", "pg3"]


def cluster(*replica_roles):
    members = [{"name": "pg1", "role": "leader", "state": "running"}]
    members += [{"name": f"pg{i}", "role": role, "state": "streaming"} for i, role in enumerate(replica_roles, 2)]
    return {"members": members}


@pytest.mark.parametrize("mode", [True, "quorum"])
@pytest.mark.parametrize("role", ["sync_standby", "quorum_standby"])
def test_a_replica_that_acknowledges_commits_makes_the_cluster_whole(mode, role):
    assert patroni_cluster.patroni_cluster_problems(cluster(role, "replica"), NODES, mode) == []


def test_without_one_synchronous_mode_is_not_whole():
    problems = patroni_cluster.patroni_cluster_problems(cluster("replica", "replica"), NODES, "quorum")
    assert problems == ["synchronous mode is on but no synchronous standby is designated"]


def test_a_switchover_goes_to_a_quorum_standby_before_a_plain_replica():
    assert patroni_cluster.patroni_switchover_candidate(cluster("replica", "quorum_standby")) == "pg3"


@pytest.mark.parametrize(
    ("mode", "needs_standby"), [("False", False), ("false", False), ("True", True), ("quorum", True)]
)
def test_a_synchronous_mode_rendered_as_text_is_read_as_patroni_means_it(mode, needs_standby):
    """The start wait passes the mode the cluster runs, from its /config, through a template."""
    problems = patroni_cluster.patroni_cluster_problems(cluster("replica", "replica"), NODES, mode)
    assert ("synchronous mode is on but no synchronous standby is designated" in problems) is needs_standby


def retiring(pg3_role, nosync=True):
    """pg3 leaves (remove_node.yml tagged it nosync); pg2 is a plain replica."""
    found = cluster("replica", pg3_role)
    found["members"][2]["tags"] = {"nosync": nosync}
    return found


@pytest.mark.parametrize("role", ["sync_standby", "quorum_standby"])
def test_a_leaving_member_that_still_acknowledges_commits_may_not_stop(role):
    problems = patroni_cluster.patroni_retiring_problems(retiring(role), "pg3", True)
    assert problems == ["pg3 is still a synchronous standby", "no other member is a synchronous standby yet"]


def test_a_leaving_member_may_stop_once_another_acknowledges_commits():
    found = retiring("replica")
    found["members"][1]["role"] = "quorum_standby"
    assert patroni_cluster.patroni_retiring_problems(found, "pg3", "quorum") == []


def test_a_leaving_member_waits_for_its_nosync_tag():
    problems = patroni_cluster.patroni_retiring_problems(retiring("replica", nosync=False), "pg3", False)
    assert problems == ["pg3 does not show its nosync tag yet"]
