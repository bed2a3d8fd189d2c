"""gunicorn settings the service loads (--config python:aggregator.gunicorn_conf)."""

import os


def child_exit(server, worker):
    """A worker that exited no longer counts in the node's live gauges (its counters
    stay: they are totals)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
