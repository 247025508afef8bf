# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.aws.iam_access_key_rotation and keyops.aws.iam_access_key_info against the bed.

Every outcome is asserted through boto3 (list_access_keys, list_user_tags, sts with the new key),
not through the modules' return values alone.
"""

import datetime
import json
import os
import stat
import uuid

import botocore.exceptions

TAG_PREFIX = "keyops:deactivated:"


def _name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def _user(iam, prefix, active=0, inactive=0):
    name = _name(prefix)
    iam.create_user(UserName=name)
    ids = []
    for index in range(active + inactive):
        kid = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        if index >= active:
            iam.update_access_key(UserName=name, AccessKeyId=kid, Status="Inactive")
        ids.append(kid)
    return name, ids


def _keys(iam, name):
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}


def _tags(iam, name):
    return {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}


def _iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_rotation(ansible_playbook, tmp_path, users, verbosity=0, diff=False, **extra):
    secrets_file = tmp_path / ("secrets-%s.json" % uuid.uuid4().hex[:6])
    summary_file = tmp_path / ("summary-%s.json" % uuid.uuid4().hex[:6])
    extra_vars = {"keyops_test_users": users, "keyops_test_secrets_file": str(secrets_file),
                  "keyops_test_summary_file": str(summary_file)}
    extra_vars.update(extra)
    proc = ansible_playbook("iam_access_keys/rotation.yml", extra_vars=extra_vars, verbosity=verbosity, diff=diff)
    assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
    with open(secrets_file, encoding="utf-8") as handle:
        secrets = json.load(handle)
    with open(summary_file, encoding="utf-8") as handle:
        summary = json.load(handle)
    return proc, secrets, summary


def _kinds(user):
    return [a["action"] for a in user["actions"]]


def test_rotation_of_several_users_in_one_task(bed, ansible_playbook, no_secrets, tmp_path):
    """No key, two Inactive keys (at the limit), a young key: check/run/check/run at -vvvv, no secret shown."""
    iam = bed.client("iam")
    fresh, _fresh_keys = _user(iam, "rot-fresh")
    full, (old_tagged, old_plain) = _user(iam, "rot-full", inactive=2)
    recorded = _iso(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3))
    iam.tag_user(UserName=full, Tags=[{"Key": TAG_PREFIX + old_tagged, "Value": recorded}])
    young, (young_key,) = _user(iam, "rot-young", active=1)
    # an earlier run created `escrow_new` and died; force must converge on it, not make a third key
    resumed, (escrow_old, escrow_new) = _user(iam, "rot-resumed", active=2)
    resumed_entry = {"name": resumed, "force": True, "held_key_ids": [escrow_old, escrow_new], "escrowed_key_ids": [escrow_new]}

    proc, secrets, summary = _run_rotation(ansible_playbook, tmp_path, [fresh, {"name": full}, young, resumed_entry],
                                           verbosity=4, diff=True)

    # no secret in the -vvvv output, though keys were created and the registered variable holds them
    no_secrets(proc.stdout + proc.stderr, bed.known_secrets())
    assert len(secrets) == 2
    for new_key in secrets:
        assert new_key["secret_access_key"] not in proc.stdout
        sts = bed.client("sts", access_key_id=new_key["access_key_id"], secret_access_key=new_key["secret_access_key"])
        assert sts.get_caller_identity()["Arn"].split("/")[-1] in (fresh, full)

    by_user = {k["access_key_id"]: k for k in secrets}
    # fresh: exactly one Active key, the one returned
    fresh_keys = _keys(iam, fresh)
    assert list(fresh_keys.values()) == ["Active"] and set(fresh_keys) <= set(by_user)
    # full: the Inactive key with a recorded time was deleted (and its tag), the other one stays
    full_keys = _keys(iam, full)
    assert old_tagged not in full_keys and full_keys[old_plain] == "Inactive"
    (new_full,) = [k for k in full_keys if k != old_plain]
    assert full_keys[new_full] == "Active" and new_full in by_user
    assert TAG_PREFIX + old_tagged not in _tags(iam, full)
    # young: untouched; resumed: converged without any write
    assert _keys(iam, young) == {young_key: "Active"}
    assert _keys(iam, resumed) == {escrow_old: "Active", escrow_new: "Active"}

    # check mode predicted exactly what the run did; the second round did nothing
    check1 = {u["user_name"]: u for u in summary["check1"]}
    run1 = {u["user_name"]: u for u in summary["run1"]}
    for name in (fresh, full, young):
        assert _kinds(check1[name]) == _kinds(run1[name])
        assert check1[name]["decision"] == run1[name]["decision"]
    assert _kinds(run1[full]) == ["delete", "untag", "create"]
    assert run1[full]["actions"][0]["access_key_id"] == old_tagged
    assert run1[young]["decision"] == "none" and run1[young]["target_key_id"] == young_key
    assert run1[fresh]["target_key_id"] in by_user
    assert run1[resumed]["decision"] == "converge" and run1[resumed]["target_key_id"] == escrow_new
    assert run1[resumed]["actions"] == [] and run1[resumed]["previous_key_ids"] == [escrow_old]
    for name in (fresh, full, young):
        assert {u["user_name"]: u for u in summary["run2"]}[name]["decision"] == "none"
        assert {u["user_name"]: u for u in summary["check2"]}[name]["actions"] == []


def test_two_active_keys_fail_that_user_only(bed, ansible_playbook, tmp_path):
    iam = bed.client("iam")
    two, (first, second) = _user(iam, "rot-twoactive", active=2)
    ok, _ok_keys = _user(iam, "rot-ok")
    missing = _name("rot-missing")
    summary_file = tmp_path / "partial.json"
    ansible_playbook("iam_access_keys/partial_failure.yml", extra_vars={
        "keyops_test_users": [{"name": two, "force": True}, ok, missing],
        "keyops_test_summary_file": str(summary_file)})
    summary = json.loads(summary_file.read_text(encoding="utf-8"))

    assert sorted(summary["failed_users"]) == sorted([two, missing])
    assert two in summary["msg"] and missing in summary["msg"] and ok not in summary["failed_users"]
    users = {u["user_name"]: u for u in summary["users"]}
    assert first in users[two]["msg"] and second in users[two]["msg"] and "state=retired" in users[two]["msg"]
    assert "does not exist" in users[missing]["msg"]
    assert summary["created"] == [ok]
    # nothing deleted or deactivated for the failed user; the other user got its key
    assert _keys(iam, two) == {first: "Active", second: "Active"}
    assert list(_keys(iam, ok).values()) == ["Active"]


def test_retire_with_zero_grace_deletes_in_the_same_run(bed, ansible_playbook, tmp_path):
    iam = bed.client("iam")
    name, (old, current) = _user(iam, "ret-zero", active=2)
    _proc, secrets, summary = _run_rotation(
        ansible_playbook, tmp_path, [{"name": name, "current_key_id": current}],
        keyops_test_state="retired", keyops_test_delete_after_days=0)
    assert secrets == []
    assert _keys(iam, name) == {current: "Active"}
    assert not any(k.startswith(TAG_PREFIX) for k in _tags(iam, name))
    # deleted in the same run: no deactivation tag written, none to remove (issue 8: no tag writes)
    assert [(a["action"], a["access_key_id"]) for a in summary["run1"][0]["actions"]] == [
        ("deactivate", old), ("delete", old)]
    assert _kinds(summary["check1"][0]) == _kinds(summary["run1"][0])


def test_retire_with_grace_period_deletes_once_it_passed(bed, ansible_playbook, tmp_path):
    iam = bed.client("iam")
    name, (old, current) = _user(iam, "ret-grace", active=2)
    # a second user whose Inactive key has no recorded time: never deleted
    plain, (keep, inactive_plain) = _user(iam, "ret-plain", active=1, inactive=1)
    users = [{"name": name, "current_key_id": current}, {"name": plain, "current_key_id": keep}]
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    _run_rotation(ansible_playbook, tmp_path, users, keyops_test_state="retired", keyops_test_delete_after_days=7)

    assert _keys(iam, name) == {old: "Inactive", current: "Active"}
    recorded = datetime.datetime.strptime(_tags(iam, name)[TAG_PREFIX + old], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert before - datetime.timedelta(seconds=5) <= recorded <= datetime.datetime.now(datetime.timezone.utc)
    assert _keys(iam, plain) == {keep: "Active", inactive_plain: "Inactive"}

    # eight days "pass": the recorded time is moved back with boto3
    iam.tag_user(UserName=name, Tags=[{"Key": TAG_PREFIX + old, "Value": _iso(recorded - datetime.timedelta(days=8))}])
    _proc, _secrets, summary = _run_rotation(ansible_playbook, tmp_path, users, keyops_test_state="retired",
                                             keyops_test_delete_after_days=7)
    assert _keys(iam, name) == {current: "Active"}
    assert TAG_PREFIX + old not in _tags(iam, name)
    assert _keys(iam, plain) == {keep: "Active", inactive_plain: "Inactive"}
    run1 = {u["user_name"]: u for u in summary["run1"]}
    assert _kinds(run1[name]) == ["delete", "untag"] and run1[plain]["actions"] == []


def test_retire_refuses_a_current_key_that_is_not_active(bed, ansible_playbook, tmp_path):
    """That user fails and keeps everything; another user of the same task is retired."""
    iam = bed.client("iam")
    bad, (active, inactive) = _user(iam, "ret-bad", active=1, inactive=1)
    iam.tag_user(UserName=bad, Tags=[{"Key": TAG_PREFIX + inactive, "Value": "2020-01-01T00:00:00Z"}])
    good, (good_old, good_current) = _user(iam, "ret-good", active=2)
    summary_file = tmp_path / "partial.json"
    ansible_playbook("iam_access_keys/partial_failure.yml", extra_vars={
        "keyops_test_users": [{"name": bad, "current_key_id": inactive}, {"name": good, "current_key_id": good_current}],
        "keyops_test_state": "retired", "keyops_test_delete_after_days": 0, "keyops_test_summary_file": str(summary_file)})
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert summary["failed_users"] == [bad] and bad in summary["msg"]
    users = {u["user_name"]: u for u in summary["users"]}
    assert inactive in users[bad]["msg"] and "not Active" in users[bad]["msg"] and users[bad]["actions"] == []
    # nothing of the failed user changed (not even its old Inactive key, due for deletion)
    assert _keys(iam, bad) == {active: "Active", inactive: "Inactive"}
    assert TAG_PREFIX + inactive in _tags(iam, bad)
    assert _keys(iam, good) == {good_current: "Active"} and good_old not in _keys(iam, good)


def test_info_for_a_list_all_users_and_an_unknown_user(bed, ansible_playbook, tmp_path):
    iam = bed.client("iam")
    one, (k_active, k_inactive) = _user(iam, "info-one", active=1, inactive=1)
    recorded = "2026-01-02T03:04:05Z"
    iam.tag_user(UserName=one, Tags=[{"Key": TAG_PREFIX + k_inactive, "Value": recorded}])
    none, _none_keys = _user(iam, "info-none")
    # a second user whose key is used once (moto records the last use of EC2 calls; AccessDenied counts)
    used = _name("info-used")
    iam.create_user(UserName=used)
    used_key = iam.create_access_key(UserName=used)["AccessKey"]
    ec2 = bed.client("ec2", access_key_id=used_key["AccessKeyId"], secret_access_key=used_key["SecretAccessKey"])
    try:
        ec2.describe_key_pairs()
    except botocore.exceptions.ClientError:
        pass
    summary_file = tmp_path / "info.json"
    ansible_playbook("iam_access_keys/info.yml", extra_vars={
        "keyops_test_users": [one, none, used], "keyops_test_unknown": _name("info-unknown"),
        "keyops_test_summary_file": str(summary_file)})
    summary = json.loads(summary_file.read_text(encoding="utf-8"))

    listed = {u["user_name"]: u for u in summary["list"]}
    assert [u["user_name"] for u in summary["list"]] == [one, none, used]
    assert listed[none]["access_keys"] == []
    keys = {k["access_key_id"]: k for k in listed[one]["access_keys"]}
    truth = _keys(iam, one)
    assert {kid: k["status"] for kid, k in keys.items()} == truth
    assert keys[k_inactive]["deactivated_date"] == recorded
    assert keys[k_active]["deactivated_date"] is None
    for key in keys.values():
        assert key["age_days"] == 0 and key["create_date"].endswith("Z")
        assert set(key) == {"access_key_id", "status", "create_date", "age_days", "last_used_date",
                            "last_used_service", "last_used_region", "deactivated_date"}
    (used_info,) = listed[used]["access_keys"]
    assert used_info["access_key_id"] == used_key["AccessKeyId"]
    assert used_info["last_used_service"] == "ec2" and used_info["last_used_region"] == "us-east-1"
    assert used_info["last_used_date"].endswith("Z")
    assert keys[k_active]["last_used_date"] is None and keys[k_active]["last_used_service"] is None
    all_users = {u["user_name"]: u for u in summary["all"]}
    assert {one, none} <= set(all_users)
    assert all_users[one] == listed[one]
    assert len(all_users) == len(iam.get_paginator("list_users").paginate().build_full_result()["Users"])


def test_rotation_escrows_new_secret_before_the_task_ends(bed, ansible_playbook, tmp_path, no_secrets):
    """escrow_dir: the action plugin stores the new secret (0600, dir 0700) as the task ends."""
    user = "escrow-%s" % uuid.uuid4().hex[:8]
    bed.client("iam").create_user(UserName=user)
    escrow = tmp_path / "escrow"
    proc = ansible_playbook("iam_access_keys/escrow_at_create.yml", extra_vars={"user": user, "escrow_dir": str(escrow)}, verbosity=4)
    keys = bed.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert len(keys) == 1 and keys[0]["Status"] == "Active"
    entry = escrow / keys[0]["AccessKeyId"]
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(escrow.stat().st_mode) == 0o700
    no_secrets(proc.stdout + proc.stderr, bed.known_secrets())
