"""The alert rules: promtool checks them and runs their unit tests
(tests/alerts/alerts_test.yml: every alert on both sides of its threshold)."""

import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
RULES = REPO / "roles" / "monitoring" / "files" / "alerts.yml"
TESTS = REPO / "tests" / "alerts" / "alerts_test.yml"


@pytest.fixture(scope="module")
def promtool():
    found = shutil.which("promtool")
    assert found, "promtool is missing: make unit installs it (scripts/ensure-promtool.sh)"
    return found


def test_the_rules_are_valid(promtool):
    run = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_on_both_sides_of_its_threshold(promtool):
    run = subprocess.run([promtool, "test", "rules", TESTS.name], capture_output=True, text=True, cwd=TESTS.parent)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_has_a_unit_test():
    rules = RULES.read_text()
    tested = TESTS.read_text()
    alerts = [line.split(":", 1)[1].strip() for line in rules.splitlines() if line.strip().startswith("- alert:")]
    untested = [name for name in alerts if f"alertname: {name}" not in tested]
    assert not untested, f"alerts without a promtool test: {untested}"
