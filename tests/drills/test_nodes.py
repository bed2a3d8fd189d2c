"""A failed playbook in a drill says which task failed, not only the recap."""

import subprocess

from drills.nodes import CommandFailed, failed_task

OUTPUT = """PLAY [x] ***
TASK [monitoring : Start and enable the exporters] ***
ok: [pg1]
fatal: [pg4]: FAILED! => msg: Unable to start service prometheus-postgres-exporter
PLAY RECAP ***
pg4 : ok=86 changed=35 unreachable=0 failed=1
"""


def test_the_failed_task_and_its_error_are_named():
    found = failed_task(OUTPUT)
    assert found.startswith("TASK [monitoring : Start and enable the exporters]")
    assert "Unable to start service prometheus-postgres-exporter" in found


def test_a_playbook_that_failed_elsewhere_names_no_task():
    assert failed_task("ERROR! the playbook could not be found") == ""


def test_command_failed_carries_the_task():
    error = CommandFailed(["ansible-playbook", "x.yml"], subprocess.CompletedProcess([], 2, OUTPUT, ""))
    assert "Start and enable the exporters" in str(error) and "exited 2" in str(error)
