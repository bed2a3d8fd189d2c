"""/metrics under gunicorn with several workers: one scrape gives the node's totals."""

import re
from concurrent.futures import ThreadPoolExecutor

import gunicorn_app
import pytest

WORKERS = 3


def call(port, method, path, body=None):
    return gunicorn_app.request(port, method, path, body, close=True)


@pytest.fixture
def workers(database_url, tmp_path):
    """The app as deployed: gevent workers, the multiprocess folder, the child_exit hook."""
    port, process = gunicorn_app.start(
        database_url,
        *("--workers", str(WORKERS), "--config", "python:aggregator.gunicorn_conf"),
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
    )
    yield port, tmp_path
    gunicorn_app.stop(process)


def sample(text, name):
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_one_scrape_counts_every_worker(workers):
    port, folder = workers
    with ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(lambda i: call(port, "POST", "/publish", {"event_id": f"m-{i}"})[0], range(300)))
    assert statuses == [202] * 300
    # Each worker that served a request left its own file: the load was spread.
    writers = {path.name.split("_")[-1] for path in folder.glob("counter_*.db")}
    assert len(writers) > 1, f"expected several workers to serve, found files for {writers}"
    for _ in range(WORKERS * 2):  # whichever worker answers, the totals are the node's
        text = call(port, "GET", "/metrics")[1]
        assert sample(text, "aggregator_events_received_total") == 300, text[:2000]
        assert sample(text, "aggregator_events_unique_total") == 300
        assert sample(text, 'aggregator_http_responses_total{code="2xx"}') >= 300
    assert sample(text, "aggregator_queue_events") == 0
    # Capacity of the queues that exist (a worker builds its pool on its first publish).
    capacity = sample(text, "aggregator_queue_capacity_events")
    assert capacity in {n * 100_000 for n in range(2, WORKERS + 1)}, capacity
