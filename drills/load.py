"""The drills' load: the publisher at a fixed offered rate, its acknowledgement log and
its own count of retried and failed requests."""

import os
import re
import subprocess
import sys


def start_load(cluster, rate, ack_log, duration, run_id, stop_file=None):
    """The publisher at `rate` events/s for `duration` s (or until `stop_file` exists),
    logging each acknowledged event."""
    events = int(rate * duration)
    cmd = [
        sys.executable, "-m", "publisher", "--url", cluster.api_url, "--events", str(events),
        "--rate", str(rate), "--batch-size", "5", "--concurrency", "8", "--duplicate-rate", "0",
        "--topics", "1", "--retries", "40", "--timeout", "45", "--ack-log", ack_log, "--run-id", run_id,
        "--no-verify", *(["--stop-file", stop_file] if stop_file else []),
    ]  # fmt: skip
    # The token goes through the environment, not the command line (ps shows that).
    token, ca = cluster.api_token("write"), cluster.ca_file
    env = dict(os.environ, AGGREGATOR_PUBLISH_TOKEN=token, AGGREGATOR_CA_FILE=ca)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def finish(process, timeout):
    """The publisher's output once it ended (killed after `timeout` s)."""
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


def read_acks(path):
    """[(topic, event_id, ack time)] from an acknowledgement log ([] when there is none)."""
    acks = []
    try:
        with open(path) as f:
            for line in f:
                topic, event_id, t = line.rstrip("\n").split("\t")
                acks.append((topic, event_id, float(t)))
    except FileNotFoundError:
        pass
    return acks


def publisher_counts(output):
    """The publisher's own count of retried and failed requests, and of the attempts it
    was not acknowledged by cause: an HTTP status ("503") or a broken "connection"
    (None when it printed none)."""
    found = re.search(r"retried requests: (\d+), failed requests: (\d+)", output)
    retried, failed = (int(found.group(1)), int(found.group(2))) if found else (None, None)
    causes = re.search(r"attempts without an acknowledgement: (.*)", output)
    unacknowledged = None
    if causes:
        pairs = [item.rsplit(" ", 1) for item in causes.group(1).split(", ") if item != "none"]
        unacknowledged = {cause: int(n) for cause, n in pairs}
    return {"retried_requests": retried, "failed_requests": failed, "unacknowledged_attempts": unacknowledged}
