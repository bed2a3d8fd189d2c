"""playbooks/major_upgrade.yml refuses, in its first play on the controller, an upgrade
it cannot do: no confirmation, no new group, a new group that shares a node or runs no
newer major version, both directions at once. No host is reached."""

import pytest
from test_inventory_validation import inventory, run_validate
from test_node_playbooks import refused

UPGRADE = "playbooks/major_upgrade.yml"


def with_next_group(inv, hosts=("db4", "db5"), version=17, cluster="pgha17"):
    for i, name in enumerate(hosts):
        inv["all"]["hosts"].setdefault(name, {"node_address": f"10.0.0.{50 + i}"})
    inv["all"]["children"]["postgres_next"] = {
        "hosts": dict.fromkeys(hosts),
        "vars": {"postgresql_version": version, "patroni_cluster_name": cluster},
    }
    return inv


@pytest.mark.parametrize(
    ("build", "extra", "message"),
    [
        (with_next_group, {}, "Confirm it with -e upgrade_confirm=<the cluster's name> (pgha); found ''."),
        (with_next_group, {"upgrade_confirm": "pgha17"}, "(pgha); found 'pgha17'."),
        (lambda inv: inv, {"upgrade_confirm": "pgha"}, "found postgres_next: none"),
        (lambda inv: with_next_group(inv, hosts=("db3", "db4")), {"upgrade_confirm": "pgha"}, "in both: db3"),
        (lambda inv: with_next_group(inv, version=15), {"upgrade_confirm": "pgha"}, "(15; found 15)"),
        (lambda inv: with_next_group(inv, cluster="pgha"), {"upgrade_confirm": "pgha"}, "found pgha for both"),
        (
            with_next_group,
            {"upgrade_confirm": "pgha", "upgrade_rollback": True, "upgrade_finish": True},
            "upgrade_rollback and upgrade_finish exclude each other",
        ),
    ],
    ids=["unconfirmed", "wrong-name", "no-new-group", "shared-node", "same-version", "same-cluster", "both-ways"],
)
def test_major_upgrade_refuses(tmp_path, build, extra, message):
    inv = build(inventory())
    inv["all"]["vars"].update(extra)
    refused(run_validate(tmp_path, inv, UPGRADE), message)
