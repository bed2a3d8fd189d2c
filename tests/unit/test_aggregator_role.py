"""The aggregator role migrates the schema before anything restarts the app on new code."""

import pathlib

import yaml

TASKS = pathlib.Path(__file__).resolve().parents[2] / "roles" / "aggregator" / "tasks"


def flatten(tasks):
    """Every task in order, blocks and statically imported task files expanded."""
    for task in tasks:
        yield task
        yield from flatten(task.get("block", []))
        if "ansible.builtin.import_tasks" in task:
            yield from flatten(yaml.safe_load((TASKS / task["ansible.builtin.import_tasks"]).read_text()))


def test_migration_runs_before_handlers_restart_the_app_and_before_the_start():
    # Handlers ("Restart aggregator", notified by new code or configuration) run at the
    # first flush_handlers; nothing before the migration may flush or start the service.
    tasks = list(flatten(yaml.safe_load((TASKS / "service.yml").read_text())))
    migrate = next(i for i, t in enumerate(tasks) if "migrate" in str(t.get("ansible.builtin.command", {})))
    flush = next(i for i, t in enumerate(tasks) if t.get("ansible.builtin.meta") == "flush_handlers")
    start = next(i for i, t in enumerate(tasks) if "ansible.builtin.systemd_service" in t)
    assert migrate < flush < start, [t["name"] for t in tasks]
    main = yaml.safe_load((TASKS / "main.yml").read_text())
    imported = [t["ansible.builtin.import_tasks"] for t in main]
    assert imported.index("service.yml") == len(imported) - 1
    for earlier in imported[:-1]:
        assert not any(
            t.get("ansible.builtin.meta") == "flush_handlers"
            for t in flatten(yaml.safe_load((TASKS / earlier).read_text()))
        )
