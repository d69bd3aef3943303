#!/usr/bin/python3
"""nginx-test-backend: a STAND-IN for the berth Flask app, used only by the
molecule/nginx-tested-before-live scenario so the nginx role can be tested on its own.

It answers like the real app (roles/flask_app): `/` and `/airbnb-onepage/`
return `Hello HBNB!`, `/health` returns JSON. It listens on the address and
port given on the command line, which prepare.yml takes from the registry's
app_http entry. `/slow` (test-only) answers after a few seconds, so the
drain test can prove that a reload lets in-flight requests finish.
"""
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "nginx-test-backend"

    def do_GET(self):  # noqa: N802 (http.server naming)
        if self.path == "/slow":
            time.sleep(3)
        if self.path in ("/", "/airbnb-onepage/", "/slow"):
            body, ctype, code = b"Hello HBNB!", "text/html; charset=utf-8", 200
        elif self.path == "/health":
            body = json.dumps({"status": "ok", "backend": "nginx-test-backend",
                               "port": self.server.server_address[1],
                               "host": socket.gethostname()}).encode()
            ctype, code = "application/json", 200
        else:
            body, ctype, code = b"Not Found", "text/plain", 404
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
