"""The wheelhouse role builds for the node's interpreter, not the controller's: a node
whose Python differs from the one running Ansible still installs everything offline.

The "node" is this machine through a second Python (another minor version), which
Ansible uses as the target interpreter.
"""

import glob
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]


def other_python():
    """The newest CPython 3.10+ of another minor version than the controller's, or None."""
    found = {}
    candidates = glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3.[0-9]*"))
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in range(10, 15)]
    for path in candidates:
        if not path or not os.access(path, os.X_OK) or not path[-1].isdigit():
            continue
        run = subprocess.run(
            [path, "-c", "import sys, venv; print(*sys.version_info[:2])"], capture_output=True, text=True
        )
        if run.returncode == 0:
            found.setdefault(tuple(map(int, run.stdout.split())), path)
    others = sorted(v for v in found if v >= (3, 10) and v != sys.version_info[:2])
    return (found[others[-1]], ".".join(map(str, others[-1]))) if others else None


def requirements():
    app = (REPO / "app" / "requirements.txt").read_text().splitlines()
    patroni = yaml.safe_load((REPO / "roles" / "patroni" / "defaults" / "main.yml").read_text())
    lines = [line.split("#")[0].strip() for line in app]
    return [line for line in lines if line] + [
        f"patroni[etcd3]=={patroni['patroni_version']}",
        f"psycopg2-binary=={patroni['patroni_psycopg2_version']}",
    ]


def test_a_node_python_other_than_the_controllers_installs_offline(tmp_path):
    found = other_python()
    if found is None:
        pytest.skip("no second CPython (3.10+) of another minor version on this machine")
    python, version = found
    node_env = tmp_path / "node-python"
    subprocess.run([python, "-m", "venv", str(node_env)], check=True)
    node_python = str(node_env / "bin" / "python")
    # Debian nodes get this from python3-packaging; the role reads the node's wheel tags with it.
    subprocess.run([node_python, "-m", "pip", "install", "--quiet", "packaging"], check=True)

    inventory = {"all": {"hosts": {"node": {"ansible_connection": "local", "ansible_python_interpreter": node_python}}}}
    play = [
        {
            "hosts": "node",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Wheelhouse for the node",
                    "ansible.builtin.include_role": {"name": "wheelhouse"},
                    "vars": {
                        "wheelhouse_name": "test",
                        "wheelhouse_requirements": requirements(),
                        "wheelhouse_node_dir": str(tmp_path / "on-node"),
                        "wheelhouse_node_python": node_python,
                        "wheelhouse_controller_root": str(tmp_path / "controller"),
                    },
                }
            ],
        }
    ]
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_BECOME="false")

    def converge():
        run = subprocess.run(
            ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
            capture_output=True, text=True, env=env, timeout=900,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        return run.stdout.split("PLAY RECAP")[-1]

    converge()
    abi = "cp" + version.replace(".", "")
    wheels = [p.name for p in (tmp_path / "on-node").glob("*.whl")]
    assert any(w.startswith("psycopg2_binary") and f"-{abi}-" in w for w in wheels), wheels
    assert not any(f"-cp{sys.version_info.major}{sys.version_info.minor}-" in w for w in wheels), wheels

    # Offline, into a virtualenv of the node's Python, as the roles install.
    target = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(target)], check=True)
    install = subprocess.run(
        [str(target / "bin" / "pip"), "install", "--quiet", "--no-index", "--find-links", str(tmp_path / "on-node"),
         "--requirement", str(tmp_path / "on-node" / "requirements.txt")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    imports = "import flask, gevent, psycopg2, pydantic, orjson, patroni, etcd"
    subprocess.run([str(target / "bin" / "python"), "-c", imports], check=True)

    # A second run finds the wheelhouse whole: nothing rebuilt, nothing copied.
    assert "changed=0" in converge()

    # An incomplete wheelhouse is completed on the next run.
    removed = next((tmp_path / "controller" / "test").glob(f"*/gevent-*-{abi}-*.whl"))
    removed.unlink()
    assert "changed=0" not in converge()
    assert removed.exists()
