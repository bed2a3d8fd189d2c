"""The read-only GraphQL gateway (POST/GET /graphql): one query for what the status page
shows. Cluster members come from Patroni, replication and stats from the database (the
same functions as GET /replication and /stats), alerts from Alertmanager, the ingest
rate and the front door from Prometheus. A field whose source does not answer is null
with a GraphQL error naming the source; the other fields still answer."""

from typing import NewType

import psycopg2
import strawberry
from flask import current_app, g
from strawberry.schema.config import StrawberryConfig

from . import backups as backup_health
from . import replication as replication_health
from . import stats as counters
from .monitoring import NotConfigured
from .runtime import current_runtime

# Counters outgrow GraphQL's 32-bit Int.
Long = NewType("Long", int)


@strawberry.type(description="A Patroni member, with its replication seen from the primary.")
class Member:
    name: str
    role: str = strawberry.field(description="leader, sync_standby or replica (Patroni's)")
    state: str = strawberry.field(description="running, streaming, stopped ... (Patroni's)")
    host: str | None
    timeline: int | None
    lag_bytes: Long | None = strawberry.field(description="Bytes of WAL not replayed yet (standbys)")
    replay_lag_seconds: float | None = strawberry.field(description="Seconds the replay is behind (standbys)")
    status: str = strawberry.field(
        description="LEADER; for standbys HEALTHY (<= 5 s and <= 10 MB), WARNING (> 10 MB or > 5 s), "
        "CRITICAL (> 100 MB) or NOT STREAMING"
    )


@strawberry.type
class Cluster:
    leader: str | None
    members: list[Member]
    source: str | None = strawberry.field(description="The Patroni REST API that answered")


@strawberry.type
class Slot:
    slot_name: str
    slot_type: str
    active: bool
    retained_bytes: Long | None
    status: str = strawberry.field(description="OK, WARNING (> 100 MB retained) or CRITICAL (> 1 GB)")


@strawberry.type
class Replication:
    primary: bool
    slots: list[Slot]
    alerts: list[str]


@strawberry.type(description="GET /stats: exact counters of this deployment.")
class Stats:
    received: Long
    unique_processed: Long
    duplicate_dropped: Long
    topics: list[str]
    batches: Long
    uptime: float


@strawberry.type(description="An alert Alertmanager holds as firing.")
class Alert:
    name: str
    severity: str | None
    instance: str | None
    summary: str | None
    starts_at: str | None


@strawberry.type(description="The newest switchover or failover in Patroni's history.")
class Failover:
    timeline: int = strawberry.field(description="The timeline it ended")
    at: str | None
    reason: str | None
    new_leader: str | None


@strawberry.type
class Balancer:
    name: str
    up: bool = strawberry.field(description="Prometheus scrapes its HAProxy")
    holds_vip: bool | None = strawberry.field(description="keepalived holds the VIP here (None: no VIP)")
    primary_servers: int | None = strawberry.field(description="Servers up in HAProxy's primary backend")


@strawberry.type
class FrontDoor:
    vip: str | None
    balancers: list[Balancer]


@strawberry.type
class Backups:
    archiving_status: str = strawberry.field(description="OK, OFF or CRITICAL")
    last_archived_age_seconds: float | None
    backup_status: str | None = strawberry.field(description="OK or WARNING (none, or older than 26 h)")
    newest_full_age_seconds: Long | None
    newest_age_seconds: Long | None = strawberry.field(description="Age of the newest backup of any type")
    alerts: list[str]


def _members(patroni, standbys, known=()):
    """Patroni's members; a standby's lag and status from the primary's
    pg_stat_replication when it answered (`standbys` not None), else from Patroni. A
    `known` member (Prometheus scrapes its Patroni) that Patroni no longer lists, e.g.
    one whose Patroni was stopped, is shown not streaming."""
    by_name = {s["application_name"]: s for s in standbys or []}
    members = []
    for m in patroni["members"]:
        standby = by_name.get(m["name"])
        patroni_lag = m.get("lag") if isinstance(m.get("lag"), int) else None
        if m["role"] == "leader":
            status, lag, seconds = "LEADER", None, None
        elif standby:
            status, lag, seconds = standby["status"], standby["lag_bytes"], standby["replay_lag_seconds"]
        elif standbys is None and m["state"] == "streaming":
            status, lag, seconds = replication_health.standby_status("streaming", patroni_lag, None), patroni_lag, None
        else:
            status, lag, seconds = "NOT STREAMING", patroni_lag, None
        members.append(
            Member(
                name=m["name"],
                role=m["role"],
                state=m["state"],
                host=m.get("host"),
                timeline=m.get("timeline"),
                lag_bytes=lag,
                replay_lag_seconds=seconds,
                status=status,
            )
        )
    listed = {m.name for m in members}
    for name in sorted(set(known) - listed):
        members.append(
            Member(
                name=name,
                role="unknown",
                state="not in the cluster",
                host=None,
                timeline=None,
                lag_bytes=None,
                replay_lag_seconds=None,
                status="NOT STREAMING",
            )
        )
    return members


