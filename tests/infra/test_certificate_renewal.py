"""A node certificate that expires within 30 days is renewed by the next run, and
PostgreSQL, Patroni's REST API and etcd serve the new one after a reload: no
restart, no failover."""

import subprocess

from lab import ADDRESSES, BALANCER_HOST, PRIMARY_PORT, SECRETS, leader_name, query, run_playbook, wait_for

PKI = SECRETS / "pki"


def served_certificate(address, port=5432):
    """notAfter and serial of the certificate served on address:port (PostgreSQL's
    STARTTLS on 5432, plain TLS elsewhere); {} when no certificate came back (Patroni
    re-creates its listening socket while it reloads)."""
    starttls = ["-starttls", "postgres"] if port == 5432 else []
    chain = subprocess.run(
        ["openssl", "s_client", *starttls, "-connect", f"{address}:{port}"],
        input="", capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    x509 = ["openssl", "x509", "-noout", "-serial", "-enddate"]
    out = subprocess.run(x509, input=chain, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines()) if out.returncode == 0 else {}


def certificate_file(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-enddate", "-in", str(path)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return dict(line.split("=", 1) for line in out.splitlines())


def test_a_certificate_near_expiry_is_renewed_and_reloaded_without_failover(tmp_path):
    node = "pg1"
    leader = leader_name()
    started = query(ADDRESSES[node], 5432, "SELECT pg_postmaster_start_time()")[0][0]
    # Re-sign the node's certificate (same key and names) to expire in 5 days.
    request = tmp_path / "node.csr"
    crt, key, ca = PKI / f"{node}.crt", PKI / f"{node}.key", PKI / "ca.crt"
    openssl = {"check": True, "capture_output": True}
    subprocess.run(["openssl", "x509", "-x509toreq", "-copy_extensions", "copyall", "-in", str(crt),
                    "-signkey", str(key), "-out", str(request)], **openssl)  # fmt: skip
    subprocess.run(["openssl", "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(PKI / "ca.key"),
                    "-CAcreateserial", "-days", "5", "-copy_extensions", "copyall",
                    "-out", str(crt)], **openssl)  # fmt: skip
    short = certificate_file(PKI / f"{node}.crt")

    run = run_playbook("playbooks/pki.yml")
    assert run.returncode == 0, run.stdout[-3000:]

    renewed = certificate_file(PKI / f"{node}.crt")
    assert renewed["serial"] != short["serial"], "expected the short-lived certificate to be replaced"
    # Patroni applies a SIGHUP on its next loop (loop_wait), hence the wait.
    for port, service in ((5432, "PostgreSQL"), (8008, "Patroni's REST API"), (2379, "etcd")):

        def serves_renewed(port=port):
            return served_certificate(ADDRESSES[node], port).get("serial") == renewed["serial"]

        served = served_certificate(ADDRESSES[node], port) if not wait_for(serves_renewed, 15) else renewed
        assert served == renewed, f"{service} still serves {served}, expected {renewed}"
    assert query(ADDRESSES[node], 5432, "SELECT pg_postmaster_start_time()")[0][0] == started, "PostgreSQL restarted"
    assert leader_name() == leader, "expected no failover"
    assert query(BALANCER_HOST, PRIMARY_PORT, "SELECT 1") == [(1,)]
