# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The access-key planner, against a fixed clock: every rule of state=rotated and state=retired."""

import datetime

import pytest

from ansible_collections.keyops.aws.plugins.module_utils._access_key_planner import plan_rotation, simulate

NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def days_ago(days):
    return NOW - datetime.timedelta(days=days)


def key(kid, status="Active", age=10, deactivated=None):
    return {"access_key_id": kid, "status": status, "create_date": days_ago(age),
            "deactivated_date": days_ago(deactivated) if deactivated is not None else None}


A = "AKIAAAAAAAAAAAAAAAAA"
B = "AKIABBBBBBBBBBBBBBBB"
C = "AKIACCCCCCCCCCCCCCCC"


def rotated(**kw):
    policy = {"state": "rotated", "max_age_days": 90, "force": False, "delete_after_days": 7,
              "held_key_ids": None, "escrowed_key_ids": None, "current_key_id": None}
    policy.update(kw)
    return policy


def retired(current, delete_after_days=7, **kw):
    return rotated(state="retired", current_key_id=current, delete_after_days=delete_after_days, **kw)


def kinds(plan):
    return [(a["action"], a["access_key_id"]) for a in plan["actions"]]


def assert_idempotent(keys, policy, plan, tagged=(), later=NOW):
    """Planning again after applying the plan yields no actions (and the same state stays)."""
    after, after_tagged = simulate(keys, plan, NOW, new_key_id="AKIANEWNEWNEWNEWNEW1", tagged_key_ids=tagged)
    if plan["decision"] == "create" and policy.get("held_key_ids"):
        policy = dict(policy, held_key_ids=["AKIANEWNEWNEWNEWNEW1"] * len(policy["held_key_ids"]))
    if policy.get("force"):
        policy = dict(policy, force=False)
    again = plan_rotation(after, policy, later, tagged_key_ids=after_tagged)
    assert again["actions"] == [], again
    assert not again["failed"], again
    return after, again


# ------------------------------------------------------------------ state=rotated


def test_no_key_creates():
    plan = plan_rotation([], rotated(), NOW)
    assert plan["decision"] == "create" and kinds(plan) == [("create", None)]
    assert "no Active key" in plan["actions"][0]["reason"]
    assert_idempotent([], rotated(), plan)


def test_young_key_is_left_alone():
    plan = plan_rotation([key(A, age=89)], rotated(), NOW)
    assert plan == {"decision": "none", "target_key_id": A, "previous_key_ids": [], "actions": [], "failed": False, "msg": None}


def test_age_threshold_is_inclusive():
    plan = plan_rotation([key(A, age=90)], rotated(), NOW)
    assert plan["decision"] == "create"
    assert plan["previous_key_ids"] == [A]
    assert "90 days old" in plan["msg"]
    assert_idempotent([key(A, age=90)], rotated(), plan)


def test_only_inactive_keys_creates_without_deleting_when_room():
    keys = [key(A, status="Inactive", age=5)]
    plan = plan_rotation(keys, rotated(), NOW)
    assert kinds(plan) == [("create", None)]


def test_force_creates_even_when_young():
    keys = [key(A, age=1)]
    plan = plan_rotation(keys, rotated(force=True), NOW)
    assert kinds(plan) == [("create", None)]
    assert_idempotent(keys, rotated(force=True), plan)


def test_newest_active_decides_age():
    keys = [key(A, age=200), key(B, age=3)]
    plan = plan_rotation(keys, rotated(), NOW)
    assert plan["decision"] == "none" and plan["target_key_id"] == B and plan["previous_key_ids"] == [A]


def test_two_key_limit_deletes_inactive_first():
    keys = [key(A, age=100), key(B, status="Inactive", age=200)]
    plan = plan_rotation(keys, rotated(), NOW)
    assert kinds(plan) == [("delete", B), ("create", None)]
    after, _again = assert_idempotent(keys, rotated(), plan)
    assert sorted(k["access_key_id"] for k in after) == sorted([A, "AKIANEWNEWNEWNEWNEW1"])


