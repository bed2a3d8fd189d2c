"""A real PostgreSQL server for the test session, started from the machine's binaries.

PostgreSQL refuses to run as root, so as root the server runs as the postgres user.
Authentication is scram-sha-256 on 127.0.0.1 only.
"""

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile


def find_bindir():
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "pg_ctl")):
            return candidate
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return os.path.dirname(os.path.realpath(pg_ctl))
    raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self):
        self.bindir = find_bindir()
        self.base = tempfile.mkdtemp(prefix="aggregator-pg-")
        self.datadir = os.path.join(self.base, "data")
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.as_root = os.geteuid() == 0
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.base, user.pw_uid, user.pw_gid)
        os.chmod(self.base, 0o700)

    def _run(self, *args):
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True)

    def init(self):
        pwfile = os.path.join(self.base, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password)
        if self.as_root:
            shutil.chown(pwfile, "postgres")
        self._run("initdb", "-D", self.datadir, "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={pwfile}")
        os.unlink(pwfile)

    def enable_ssl(self, cert, key):
        """Serve TLS with this certificate (copied next to the data; clients may still
        choose plain text: the default pg_hba has host lines)."""
        for name, source in (("server.crt", cert), ("server.key", key)):
            target = os.path.join(self.base, name)
            shutil.copyfile(source, target)
            os.chmod(target, 0o600)
            if self.as_root:
                shutil.chown(target, "postgres")
        files = f"-c ssl_cert_file={self.base}/server.crt -c ssl_key_file={self.base}/server.key"
        self.extra_options = f" -c ssl=on {files}"

    def start(self):
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on"
        opts += getattr(self, "extra_options", "")
        self._run("pg_ctl", "-D", self.datadir, "-o", opts, "-l", os.path.join(self.base, "log"), "-w", "start")

    def stop(self):
        self._run("pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "stop")

    def url(self, dbname="postgres"):
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def destroy(self):
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
