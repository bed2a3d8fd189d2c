"""Every blueprint of the API, in registration order."""

from . import backups, events, graphql, health, openapi, publish, replication, stats, status

BLUEPRINTS = [m.bp for m in (publish, events, stats, replication, backups, graphql, status, health, openapi)]