def test_two_key_limit_deleting_a_recorded_inactive_key_removes_its_tag():
    keys = [key(A, age=100), key(B, status="Inactive", age=200, deactivated=3)]
    plan = plan_rotation(keys, rotated(), NOW, tagged_key_ids=[B])
    assert kinds(plan) == [("delete", B), ("untag", B), ("create", None)]


def test_two_inactive_keys_prefers_recorded_oldest_time():
    keys = [key(A, status="Inactive", age=300), key(B, status="Inactive", age=100, deactivated=5),
            key(C, status="Inactive", age=50, deactivated=20)]
    plan = plan_rotation(keys, rotated(), NOW)
    # three keys cannot happen in IAM, but the planner still makes room for exactly one
    assert kinds(plan)[:2] == [("delete", C), ("untag", C)]
    keys2 = [key(A, status="Inactive", age=300), key(B, status="Inactive", age=100, deactivated=5)]
    plan2 = plan_rotation(keys2, rotated(), NOW)
    assert kinds(plan2) == [("delete", B), ("untag", B), ("create", None)]


def test_two_inactive_keys_without_record_deletes_oldest():
    keys = [key(A, status="Inactive", age=300), key(B, status="Inactive", age=100)]
    plan = plan_rotation(keys, rotated(), NOW)
    assert kinds(plan) == [("delete", A), ("create", None)]


def test_two_active_keys_needing_create_fails_and_touches_nothing():
    keys = [key(A, age=200), key(B, age=100)]
    plan = plan_rotation(keys, rotated(), NOW)
    assert plan["failed"] and plan["actions"] == []
    assert A in plan["msg"] and B in plan["msg"] and "state=retired" in plan["msg"]


def test_two_active_keys_force_fails():
    plan = plan_rotation([key(A, age=20), key(B, age=10)], rotated(force=True), NOW)
    assert plan["failed"] and plan["actions"] == []


def test_never_deletes_or_deactivates_an_active_key_in_rotated():
    cases = [
        [key(A, age=200), key(B, age=100)],
        [key(A, age=200), key(B, status="Inactive")],
        [key(A, age=1)],
        [key(A, age=1000), key(B, age=999)],
    ]
    for keys in cases:
        for policy in (rotated(), rotated(force=True), rotated(held_key_ids=[C]), rotated(escrowed_key_ids=[C])):
            plan = plan_rotation(keys, policy, NOW)
            active = {k["access_key_id"] for k in keys if k["status"] == "Active"}
            for action in plan["actions"]:
                assert action["action"] in ("create", "delete", "untag")
                assert action["access_key_id"] not in active


# holders


def test_holders_agree_not_due():
    plan = plan_rotation([key(A, age=5)], rotated(held_key_ids=[A, A, A]), NOW)
    assert plan["decision"] == "none" and plan["target_key_id"] == A


def test_holders_agree_on_older_active_key_target_is_that_key():
    keys = [key(A, age=30), key(B, age=5)]
    plan = plan_rotation(keys, rotated(held_key_ids=[A, A]), NOW)
    assert plan["decision"] == "none" and plan["target_key_id"] == A and plan["previous_key_ids"] == [B]


def test_holders_agree_on_old_key_with_second_active_fails():
    keys = [key(A, age=100), key(B, age=5)]
    plan = plan_rotation(keys, rotated(held_key_ids=[A]), NOW)
    assert plan["failed"] and plan["actions"] == []


def test_holders_disagree_with_one_active_creates():
    plan = plan_rotation([key(A, age=5)], rotated(held_key_ids=[A, None]), NOW)
    assert plan["decision"] == "create"
    assert "holders" in plan["msg"]
    assert_idempotent([key(A, age=5)], rotated(held_key_ids=[A, None]), plan)


