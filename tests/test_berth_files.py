"""The berth_files module's converge(): one module run for a role's directories, files and links.

Runs on a temporary directory as the current user (owner and group given as numeric ids).
"""

import os

import pytest

from ansible_collections.berth.stack.plugins.modules import berth_files as bf

UID, GID = str(os.getuid()), str(os.getgid())


def _file(path, content, **extra):
    entry = {"path": str(path), "content": content, "owner": UID, "group": GID, "mode": "0640"}
    entry.update(extra)
    return entry


def _ok(argv):
    return 0, "", ""


def _fail(argv):
    return 1, "", "bad input on line 3"


def test_creates_then_is_idempotent(tmp_path):
    entries = [{"path": str(tmp_path / "conf"), "state": "directory", "owner": UID, "group": GID, "mode": "0750"},
               _file(tmp_path / "conf" / "app.conf", "a = 1\n"),
               {"path": str(tmp_path / "current"), "state": "link", "src": str(tmp_path / "conf")}]
    changed, results, _ = bf.converge(entries, run=_ok)
    assert changed == [e["path"] for e in entries]
    assert (tmp_path / "conf" / "app.conf").read_text() == "a = 1\n"
    assert oct((tmp_path / "conf" / "app.conf").stat().st_mode & 0o7777) == "0o640"
    assert oct((tmp_path / "conf").stat().st_mode & 0o7777) == "0o750"
    assert os.readlink(tmp_path / "current") == str(tmp_path / "conf")
    assert results[str(tmp_path / "current")]["before"] == ""
    changed, _, _ = bf.converge(entries, run=_ok)
    assert changed == []


def test_mode_change_alone_is_a_change_without_rewrite(tmp_path):
    path = tmp_path / "f"
    bf.converge([_file(path, "x")])
    inode = path.stat().st_ino
    changed, _, _ = bf.converge([_file(path, "x", mode="0600")])
    assert changed == [str(path)]
    assert path.stat().st_ino == inode
    assert oct(path.stat().st_mode & 0o7777) == "0o600"


def test_check_mode_reports_and_writes_nothing(tmp_path):
    entries = [{"path": str(tmp_path / "d"), "state": "directory", "mode": "0755"},
               _file(tmp_path / "f", "new\n"),
               {"path": str(tmp_path / "l"), "state": "link", "src": "/nowhere"}]
    changed, _, diffs = bf.converge(entries, check_mode=True, diff=True)
    assert changed == [e["path"] for e in entries]
    assert os.listdir(tmp_path) == []
    assert {d["before_header"] for d in diffs} == set(changed)


def test_diff_shows_content_but_never_a_secret(tmp_path):
    bf.converge([_file(tmp_path / "a", "old\n"), _file(tmp_path / "s", "KEY=old\n", secret=True)])
    _, _, diffs = bf.converge([_file(tmp_path / "a", "new\n"), _file(tmp_path / "s", "KEY=new\n", secret=True)],
                              diff=True)
    assert diffs == [{"before_header": str(tmp_path / "a"), "after_header": str(tmp_path / "a"),
                      "before": "old\n", "after": "new\n"}]


def test_a_failed_check_changes_nothing_at_all(tmp_path):
    bf.converge([_file(tmp_path / "unit", "old unit\n"), _file(tmp_path / "env", "old env\n"),
                 {"path": str(tmp_path / "current"), "state": "link", "src": "/releases/a"}])
    entries = [_file(tmp_path / "unit", "new unit\n", validate="check %s"),
               _file(tmp_path / "env", "new env\n"),
               {"path": str(tmp_path / "current"), "state": "link", "src": "/releases/b"}]
    with pytest.raises(bf.FilesError) as err:
        bf.converge(entries, run=_fail)
    assert "validation of %s failed" % (tmp_path / "unit") in str(err.value)
    assert "bad input on line 3" in str(err.value)
    assert (tmp_path / "unit").read_text() == "old unit\n"
    assert (tmp_path / "env").read_text() == "old env\n"
    assert os.readlink(tmp_path / "current") == "/releases/a"
    assert sorted(os.listdir(tmp_path)) == ["current", "env", "unit"], "no staging directory left behind"


def test_validate_sees_the_file_under_its_own_name(tmp_path):
    seen = []

    def run(argv):
        seen.append(argv)
        with open(argv[-1]) as handle:
            assert handle.read() == "[Unit]\n"
        return 0, "", ""

    bf.converge([_file(tmp_path / "app.service", "[Unit]\n", validate="systemd-analyze verify %s")], run=run)
    assert seen[0][:2] == ["systemd-analyze", "verify"]
    assert os.path.basename(seen[0][2]) == "app.service"
    assert os.path.dirname(os.path.dirname(seen[0][2])) == str(tmp_path)


def test_link_move_keeps_the_old_target_as_previous(tmp_path):
    link = {"path": str(tmp_path / "current"), "state": "link", "src": "/r/1", "previous": str(tmp_path / "previous")}
    bf.converge([link])
    assert not os.path.lexists(tmp_path / "previous"), "a first link has no previous"
    changed, results, _ = bf.converge([dict(link, src="/r/2")])
    assert changed == [str(tmp_path / "current")]
    assert results[str(tmp_path / "current")]["before"] == "/r/1"
    assert os.readlink(tmp_path / "current") == "/r/2"
    assert os.readlink(tmp_path / "previous") == "/r/1"


