"""The load generator for POST /publish (`python -m publisher`): at-least-once
delivery with retries, an acknowledgement log, and the /stats check the drills and
benchmarks rely on. A client of the aggregator, not part of it."""