def test_holders_hold_inactive_key_creates_making_room():
    keys = [key(A, age=5), key(B, status="Inactive", age=100)]
    plan = plan_rotation(keys, rotated(held_key_ids=[B]), NOW)
    assert kinds(plan) == [("delete", B), ("create", None)]


def test_holders_hold_missing_key_is_due():
    plan = plan_rotation([key(A, age=5)], rotated(held_key_ids=[C]), NOW)
    assert plan["decision"] == "create"


def test_empty_holder_list_means_no_information():
    plan = plan_rotation([key(A, age=5)], rotated(held_key_ids=[]), NOW)
    assert plan["decision"] == "none"


def test_two_active_holders_disagree_converges_on_newest_held():
    keys = [key(A, age=100), key(B, age=2)]
    plan = plan_rotation(keys, rotated(held_key_ids=[A, B]), NOW)
    assert plan["decision"] == "converge" and plan["target_key_id"] == B and plan["actions"] == []
    assert plan["previous_key_ids"] == [A]


def test_two_active_holders_disagree_old_held_key_is_no_converge_target():
    # A is held but 100 days old: converging on it would only postpone the failure; creating
    # would need an Active key deleted, so the user fails telling how to resolve it
    keys = [key(A, age=100), key(B, age=2)]
    plan = plan_rotation(keys, rotated(held_key_ids=[A, None]), NOW)
    assert plan["failed"] and plan["actions"] == [] and "state=retired" in plan["msg"]


def test_two_active_holders_disagree_converges_on_young_older_held_key():
    keys = [key(A, age=30), key(B, age=2)]
    plan = plan_rotation(keys, rotated(held_key_ids=[A, None]), NOW)
    assert plan["decision"] == "converge" and plan["target_key_id"] == A and plan["previous_key_ids"] == [B]


def test_two_active_nothing_held_fails():
    keys = [key(A, age=10), key(B, age=2)]
    plan = plan_rotation(keys, rotated(held_key_ids=[C, None]), NOW)
    assert plan["failed"] and plan["actions"] == []


# escrow


def test_escrowed_active_key_converges_instead_of_creating():
    keys = [key(A, age=100), key(B, age=0)]
    plan = plan_rotation(keys, rotated(held_key_ids=[A, A], escrowed_key_ids=[B]), NOW)
    assert plan["decision"] == "converge" and plan["target_key_id"] == B and plan["actions"] == []


def test_escrow_newest_wins():
    keys = [key(A, age=3), key(B, age=1)]
    plan = plan_rotation(keys, rotated(held_key_ids=[None], escrowed_key_ids=[A, B]), NOW)
    assert plan["target_key_id"] == B and plan["decision"] == "converge"


def test_force_with_escrowed_active_key_converges():
    keys = [key(A, age=100), key(B, age=0)]
    plan = plan_rotation(keys, rotated(force=True, escrowed_key_ids=[B]), NOW)
    assert plan["decision"] == "converge" and plan["target_key_id"] == B and plan["actions"] == []


def test_escrowed_inactive_or_missing_key_is_ignored():
    keys = [key(A, age=100), key(B, status="Inactive", age=1)]
    plan = plan_rotation(keys, rotated(escrowed_key_ids=[B, C]), NOW)
    assert kinds(plan) == [("delete", B), ("create", None)]


def test_escrow_not_used_when_not_due():
    keys = [key(A, age=1)]
    plan = plan_rotation(keys, rotated(escrowed_key_ids=[A]), NOW)
    assert plan["decision"] == "none"


# ------------------------------------------------------------------ state=retired


def test_retired_deactivates_other_active_and_keeps_it_within_grace():
    keys = [key(A, age=100), key(B, age=1)]
    plan = plan_rotation(keys, retired(B), NOW)
    assert plan["decision"] == "retire" and plan["target_key_id"] == B
    assert kinds(plan) == [("deactivate", A)]
    after, _again = assert_idempotent(keys, retired(B), plan)
    assert {k["access_key_id"]: k["status"] for k in after} == {A: "Inactive", B: "Active"}
    # 7 days later (the grace period) the key goes, with its tag
    later = plan_rotation(after, retired(B), NOW + datetime.timedelta(days=7), tagged_key_ids=[A])
    assert kinds(later) == [("delete", A), ("untag", A)]
    # one second short of it, nothing
    early = plan_rotation(after, retired(B), NOW + datetime.timedelta(days=7, seconds=-1), tagged_key_ids=[A])
    assert early["actions"] == [] and early["decision"] == "none"


