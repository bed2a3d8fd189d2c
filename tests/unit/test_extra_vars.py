"""Values given with `-e key=value` arrive as strings; the roles must still read them as
booleans and numbers. Renders the roles' computed variables with real ansible-playbook runs."""

import json
import os
import pathlib
import subprocess

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]


def rendered(tmp_path, *extra_vars):
    out = tmp_path / "rendered.json"
    playbook = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [
                str(REPO / "roles" / role / folder / "main.yml")
                for role in ("patroni", "aggregator")
                for folder in ("defaults", "vars")
            ],
            "tasks": [
                {
                    "name": "Render",
                    "ansible.builtin.copy": {
                        "content": "{{ {'patroni': _patroni_dynamic_config, "
                        "'aggregator': _aggregator_environment} | to_json }}",
                        "dest": str(out),
                        "mode": "0600",
                    },
                }
            ],
        }
    ]
    inventory = {
        "all": {
            "vars": {"patroni_app_password": "x" * 16},
            "children": {
                "balancers": {
                    "hosts": {
                        "localhost": {
                            "node_address": "10.0.0.100",
                            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                        }
                    }
                },
                "postgres": {"hosts": {"localhost": None}},
            },
        }
    }
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook))
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    args = [f"-e{v}" for v in extra_vars]
    run = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(out.read_text())


def test_replica_reads_stay_off_with_e_false(tmp_path):
    off = rendered(tmp_path, "aggregator_read_from_replicas=false")["aggregator"]
    assert off["AGGREGATOR_READ_DATABASE_URL"].strip() == ""
    on = rendered(tmp_path, "aggregator_read_from_replicas=true")["aggregator"]
    assert ":5001/" in on["AGGREGATOR_READ_DATABASE_URL"]


def test_patroni_settings_keep_their_types_from_e(tmp_path):
    config = rendered(
        tmp_path, "patroni_ttl=30", "patroni_loop_wait=5", "patroni_synchronous_mode=false", "patroni_use_slots=no"
    )["patroni"]
    assert config["ttl"] == 30 and isinstance(config["ttl"], int)
    assert config["loop_wait"] == 5 and isinstance(config["loop_wait"], int)
    assert config["synchronous_node_count"] == 1 and isinstance(config["synchronous_node_count"], int)
    assert config["synchronous_mode"] is False
    assert config["postgresql"]["use_slots"] is False