def _known_members():
    """Members Prometheus scrapes Patroni on (none when it does not answer)."""
    try:
        return [labels["instance"] for labels, _ in current_runtime().monitoring.query('up{job="patroni"}')]
    except (NotConfigured, OSError, ValueError, KeyError):
        return []


def _from_primary():
    """The primary's standbys and slots, read once per request: `cluster` and
    `replication` in one query share them."""
    if "pgha_from_primary" not in g:
        g.pgha_from_primary = replication_health.from_primary(current_runtime().primary_reads)
    return g.pgha_from_primary


def _patroni():
    config = current_app.config
    return config["PATRONI_URLS"], config["PATRONI_CA_FILE"]


@strawberry.type
class Query:
    @strawberry.field(description="Patroni's members with role, state, timeline and lag")
    def cluster(self) -> Cluster | None:
        patroni = replication_health.patroni_cluster(*_patroni())
        if patroni["source"] is None:
            raise RuntimeError(f"no Patroni REST API answered: {'; '.join(patroni['errors'])}")
        try:  # during a failover the primary may not answer: Patroni's view alone
            standbys = _from_primary()["standbys"]
        except psycopg2.Error:
            standbys = None
        members = _members(patroni, standbys, _known_members())
        leader = next((m.name for m in members if m.role == "leader"), None)
        return Cluster(leader=leader, members=members, source=patroni["source"])

    @strawberry.field(description="Replication slots and the reference design's alerts, from the primary")
    def replication(self) -> Replication | None:
        body = _from_primary()
        slots = [Slot(**s) for s in body["slots"]]
        return Replication(primary=body["primary"], slots=slots, alerts=body["alerts"])

    @strawberry.field(description="The aggregator's counters (GET /stats)")
    def stats(self) -> Stats | None:
        rt = current_runtime()
        body = counters.current(rt.reads, rt.started, rt.heartbeat.gap)
        return Stats(**{k: body[k] for k in ("received", "unique_processed", "duplicate_dropped", "batches")},
                     topics=body["topics"], uptime=body["uptime"])  # fmt: skip

    @strawberry.field(description="Events received per second over the last minute, every aggregator (Prometheus)")
    def ingest_rate(self) -> float | None:
        found = current_runtime().monitoring.query("sum(rate(aggregator_events_received_total[1m]))")
        return round(found[0][1], 1) if found else None  # no such series: unknown, not zero

    @strawberry.field(description="Alerts firing in Alertmanager")
    def alerts(self) -> list[Alert] | None:
        return [Alert(**a) for a in current_runtime().monitoring.alerts()]

    @strawberry.field(description="The newest switchover or failover (Patroni's history); null before any")
    def last_failover(self) -> Failover | None:
        found = replication_health.last_failover(*_patroni())
        if found is None:
            return None
        return Failover(
            timeline=found["timeline"], at=found["at"], reason=found["reason"], new_leader=found["new_leader"]
        )

    @strawberry.field(description="The balancers: HAProxy up, its primary backend, and which holds the VIP")
    def front_door(self) -> FrontDoor | None:
        monitoring = current_runtime().monitoring
        up = {labels["instance"]: value == 1 for labels, value in monitoring.query('up{job="haproxy"}')}
        servers = dict(
            (labels["instance"], int(value))
            for labels, value in monitoring.query('haproxy_backend_active_servers{proxy="primary"}')
        )
        vrrp = monitoring.query('pgha_vip_held{vrrp_instance="pgha_vip"}')
        holders = {labels["instance"]: value == 1 for labels, value in vrrp}
        vip = next((labels.get("vip") for labels, _ in vrrp), None)
        balancers = [
            Balancer(
                name=name,
                up=up[name],
                holds_vip=holders.get(name) if vip else None,
                primary_servers=servers.get(name),
            )
            for name in sorted(up)
        ]
        return FrontDoor(vip=vip, balancers=balancers)

    @strawberry.field(description="WAL archiving and the newest backups (GET /backups)")
    def backups(self) -> Backups | None:
        body = backup_health.current(current_runtime().primary_reads, current_app.config["BACKUP_INFO"])
        archiving, repository = body["archiving"], body["backups"] or {}
        newest = (repository.get("newest") or {}).values()
        ages = [b["age_seconds"] for b in newest]
        full = (repository.get("newest") or {}).get("full")
        return Backups(
            archiving_status=archiving["status"],
            last_archived_age_seconds=archiving["last_archived_age_seconds"],
            backup_status=repository.get("status"),
            newest_full_age_seconds=full["age_seconds"] if full else None,
            newest_age_seconds=min(ages) if ages else None,
            alerts=body["alerts"],
        )


schema = strawberry.Schema(
    query=Query,
    config=StrawberryConfig(
        scalar_map={
            Long: strawberry.scalar(name="Long", serialize=int, parse_value=int, description="A 64-bit integer")
        }
    ),
)
