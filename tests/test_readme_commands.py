"""The README's deployment commands work literally (issue 14): step 3 (offline validation)
run exactly as written, from a repository root whose production inventory has the
encrypted vault.yml that step 2 creates. Nothing is contacted."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def step(number):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Deploying to your own servers"):]
    match = re.search(r"^%d\. (.*?)(?=^\d\. |\Z)" % number, section, re.S | re.M)
    return match.group(1)


def test_step_2_and_3_work_literally_with_a_vault(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    # A repository root like this one, with its own copy of the production inventory.
    for name in ("playbooks", "roles", "plugins", "meta", "collections", "site.yml", "ansible.cfg", "galaxy.yml"):
        (repo / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "inventories" / "production", repo / "inventories" / "production")
    (repo / "production").symlink_to("inventories/production")
    env = dict(os.environ, HOME=str(home), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", EDITOR="true",
               PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    env.pop("ANSIBLE_CONFIG", None)
    # Step 2, literally, except that `ansible-vault create` opens an editor: the same command
    # with `encrypt` encrypts a prepared file instead.
    step2 = re.findall(r"```sh\n(.*?)```", step(2), re.S)[0].strip().splitlines()
    assert "ansible-vault create" in step2[1]
    subprocess.run(step2[0], shell=True, cwd=str(repo), env=env, check=True, executable="/bin/bash")
    vault = repo / "inventories" / "production" / "group_vars" / "all" / "vault.yml"
    vault.write_text("vault_datadog_api_key: 0123456789abcdef0123456789abcdef\nvault_flask_app_secret_key: s3cret\n")
    subprocess.run(step2[1].replace("ansible-vault create", "ansible-vault encrypt"), shell=True, cwd=str(repo),
                   env=env, check=True, executable="/bin/bash")
    assert vault.read_text().startswith("$ANSIBLE_VAULT")
    # Step 3, exactly as written.
    cmd = re.findall(r"`(ansible-playbook [^`]*)`", step(3))[0]
    proc = subprocess.run(cmd, shell=True, cwd=str(repo), env=env, capture_output=True, text=True,
                          timeout=120, executable="/bin/bash")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"ok=1 +changed=0 +unreachable=0 +failed=0", proc.stdout), proc.stdout
    # Without the password it is refused, which is what the step's wording warns about.
    bare = cmd.split(" --vault-password-file")[0]
    proc = subprocess.run(bare, shell=True, cwd=str(repo), env=env, capture_output=True, text=True,
                          timeout=120, executable="/bin/bash")
    assert proc.returncode != 0 and "vault" in (proc.stdout + proc.stderr).lower()


def test_design_commands_name_the_inventory_links():
    for number in (3, 4, 5):
        for cmd in re.findall(r"`(ansible-playbook [^`]*)`", step(number)):
            assert " -i production " in cmd + " ", cmd
    assert os.path.realpath(ROOT / "production") == str(ROOT / "inventories" / "production")
    assert os.path.realpath(ROOT / "staging") == str(ROOT / "inventories" / "staging")
