#!/usr/bin/python3
"""Prints the stanza's newest successful backup per type as Prometheus text (systemd
writes it into the node exporter's textfile folder): the alert rules tell from it when
the newest backup is too old. Usage: pgbackrest_metrics.py <stanza>"""

import json
import subprocess
import sys

stanza = sys.argv[1]
run = subprocess.run(["pgbackrest", f"--stanza={stanza}", "--output=json", "info"], capture_output=True, text=True)
info = json.loads(run.stdout) if run.returncode == 0 else []
print("# HELP pgha_backup_info_ok 1 when pgbackrest info read the repository.")
print("# TYPE pgha_backup_info_ok gauge")
print(f'pgha_backup_info_ok{{stanza="{stanza}"}} {int(bool(info) and info[0]["status"]["code"] == 0)}')
print("# HELP pgha_backup_last_completion_timestamp_seconds End of the newest successful backup of a type.")
print("# TYPE pgha_backup_last_completion_timestamp_seconds gauge")
newest = {}
for backup in info[0].get("backup", []) if info else []:
    if not backup.get("error"):
        newest[backup["type"]] = max(newest.get(backup["type"], 0), backup["timestamp"]["stop"])
for kind, stop in sorted(newest.items()):
    print(f'pgha_backup_last_completion_timestamp_seconds{{stanza="{stanza}",type="{kind}"}} {stop}')
