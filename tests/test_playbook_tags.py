"""The guards run whatever --tags/--skip-tags are given (issue 14, safety).

`site.yml --list-tasks` is what Ansible itself would run: the offline registry validation
and the live port preflight (with every role's input checks) must be listed

* under each tag the docs advise (`--tags web|lb|monitoring|firewall`, docs/performance.md),
* under every tag the playbooks define, skipped all at once with --skip-tags,

and their own tags must be exactly `always`, so that no tag other than an explicit
`--skip-tags always` can skip them.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SANDBOX = ROOT / "inventories" / "sandbox"
GUARDS = (
    "Check every host's effective port registry at once",
    "preflight | Refuse registry ports held by a foreign process",
    "preflight | Check the WSGI target looks like module:callable",
    "Preflight | Check the registry entries this role listens on",
    "Preflight | Require datadog_api_key",
)
DOCUMENTED_TAGS = ("web", "lb", "monitoring", "firewall")


def listing(*args):
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(SANDBOX), "--vault-password-file",
         str(SANDBOX / "vault-password.txt"), "site.yml"] + list(args),
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


GUARD_PLAYS = ("Validate the port registry offline",
               "Refuse bad role inputs and foreign listeners on registry ports")


def guard_lines(text):
    """Lines of the guard tasks inside the two guard plays (roles repeat some checks later)."""
    plays = [chunk for chunk in re.split(r"\n\s+play #\d+ ", text) if chunk.split("\n", 1)[0].endswith(
        tuple("%s\tTAGS: [always]" % p for p in GUARD_PLAYS))]
    lines = [ln for chunk in plays for ln in chunk.splitlines()[1:]]
    return {g: [ln for ln in lines if g in ln] for g in GUARDS}


def test_guards_are_tagged_always_and_nothing_else():
    for guard, lines in guard_lines(listing("--list-tasks")).items():
        assert lines, "%s is not in site.yml" % guard
        for line in lines:
            tags = re.search(r"TAGS: \[(.*)\]", line).group(1).split(", ")
            assert tags == ["always"], "%s has tags %s" % (guard, tags)


@pytest.mark.parametrize("tag", DOCUMENTED_TAGS)
def test_guards_run_under_each_documented_tag(tag):
    missing = [g for g, lines in guard_lines(listing("--list-tasks", "--tags", tag)).items() if not lines]
    assert not missing, "--tags %s skips %s" % (tag, missing)


def test_guards_run_when_every_other_tag_is_skipped():
    tags = set()
    for match in re.finditer(r"TASK TAGS: \[(.*)\]", listing("--list-tags")):
        tags.update(t for t in match.group(1).split(", ") if t)
    tags.discard("always")
    assert set(DOCUMENTED_TAGS) <= tags
    out = listing("--list-tasks", "--skip-tags", ",".join(sorted(tags)))
    missing = [g for g, lines in guard_lines(out).items() if not lines]
    assert not missing, "--skip-tags %s skips %s" % (",".join(sorted(tags)), missing)
    # The skip worked: no deploy task is left.
    assert "install | Install Python venv support" not in out


def test_a_refusal_on_any_host_stops_the_whole_run():
    """Validation and preflight plays are any_errors_fatal (opt-out: berth_preflight_any_errors_fatal)."""
    import yaml
    for name in ("validate.yml", "preflight.yml"):
        play = yaml.safe_load((ROOT / "playbooks" / name).read_text())[0]
        assert play["tags"] == ["always"]
        fatal = play["any_errors_fatal"]
        assert fatal is True or "berth_preflight_any_errors_fatal | default(true)" in str(fatal)
