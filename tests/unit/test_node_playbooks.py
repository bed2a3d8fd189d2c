"""playbooks/add_node.yml, remove_node.yml and replace_node.yml refuse, in their first play on the
controller, what would hurt the cluster; and the main job refuses a node that
remove_node.yml removed. Each case runs the playbook for real against a generated
inventory and checks the message and that no play after the check started."""

import pytest
from test_inventory_validation import NODES_PLAYBOOK, inventory, run_validate

ADD, REMOVE, REPLACE = "playbooks/add_node.yml", "playbooks/remove_node.yml", "playbooks/replace_node.yml"


def run(tmp_path, playbook, inv, **extra):
    inv["all"]["vars"].update(extra)
    return run_validate(tmp_path, inv, playbook)


def refused(result, message):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert message in " ".join(output.split()), output[-2000:]
    # Only the controller's check ran: no play reached a host.
    assert output.count("PLAY [") == 1, output[-2000:]


@pytest.mark.parametrize(
    ("shape", "extra", "message"),
    [
        ({}, {"remove_node": "db9", "remove_confirm": "db9"}, "db9 is not a database node of this inventory"),
        ({"postgres": 4}, {"remove_node": "db4"}, "Confirm with -e remove_confirm=db4"),
        ({"postgres": 4}, {"remove_node": "db4", "remove_confirm": "db3"}, "Confirm with -e remove_confirm=db4"),
        ({"postgres": 2}, {"remove_node": "db2", "remove_confirm": "db2"}, "would leave 1 database node(s) (db1)"),
        ({}, {"remove_node": "db3", "remove_confirm": "db3"}, "would leave 2 member(s), an even number"),
    ],
    ids=["unknown-host", "no-confirmation", "wrong-confirmation", "last-replica", "even-etcd"],
)
def test_remove_node_refuses(tmp_path, shape, extra, message):
    refused(run(tmp_path, REMOVE, inventory(**shape), **extra), message)


@pytest.mark.parametrize(
    ("shape", "extra", "message"),
    [
        ({}, {}, "Name the node to add with -e add_node=<host>"),
        ({}, {"add_node": "db9"}, "found add_node='db9'"),
        ({}, {"add_node": "db3"}, "db3 would join the DCS servers (etcd group)"),
    ],
    ids=["unnamed", "not-in-postgres", "dcs-member"],
)
def test_add_node_refuses(tmp_path, shape, extra, message):
    refused(run(tmp_path, ADD, inventory(**shape), **extra), message)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "Name the database node to rebuild with -e replace_node=<host>; found replace_node=''"),
        ({"replace_node": "db9"}, "found replace_node='db9', postgres group db1, db2, db3"),
    ],
    ids=["unnamed", "unknown-host"],
)
def test_replace_node_refuses(tmp_path, extra, message):
    refused(run(tmp_path, REPLACE, inventory(), **extra), message)


def test_main_job_refuses_a_removed_node(tmp_path):
    (tmp_path / "patroni").mkdir()
    (tmp_path / "patroni" / "REMOVED").write_text("removed by remove_node.yml\n")
    result = run_validate(tmp_path, inventory(), NODES_PLAYBOOK)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-2000:]
    assert "was removed from the cluster by playbooks/remove_node.yml" in output, output[-2000:]
