"""PostgreSQL on the nodes, over verify-full TLS as the superuser."""

import psycopg2


def run_sql(conn, statement, params=None):
    """One statement in autocommit on `conn`, which is closed after: its rows, or None."""
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


class PostgresAccess:
    """Needs `nodes`, `ca_file`, `postgres_port`, `setting()` and `secret()`."""

    def connect(self, address, port=None, timeout=2, dbname="aggregator", **options):
        return psycopg2.connect(
            host=address,
            port=port or self.postgres_port,
            user=self.setting("patroni_superuser_username"),
            password=self.secret("postgres_superuser"),
            dbname=dbname,
            connect_timeout=timeout,
            application_name="drill",
            sslmode="verify-full",
            sslrootcert=self.ca_file,
            # A peer cut off the network never answers: give up on unacknowledged data
            # after half a second instead of the kernel's minutes of retransmissions.
            tcp_user_timeout=500,
            keepalives=1,
            keepalives_idle=1,
            keepalives_interval=1,
            keepalives_count=2,
            **options,
        )

    def data_directory(self, name):
        """The data directory as the node's PostgreSQL reports it (PostgreSQL 15 or 16)."""
        rows = run_sql(self.connect(self.nodes[name], dbname="postgres"), "SHOW data_directory")
        return rows[0][0]
