"""The etcd play is safe to re-run after a member was added to the cluster but never
started (a run that failed between `etcdctl member add` and the start)."""

import json

from lab import ADDRESSES, TOPOLOGY, node, recap, run_playbook, wait_for

from drills.dcs import etcdctl

ETCDCTL = " ".join(etcdctl(TOPOLOGY))

DATA_DIR = "/var/lib/etcd/pgha"


def members(on="pg1"):
    return json.loads(node(on).check_output(f"{ETCDCTL} member list --write-out=json"))["members"]


def healthy_members(on="pg1"):
    out = node(on).run(f"{ETCDCTL} endpoint health --cluster --write-out=json")
    return sorted(e["endpoint"] for e in json.loads(out.stdout or "[]") if e["health"]) if out.rc == 0 else []


def test_re_running_the_etcd_play_after_a_half_finished_join_completes_it():
    joining = "pg3"
    peer_url = f"https://{ADDRESSES[joining]}:2380"
    member_id = next(m["ID"] for m in members() if peer_url in m["peerURLs"])
    # Take pg3 out and wipe its etcd data, as on a node being replaced ...
    node(joining).check_output("systemctl stop etcd")
    node("pg1").check_output(f"{ETCDCTL} member remove {member_id:x}")
    node(joining).check_output(f"rm -rf {DATA_DIR}/member")
    # ... then do what an interrupted run did: register it and never start it.
    # (etcd refuses it for 5 s after any member's restart, as an earlier test's.)
    add = f"{ETCDCTL} member add {joining} --peer-urls={peer_url}"
    assert wait_for(lambda: node("pg1").run(add).rc == 0, 30), f"etcd refused {joining} for 30 s"
    assert any(peer_url in m["peerURLs"] and not m.get("name") for m in members()), "expected an unstarted member"

    run = run_playbook("playbooks/etcd.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert wait_for(lambda: len(healthy_members()) == 3, 60), f"expected 3 healthy members, found {healthy_members()}"
    assert any(m.get("name") == joining and peer_url in m["peerURLs"] for m in members())

    again = run_playbook("playbooks/etcd.yml")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "changed=0" in recap(again, joining), again.stdout[-1500:]
