"""A converge with --diff -v that rewrites every file holding a secret prints none of them."""

import subprocess

import pytest
from lab import MONITORING, SECRETS, node, run_playbook

STALE = "stale-value-written-by-the-test"


@pytest.mark.long  # a whole converge: make test-long
def test_a_diff_converge_rewriting_secret_files_prints_no_secret():
    # Stale every line that carries a secret, so the converge must rewrite (and would
    # diff) exactly those lines.
    pg1, app1 = node("pg1"), node("app1")
    pg1.check_output(f"sed -i 's/^\\( *password: \\).*/\\1{STALE}/' /etc/patroni/patroni.yml")
    app1.check_output(f"sed -i 's|^\\(AGGREGATOR_DATABASE_URL=\\).*|\\1{STALE}|' /etc/aggregator/aggregator.env")
    app1.check_output(f"sed -i 's|^\\( *stats auth [a-z]*:\\).*|\\1{STALE}|' /etc/haproxy/haproxy.cfg")

    monitored = {}  # with a monitoring group: the exporter's DSN and Prometheus's password file
    if MONITORING:
        monitored = {
            pg1: "/etc/default/prometheus-postgres-exporter",
            node(MONITORING[0]): "/etc/prometheus/secrets/web_password",
        }
        pg1.check_output(f"sed -i 's|^\\(DATA_SOURCE_NAME=\\).*|\\1{STALE}|' {monitored[pg1]}")
        node(MONITORING[0]).check_output(f"echo {STALE} > /etc/prometheus/secrets/web_password")

    run = run_playbook("site.yml", "--diff", "-v")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]

    # The converge really rewrote both files (it did not pass by skipping them).
    assert STALE not in pg1.check_output("cat /etc/patroni/patroni.yml")
    assert STALE not in app1.check_output("cat /etc/aggregator/aggregator.env")
    assert STALE not in app1.check_output("cat /etc/haproxy/haproxy.cfg")
    for host, path in monitored.items():
        assert STALE not in host.check_output(f"cat {path}")
    secrets = {path.name: path.read_text().split()[0] for path in SECRETS.iterdir() if path.is_file()}
    assert len(secrets) >= 8, f"expected the generated passwords and tokens in {SECRETS}, found {sorted(secrets)}"
    # Private keys: every base64 line of each PEM body, except a line it shares with the
    # public key (an EC key's PEM ends with the public point, which may be printed).
    for key in (SECRETS / "pki").glob("*.key"):
        public = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], capture_output=True, text=True,
                                check=True).stdout  # fmt: skip
        for number, line in enumerate(key.read_text().splitlines()):
            if not line.startswith("-----") and line not in public:
                secrets[f"{key.name} line {number}"] = line
    leaked = sorted(name for name, value in secrets.items() if value in output)
    assert not leaked, f"secrets printed by `ansible-playbook site.yml --diff -v`: {leaked}"
