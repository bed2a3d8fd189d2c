"""The pki role uses a node certificate only when it is fit for the node: it chains to
the CA, matches its key, names the node, loopback and every balancer, and does not
expire within pki_renew_days. Certificates a user provides are checked the same way.

Each case runs the role's check for real against files made with a throw-away CA.
"""

import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from testbed import tlsfiles

REPO = pathlib.Path(__file__).resolve().parents[2]

GOOD_NAMES = ["DNS:db1", "IP:10.0.0.1", "IP:127.0.0.1", "IP:10.0.0.100"]


def run_check(tmp_path, ca, cert, key):
    pki = tmp_path / "pki"
    pki.mkdir()
    tlsfiles.write_pem(pki / "ca.crt", cert=ca[0])
    tlsfiles.write_pem(pki / "db1.crt", cert=cert)
    tlsfiles.write_pem(pki / "db1.key", key=key)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {
        "all": {
            "vars": {"pki_controller_dir": str(pki), "pki_node_certificates_provided": True, "patroni_dcs": "etcd3"},
            "children": {
                "postgres": {"hosts": {"db1": {"node_address": "10.0.0.1", **local}}},
                "balancers": {"hosts": {"lb1": {"node_address": "10.0.0.100", **local}}},
            },
        }
    }
    play = [
        {
            "hosts": "db1",
            "gather_facts": False,
            "tasks": [{"ansible.builtin.include_role": {"name": "pki", "tasks_from": "check_certificate.yml"}}],
        }
    ]
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_fit_certificate_passes(tmp_path):
    ca = tlsfiles.new_ca()
    result = run_check(tmp_path, ca, *tlsfiles.new_certificate(ca, GOOD_NAMES, days=90))
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_certificate_without_the_balancer_address_is_refused(tmp_path):
    ca = tlsfiles.new_ca()
    result = run_check(tmp_path, ca, *tlsfiles.new_certificate(ca, GOOD_NAMES[:3], days=90))
    assert result.returncode != 0
    assert "its subjectAltName lacks IP:10.0.0.100" in result.stdout, result.stdout[-2000:]


def test_a_certificate_from_another_ca_is_refused(tmp_path):
    cert, key = tlsfiles.new_certificate(tlsfiles.new_ca(), GOOD_NAMES, days=90)
    result = run_check(tmp_path, tlsfiles.new_ca(), cert, key)
    assert result.returncode != 0
    assert "it does not chain to" in result.stdout, result.stdout[-2000:]


def test_a_certificate_about_to_expire_is_refused(tmp_path):
    ca = tlsfiles.new_ca()
    result = run_check(tmp_path, ca, *tlsfiles.new_certificate(ca, GOOD_NAMES, days=5))
    assert result.returncode != 0
    assert "it expires within 30 days" in result.stdout, result.stdout[-2000:]


@pytest.mark.parametrize("names", [["DNS:db1", "IP:10.0.0.1", "IP:10.0.0.100"]], ids=["no-loopback"])
def test_a_certificate_without_loopback_is_refused(tmp_path, names):
    ca = tlsfiles.new_ca()
    result = run_check(tmp_path, ca, *tlsfiles.new_certificate(ca, names, days=90))
    assert "its subjectAltName lacks IP:127.0.0.1" in result.stdout, result.stdout[-2000:]


def test_a_certificate_with_another_key_is_refused(tmp_path):
    ca = tlsfiles.new_ca()
    cert, _ = tlsfiles.new_certificate(ca, GOOD_NAMES, days=90)
    _, other_key = tlsfiles.new_certificate(ca, GOOD_NAMES, days=90)
    result = run_check(tmp_path, ca, cert, other_key)
    assert result.returncode != 0
    assert "it does not match" in result.stdout, result.stdout[-2000:]
