#!/usr/bin/env python3
"""Markdown table rows for docs/errors.md from the messages tests/test_bad_inputs.py observed.

    BERTH_BAD_INPUTS_LOG=/tmp/bad-inputs.jsonl pytest -q tests/test_bad_inputs.py
    python3 tools/bad_inputs_doc.py /tmp/bad-inputs.jsonl [case-id ...]

Prints one row per case (``| case | input | message (verbatim) |``), in the order the ids are
given (default: every case of the log, in the order it ran). The message is Ansible's output line
without its ``[ERROR]: Task failed: Action failed:`` prefix (a warning keeps its ``[WARNING]:``),
white space collapsed, and the test's temporary paths written ``<inventory>`` and ``<tmp>``;
nothing else is changed. The input is the
case's ``-e`` value as JSON, or the files it adds to the inventory.
"""

from __future__ import annotations

import json
import re
import sys

PREFIXES = ("[ERROR]: Task failed: Action failed: ", "[ERROR]: Task failed: ")
# The generated inventories of tests/test_bad_inputs.py: <tmp>/badinput<n>/[cases/<id>/]inventory,
# and the test's other temporary files (<tmp>/badinput<n>/empty-src).
TMP_INVENTORY = re.compile(r"/\S*?/badinput\d*/(?:cases/[^/\s]+/)?inventory")
TMP_DIR = re.compile(r"/\S*?/badinput\d*/")


def message(lines):
    """The refusal as docs/errors.md quotes it."""
    text = " ".join(" ".join(lines).split())
    for prefix in PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return TMP_DIR.sub("<tmp>/", TMP_INVENTORY.sub("<inventory>", text))


def case_input(value):
    """The ``-e`` value as JSON, or each file the case adds: its path and its text as a JSON string
    (newlines and tabs visible), without the document marker."""
    if isinstance(value, dict) and value and all("/" in str(k) for k in value):
        return "; ".join("`%s`: `%s`" % (k, json.dumps(str(v).replace("---\n", "", 1))) for k, v in value.items())
    return "`%s`" % json.dumps(value)


def cell(text):
    return text.replace("|", "\\|")


def rows(records, ids=None):
    by_id = {}
    for record in records:
        by_id[record["case"]] = record  # the last run of a case wins
    for case in ids or list(by_id):
        record = by_id.get(case)
        if record is None:
            raise SystemExit("no case %r in the log" % case)
        yield "| `%s` | %s | `%s` |" % (case, cell(case_input(record["value"])), cell(message(record["output"])))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    for row in rows(records, argv[2:]):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
