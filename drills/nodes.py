"""Commands on the nodes: through the container engine in the lab, through Ansible
elsewhere; the project's playbooks; and what a fault did, seen from outside."""

import http.client
import json
import os
import socket
import subprocess
import urllib.parse

from .secrets import ansible_env, extra_vars_argv
from .topology import REPO


class CommandFailed(RuntimeError):
    """A fault or heal command did not do what it was asked: the command and its stderr."""

    def __init__(self, argv, result):
        self.argv, self.returncode = list(argv), result.returncode
        # Commands report on stderr; ansible-playbook names the failed task on stdout.
        detail = " ".join(part.strip()[-500:] for part in (result.stderr, result.stdout) if part and part.strip())
        failed = failed_task(result.stdout or "")
        super().__init__(f"`{' '.join(map(str, argv))}` exited {result.returncode}: {failed}{detail}")


def failed_task(output, limit=1500):
    """The first failed task of ansible-playbook's output (its TASK line and the error),
    which the recap at the end does not name ('' when there is none)."""
    at = min((i for i in (output.find("fatal: ["), output.find("failed: [")) if i >= 0), default=-1)
    if at < 0:
        return ""
    start = output.rfind("TASK [", 0, at)
    return output[max(start, 0) : at + limit].strip() + " ... "


# The container engine's API socket: the sampler asks it several times a second whether
# a container runs, and a `docker` process per question is slow on a busy host.
ENGINE_SOCKET = "/var/run/docker.sock"


class EngineConnection(http.client.HTTPConnection):
    """HTTP to the container engine over its unix socket."""

    def __init__(self, path=ENGINE_SOCKET, timeout=1):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def engine_get(path, socket_path=ENGINE_SOCKET):
    """(status, parsed JSON body) of a GET on the container engine's API."""
    conn = EngineConnection(socket_path)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, body[:200]


def engine_container_state(name):
    """A container's state ("running", "exited", ...) from the engine's list of
    containers: unlike an inspect, it does not wait while the engine starts or stops
    that container ("absent" when there is no such container: a lost node)."""
    filters = urllib.parse.quote(json.dumps({"name": [f"^/{name}$"]}))
    status, body = engine_get(f"/containers/json?all=1&filters={filters}")
    if status != 200 or not isinstance(body, list):
        raise RuntimeError(f"the container engine answered {status} for {name}: {body}")
    return body[0]["State"] if body else "absent"


def engine_container_commands(name):
    """The command names of a running container's processes (None once it stopped)."""
    status, body = engine_get(f"/containers/{name}/top?ps_args=-o+pid,comm")
    if status == 409:  # it stopped in between
        return None
    if status != 200:
        raise RuntimeError(f"the container engine answered {status} for {name}'s processes: {body}")
    column = body["Titles"].index("COMMAND")
    return [process[column] for process in body["Processes"]]


