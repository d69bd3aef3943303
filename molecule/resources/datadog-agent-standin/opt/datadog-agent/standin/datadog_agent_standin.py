#!/usr/bin/python3
"""TEST STAND-IN for the Datadog Agent 7 programs (not the vendor software).

Reads /etc/datadog-agent/datadog.yaml and opens the listeners the real component
would open on the configured ports, bound as configured:

  core     expvar HTTP (expvar_port, loopback, /debug/vars), cmd API (cmd_port on
           cmd_host), DogStatsD UDP (dogstatsd_port on bind_host, or all addresses
           with dogstatsd_non_local_traffic)
  trace    APM receiver (apm_config.receiver_port on bind_host, or all addresses
           with apm_config.apm_non_local_traffic), APM debug (apm_config.debug.port,
           loopback)
  process  process-agent expvar (process_config.expvar_port, loopback) and cmd API
           (process_config.cmd_port on cmd_host)

core also runs the Python checks of checks.d (datadog_agent_standin_checks.py, a child
process on the embedded Python that has datadog-checks-base), like the real agent's
collector, and restarts it when it dies. Without /opt/datadog-agent/embedded/bin/python3
it runs no check and says so in the status file.

Stdlib only. Sends nothing anywhere.
"""

import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONFIG = os.environ.get("DD_STANDIN_CONFIG", "/etc/datadog-agent/datadog.yaml")
WILDCARD = "0.0.0.0"
STARTED = time.time()
COUNTERS = {"dogstatsd_packets": 0, "http_requests": 0}


def _scalar(text):
    text = text.strip()
    if not text:
        return None
    if text[0] in "'\"" and text[-1] == text[0]:
        return text[1:-1]
    low = text.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("null", "~"):
        return None
    try:
        return int(text)
    except ValueError:
        return text


def parse_yaml_subset(text):
    """Nested block mappings of scalars (what the berth role writes). Lists are skipped."""
    root = {}
    stack = [(-1, root)]
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip() or line.strip() in ("---", "..."):
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if body.startswith("- ") or ":" not in body:
            continue
        key, _, value = body.partition(":")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip() == "":
            child = {}
            parent[key.strip()] = child
            stack.append((indent, child))
        else:
            parent[key.strip()] = _scalar(value)
    return root


def get(conf, path, default=None):
    node = conf
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return default if node is None else node


EMBEDDED_PYTHON = os.environ.get("DD_STANDIN_EMBEDDED_PYTHON", "/opt/datadog-agent/embedded/bin/python3")
CHECKS_RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "datadog_agent_standin_checks.py")
CHECKS_STATUS = os.environ.get("DD_STANDIN_STATUS", "/run/datadog-agent/standin-checks.json")


def supervise_checks():
    """Run the checks runner on the embedded Python; restart it when it exits."""
    if not os.path.exists(EMBEDDED_PYTHON):
        with open(CHECKS_STATUS, "w") as handle:
            json.dump({"standin": "berth TEST STAND-IN", "updated": time.time(), "checks": [], "not_run": {},
                       "runner": "not started: %s is missing (datadog-checks-base is not installed)"
                                 % EMBEDDED_PYTHON}, handle)
        print("core: no %s, no checks are run" % EMBEDDED_PYTHON, flush=True)
        return
    while True:
        code = subprocess.call([EMBEDDED_PYTHON, CHECKS_RUNNER, "run"])
        print("core: checks runner exited with %s; restarting it in 5 s" % code, flush=True)
        time.sleep(5)


class Handler(BaseHTTPRequestHandler):
    component = "standin"
    listener = ""

    def do_GET(self):  # noqa: N802 (http.server API)
        COUNTERS["http_requests"] += 1
        if self.path.startswith("/debug/vars"):
            body = {
                "standin": "berth TEST STAND-IN for the Datadog Agent",
                "component": self.component,
                "listener": self.listener,
                "pid": os.getpid(),
                "uptime": int(time.time() - STARTED),
                "counters": COUNTERS,
            }
        else:
            body = {"standin": True, "component": self.component, "listener": self.listener}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET  # noqa: N815 (APM clients POST traces)
    do_PUT = do_GET  # noqa: N815

    def log_message(self, fmt, *args):  # keep the journal quiet
        return


class V6HTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def http_listener(component, listener, host, port):
    handler = type("H", (Handler,), {"component": component, "listener": listener})
    cls = V6HTTPServer if ":" in host else ThreadingHTTPServer
    server = cls((host, int(port)), handler)
    print("%s: %s listening on tcp %s:%s" % (component, listener, host, port), flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


class StatsdHandler(socketserver.BaseRequestHandler):
    def handle(self):
        COUNTERS["dogstatsd_packets"] += 1


class V6UDPServer(socketserver.ThreadingUDPServer):
    address_family = socket.AF_INET6


def udp_listener(component, listener, host, port):
    cls = V6UDPServer if ":" in host else socketserver.ThreadingUDPServer
    server = cls((host, int(port)), StatsdHandler)
    print("%s: %s listening on udp %s:%s" % (component, listener, host, port), flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main(argv):
    component = argv[1] if len(argv) > 1 else "core"
    with open(CONFIG, encoding="utf-8") as handle:
        conf = parse_yaml_subset(handle.read())
    bind_host = str(get(conf, "bind_host", "localhost"))
    cmd_host = str(get(conf, "cmd_host", "localhost"))
    loopback = "127.0.0.1"
    if component == "core":
        http_listener(component, "expvar", loopback, get(conf, "expvar_port", 5000))
        http_listener(component, "cmd", cmd_host, get(conf, "cmd_port", 5001))
        if get(conf, "use_dogstatsd", True):
            host = WILDCARD if get(conf, "dogstatsd_non_local_traffic", False) else bind_host
            udp_listener(component, "dogstatsd", host, get(conf, "dogstatsd_port", 8125))
        threading.Thread(target=supervise_checks, daemon=True).start()
    elif component == "trace":
        if not get(conf, "apm_config.enabled", True):
            print("trace: apm_config.enabled is false; exiting like the vendor agent", flush=True)
            return 0
        host = WILDCARD if get(conf, "apm_config.apm_non_local_traffic", False) else bind_host
        http_listener(component, "apm_receiver", host, get(conf, "apm_config.receiver_port", 8126))
        http_listener(component, "apm_debug", loopback, get(conf, "apm_config.debug.port", 5012))
    elif component == "process":
        http_listener(component, "process_expvar", loopback, get(conf, "process_config.expvar_port", 6062))
        http_listener(component, "process_cmd", cmd_host, get(conf, "process_config.cmd_port", 6162))
    else:
        print("unknown component %r (core|trace|process)" % component, file=sys.stderr)
        return 2
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
