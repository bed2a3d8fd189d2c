"""patroni_cluster_problems: what keeps a Patroni cluster from being whole (an empty
list when it is whole). The one definition the role's waits and the switchover use.
patroni_retiring_problems: what keeps a member that leaves from stopping yet."""

# Roles of a replica that acknowledges commits: synchronous mode's, quorum mode's.
SYNCHRONOUS_ROLES = ("sync_standby", "quorum_standby")


def synchronous_on(mode):
    """Patroni's synchronous_mode (true, false, "quorum"), however a template rendered
    it ("False" as text is off), as on or off."""
    if isinstance(mode, str):
        return mode.strip().lower() in ("true", "yes", "on", "quorum")
    return bool(mode)


def patroni_cluster_problems(cluster, members, synchronous, leader=None, restarted=None):
    """`cluster` is GET /cluster's body; `members` the inventory's member names;
    `synchronous` the synchronous_mode the cluster is judged by."""
    found = (cluster or {}).get("members") or []
    problems = []
    names = {m["name"] for m in found}
    missing = sorted(set(members) - names)
    if missing:
        problems.append(f"missing members: {', '.join(missing)}")
    leaders = [m["name"] for m in found if m["role"] == "leader" and m["state"] == "running"]
    if len(leaders) != 1:
        problems.append(f"expected one running leader, found {leaders or 'none'}")
    elif leader and leaders[0] != leader:
        problems.append(f"expected {leader} to lead, found {leaders[0]}")
    lagging = [f"{m['name']} ({m['state']})" for m in found if m["role"] != "leader" and m["state"] != "streaming"]
    if lagging:
        problems.append(f"not streaming: {', '.join(lagging)}")
    if synchronous_on(synchronous) and len(members) > 1 and not any(m["role"] in SYNCHRONOUS_ROLES for m in found):
        problems.append("synchronous mode is on but no synchronous standby is designated")
    if restarted and any(m["name"] == restarted and m.get("pending_restart") for m in found):
        problems.append(f"{restarted} still waits for a restart")
    return problems


def patroni_retiring_problems(cluster, name, synchronous):
    """What keeps member `name` (tagged to leave) from stopping without a pause in
    synchronous commits: its nosync tag not yet seen, still a synchronous standby, or
    no other member taking that role (empty when it may stop)."""
    found = (cluster or {}).get("members") or []
    problems = []
    tags = next((m.get("tags") or {} for m in found if m["name"] == name), {})
    if not tags.get("nosync"):
        problems.append(f"{name} does not show its nosync tag yet")
    synchronous_members = [m["name"] for m in found if m["role"] in SYNCHRONOUS_ROLES]
    if name in synchronous_members:
        problems.append(f"{name} is still a synchronous standby")
    if synchronous_on(synchronous) and not [m for m in synchronous_members if m != name]:
        problems.append("no other member is a synchronous standby yet")
    return problems


def patroni_switchover_candidate(cluster):
    """The synchronous standby, else the first streaming replica ('' when none)."""
    found = (cluster or {}).get("members") or []
    for role in (*SYNCHRONOUS_ROLES, "replica"):
        for m in found:
            if m["role"] == role and m["state"] == "streaming":
                return m["name"]
    return ""


class FilterModule:
    def filters(self):
        return {
            "patroni_cluster_problems": patroni_cluster_problems,
            "patroni_retiring_problems": patroni_retiring_problems,
            "patroni_switchover_candidate": patroni_switchover_candidate,
        }