def test_retired_zero_grace_deletes_in_same_run():
    keys = [key(A, age=100), key(B, age=1)]
    plan = plan_rotation(keys, retired(B, delete_after_days=0), NOW)
    # deleted in the same run: no deactivation record written, none to remove
    assert kinds(plan) == [("deactivate", A), ("delete", A)]
    assert plan["actions"][0]["record"] is False
    after, _again = assert_idempotent(keys, retired(B, delete_after_days=0), plan)
    assert [k["access_key_id"] for k in after] == [B]


def test_retired_deletes_recorded_inactive_after_grace():
    keys = [key(A, status="Inactive", age=100, deactivated=8), key(B, age=1)]
    plan = plan_rotation(keys, retired(B, delete_after_days=7), NOW, tagged_key_ids=[A])
    assert kinds(plan) == [("delete", A), ("untag", A)]
    assert_idempotent(keys, retired(B), plan, tagged=[A])


def test_retired_keeps_recorded_inactive_within_grace():
    keys = [key(A, status="Inactive", age=100, deactivated=6), key(B, age=1)]
    plan = plan_rotation(keys, retired(B, delete_after_days=7), NOW, tagged_key_ids=[A])
    assert plan["actions"] == [] and plan["decision"] == "none" and plan["previous_key_ids"] == [A]


def test_retired_never_deletes_unrecorded_inactive():
    keys = [key(A, status="Inactive", age=1000), key(B, age=1)]
    for days in (0, 7, 365):
        plan = plan_rotation(keys, retired(B, delete_after_days=days), NOW)
        assert plan["actions"] == []


def test_retired_current_missing_or_inactive_fails_without_actions():
    keys = [key(A, age=100), key(B, status="Inactive", age=1, deactivated=30)]
    for current in (C, B, None):
        plan = plan_rotation(keys, retired(current, delete_after_days=0), NOW)
        assert plan["failed"] and plan["actions"] == []
        if current:
            assert current in plan["msg"]


def test_retired_only_current_key_is_none():
    plan = plan_rotation([key(A, age=1)], retired(A), NOW)
    assert plan == {"decision": "none", "target_key_id": A, "previous_key_ids": [], "actions": [], "failed": False, "msg": None}


def test_retired_removes_tags_of_vanished_keys():
    plan = plan_rotation([key(A, age=1)], retired(A), NOW, tagged_key_ids=[C])
    assert kinds(plan) == [("untag", C)]
    assert_idempotent([key(A, age=1)], retired(A), plan, tagged=[C])


def test_retired_never_touches_current_key():
    keys = [key(A, age=500), key(B, status="Inactive", age=100, deactivated=100)]
    plan = plan_rotation(keys, retired(A, delete_after_days=0), NOW, tagged_key_ids=[B, A])
    assert all(a["access_key_id"] != A for a in plan["actions"])


@pytest.mark.parametrize("tz_naive", [True, False])
def test_naive_dates_are_utc(tz_naive):
    created = days_ago(95)
    if tz_naive:
        created = created.replace(tzinfo=None)
    plan = plan_rotation([{"access_key_id": A, "status": "Active", "create_date": created, "deactivated_date": None}], rotated(), NOW)
    assert plan["decision"] == "create"


def test_plan_is_deterministic_on_equal_dates():
    keys = [key(A, age=5), key(B, age=5)]
    assert plan_rotation(keys, rotated(), NOW) == plan_rotation(list(reversed(keys)), rotated(), NOW)
