#!/usr/bin/python3
"""Alertmanager webhook receiver: appends every notification (one JSON line each, with
the time it arrived) to a log people and tests read.

POST /  an Alertmanager webhook payload. Loopback only: Alertmanager runs on the same node.
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def handler_for(log_path):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_error(400, "body is not JSON")
                return
            line = json.dumps({"received_at": time.time(), "notification": payload})
            with LOCK, open(log_path, "a", encoding="utf-8") as log:
                log.write(line + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(args.log)).serve_forever()


if __name__ == "__main__":
    main()
