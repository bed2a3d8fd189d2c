"""The front door: which balancer holds the VIP, and HAProxy's view of the aggregators."""


def vip_check(vip):
    """The command that prints the VIP's line when the node's interface carries it."""
    return ("ip", "-4", "-o", "addr", "show", "to", f"{vip}/32")


# The proxies of haproxy.cfg the drills read: the database leader's and the aggregators'.
PRIMARY_PROXY = "primary"
API_PROXY = "aggregators"


def proxy_servers(stats_csv, proxy):
    """{server: status} of one proxy in HAProxy's CSV statistics (`show stat` or the
    stats page's ;csv), its FRONTEND and BACKEND rows left out."""
    rows = [line.split(",") for line in stats_csv.splitlines() if line.startswith(f"{proxy},")]
    return {r[1]: r[17] for r in rows if len(r) > 17 and r[1] not in ("FRONTEND", "BACKEND")}


class FrontDoor:
    """Needs `vip`, `balancers`, `aggregators` and `exec()`."""

    def vip_holders(self):
        """The balancers whose interface carries the VIP now (a stopped one holds nothing)."""
        holders = []
        for name in self.balancers:
            out = self.exec(name, *vip_check(self.vip), check=False)
            if out.returncode == 0 and out.stdout.strip():
                holders.append(name)
        return holders

    def api_servers(self, balancer):
        """{aggregator: status} of the API backend as `balancer`'s HAProxy sees it."""
        return proxy_servers(self.exec(balancer, "haproxy-admin", "show stat").stdout, API_PROXY)

    def front_door_whole(self):
        """Without a VIP: nothing to check. With one: exactly one balancer holds it and its
        HAProxy sends requests to every aggregator."""
        if not self.vip:
            return True
        holders = self.vip_holders()
        if len(holders) != 1:
            return False
        servers = self.api_servers(holders[0])
        return sorted(servers) == sorted(self.aggregators) and all(v.startswith("UP") for v in servers.values())
