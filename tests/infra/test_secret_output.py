"""A converge with --diff -v that rewrites every file holding a secret prints none of them."""

import os
import subprocess

from lab import INVENTORY, REPO, SECRETS, node

STALE = "stale-value-written-by-the-test"


def test_a_diff_converge_rewriting_secret_files_prints_no_secret():
    # Stale every line that carries a secret, so the converge must rewrite (and would
    # diff) exactly those lines.
    pg1, app1 = node("pg1"), node("app1")
    pg1.check_output(f"sed -i 's/^\\( *password: \\).*/\\1{STALE}/' /etc/patroni/patroni.yml")
    app1.check_output(f"sed -i 's|^\\(AGGREGATOR_DATABASE_URL=\\).*|\\1{STALE}|' /etc/aggregator/aggregator.env")

    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    run = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(REPO / "site.yml"), "--diff", "-v"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]

    # The converge really rewrote both files (it did not pass by skipping them).
    assert STALE not in pg1.check_output("cat /etc/patroni/patroni.yml")
    assert STALE not in app1.check_output("cat /etc/aggregator/aggregator.env")
    secrets = {path.name: path.read_text().split()[0] for path in SECRETS.iterdir() if path.is_file()}
    assert len(secrets) >= 5, f"expected the generated secrets in {SECRETS}, found {sorted(secrets)}"
    leaked = sorted(name for name, value in secrets.items() if value in output)
    assert not leaked, f"secrets printed by `ansible-playbook site.yml --diff -v`: {leaked}"
