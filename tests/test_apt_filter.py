"""plugins/module_utils/berth_apt.py: cache_valid_time, the apt lists' freshness the flask_app, nginx and mariadb roles
ask apt for, from their probe's listing of /var/lib/apt/lists; berth_packages_probe and
berth_packages_missing: what the packages play (playbooks/packages.yml) reads and installs."""

import pytest
from ansible_collections.berth.stack.plugins.module_utils.berth_apt import cache_valid_time as berth_apt_cache_valid_time
from ansible_collections.berth.stack.plugins.module_utils.berth_apt import packages_missing as berth_packages_missing
from ansible_collections.berth.stack.plugins.module_utils.berth_apt import packages_probe as berth_packages_probe


@pytest.mark.parametrize("lists", [None, [], ["lock", "partial", "auxfiles"],
                                   ["deb.debian.org_debian_dists_bookworm_InRelease"]])
def test_a_host_without_package_lists_refreshes_them(lists):
    assert berth_apt_cache_valid_time(lists, 86400) == 0


@pytest.mark.parametrize("name", ["deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
                                  # apt keeps them compressed with Acquire::GzipIndexes (some images)
                                  "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"])
def test_a_host_with_package_lists_keeps_them_for_the_valid_time(name):
    assert berth_apt_cache_valid_time(["lock", name], "3600") == 3600


# berth_packages_probe / berth_packages_missing: the packages play (playbooks/packages.yml) that
# installs every role's missing packages in one apt run per host.

LISTS = ["deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"]
WEB = [
    {"role": "flask_app", "packages": ["python3-venv", "git"], "install_recommends": None, "cache_valid_time": 86400},
    {"role": "nginx", "packages": ["nginx"], "install_recommends": None, "cache_valid_time": 3600},
    {"role": "datadog", "packages": ["datadog-agent=1:7.99.0-1~berthstandin"], "install_recommends": None,
     "cache_valid_time": 86400, "probe_packages": ["gnupg", "ca-certificates"],
     "probe_list": ["/etc/apt/keyrings/datadog", "/usr/share/keyrings"]},
]


def test_the_probe_reads_every_package_name_and_directory_once():
    probe = berth_packages_probe(WEB + [{"role": "again", "packages": ["nginx"], "probe_list": ["/usr/share/keyrings"]}])
    assert probe == {
        "packages": ["python3-venv", "git", "nginx", "datadog-agent", "gnupg", "ca-certificates"],
        "list": ["/var/lib/apt/lists", "/etc/apt/keyrings/datadog", "/usr/share/keyrings"]}


def test_a_fresh_web_host_gets_one_run_with_every_role_s_packages():
    host = {"packages": {"python3-venv": "", "git": "", "nginx": "", "datadog-agent": ""}, "dirs": {}}
    assert berth_packages_missing(WEB, host) == [{
        "install_recommends": None, "roles": ["flask_app", "nginx", "datadog"],
        "packages": ["python3-venv", "git", "nginx", "datadog-agent=1:7.99.0-1~berthstandin"],
        # no apt lists on the host: refreshed before the install
        "cache_valid_time": 0}]


def test_only_the_missing_packages_are_installed_and_the_smallest_valid_time_wins():
    host = {"packages": {"python3-venv": "3.11.2-1+b1", "git": "", "nginx": "", "datadog-agent": "1:7.99.0-1"},
            "dirs": {"/var/lib/apt/lists": LISTS}}
    runs = berth_packages_missing(WEB, host)
    assert runs == [{"install_recommends": None, "roles": ["flask_app", "nginx"], "packages": ["git", "nginx"],
                     "cache_valid_time": 3600}]


def test_an_installed_agent_of_another_version_is_left_to_its_role():
    host = {"packages": {"python3-venv": "1", "git": "1", "nginx": "1", "datadog-agent": "1:7.50.0-1"},
            "dirs": {"/var/lib/apt/lists": LISTS}}
    assert berth_packages_missing(WEB, host) == []


def test_each_install_recommends_setting_gets_a_run_of_its_own():
    wanted = WEB[2:] + [{"role": "mariadb", "packages": ["mariadb-server", "python3-pymysql"],
                         "install_recommends": False, "cache_valid_time": 86400},
                        {"role": "firewall", "packages": ["nftables"], "install_recommends": None}]
    host = {"packages": {}, "dirs": {"/var/lib/apt/lists": LISTS}}
    runs = berth_packages_missing(wanted, host)
    assert [(r["install_recommends"], r["packages"], r["roles"]) for r in runs] == [
        (None, ["datadog-agent=1:7.99.0-1~berthstandin", "nftables"], ["datadog", "firewall"]),
        (False, ["mariadb-server", "python3-pymysql"], ["mariadb"])]
    assert [r["cache_valid_time"] for r in runs] == [86400, 86400]


def test_nothing_wanted_nothing_run():
    assert berth_packages_missing([], {"packages": {}}) == []
    assert berth_packages_missing(None, None) == []
    assert berth_packages_probe(None) == {"packages": [], "list": ["/var/lib/apt/lists"]}
