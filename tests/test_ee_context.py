"""Unit tests for tools/ee_context.py (collections staged for the execution environment).

Collection trees are made in tmp_path; no Galaxy, no docker. One test also stages from the
`ansible` package this venv carries, with the project's own requirements file.
"""

import json
import shutil

import pytest
import yaml

from project import ROOT, load

ee_context = load("ee_context", "tools/ee_context.py")


def _collection(source, name, version, deps=None, files=None):
    path = source.joinpath(*name.split("."))
    path.mkdir(parents=True)
    info = {"namespace": name.split(".")[0], "name": name.split(".")[1], "version": version, "dependencies": deps or {}}
    (path / "MANIFEST.json").write_text(json.dumps({"collection_info": info}))
    for rel, text in (files or {}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path


def _project(tmp_path, collections):
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.yml").write_text(yaml.safe_dump({"collections": collections}))
    return project


def test_pins_and_dependencies_are_staged_with_requirements(tmp_path):
    source = tmp_path / "src"
    _collection(source, "community.docker", "4.8.5", {"community.library_inventory_filtering_v1": ">=1.0.0"},
                {"plugins/connection/docker_api.py": "x = 1\n"})
    _collection(source, "community.library_inventory_filtering_v1", "1.1.5")
    _collection(source, "community.general", "11.4.2")  # present locally, not asked for
    project = _project(tmp_path, [{"name": "community.docker", "version": "4.8.5"}])
    out = tmp_path / "out"

    assert ee_context.main(["--project", str(project), "--source", str(source), "--out", str(out)]) == 0

    staged = sorted(p.name for p in (out / "collections").iterdir())
    assert staged == ["community.docker", "community.library_inventory_filtering_v1"]
    assert (out / "collections/community.docker/plugins/connection/docker_api.py").read_text() == "x = 1\n"
    reqs = yaml.safe_load((out / "requirements.yml").read_text())
    assert reqs == {"collections": [{"name": "collections/%s" % n, "type": "dir"} for n in staged]}


def test_a_pin_the_local_tree_does_not_have_stops_the_build(tmp_path, capsys):
    source = tmp_path / "src"
    _collection(source, "community.docker", "4.8.4")
    project = _project(tmp_path, [{"name": "community.docker", "version": "==4.8.5"}])

    assert ee_context.main(["--project", str(project), "--source", str(source), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "community.docker is pinned to 4.8.5" in err and "has 4.8.4" in err


def test_a_missing_collection_is_named(tmp_path, capsys):
    project = _project(tmp_path, [{"name": "ansible.posix"}])
    (tmp_path / "src").mkdir()

    assert ee_context.main(["--project", str(project), "--source", str(tmp_path / "src"), "--out", str(tmp_path / "o")]) == 1
    assert "collection ansible.posix is not in" in capsys.readouterr().err


def test_non_galaxy_sources_are_refused(tmp_path):
    with pytest.raises(ee_context.StageError, match="only Galaxy names"):
        ee_context.wanted(_project(tmp_path, [{"name": "https://example.invalid/x.git", "type": "git"}]) / "requirements.yml")


def test_restaging_removes_collections_no_longer_wanted_and_refreshes_changed_ones(tmp_path):
    source = tmp_path / "src"
    _collection(source, "ansible.posix", "2.1.0", files={"plugins/modules/a.py": "old\n"})
    _collection(source, "community.docker", "4.8.5")
    out = tmp_path / "out"
    both = _project(tmp_path, [{"name": "ansible.posix"}, {"name": "community.docker"}])
    assert ee_context.main(["--project", str(both), "--source", str(source), "--out", str(out)]) == 0

    (source / "ansible/posix/plugins/modules/a.py").write_text("new\n")
    shutil.rmtree(both)
    one = _project(tmp_path, [{"name": "ansible.posix"}])
    assert ee_context.main(["--project", str(one), "--source", str(source), "--out", str(out)]) == 0

    assert sorted(p.name for p in (out / "collections").iterdir()) == ["ansible.posix"]
    assert (out / "collections/ansible.posix/plugins/modules/a.py").read_text() == "new\n"


def test_without_galaxy_yml_no_project_collection_is_built(tmp_path):
    project = _project(tmp_path, [])
    out = tmp_path / "out"
    assert ee_context.build_project_collection(project, out, "/nonexistent/ansible-galaxy") is None
    assert [p.name for p in (out / "berth").iterdir()] == ["README.txt"]


def test_with_galaxy_yml_the_project_collection_is_built(tmp_path):
    project = _project(tmp_path, [])
    (project / "galaxy.yml").write_text(yaml.safe_dump({
        "namespace": "eetest", "name": "stack", "version": "0.0.1", "readme": "README.md", "authors": ["t"],
    }))
    (project / "README.md").write_text("test\n")
    out = tmp_path / "out"
    galaxy = str(ROOT / ".venv/bin/ansible-galaxy")
    if not shutil.which(galaxy):
        pytest.skip("no .venv/bin/ansible-galaxy (make venv)")
    assert ee_context.build_project_collection(project, out, galaxy) == "eetest-stack-0.0.1.tar.gz"


def test_the_projects_own_requirements_stage_from_the_ansible_package(tmp_path):
    """The real thing: every collection the project lists is in the pinned `ansible` package."""
    try:
        source = ee_context.default_source()
    except ee_context.StageError:
        pytest.skip("no ansible_collections for this interpreter (make venv)")
    found = ee_context.resolve(source, ee_context.wanted(ee_context.requirements_file(ROOT)))
    assert set(ee_context.wanted(ee_context.requirements_file(ROOT))) <= set(found)


def _pins(path):
    """{lowercased name: version} of every `name==version` line of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.split("[")[0].strip().lower()] = version.strip()
    return pins


def test_the_ee_installs_the_tested_versions_of_the_run_time_needs():
    """execution-environment.yml and ee/requirements.txt pin what constraints.txt says was tested,
    and carry every run-time requirement of the project (requirements.txt)."""
    constraints = _pins(ROOT / "constraints.txt")
    ee = _pins(ROOT / "ee/requirements.txt")
    deps = yaml.safe_load((ROOT / "execution-environment.yml").read_text())["dependencies"]
    for key in ("ansible_core", "ansible_runner"):
        name, version = deps[key]["package_pip"].split("==")
        ee[name.lower()] = version
    assert {name: (version, constraints.get(name)) for name, version in ee.items() if constraints.get(name) != version} == {}
    assert set(_pins(ROOT / "requirements.txt")) <= set(ee)
