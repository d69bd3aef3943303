#!/opt/datadog-agent/embedded/bin/python3
"""TEST STAND-IN for the Datadog Agent's Python check runner (not the vendor software).

What the real agent does for a custom check, reproduced with Datadog's own
``datadog-checks-base`` (installed in /opt/datadog-agent/embedded, the vendor's
path for the agent's bundled Python):

* loads ``checks.d/<name>.py`` for every ``conf.d/<name>.d/conf.yaml`` (or
  ``conf.d/<name>.yaml``) that has one, with ``checks.d`` on ``sys.path``;
* takes the module's ``AgentCheck`` subclass and makes one check object per
  instance (``cls(name, init_config, [instance])``), kept for the agent's life;
* runs each instance every ``min_collection_interval`` seconds (instance, else
  init_config, else 15) with ``check.run()``.

What it does instead of the real agent: submissions go to datadog-checks-base's
stub aggregator (the package's fallback when the agent's Go ``aggregator`` module is
absent) and, after every run, into a JSON status file (STATUS below) that
``datadog-agent status --json`` prints; nothing is sent anywhere. Checks without a
``checks.d`` file (Datadog's bundled integrations: nginx, http_check, ...) are
listed as not run: the stand-in does not bundle them.

Usage: datadog_agent_standin_checks.py [run | once NAME]
  run        schedule every check forever, writing STATUS (started by the core program)
  once NAME  run check NAME's instances once, print their results as JSON
"""

import glob
import importlib
import inspect
import json
import os
import sys
import time
import traceback

CONF_D = os.environ.get("DD_STANDIN_CONF_D", "/etc/datadog-agent/conf.d")
CHECKS_D = os.environ.get("DD_STANDIN_CHECKS_D", "/etc/datadog-agent/checks.d")
STATUS = os.environ.get("DD_STANDIN_STATUS", "/run/datadog-agent/standin-checks.json")
DEFAULT_INTERVAL = 15
STATUS_NAMES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def _configs():
    """check name -> conf.yaml path, like the agent's file config provider."""
    found = {}
    for path in sorted(glob.glob(os.path.join(CONF_D, "*.d", "conf.yaml"))):
        found[os.path.basename(os.path.dirname(path))[:-2]] = path
    for path in sorted(glob.glob(os.path.join(CONF_D, "*.yaml"))):
        found.setdefault(os.path.basename(path)[:-5], path)
    return found


def _check_class(module):
    from datadog_checks.base import AgentCheck
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if issubclass(c, AgentCheck) and c is not AgentCheck and c.__module__ == module.__name__]
    if not classes:
        raise ImportError("%s defines no AgentCheck subclass" % module.__name__)
    # The most derived class, as the agent's loader picks it.
    return max(classes, key=lambda c: len(c.__mro__))


def load():
    """Return (scheduled instances, checks not run with the reason)."""
    import yaml
    if CHECKS_D not in sys.path:
        sys.path.insert(0, CHECKS_D)
    scheduled, not_run = [], {}
    for name, path in sorted(_configs().items()):
        if not os.path.isfile(os.path.join(CHECKS_D, name + ".py")):
            not_run[name] = "no checks.d/%s.py: a Datadog integration the stand-in does not bundle" % name
            continue
        try:
            with open(path) as handle:
                conf = yaml.safe_load(handle) or {}
            cls = _check_class(importlib.import_module(name))
        except Exception:  # the agent reports a broken check and goes on
            not_run[name] = "load error: %s" % traceback.format_exc(limit=3)
            continue
        init_config = conf.get("init_config") or {}
        for index, instance in enumerate(conf.get("instances") or []):
            interval = instance.get("min_collection_interval", init_config.get("min_collection_interval", DEFAULT_INTERVAL))
            entry = {"check": name, "index": index, "interval": float(interval), "next": 0.0,
                     "runs": 0, "last_run": None, "result": None}
            try:
                entry["object"] = cls(name, init_config, [instance])
                entry["id"] = "%s:%d" % (name, index)
            except Exception:
                entry["object"] = None
                entry["id"] = "%s:%d" % (name, index)
                entry["result"] = {"error": "init error: %s" % traceback.format_exc(limit=3)}
            scheduled.append(entry)
    return scheduled, not_run


def run_one(entry):
    """Run one check instance; return what it submitted (from the stub aggregator)."""
    from datadog_checks.base.stubs import aggregator
    aggregator.reset()
    started = time.time()
    error = entry["object"].run()
    result = {
        "error": json.loads(error) if error else "",
        "duration": round(time.time() - started, 4),
        "service_checks": [
            {"name": sc.name, "status": sc.status, "status_name": STATUS_NAMES.get(sc.status, str(sc.status)),
             "tags": list(sc.tags), "message": sc.message or ""}
            for name in sorted(aggregator.service_check_names) for sc in aggregator.service_checks(name)],
        "metrics": [
            {"name": m.name, "value": m.value, "tags": list(m.tags)}
            for name in sorted(aggregator.metric_names) for m in aggregator.metrics(name)],
    }
    aggregator.reset()
    entry["runs"] += 1
    entry["last_run"] = started
    entry["result"] = result
    return result


def _public(entry):
    return {k: entry[k] for k in ("check", "id", "index", "interval", "runs", "last_run", "result")}


def write_status(scheduled, not_run):
    status = {
        "standin": "berth TEST STAND-IN for the Datadog Agent's check runner (datadog-checks-base, stub aggregator)",
        "updated": time.time(),
        "pid": os.getpid(),
        "checks": [_public(e) for e in scheduled],
        "not_run": not_run,
    }
    tmp = STATUS + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(status, handle, indent=1, sort_keys=True)
    os.replace(tmp, STATUS)


def main(argv):
    mode = argv[1] if len(argv) > 1 else "run"
    scheduled, not_run = load()
    if mode == "once":
        name = argv[2] if len(argv) > 2 else ""
        chosen = [e for e in scheduled if e["check"] == name]
        for entry in chosen:
            if entry["object"] is not None:
                run_one(entry)
        print(json.dumps({"check": name, "instances": [_public(e) for e in chosen],
                          "not_run": {k: v for k, v in not_run.items() if k == name}}, indent=1, sort_keys=True))
        return 0 if chosen else 1
    print("checks: %d instances scheduled, not run: %s" % (len(scheduled), ", ".join(sorted(not_run)) or "none"),
          flush=True)
    write_status(scheduled, not_run)
    while True:
        now = time.time()
        ran = False
        for entry in scheduled:
            if entry["object"] is not None and entry["next"] <= now:
                run_one(entry)
                entry["next"] = now + entry["interval"]
                ran = True
        if ran:
            write_status(scheduled, not_run)
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
