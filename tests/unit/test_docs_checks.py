"""The documentation's checks fail on what they guard against: a variable without a
description, one described twice, a page out of date, and a runbook command that does
not exist."""

import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def run(*argv, cwd=REPO):
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=120)


def copy_of_roles(tmp_path):
    """The variables script with the roles and the generated page, in a folder of its own."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "variables_reference.py", tmp_path / "scripts")
    shutil.copytree(REPO / "roles", tmp_path / "roles")
    (tmp_path / "docs" / "reference").mkdir(parents=True)
    shutil.copy(REPO / "docs" / "reference" / "variables.md", tmp_path / "docs" / "reference")
    return tmp_path


def assert_check_fails(root, message):
    result = run("scripts/variables_reference.py", "--check", cwd=root)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr


def test_the_variables_page_matches_the_roles():
    result = run("scripts/variables_reference.py", "--check")
    assert result.returncode == 0, result.stderr


def test_a_variable_without_a_description_fails(tmp_path):
    root = copy_of_roles(tmp_path)
    defaults = root / "roles" / "haproxy" / "defaults" / "main.yml"
    lines = defaults.read_text().splitlines()
    index = lines.index(next(line for line in lines if line.startswith("haproxy_check_port:")))
    assert lines[index - 1].startswith("#")  # the comment this test removes
    defaults.write_text("\n".join(lines[: index - 1] + lines[index:]) + "\n")
    assert_check_fails(root, "haproxy: haproxy_check_port has no comment above it in defaults/main.yml")


def test_a_variable_described_twice_fails(tmp_path):
    root = copy_of_roles(tmp_path)
    specs = root / "roles" / "haproxy" / "meta" / "argument_specs.yml"
    specs.write_text(
        specs.read_text().replace(
            "      haproxy_check_port:\n        type: int\n",
            "      haproxy_check_port:\n        type: int\n        description: Patroni's port.\n",
        )
    )
    assert_check_fails(root, "haproxy: haproxy_check_port is described twice")


def test_a_changed_comment_makes_the_page_out_of_date(tmp_path):
    root = copy_of_roles(tmp_path)
    defaults = root / "roles" / "haproxy" / "defaults" / "main.yml"
    defaults.write_text(defaults.read_text().replace("\nhaproxy_check_port:", " (changed)\nhaproxy_check_port:", 1))
    assert_check_fails(root, "docs/reference/variables.md is out of date")


def test_every_command_in_the_docs_exists():
    result = run("scripts/check_docs_commands.py")
    assert result.returncode == 0, result.stderr


def test_a_command_that_does_not_exist_fails(tmp_path):
    page = tmp_path / "runbook.md"
    page.write_text(
        "```sh\nansible-playbook playbooks/no_such_play.yml\nmake no-such-target\n"
        "python -m drills no-such-drill\n```\n\nThen `make drill DRILL=crash-primary` and `site.yml`.\n"
    )
    result = run("scripts/check_docs_commands.py", str(page))
    assert result.returncode == 1
    assert "playbook 'playbooks/no_such_play.yml' does not exist" in result.stderr
    assert "make target 'no-such-target' does not exist" in result.stderr
    assert "drill 'no-such-drill' does not exist" in result.stderr
    assert "crash-primary" not in result.stderr
