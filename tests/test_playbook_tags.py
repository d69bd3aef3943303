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
    # Every role's input checks (flask_app, nginx, mariadb, the agent, the firewall) in one task.
    "Plan every role the plays apply to the host (the inputs each renders from)",
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
    assert "install | Create code and config directories" not in out


def test_a_refusal_on_any_host_stops_the_whole_run():
    """validate.yml is any_errors_fatal (one controller task); preflight.yml ends with a task, run
    once and any_errors_fatal, that stops every host once any host was refused (opt-out:
    berth_preflight_any_errors_fatal)."""
    import yaml
    validate = yaml.safe_load((ROOT / "playbooks" / "validate.yml").read_text())[0]
    assert validate["tags"] == ["always"] and validate["any_errors_fatal"] is True
    preflight = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text())[0]
    assert preflight["tags"] == ["always"]
    last = preflight["tasks"][-1]
    assert "ansible.builtin.fail" in last
    assert last["run_once"] is True and last["any_errors_fatal"] is True
    assert "berth_preflight_any_errors_fatal | default(true) | bool" in last["when"]


def test_the_stop_task_fails_the_other_hosts_and_honours_the_opt_out(tmp_path):
    """The stop task itself, on three local hosts where one is refused: the later play runs on none."""
    import yaml
    stop = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text())[0]["tasks"][-1]
    play = [{"hosts": "h1,h2,h3", "gather_facts": False, "tasks": [
        {"name": "refuse h1", "ansible.builtin.fail": {"msg": "refused"}, "when": "inventory_hostname == 'h1'"},
        stop]},
        {"hosts": "h1,h2,h3", "gather_facts": False, "tasks": [{"ansible.builtin.debug": {"msg": "LATER PLAY RAN"}}]}]
    (tmp_path / "p.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    for extra, later in (([], False), (["-e", "berth_preflight_any_errors_fatal=false"], True)):
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "h1,h2,h3", "-c", "local", "p.yml"] + extra,
                              cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert ("LATER PLAY RAN" in out) is later, out
        if not later:
            assert "The preflight refused h1" in out
