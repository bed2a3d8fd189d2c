"""Failover drills: break the cluster under live ingest and check the invariants."""