class NodeControl:
    """Needs `lab`, `inventory` and `nodes` (a Topology)."""

    def exec_argv(self, name, *argv, interactive=False):
        """The command that runs argv on a lab node (standard input attached when
        `interactive`)."""
        if not self.lab:
            raise RuntimeError("a command inside a node needs the container lab")
        return ["docker", "exec", *(["-i"] if interactive else []), name, *argv]

    def exec(self, name, *argv, timeout=30, check=True):
        """Run a command on a node; a non-zero exit raises CommandFailed unless check=False."""
        if self.lab:
            cmd = self.exec_argv(name, *argv)
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        else:
            cmd = ["ansible", "-i", self.inventory, name, "-m", "ansible.builtin.command", "-a", " ".join(argv)]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ansible_env())
        if check and result.returncode != 0:
            raise CommandFailed(argv, result)
        return result

    def playbook(self, playbook, *argv, timeout=600, more_inventory=()):
        """Run one of the project's playbooks against this inventory, plus any
        `more_inventory` sources (output captured: it is returned in CommandFailed when
        the play fails)."""
        return self._ansible(
            "ansible-playbook", str(REPO / playbook), *argv, timeout=timeout, more_inventory=more_inventory
        )

    def role_tasks(self, host, role, tasks_from, more_inventory=()):
        """One task file of a role on one host, ad hoc, with the inventory's variables
        (output captured, as for a playbook)."""
        module = ["-m", "ansible.builtin.include_role", "-a", f"name={role} tasks_from={tasks_from}"]
        return self._ansible("ansible", host, *module, timeout=120, more_inventory=more_inventory)

    def _ansible(self, program, target, *argv, timeout, more_inventory):
        """ansible or ansible-playbook on `target` with this inventory (plus any
        `more_inventory` sources) and its extra vars; CommandFailed when it fails."""
        sources = [arg for source in (self.inventory, *more_inventory) for arg in ("-i", str(source))]
        cmd = [program, *sources, target, *extra_vars_argv(self.extra_vars), *argv]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=ansible_env())
        if result.returncode != 0:
            raise CommandFailed(cmd, result)
        return result

    def docker(self, *argv):
        if not self.lab:
            raise RuntimeError("this fault needs the container lab (docker kill/network); run it on inventory/lab")
        result = subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise CommandFailed(["docker", *argv], result)
        return result

    def lab_interface(self, name):
        """(interface, gateway) of database node `name` on the lab network, as it sees them."""
        address = self.nodes[name]
        interface = next(
            line.split()[1].split("@")[0]
            for line in self.exec(name, "ip", "-o", "-4", "addr", "show").stdout.splitlines()
            if f" {address}/" in line
        )
        gateway = self.exec(name, "ip", "-o", "route", "show", "default").stdout.split()[2]
        return interface, gateway

    def set_lab_link(self, name, interface, gateway, up):
        """Pull or plug database node `name`'s cable to the lab network: its interface down
        or up (and its default route back). Not `docker network disconnect`: the engine
        names a reconnected interface after the next free index (eth1, eth2, ...), and
        keepalived, configured on eth0, then never holds a VIP on that node again. Run in
        the node's network namespace from the host: the node may lack NET_ADMIN."""
        pid = self.docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
        steps = [("link", "set", "dev", interface, "up" if up else "down")]
        if up:
            steps.append(("route", "replace", "default", "via", gateway, "dev", interface))
        for step in steps:
            argv = ["nsenter", "-t", pid, "-n", "ip", *step]
            result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if result.returncode != 0:
                raise CommandFailed(argv, result)

    def container_running(self, name):
        return self.container_state(name) == "running"

    def container_state(self, name):
        """ "running", "exited", ...: from the engine's list of containers, which does not
        wait while the engine starts or stops one (an inspect does)."""
        if not self.lab:
            raise RuntimeError("container state needs the container lab")
        if self._engine_socket:
            return engine_container_state(name)
        return self.docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip()

    def container_commands(self, name):
        """The command names of a container's processes, None when it is not running:
        without an exec into it, so cheap even while it boots."""
        if not self.container_running(name):
            return None
        if self._engine_socket:
            return engine_container_commands(name)
        return self.docker("top", name, "-o", "pid,comm").stdout.split()[3::2]  # after PID COMMAND

    @property
    def _engine_socket(self):
        return "DOCKER_HOST" not in os.environ and os.path.exists(ENGINE_SOCKET)

    def unit_state(self, name, unit):
        """systemd's ActiveState and MainPID of a unit."""
        out = self.exec(name, "systemctl", "show", "-p", "ActiveState", "-p", "MainPID", unit).stdout
        props = dict(line.split("=", 1) for line in out.split() if "=" in line)
        return props.get("ActiveState"), int(props.get("MainPID", "0"))

    def reachable_from(self, peer, name, port=None):
        """Whether `peer` opens a TCP connection to `name` (its Patroni API unless `port`
        says otherwise) within a second. The probe prints its answer: a failed exec into `peer` raises CommandFailed, it
        never reads as "unreachable"."""
        port = port or self.patroni_port
        probe = (
            "import socket\ntry:\n"
            f"    socket.create_connection(('{self.nodes[name]}', {port}), timeout=1).close()\n"
            "    print('open')\nexcept OSError:\n    print('closed')"
        )
        answer = self.exec(peer, "python3", "-c", probe).stdout.strip()
        if answer not in ("open", "closed"):
            raise RuntimeError(f"reachability probe on {peer} printed {answer!r}")
        return answer == "open"
