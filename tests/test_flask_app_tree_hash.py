"""Unit tests for plugins/lookup/flask_app_tree_hash.py (release ids)."""

import os

import pytest
from ansible.errors import AnsibleLookupError

from project import ROOT, load

tree_hash = load("flask_app_tree_hash", "plugins/lookup/flask_app_tree_hash.py").tree_hash


def _tree(tmp_path, files):
    for rel, data in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return str(tmp_path)


def test_same_content_same_release(tmp_path):
    a = _tree(tmp_path / "a", {"web_flask/0-hello_route.py": b"app = 1\n", "requirements.txt": b"Flask==3.1.0\n"})
    b = _tree(tmp_path / "b", {"requirements.txt": b"Flask==3.1.0\n", "web_flask/0-hello_route.py": b"app = 1\n"})
    assert tree_hash(a) == tree_hash(b)
    assert len(tree_hash(a)) == 12


@pytest.mark.parametrize("change", [
    {"web_flask/0-hello_route.py": b"app = 2\n"},
    {"web_flask/other.py": b"x = 1\n"},
    {"requirements.txt": b"Flask==3.0.3\n"},
])
def test_any_content_change_is_a_new_release(tmp_path, change):
    base = {"web_flask/0-hello_route.py": b"app = 1\n", "requirements.txt": b"Flask==3.1.0\n"}
    before = tree_hash(_tree(tmp_path / "before", base))
    after = tree_hash(_tree(tmp_path / "after", {**base, **change}))
    assert before != after


def test_renaming_a_file_is_a_new_release(tmp_path):
    assert tree_hash(_tree(tmp_path / "a", {"x.py": b"1"})) != tree_hash(_tree(tmp_path / "b", {"y.py": b"1"}))


def test_bytecode_and_vcs_metadata_are_ignored(tmp_path):
    clean = tree_hash(_tree(tmp_path / "a", {"m.py": b"1"}))
    noisy = tree_hash(_tree(tmp_path / "b", {
        "m.py": b"1", "__pycache__/m.cpython-311.pyc": b"\0", "n.pyc": b"\0", ".git/HEAD": b"ref",
    }))
    assert clean == noisy


def test_executable_bit_counts(tmp_path):
    a = _tree(tmp_path / "a", {"run.py": b"1"})
    b = _tree(tmp_path / "b", {"run.py": b"1"})
    os.chmod(os.path.join(b, "run.py"), 0o755)
    assert tree_hash(a) != tree_hash(b)


def test_release_id_is_path_safe(tmp_path):
    rid = tree_hash(_tree(tmp_path, {"m.py": b"1"}), 16)
    assert len(rid) == 16 and rid.isalnum()


def test_missing_directory_names_the_variable(tmp_path):
    with pytest.raises(AnsibleLookupError, match="flask_app_source_dir"):
        tree_hash(str(tmp_path / "nope"))


def test_sample_app_hashes(tmp_path):
    assert len(tree_hash(str(ROOT / "roles/flask_app/files/hbnb"))) == 12
