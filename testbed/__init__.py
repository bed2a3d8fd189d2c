"""What the tests and the benchmarks stand on: a throw-away PostgreSQL server from the
machine's binaries (`testbed.pgserver`) and throw-away TLS files (`testbed.tlsfiles`)."""
