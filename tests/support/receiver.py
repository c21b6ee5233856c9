"""A small HTTP receiver for webhooks, lineage events and pushed metrics, run as its own
process on 127.0.0.1 by the tests (see the ``receiver`` fixture in tests/conftest.py).

    python receiver.py --log requests.jsonl [--mode ok|fail|hang] [--status 200]

It prints its port on the first line of stdout, then serves until killed. Every request is
appended to the log as one JSON line: method, path, headers, body (text) and the time.
``fail`` answers 500, ``hang`` reads the request and never answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--mode", choices=["ok", "fail", "hang"], default="ok")
    parser.add_argument("--status", type=int, default=200)
    args = parser.parse_args()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            entry = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
                "time": time.time(),
            }
            with lock, open(args.log, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
            if args.mode == "hang":
                time.sleep(3600)
                return
            status = 500 if args.mode == "fail" else args.status
            payload = b"ok" if status < 400 else b"failing on purpose"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = do_GET = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
