"""berth_apt_cache_valid_time: the apt lists' freshness the flask_app, nginx and mariadb roles
ask apt for, from their probe's listing of /var/lib/apt/lists."""

import pytest
from ansible_collections.berth.stack.plugins.filter.berth_apt import berth_apt_cache_valid_time


@pytest.mark.parametrize("lists", [None, [], ["lock", "partial", "auxfiles"],
                                   ["deb.debian.org_debian_dists_bookworm_InRelease"]])
def test_a_host_without_package_lists_refreshes_them(lists):
    assert berth_apt_cache_valid_time(lists, 86400) == 0


@pytest.mark.parametrize("name", ["deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
                                  # apt keeps them compressed with Acquire::GzipIndexes (some images)
                                  "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"])
def test_a_host_with_package_lists_keeps_them_for_the_valid_time(name):
    assert berth_apt_cache_valid_time(["lock", name], "3600") == 3600
