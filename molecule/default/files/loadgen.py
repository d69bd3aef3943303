#!/usr/bin/env python3
"""Bounded HTTP load generator for rollout tests (stdlib only).

Sends GET requests to one URL at a fixed rate until --count requests were sent,
--seconds elapsed, or the stop file appears, whichever comes first, and writes
a JSON summary: total, ok, failed, failures by reason, latency percentiles, the slowest
failed request, and when the first failure started and the last one ended (seconds since
the start), so a test can tell a fast error from a hung one and see when service came back.
A request fails on a connection error, a timeout, a status other than
--expect-status, or a body without --expect-body.

Run it only against the project's own test hosts (loopback inside a container).
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def one(url, timeout, expect_status, expect_body, started):
    reason, elapsed = _request(url, timeout, expect_status, expect_body)
    return (reason, elapsed, time.monotonic() - elapsed - started)


def _request(url, timeout, expect_status, expect_body):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read().decode("utf-8", "replace")
            status = resp.status
    except urllib.error.HTTPError as exc:
        return ("http_%d" % exc.code, time.monotonic() - start)
    except Exception as exc:  # noqa: BLE001 - every failure counts, by its class name
        return ("error_%s" % type(exc).__name__, time.monotonic() - start)
    elapsed = time.monotonic() - start
    if status != expect_status:
        return ("http_%d" % status, elapsed)
    if expect_body and expect_body not in body:
        return ("unexpected_body", elapsed)
    return ("ok", elapsed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--count", type=int, default=6000, help="stop after this many requests")
    parser.add_argument("--seconds", type=float, default=300.0, help="stop after this long")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout")
    parser.add_argument("--expect-status", type=int, default=200)
    parser.add_argument("--expect-body", default="")
    parser.add_argument("--stop-file", default="", help="stop early when this file exists")
    parser.add_argument("--output", required=True, help="write the JSON summary here")
    args = parser.parse_args()
    if args.rate <= 0 or args.count < 1 or args.seconds <= 0:
        parser.error("--rate, --count and --seconds must be positive")

    results, lock = [], threading.Lock()

    def record(future):
        with lock:
            results.append(future.result())

    started = time.monotonic()
    sent = 0
    with ThreadPoolExecutor(max_workers=16) as pool:
        while sent < args.count and time.monotonic() - started < args.seconds:
            if args.stop_file and os.path.exists(args.stop_file):
                break
            pool.submit(one, args.url, args.timeout, args.expect_status, args.expect_body,
                        started).add_done_callback(record)
            sent += 1
            next_at = started + sent / args.rate
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    duration = time.monotonic() - started
    latencies = sorted(r[1] for r in results)
    reasons = {}
    for reason, _, _ in results:
        if reason != "ok":
            reasons[reason] = reasons.get(reason, 0) + 1
    failed = [r for r in results if r[0] != "ok"]

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1) if latencies else None

    summary = {
        "url": args.url,
        "total": len(results),
        "ok": len(results) - sum(reasons.values()),
        "failed": sum(reasons.values()),
        "failures": reasons,
        "duration_s": round(duration, 2),
        "rate_rps": round(len(results) / duration, 2) if duration else 0,
        "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0)},
        "failed_latency_ms_max": round(max(r[1] for r in failed) * 1000, 1) if failed else None,
        "first_failure_start_s": round(min(r[2] for r in failed), 2) if failed else None,
        "last_failure_end_s": round(max(r[2] + r[1] for r in failed), 2) if failed else None,
    }
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
    os.replace(tmp, args.output)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
