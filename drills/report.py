"""Drill reports: JSON, a Markdown summary, and a PNG timeline."""

import datetime
import json
import pathlib

# A Figure made directly needs no pyplot backend: the drills run on machines without a screen.
from matplotlib.figure import Figure

from . import analysis

DEFAULT_DIR = pathlib.Path(__file__).resolve().parents[1] / "reports" / "drills"

COLUMNS = [
    ("drill", "drill"),
    ("write gap s / bound s", "gap_and_bound"),
    ("acks in the second before", "acks_second_before_fault"),
    ("most unknown probe", "unknown"),
    ("to new leader s", "time_to_new_leader_s"),
    ("key gone / elected / writable / every HAProxy / first ack s", "phases"),
    ("failover", "failover"),
    ("acked", "acknowledged"),
    ("acked lost", "acknowledged_lost"),
    ("split-brain samples (+ fenced)", "split_brain"),
    ("rejoin s", None),
    ("VIP moved s", "vip_moved_after_s"),
    ("two VIP holders max s", "vip_two_holders_max_s"),
    ("retried / failed requests (unacknowledged attempts)", "requests"),
    ("alert fired / resolved s", "alerts"),
    ("Prometheus leaders (most at once)", "prometheus_leaders"),
    ("observed effect", "fault_effect"),
    ("passed", "passed"),
]


def report_folder(base, name, started):
    """reports/drills/<start time>-<drill>/, created."""
    stamp = datetime.datetime.fromtimestamp(started).strftime("%Y%m%d-%H%M%S")
    folder = pathlib.Path(base or DEFAULT_DIR) / f"{stamp}-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_report(result, samples, ack_times, end_time, base=None):
    folder = report_folder(base, result["drill"], result["fault_time"])
    (folder / "report.json").write_text(json.dumps(result, indent=2, default=str))
    (folder / "samples.json").write_text(json.dumps(samples, default=str))
    (folder / "summary.md").write_text(markdown_table([result]))
    plot(result, samples, ack_times, end_time, folder / "timeline.png")
    return str(folder)


def row(result):
    cells = []
    for _, key in COLUMNS:
        if key is None:
            rejoin = result.get("rejoin")
            cells.append("-" if not rejoin else f"{rejoin['seconds']}{' REINIT' if rejoin['reinit'] else ''}")
        elif key == "gap_and_bound":
            cells.append(f"{result.get('write_downtime_s')} / {result.get('write_gap_bound_s')}")
        elif key == "phases":
            cells.append(phases(result.get("failover_timeline") or {}))
        elif key == "unknown":
            cells.append(most_unknown(result))
        elif key == "split_brain":  # a second read-write node that could acknowledge nothing is shown apart
            fenced = result.get("fenced_primary_samples")
            cells.append(f"{result.get('split_brain_samples')}{f' (+{fenced} fenced)' if fenced else ''}")
        elif key == "requests":
            causes = result.get("unacknowledged_attempts") or {}
            shown = f" ({', '.join(f'{cause}: {n}' for cause, n in sorted(causes.items()))})" if causes else ""
            cells.append(f"{result.get('retried_requests')} / {result.get('failed_requests')}{shown}")
        elif key == "alerts":  # seconds from the fault to firing / from the heal to resolved
            alerts = result.get("alerts") or {}
            cells.append(
                "; ".join(f"{n} {a['fired_after_s']} / {a['resolved_after_heal_s']}" for n, a in alerts.items()) or "-"
            )
        elif key == "prometheus_leaders":
            leaders = result.get("prometheus_leaders")
            cells.append(f"{', '.join(leaders['leaders'])} ({leaders['most_at_once']})" if leaders else "-")
        else:
            cells.append(str(result.get(key)))
    return "| " + " | ".join(cells) + " |"


def phases(timeline):
    """The failover timeline's phases in one cell ("-": no successor was seen)."""
    if not timeline.get("successor"):
        return "-"
    keys = ("leader_key_released_s", "leader_key_taken_s", "successor_writable_s", "every_balancer_switched_s")
    return " / ".join(str(timeline.get(k)) for k in (*keys, "first_ack_after_s"))


def most_unknown(result):
    """The probe unknown for the largest share of the fault window, with that share."""
    shares = result.get("unknown_share") or {}
    if not shares:
        return "none"
    probe = max(shares, key=shares.get)
    return f"{probe} {shares[probe]:.1%}"


def markdown_table(results):
    header = "| " + " | ".join(c for c, _ in COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    return header + "\n".join(row(r) for r in results) + "\n"


def plot(result, samples, ack_times, end_time, path):
    start = result["fault_time"] - 6
    buckets = analysis.acks_per_bucket(ack_times, start, end_time)
    xs = [i * 0.1 - 6 for i in range(len(buckets))]
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    ax.bar(xs, buckets, width=0.1, color="tab:blue", label="acknowledged events / 100 ms")
    ax.axvline(0, color="red", linestyle="--", label="fault")
    ax.axvline(result["heal_time"] - result["fault_time"], color="green", linestyle="--", label="heal")
    ax.axvline(result["settle_time"] - result["fault_time"], color="gray", linestyle=":", label="settled")
    top = max(buckets or [1])
    for t, leader in analysis.leader_changes(samples):
        if t >= start:
            ax.annotate(
                f"leader: {leader or 'none'}", (t - result["fault_time"], top), rotation=90, fontsize=8, va="top"
            )
    ax.set_xlabel("seconds from fault")
    ax.set_ylabel("acks / 100 ms")
    ax.set_title(
        f"{result['drill']}: downtime {result['write_downtime_s']} s, lost {result['acknowledged_lost']}, "
        f"split-brain samples {result['split_brain_samples']}"
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
