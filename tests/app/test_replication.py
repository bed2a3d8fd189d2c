"""Replication health: thresholds of the reference design, and the endpoint."""

import http.server
import json
import ssl
import threading

import pytest

from aggregator.replication import MB, patroni_cluster, report, slot_status, standby_status
from testbed import tlsfiles


@pytest.mark.parametrize(
    ("state", "lag_bytes", "lag_seconds", "expected"),
    [
        ("streaming", 0, 0.0, "HEALTHY"),
        ("streaming", 10 * MB, 5.0, "HEALTHY"),
        ("streaming", 10 * MB + 1, 0.0, "WARNING"),
        ("streaming", 0, 5.1, "WARNING"),
        ("streaming", 100 * MB, 0.0, "WARNING"),
        ("streaming", 100 * MB + 1, 0.0, "CRITICAL"),
        ("streaming", None, None, "HEALTHY"),
        ("catchup", 0, 0.0, "NOT STREAMING"),
        ("startup", 500 * MB, 60.0, "NOT STREAMING"),
    ],
)
def test_standby_status(state, lag_bytes, lag_seconds, expected):
    assert standby_status(state, lag_bytes, lag_seconds) == expected


@pytest.mark.parametrize(
    ("retained", "expected"),
    [(0, "OK"), (100 * MB, "OK"), (100 * MB + 1, "WARNING"), (1024 * MB, "WARNING"), (1024 * MB + 1, "CRITICAL")],
)
def test_slot_status(retained, expected):
    assert slot_status(retained) == expected


def test_report_alerts_when_no_replica_is_connected():
    assert report([], [])["alerts"] == ["NO REPLICA CONNECTED"]


def test_report_lists_unhealthy_standbys_and_inactive_slots():
    result = report(
        [("pg2", "10.0.0.2", "streaming", "sync", 0, 0.1), ("pg3", "10.0.0.3", "streaming", "async", 200 * MB, 1.0)],
        [("pg2", "physical", True, 0), ("pg3", "physical", False, 2048 * MB)],
    )
    assert [s["status"] for s in result["standbys"]] == ["HEALTHY", "CRITICAL"]
    assert result["alerts"] == ["standby pg3: CRITICAL", "slot pg3: CRITICAL", "slot pg3: inactive"]


def test_endpoint_on_a_standalone_primary(make_app):
    client = make_app(PATRONI_URLS="http://127.0.0.1:9/").test_client()
    body = client.get("/replication").json
    assert body["primary"] is True
    assert body["standbys"] == []
    assert "NO REPLICA CONNECTED" in body["alerts"]
    assert body["patroni"]["members"] == [] and body["patroni"]["errors"]


@pytest.fixture
def https_patroni(tmp_path):
    """A real HTTPS server answering GET /cluster like Patroni, with a certificate from a
    throw-away CA."""
    tls = tlsfiles.write(tmp_path)
    body = json.dumps({"members": [{"name": "pg1", "role": "leader", "state": "running", "timeline": 3}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls["cert"], tls["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", str(tls["ca"])
    server.shutdown()


def test_patroni_over_https_is_verified_against_the_given_ca(https_patroni):
    url, ca = https_patroni
    result = patroni_cluster([url], ca)
    assert result["source"] == url
    assert [m["name"] for m in result["members"]] == ["pg1"]


def test_patroni_with_a_certificate_from_another_ca_is_refused(https_patroni):
    url, _ = https_patroni
    result = patroni_cluster([url])  # the system's CAs never signed it
    assert result["members"] == []
    assert "CERTIFICATE_VERIFY_FAILED" in result["errors"][0], result["errors"]
