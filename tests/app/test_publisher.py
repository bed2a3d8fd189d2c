"""The publisher against the app served over real HTTP."""

import signal
import ssl
import subprocess
import sys
import threading

import pytest
from conftest import TOKEN
from werkzeug.serving import make_server

from publisher import load as publisher
from testbed import tlsfiles


@pytest.fixture
def served(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_publisher_sends_duplicates_and_verifies_stats(served, sql, tmp_path, capsys):
    ack_log = tmp_path / "acks.tsv"
    code = publisher.main(
        [
            "--url",
            served,
            "--events",
            "1000",
            "--batch-size",
            "50",
            "--concurrency",
            "4",
            "--ack-log",
            str(ack_log),
            "--seed",
            "1",
            "--token",
            TOKEN,
            "--read-token",
            TOKEN,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "result: OK" in out
    lines = ack_log.read_text().splitlines()
    assert len(lines) == 1000
    acked = {tuple(line.split("\t")[:2]) for line in lines}
    assert len(acked) == 700
    assert sql("SELECT count(*) FROM events")[0][0] == 700


def test_publisher_detects_a_mismatch(served, client, capsys):
    # Events already stored turn this run's "unique" events into duplicates.
    client.post("/publish", json=[{"topic": "topic-0", "event_id": "fixed-0"}])
    code = publisher.main(
        [
            "--url",
            served,
            "--events",
            "10",
            "--batch-size",
            "1",
            "--run-id",
            "fixed",
            "--topics",
            "1",
            "--token",
            TOKEN,
            "--read-token",
            TOKEN,
        ]
    )
    assert code == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_latency_is_end_to_end_through_an_outage(make_app, pg_server, capsys):
    """Through a database outage the latency figures, the attempt count and the longest
    acknowledgement gap include the time spent retrying, not only the last attempt."""
    app = make_app(RETRY_DEADLINE_SECONDS=0.5)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    outage = 3.0
    pg_server.stop()
    threading.Timer(outage, pg_server.start).start()
    try:
        code = publisher.main(
            ["--url", f"http://127.0.0.1:{server.server_port}", "--events", "4", "--batch-size", "1",
             "--concurrency", "1", "--retries", "30", "--no-verify", "--token", TOKEN]
        )  # fmt: skip
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert code == 0, out
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    end_to_end_max = float(figures["request latency ms, first send to acknowledgement"].split("max ")[1])
    last_attempt_max = float(figures["last attempt only ms (retries excluded)"].split("max ")[1])
    assert end_to_end_max >= 1000 * outage * 0.8, out
    assert last_attempt_max < end_to_end_max, out
    assert int(figures["attempts"].split(",")[0]) > 4, out
    assert float(figures["longest gap between acknowledgements"].rstrip(" s")) >= outage * 0.8, out
    # The app answered 503 through the outage (the retry deadline is shorter than it):
    # the attempts it did not acknowledge are counted by that cause.
    causes = dict(item.split(" ") for item in figures["attempts without an acknowledgement"].split(", "))
    assert int(causes["503"]) > 0 and "connection" not in causes, out


@pytest.fixture
def served_https(app, tmp_path):
    """The app behind real HTTPS with a certificate from a throw-away CA."""
    tls = tlsfiles.write(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls["cert"], tls["key"])
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_port}", str(tls["ca"])
    server.shutdown()


def publish_over_https(url, extra):
    args = ["--url", url, "--events", "100", "--batch-size", "10", "--concurrency", "2", "--seed", "2"]
    return publisher.main([*args, "--retries", "0", "--token", TOKEN, "--read-token", TOKEN, *extra])


def test_publisher_speaks_https_verified_against_the_ca(served_https, capsys):
    url, ca = served_https
    code = publish_over_https(url, ["--cacert", ca])
    assert code == 0, capsys.readouterr().out


def test_publisher_refuses_a_server_its_ca_did_not_sign(served_https, capsys):
    url, _ = served_https
    with pytest.raises(ssl.SSLCertVerificationError):
        publish_over_https(url, [])  # the /stats check before sending fails verification


def test_publisher_stops_when_its_stop_file_appears(served, tmp_path, capsys):
    """An open-ended load (a drill that ends when its heal does) stops at the stop file
    and still reports what it sent: 1 s of a 10 s load."""
    stop = tmp_path / "stop"
    threading.Timer(1.0, stop.touch).start()
    args = ["--url", served, "--events", "2000", "--rate", "200", "--batch-size", "10", "--token", TOKEN]
    code = publisher.main([*args, "--stop-file", str(stop), "--no-verify"])
    out = capsys.readouterr().out
    assert code == 0, out
    elapsed = float(out.split(" events (")[1].split(" in ")[1].split(" s")[0])
    assert elapsed < 3, f"expected the publisher to stop about 1 s in, it ran {elapsed} s\n{out}"


def test_every_counted_acknowledgement_is_in_the_log_when_the_publisher_is_killed(served, tmp_path):
    """SIGKILL mid-run (as a drill's timeout does): the last count the publisher printed
    is at most what its log holds, so nothing it counted vanished with its buffers."""
    ack_log = tmp_path / "acks.tsv"
    args = ["--url", served, "--events", "200000", "--batch-size", "1", "--concurrency", "4", "--no-verify"]
    process = subprocess.Popen(
        [sys.executable, "-m", "publisher", *args, "--token", TOKEN, "--ack-log", str(ack_log), "--progress", "0.05"],
        stdout=subprocess.PIPE,
        text=True,
    )
    counted = 0
    for line in process.stdout:
        counted = int(line.rsplit(" ", 1)[1]) if line.startswith("acknowledged so far") else counted
        if counted >= 300:
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    logged = len(ack_log.read_text().splitlines())
    assert counted >= 300, "the publisher ended before it was killed"
    assert logged >= counted, f"the publisher counted {counted} acknowledgements, its log holds {logged}"
