"""The drills derive Patroni's Consul token from the generated secret exactly as the
inventory does (Ansible's to_uuid), so they read the leader key with the same token."""

import os
import pathlib
import subprocess

from drills.cluster import Cluster

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_the_consul_token_matches_ansibles_to_uuid(tmp_path):
    (tmp_path / "consul_acl_patroni").write_text("s3cret-Value-42 salt=abc\n")
    cluster = Cluster(nodes={}, balancer="", api_url="", app_host="", secrets=tmp_path, lab=True)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    out = subprocess.run(
        ["ansible", "localhost", "-m", "ansible.builtin.debug", "-a", "msg={{ 's3cret-Value-42' | to_uuid }}"],
        capture_output=True, text=True, check=True, env=env, cwd=REPO,
    ).stdout  # fmt: skip
    assert cluster.consul_token() in out, out