def test_a_new_link_exists_before_checks_run(tmp_path):
    """A new app's unit is verified while its ExecStart (under current) already resolves."""
    current = tmp_path / "current"

    def run(argv):
        assert os.readlink(current) == "/r/1"
        return 0, "", ""

    bf.converge([_file(tmp_path / "u.service", "x", validate="v %s"),
                 {"path": str(current), "state": "link", "src": "/r/1"}], run=run)


def test_refuses_to_replace_a_real_file_with_a_link(tmp_path):
    (tmp_path / "current").write_text("data")
    with pytest.raises(bf.FilesError, match="is not a link"):
        bf.converge([{"path": str(tmp_path / "current"), "state": "link", "src": "/r/1"}])


def test_absent_and_purge_by_marker(tmp_path):
    for name, text in (("a.d", "# managed-by-me\n"), ("b.d", "# managed-by-me\n"), ("c.d", "# someone else\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "conf.yaml").write_text(text)
    (tmp_path / "gone").write_text("x")
    entries = [_file(tmp_path / "a.d" / "conf.yaml", "# managed-by-me\n", mode=None),
               {"path": str(tmp_path / "gone"), "state": "absent"}]
    changed, _, _ = bf.converge(entries, purge=[{"glob": str(tmp_path / "*" / "conf.yaml"), "contains": "managed-by-me"}])
    assert changed == [str(tmp_path / "gone"), str(tmp_path / "b.d" / "conf.yaml")]
    assert (tmp_path / "a.d" / "conf.yaml").exists()
    assert (tmp_path / "c.d" / "conf.yaml").exists(), "a file without the marker is not ours"
    assert bf.converge(entries, purge=[{"glob": str(tmp_path / "*" / "conf.yaml"), "contains": "managed-by-me"}])[0] == []


def test_tree_candidate_is_tested_before_anything_goes_live(tmp_path):
    live = tmp_path / "etc"
    (live / "sub").mkdir(parents=True)
    (live / "main.conf").write_text("include sub/*.conf;\n")
    (live / "mime.types").write_text("types {}\n")
    tree = {"root": str(live), "dir": str(live / "candidate"), "links": ["mime.types"],
            "command": ["test", "-c", "{dir}/main.conf"]}
    seen = {}

    def run(argv):
        cand = argv[-1].rsplit("/", 1)[0]
        seen["files"] = sorted(os.listdir(cand))
        seen["site"] = open(os.path.join(cand, "sub", "site.conf")).read()
        seen["mime"] = os.readlink(os.path.join(cand, "mime.types"))
        return 1, "", "[emerg] unexpected end of file"

    entries = [_file(live / "main.conf", "include sub/*.conf;\n", mode=None),
               _file(live / "sub" / "site.conf", "server { broken\n", mode=None)]
    with pytest.raises(bf.FilesError) as err:
        bf.converge(entries, tree=tree, run=run)
    assert err.value.detail["tree_failed"] is True
    assert "[emerg]" in err.value.detail["stderr"]
    assert seen == {"files": ["main.conf", "mime.types", "sub"], "site": "server { broken\n",
                    "mime": str(live / "mime.types")}
    assert not (live / "sub" / "site.conf").exists(), "nothing live changed"
    changed, _, _ = bf.converge(entries, tree=tree, run=_ok)
    assert changed == [str(live / "sub" / "site.conf")]


def test_tree_is_not_tested_when_nothing_changed(tmp_path):
    (tmp_path / "main.conf").write_text("x\n")
    calls = []
    bf.converge([{"path": str(tmp_path / "main.conf"), "content": "x\n"}],
                tree={"root": str(tmp_path), "dir": str(tmp_path / "cand"), "command": ["t", "{dir}"]},
                run=lambda argv: calls.append(argv) or (0, "", ""))
    assert calls == []


@pytest.mark.parametrize("entry,message", [
    ({"path": "relative/file", "content": ""}, "absolute path"),
    ({"path": "/x", "state": "fifo"}, "state must be one of"),
    ({"path": "/x", "state": "link"}, "a link needs src"),
])
def test_bad_entries_are_refused_naming_the_path(entry, message):
    with pytest.raises(bf.FilesError, match=message):
        bf.converge([entry])


def test_unknown_owner_is_named(tmp_path):
    with pytest.raises(bf.FilesError, match="owner no-such-user-berth does not exist"):
        bf.converge([_file(tmp_path / "f", "x", owner="no-such-user-berth")])


def test_what_a_check_leaves_beside_the_file_is_cleaned_up(tmp_path):
    """py_compile writes __pycache__/ next to the file it compiles: no staging directory stays."""
    def run(argv):
        cache = os.path.join(os.path.dirname(argv[-1]), "__pycache__")
        os.mkdir(cache)
        open(os.path.join(cache, "x.pyc"), "w").close()
        return 0, "", ""

    bf.converge([_file(tmp_path / "check.py", "x = 1\n", validate="python3 -m py_compile %s")], run=run)
    assert os.listdir(tmp_path) == ["check.py"]


def test_invocation_log_never_holds_a_secret(tmp_path, monkeypatch):
    """AnsibleModule logs every run's arguments to the journal; a secret entry's content (its
    newlines escaped in that line) must not be among them, the other entries' may."""
    import json

    from ansible.module_utils import basic

    secret = "api_key: \"s3cr3t-value\"\nother: line"
    args = {"ANSIBLE_MODULE_ARGS": {"entries": [_file(tmp_path / "env", secret, secret=True),
                                                _file(tmp_path / "plain", "visible-text")],
                                    "_ansible_check_mode": True}}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps(args).encode())
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    with pytest.raises(SystemExit):
        bf.main()
    assert logged and "visible-text" in logged[0]
    assert "s3cr3t-value" not in " ".join(logged)
