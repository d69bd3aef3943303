"""Unit tests for the staged rollout planner (plugins/filter/berth_rollout.py)."""


import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, strategies as st

from project import load

rollout = load("berth_rollout", "plugins/filter/berth_rollout.py")

GROUPS = {
    "all": ["lb1", "w1", "w2", "w3", "w4", "w5"],
    "ungrouped": [],
    "lb": ["lb1"],
    "web": ["w1", "w2", "w3", "w4", "w5"],
    "canary": ["w1"],
    "wave1": ["w2", "w3"],
    "wave2": ["w4", "w5"],
}


def test_batches_never_span_stages():
    plan = rollout.berth_rollout_plan(GROUPS, ["canary", "wave1", "wave2"], [1, "50%", "100%"])
    assert plan["hosts"] == ["w1", "w2", "w3", "w4", "w5"]
    assert plan["batches"] == [1, 1, 1, 1, 1]
    assert plan["stage_of"]["w4"] == "wave2"


@pytest.mark.parametrize(
    "size, serial, expected",
    [
        (4, [1, "25%", "100%"], [1, 1, 2]),
        (10, [1, "25%", "100%"], [1, 2, 7]),
        (3, ["100%"], [3]),
        (5, [2], [2, 2, 1]),
        (1, [1, "25%", "100%"], [1]),
        (7, ["30%"], [2, 2, 2, 1]),
    ],
)
def test_stage_batches_match_ansible_serial(size, serial, expected):
    assert rollout.stage_batches(size, serial) == expected


def test_unknown_stage_is_refused_with_the_group_names():
    with pytest.raises(AnsibleFilterError) as err:
        rollout.berth_rollout_plan(GROUPS, ["canary", "wave9"], [1])
    assert "rollout_stages names 'wave9'" in str(err.value)
    assert "canary" in str(err.value)


def test_host_in_two_stages_is_refused():
    groups = dict(GROUPS, wave1=["w2", "w1"])
    with pytest.raises(AnsibleFilterError, match="w1 is in two rollout stages"):
        rollout.berth_rollout_plan(groups, ["canary", "wave1"], [1])


@pytest.mark.parametrize("bad", [[0], ["0%"], ["150%"], ["ten"], [True], [-1]])
def test_bad_serial_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="rollout_serial"):
        rollout.berth_rollout_plan(GROUPS, ["canary"], bad)


def test_empty_stages_refused():
    with pytest.raises(AnsibleFilterError, match="rollout_stages must be a non-empty list"):
        rollout.berth_rollout_plan(GROUPS, [], [1])


def test_batch_draining_every_backend_is_refused():
    groups = {"all": ["a", "b"], "web": ["a", "b"], "s1": ["a", "b"]}
    with pytest.raises(AnsibleFilterError, match="drain every load-balancer backend"):
        rollout.berth_rollout_plan(groups, ["s1"], ["100%"], backends=["a", "b"])
    plan = rollout.berth_rollout_plan(groups, ["s1"], [1], backends=["a", "b"])
    assert plan["batches"] == [1, 1]


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=5),
    serial=st.lists(
        st.one_of(st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=100).map(lambda p: "%d%%" % p)),
        min_size=1,
        max_size=4,
    ),
)
def test_plan_covers_every_host_once_in_stage_order(sizes, serial):
    groups = {"all": []}
    stages = []
    for index, size in enumerate(sizes):
        name = "stage%d" % index
        hosts = ["%s-h%d" % (name, n) for n in range(size)]
        groups[name] = hosts
        groups["all"].extend(hosts)
        stages.append(name)
    plan = rollout.berth_rollout_plan(groups, stages, serial)
    assert plan["hosts"] == groups["all"]
    assert sum(plan["batches"]) == len(groups["all"])
    start = 0
    for size in plan["batches"]:
        batch = plan["hosts"][start:start + size]
        start += size
        assert len({plan["stage_of"][h] for h in batch}) == 1


def test_limit_keeps_only_limited_hosts_and_skips_empty_stages():
    plan = rollout.berth_rollout_plan(GROUPS, ["canary", "wave1", "wave2"], [1], limit=["w3", "w5"])
    assert plan["hosts"] == ["w3", "w5"]
    assert plan["stages"] == ["wave1", "wave2"]
    with pytest.raises(AnsibleFilterError, match="--limit matches no host"):
        rollout.berth_rollout_plan(GROUPS, ["canary"], [1], limit=[])


def test_targeted_host_in_no_stage_is_refused_not_skipped():
    groups = dict(GROUPS, web=GROUPS["web"] + ["w6"], all=GROUPS["all"] + ["w6"])
    with pytest.raises(AnsibleFilterError) as err:
        rollout.berth_rollout_plan(groups, ["canary", "wave1", "wave2"], [1], limit=groups["web"])
    assert ("w6 is targeted (play hosts after --limit) but in none of the rollout_stages "
            "(canary, wave1, wave2) and would be skipped; add it to a stage group") in str(err.value)
    with pytest.raises(AnsibleFilterError, match="w4, w5 are targeted"):
        rollout.berth_rollout_plan(GROUPS, ["canary"], [1], limit=["w1", "w4", "w5"])
