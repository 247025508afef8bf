# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bookkeeping of the access_key_rotation role: pure functions, no Ansible run."""

import pytest

from ansible_collections.keyops.aws.plugins.plugin_utils import _access_key_rotation_role as role

POLICY = {"max_age_days": 90, "delete_after_days": 7, "force": False}
OLD = "AKIAOLD0000000000001"
NEW = "AKIANEW0000000000002"
OTHER = "AKIAOTH0000000000003"


def creds(*entries):
    return [dict(zip(("iam_user", "path", "profile"), e)) for e in entries]


def host_vars(**hosts):
    return {name: {"credentials": value.get("credentials"), "aws": value.get("aws")} for name, value in hosts.items()}


def read_result(path, holders, held):
    """A registered credentials_profile_info loop item."""
    return {
        "item": {"path": path, "profiles": [p for _i, p in holders], "holders": [{"id": i, "profile": p} for i, p in holders]},
        "profiles": [{"name": p, "aws_access_key_id": k, "has_secret_access_key": True} for p, k in held.items()],
    }


def test_holders_from_every_host_grouped_by_aws_settings():
    plan = role.collect_holders(
        host_vars(
            h1={"credentials": creds(("app", "/c", None), ("shared", "/c", "s"))},
            h2={"credentials": creds(("shared", "/d", "default"))},
            h3={"credentials": creds(("prod", "/e", None)), "aws": {"region": "us-west-2", "secret_key": "x"}},
            h4={},
        ),
        play_hosts=["h1", "h3"],
        play_policy=POLICY,
    )
    assert [h["id"] for h in plan["holders"]] == ["h1:/c[default]", "h1:/c[s]", "h2:/d[default]", "h3:/e[default]"]
    assert [h["reachable"] for h in plan["holders"]] == [True, True, False, True]
    assert [g["users"] for g in plan["aws_groups"]] == [["app", "shared"], ["prod"]]
    assert plan["aws_groups"][1]["label"] == "region=us-west-2"  # never the secret
    assert plan["sensitive"] is True
    assert plan["reads_by_host"]["h1"] == [{"path": "/c", "profiles": ["default", "s"],
                                            "holders": [{"id": "h1:/c[default]", "profile": "default"}, {"id": "h1:/c[s]", "profile": "s"}]}]
    assert "h2" not in plan["reads_by_host"]  # not in the play: pending, not read


@pytest.mark.parametrize(
    "credentials, message",
    [
        ("not a list", "must be a list"),
        ([{"path": "/c"}], "needs iam_user"),
        ([{"iam_user": "u"}], "needs path"),
        ([{"iam_user": "u", "path": "/c", "bogus": 1}], "unknown keys bogus"),
        ([{"iam_user": "u", "path": "/c"}, {"iam_user": "v", "path": "/c"}], "twice"),
    ],
)
def test_bad_credentials_fail_clearly(credentials, message):
    with pytest.raises(role.RoleError, match=message):
        role.collect_holders({"h1": {"credentials": credentials}}, ["h1"], POLICY)


def test_unknown_aws_option_fails():
    with pytest.raises(role.RoleError, match="unknown options aws_secret"):
        role.collect_holders({"h1": {"credentials": creds(("u", "/c", None)), "aws": {"aws_secret": "x"}}}, ["h1"], POLICY)


def test_stricter_policy_per_aws_settings():
    plan = role.collect_holders(
        {"h1": {"credentials": creds(("u", "/c", None)), "max_age_days": 30, "delete_after_days": 0},
         "h2": {"credentials": creds(("v", "/d", None)), "delete_after_days": 14, "force": "yes"}},
        ["h1", "h2"], POLICY,
    )
    assert plan["aws_groups"][0]["policy"] == {"max_age_days": 30, "delete_after_days": 14, "force": True}


def _inputs(held, reachable=("h1", "h2"), escrowed=()):
    plan = role.collect_holders(
        host_vars(h1={"credentials": creds(("u", "/c", None))}, h2={"credentials": creds(("u", "/d", None))}),
        list(reachable), POLICY,
    )
    results = {}
    for host, path in (("h1", "/c"), ("h2", "/d")):
        if host in reachable:
            results[host] = {"results": [read_result(path, [("%s:%s[default]" % (host, path), "default")], {"default": held[host]} if held[host] else {})]}
    return role.rotation_input(plan, results, escrowed)


def test_rotation_input_one_entry_per_readable_holder():
    inputs = _inputs({"h1": OLD, "h2": None})
    assert inputs["rotate_groups"][0]["users"] == [{"name": "u", "held_key_ids": [OLD, ""], "escrowed_key_ids": []}]


def test_user_with_no_readable_holder_is_left_out():
    inputs = _inputs({"h1": OLD, "h2": OLD}, reachable=())
    assert inputs["rotate_groups"] == []
    assert inputs["aws_groups"][0]["skipped_users"] == ["u"]


CREATED = {"user_name": "u", "decision": "create", "previous_key_ids": [OLD], "new_key": {"access_key_id": NEW, "secret_access_key": "s3cr3t"}}


def _rotation(user):
    return {"results": [{"item": {"aws_id": None}, "users": [user]}]}


def _fix_group(inputs, rotation):
    rotation["results"][0]["item"]["aws_id"] = inputs["aws_groups"][0]["aws_id"]
    return rotation


def test_create_escrows_the_secret_and_writes_every_holder():
    inputs = _inputs({"h1": OLD, "h2": OLD})
    rotation = _fix_group(inputs, _rotation(CREATED))
    planned = role.targets(inputs, rotation)
    assert planned["escrow_store"] == [{"access_key_id": NEW, "secret_access_key": "s3cr3t", "iam_user": "u"}]
    user = planned["users"][0]
    assert user["target_key_id"] == NEW and user["source"] == "new"
    assert user["write"] == ["h1:/c[default]", "h2:/d[default]"]
    dist = role.distribute(inputs, planned, None, {})
    assert [w["secret_access_key"] for w in dist["writes"]["h1"]] == ["s3cr3t"]
    assert dist["confirm"]["h2"][0]["path"] == "/d"
    assert "s3cr3t" not in repr(dist["confirm"])
    assert dist["verify_groups"][0]["key_pairs"][0]["access_key_id"] == NEW

    verify = {"results": [{"item": {"aws_id": inputs["aws_groups"][0]["aws_id"]}, "results": [{"access_key_id": NEW, "valid": True}]}]}
    confirm = {"h1": {"results": [read_result("/c", [("h1:/c[default]", "default")], {"default": NEW})]},
               "h2": {"results": [read_result("/d", [("h2:/d[default]", "default")], {"default": NEW})]}}
    retired = role.retirement(inputs, dist["users"], verify, confirm)
    assert retired["retire_groups"][0]["users"] == [{"name": "u", "current_key_id": NEW}]
    assert retired["escrow_remove"] == [NEW]
    report = role.report(retired, {"results": [{"item": {"aws_id": inputs["aws_groups"][0]["aws_id"]}, "users": [
        {"user_name": "u", "actions": [{"action": "deactivate", "access_key_id": OLD}]}]}]})
    assert report["summary"]["u"]["keys"] == "%s -> %s" % (OLD, NEW)
    assert report["summary"]["u"]["holders_updated"] == ["h1:/c[default]", "h2:/d[default]"]
    assert report["errors"] == [] and report["pending"] == []
    assert "s3cr3t" not in repr(report)


def test_failed_write_keeps_the_old_key_and_the_escrow():
    inputs = _inputs({"h1": OLD, "h2": OLD})
    rotation = _fix_group(inputs, _rotation(CREATED))
    dist = role.distribute(inputs, role.targets(inputs, rotation), None, {})
    verify = {"results": [{"item": {"aws_id": inputs["aws_groups"][0]["aws_id"]}, "results": [{"access_key_id": NEW, "valid": True}]}]}
    confirm = {"h1": {"results": [read_result("/c", [("h1:/c[default]", "default")], {"default": NEW})]}}  # h2 failed its write
    retired = role.retirement(inputs, dist["users"], verify, confirm)
    assert retired["retire_groups"] == [] and retired["escrow_remove"] == []
    assert retired["users"][0]["pending"] == ["h2:/d[default]"]


def test_unverified_key_is_not_retired():
    inputs = _inputs({"h1": OLD, "h2": OLD})
    rotation = _fix_group(inputs, _rotation(CREATED))
    dist = role.distribute(inputs, role.targets(inputs, rotation), None, {})
    invalid = {"access_key_id": NEW, "valid": False, "reason": "key_not_found"}
    verify = {"results": [{"item": {"aws_id": inputs["aws_groups"][0]["aws_id"]}, "results": [invalid]}]}
    confirm = {h: {"results": [read_result(p, [("%s:%s[default]" % (h, p), "default")], {"default": NEW})]} for h, p in (("h1", "/c"), ("h2", "/d"))}
    retired = role.retirement(inputs, dist["users"], verify, confirm)
    assert retired["retire_groups"] == []
    assert "did not verify" in retired["users"][0]["msg"]


def test_converge_on_escrowed_key_reads_the_escrow():
    inputs = _inputs({"h1": NEW, "h2": OLD}, escrowed=[NEW])
    rotation = _fix_group(inputs, _rotation({"user_name": "u", "decision": "converge", "target_key_id": NEW, "previous_key_ids": [OLD]}))
    planned = role.targets(inputs, rotation)
    assert planned["escrow_read"] == [NEW] and planned["users"][0]["write"] == ["h2:/d[default]"]
    dist = role.distribute(inputs, planned, {"entries": [{"access_key_id": NEW, "secret_access_key": "s3cr3t"}]}, {})
    assert list(dist["writes"]) == ["h2"]


def test_converge_on_held_key_reads_it_from_a_holder():
    inputs = _inputs({"h1": OLD, "h2": OTHER})
    rotation = _fix_group(inputs, _rotation({"user_name": "u", "decision": "converge", "target_key_id": OTHER, "previous_key_ids": [OLD]}))
    planned = role.targets(inputs, rotation)
    assert planned["holder_reads"] == {"h2": [{"id": "h2:/d[default]", "path": "/d", "profile": "default", "target_key_id": OTHER}]}
    secret_read = {"h2": {"results": [{"item": planned["holder_reads"]["h2"][0],
                                       "profiles": [{"name": "default", "aws_access_key_id": OTHER, "secret_access_key": "held"}]}]}}
    dist = role.distribute(inputs, planned, None, secret_read)
    assert dist["writes"]["h1"][0]["secret_access_key"] == "held"


def test_missing_escrow_entry_fails_the_user_only():
    inputs = _inputs({"h1": NEW, "h2": OLD}, escrowed=[NEW])
    rotation = _fix_group(inputs, _rotation({"user_name": "u", "decision": "converge", "target_key_id": NEW, "previous_key_ids": [OLD]}))
    dist = role.distribute(inputs, role.targets(inputs, rotation), {"entries": []}, {})
    assert dist["writes"] == {} and dist["users"][0]["failed"]


def test_nothing_due_retires_nothing_new_and_writes_nothing():
    inputs = _inputs({"h1": OLD, "h2": OLD})
    rotation = _fix_group(inputs, _rotation({"user_name": "u", "decision": "none", "target_key_id": OLD, "previous_key_ids": []}))
    planned = role.targets(inputs, rotation)
    dist = role.distribute(inputs, planned, None, {})
    assert dist["writes"] == {} and dist["verify_groups"] == []
    retired = role.retirement(inputs, dist["users"], {}, {})
    assert retired["retire_groups"][0]["users"] == [{"name": "u", "current_key_id": OLD}]  # a no-op retire (grace, old tags)


def test_whole_batch_failure_fails_its_users():
    inputs = _inputs({"h1": OLD, "h2": OLD})
    rotation = _fix_group(inputs, {"results": [{"item": {}, "failed": True, "msg": "Unable to locate credentials"}]})
    planned = role.targets(inputs, rotation)
    assert planned["users"][0]["failed"] and "Unable to locate credentials" in planned["users"][0]["msg"]
    report = role.report(role.retirement(inputs, planned["users"], {}, {}), {})
    assert report["errors"] and report["pending"] == ["h1:/c[default]", "h2:/d[default]"]


def test_sensitive_settings_are_detected():
    assert role.has_sensitive_settings({"x": [{"aws": {"session_token": "t"}}]})
    assert not role.has_sensitive_settings({"x": [{"aws": {"region": "r"}}]})


def test_batches_label_progress_and_results_of_every_batch_are_used():
    names = ["u%04d" % i for i in range(600)]
    plan = role.collect_holders({"h1": {"credentials": [{"iam_user": n, "path": "/c", "profile": n} for n in names]}}, ["h1"], POLICY,
                                {"batch_size": 250})
    results = {"h1": {"results": [read_result("/c", [("h1:/c[%s]" % n, n) for n in names], {n: OLD for n in names})]}}
    inputs = role.rotation_input(plan, results, [NEW])
    assert [b["label"] for b in inputs["rotate_groups"]] == ["users 1-250 of 600", "users 251-500 of 600", "users 501-600 of 600"]
    assert inputs["rotate_groups"][0]["escrowed_key_ids"] == [NEW]  # once per batch, not per user
    gid = inputs["aws_groups"][0]["aws_id"]
    rotation = {"results": [
        {"item": {"aws_id": gid, "users": b["users"]},
         "users": [{"user_name": u["name"], "decision": "none", "target_key_id": OLD, "previous_key_ids": [],
                    "access_keys": {"keys": [{"access_key_id": OLD, "status": "Active"}], "tagged_key_ids": []}} for u in b["users"]]}
        for b in inputs["rotate_groups"][:2]
    ] + [{"item": {"aws_id": gid, "users": inputs["rotate_groups"][2]["users"]}, "failed": True, "msg": "throttled"}]}
    planned = role.targets(inputs, rotation)
    assert [u["failed"] for u in planned["users"]].count(True) == 100
    retired = role.retirement(inputs, role.distribute(inputs, planned, None, {})["users"], {}, {})
    assert [b["label"] for b in retired["retire_groups"]] == ["users 1-250 of 500", "users 251-500 of 500"]
    assert retired["retire_groups"][0]["users"][0]["access_keys"]["keys"][0]["access_key_id"] == OLD  # carried over: no re-read
    report = role.report(retired, {})
    assert report["lines"][0] == "600 users: 0 rotated, 500 up to date, 0 converged, 0 retired old keys only, 0 pending, 100 failed"
    assert len(report["lines"]) == 101 and all("failed" in line for line in report["lines"][1:])
    assert len(report["errors"]) == 100 and len(report["errors_shown"]) == 21
    assert len(report["summary"]) == 600


@pytest.mark.parametrize("settings, message", [
    ({"verify_successes": 0}, "access_key_rotation_verify_successes must be between 1 and 100, got 0"),
    ({"verify_timeout": -1}, "access_key_rotation_verify_timeout must be between 0 and 86400, got -1"),
    ({"batch_size": "many"}, "access_key_rotation_batch_size must be an integer"),
    ({"concurrency": 1000}, "access_key_rotation_concurrency must be between 1 and 256"),
])
def test_bad_role_settings_fail_in_the_first_step(settings, message):
    with pytest.raises(role.RoleError, match=message):
        role.collect_holders({"h1": {"credentials": creds(("u", "/c", None))}}, ["h1"], POLICY, settings)


@pytest.mark.parametrize("policy, message", [
    (dict(POLICY, delete_after_days=10000000000), "access_key_rotation_delete_after_days must be between 0 and 36500"),
    (dict(POLICY, max_age_days=0), "access_key_rotation_max_age_days must be between 1 and 36500"),
])
def test_bad_policy_names_the_variable(policy, message):
    with pytest.raises(role.RoleError, match=message):
        role.collect_holders({"h1": {"credentials": creds(("u", "/c", None))}}, ["h1"], policy)


@pytest.mark.parametrize("profile", ["a]b", "a\nb", "a b"])
def test_bad_profile_name_fails_naming_the_entry(profile):
    with pytest.raises(role.RoleError, match=r"access_key_rotation_credentials\[0\]\.profile"):
        role.collect_holders({"h1": {"credentials": creds(("u", "/c", profile))}}, ["h1"], POLICY)


def test_writes_grouped_per_file():
    plan = role.collect_holders({"h1": {"credentials": creds(("u", "/c", "a"), ("v", "/c", "b"), ("w", "/d", None))}}, ["h1"], POLICY)
    files = role._file_writes([  # pylint: disable=protected-access
        {"id": h["id"], "path": h["path"], "profile": h["profile"], "owner": None, "group": None, "access_key_id": NEW,
         "secret_access_key": "s"} for h in plan["holders"]])
    assert [(f["path"], [p["profile"] for p in f["profiles"]], f["label"]) for f in files] == [
        ("/c", ["a", "b"], "/c (2 profiles)"), ("/d", ["default"], "/d (1 profile)")]


# --------------------------------------------------------------------------- holder types (issue 12)
def test_holder_types_are_validated_naming_the_holder():
    from ansible_collections.keyops.aws.plugins.plugin_utils import _access_key_rotation_role as r

    good = r.normalize_credentials([
        {"iam_user": "u", "path": "/c"},
        {"iam_user": "u", "type": "env_file", "path": "/e.env"},
        {"iam_user": "u", "type": "secretsmanager", "secret_id": "app/aws", "create": True},
        {"iam_user": "u", "type": "ssm_parameter", "id_parameter": "/a/id", "secret_parameter": "/a/secret"},
    ], "h1")
    assert [e["type"] for e in good] == ["credentials_file", "env_file", "secretsmanager", "ssm_parameter"]
    assert [r.holder_id_of("h1", e) for e in good] == [
        "h1:/c[default]", "h1:/e.env{AWS_ACCESS_KEY_ID}", "h1:secretsmanager:app/aws", "h1:ssm:/a/secret"]
    bad = [
        ({"iam_user": "u", "type": "vault"}, "unknown type 'vault'"),
        ({"iam_user": "u", "type": "secretsmanager"}, "secret_id is required"),
        ({"iam_user": "u", "type": "ssm_parameter", "id_parameter": "bad name", "secret_parameter": "/x"}, "not a valid parameter name"),
        ({"iam_user": "u", "type": "ssm_parameter", "id_parameter": "/a", "secret_parameter": "aws/x"}, "must start with /"),
        ({"iam_user": "u", "type": "env_file", "path": "/e", "profile": "x"}, "unknown keys profile"),
        ({"iam_user": "u", "type": "secretsmanager", "create": True,
          "secret_id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"}, "never created"),
    ]
    for entry, message in bad:
        with pytest.raises(r.RoleError) as info:
            r.normalize_credentials([{"iam_user": "u", "path": "/c"}, entry], "h1")
        assert "host h1: access_key_rotation_credentials[1]" in str(info.value) and message in str(info.value), str(info.value)


def test_store_holders_are_grouped_per_account_and_files_per_host():
    from ansible_collections.keyops.aws.plugins.plugin_utils import _access_key_rotation_role as r

    host_vars = {
        "h1": {"credentials": [{"iam_user": "u", "type": "secretsmanager", "secret_id": "a"},
                               {"iam_user": "v", "type": "secretsmanager", "secret_id": "b"},
                               {"iam_user": "u", "type": "env_file", "path": "/e"},
                               {"iam_user": "v", "type": "env_file", "path": "/e", "id_var": "V_ID", "secret_var": "V_SECRET"}]},
        "h2": {"credentials": [{"iam_user": "u", "type": "ssm_parameter", "id_parameter": "/p/id", "secret_parameter": "/p/s"}],
               "aws": {"region": "eu-west-1"}},
    }
    plan = r.collect_holders(host_vars, ["h1", "h2"], {"max_age_days": 90, "delete_after_days": 7, "force": False})
    assert len(plan["sm_reads"]) == 1 and [h["secret_id"] for h in plan["sm_reads"][0]["module_holders"]] == ["a", "b"]
    assert len(plan["ssm_reads"]) == 1 and plan["ssm_reads"][0]["aws"] == {"region": "eu-west-1"}
    assert plan["reads_by_host"] == {}
    env = plan["env_reads_by_host"]["h1"]
    assert len(env) == 1 and [e["id_var"] for e in env[0]["entries"]] == ["AWS_ACCESS_KEY_ID", "V_ID"]
    # reads of every type map back to the holders
    results = {
        "h1/sm": {"results": [{"item": plan["sm_reads"][0], "holders": [
            {"secret_id": "a", "access_key_id": "AKIAAAAAAAAAAAAAAAAA", "failed": False},
            {"secret_id": "b", "access_key_id": None, "failed": True, "msg": "secret b: cannot read it"}], "failed": True}]},
        "h1/env": {"results": [{"item": env[0], "entries": [
            {"id_var": "AWS_ACCESS_KEY_ID", "access_key_id": "AKIABBBBBBBBBBBBBBBB", "has_secret": True},
            {"id_var": "V_ID", "access_key_id": "AKIACCCCCCCCCCCCCCCC", "has_secret": False}]}]},
    }
    state = r.read_profiles(results)
    assert state["h1:secretsmanager:a"] == {"read": True, "key_id": "AKIAAAAAAAAAAAAAAAAA", "error": None}
    assert state["h1:secretsmanager:b"]["read"] is False
    assert state["h1:/e{AWS_ACCESS_KEY_ID}"]["key_id"] == "AKIABBBBBBBBBBBBBBBB"
    assert state["h1:/e{V_ID}"]["key_id"] is None  # an id without its secret is not a usable key


# --------------------------------------------------------------------------- phases and the durable store (issue 13)
def _verified(inputs, key_id=NEW):
    return {"results": [{"item": {"aws_id": inputs["aws_groups"][0]["aws_id"]}, "results": [{"access_key_id": key_id, "valid": True}]}]}


def test_stored_key_is_the_secret_source_on_a_fresh_controller():
    inputs = _inputs({"h1": OLD, "h2": OLD})
    rotation = _fix_group(inputs, _rotation({"user_name": "u", "decision": "converge", "target_key_id": NEW, "previous_key_ids": [OLD],
                                             "stored_key": {"access_key_id": NEW, "secret_access_key": "from-store"}}))
    planned = role.targets(inputs, rotation)
    user = planned["users"][0]
    assert user["source"] == "store" and planned["escrow_read"] == [] and planned["holder_reads"] == {}
    dist = role.distribute(inputs, planned, None, {})
    assert {w["secret_access_key"] for w in dist["writes"]["h1"] + dist["writes"]["h2"]} == {"from-store"}


@pytest.mark.parametrize("flag", ["busy", "waiting"])
def test_busy_or_waiting_users_keep_every_holder_pending(flag):
    inputs = _inputs({"h1": OLD, "h2": OLD})
    rotation = _fix_group(inputs, _rotation({"user_name": "u", "decision": flag, flag: True, "previous_key_ids": [OLD], "msg": "why"}))
    planned = role.targets(inputs, rotation)
    assert planned["users"][0]["pending"] == ["h1:/c[default]", "h2:/d[default]"] and planned["users"][0]["write"] == []
    retired = role.retirement(inputs, role.distribute(inputs, planned, None, {})["users"], {}, {})
    assert retired["retire_groups"] == [] and retired["acknowledge"] == []
    report = role.report(retired, {})
    assert report["summary"]["u"]["status"] == ("busy" if flag == "busy" else "pending") and report["errors"] == []


def test_distribute_acknowledges_the_holders_that_hold_the_verified_key():
    inputs = _inputs({"h1": OLD, "h2": OLD}, reachable=("h1",))
    rotation = _fix_group(inputs, _rotation({"user_name": "u", "decision": "converge", "target_key_id": NEW, "previous_key_ids": [OLD],
                                             "stored_key": {"access_key_id": NEW, "secret_access_key": "s"}}))
    dist = role.distribute(inputs, role.targets(inputs, rotation), None, {})
    confirm = {"h1": {"results": [read_result("/c", [("h1:/c[default]", "default")], {"default": NEW})]}}
    retired = role.retirement(inputs, dist["users"], _verified(inputs), confirm)
    assert retired["retire_groups"] == []  # h2 (another slice) is pending here
    assert retired["acknowledge"][0]["acknowledgements"] == [{"iam_user": "u", "access_key_id": NEW, "holders": ["h1:/c[default]"]}]
    assert "s" not in [v for a in retired["acknowledge"] for v in a.values() if isinstance(v, str)]


def test_an_unverified_key_is_never_acknowledged():
    inputs = _inputs({"h1": OLD, "h2": OLD})
    rotation = _fix_group(inputs, _rotation(CREATED))
    dist = role.distribute(inputs, role.targets(inputs, rotation), None, {})
    invalid = {"results": [{"item": {"aws_id": inputs["aws_groups"][0]["aws_id"]}, "results": [{"access_key_id": NEW, "valid": False}]}]}
    confirm = {h: {"results": [read_result(p, [("%s:%s[default]" % (h, p), "default")], {"default": NEW})]} for h, p in (("h1", "/c"), ("h2", "/d"))}
    assert role.retirement(inputs, dist["users"], invalid, confirm)["acknowledge"] == []


def test_prepare_writes_nothing_and_names_the_holders_to_distribute():
    inputs = _inputs({"h1": OLD, "h2": OLD})
    planned = role.targets(inputs, _fix_group(inputs, _rotation(CREATED)))
    out = role.prepared(planned["users"])
    assert out["retire_groups"] == [] and out["acknowledge"] == []
    report = role.report(out, {}, phase="prepare")
    assert report["totals"]["rotated"] == 1 and report["lines"][0].startswith("phase prepare: ")
    assert report["summary"]["u"]["holders_to_distribute"] == ["h1:/c[default]", "h2:/d[default]"]
    assert "s3cr3t" not in repr(report)


def _holders_plan(backend="secretsmanager"):
    return role.collect_holders(
        host_vars(h1={"credentials": creds(("u", "/c", None), ("v", "/c", "v"))}, h2={"credentials": creds(("u", "/d", None))}),
        [], POLICY, {"phase": "retire", "escrow_backend": backend})


def _query(plan, users):
    from ansible_collections.keyops.aws.plugins.module_utils._durable_state import holder_hash
    entries = []
    for name, (recorded, acked) in users.items():
        entries.append({"iam_user": name, "recorded_key_id": recorded, "in_store": recorded is not None or bool(acked),
                        "acknowledgements": {holder_hash(h): k for h, k in acked.items()}})
    return {"results": [{"item": {"aws_id": plan["aws_groups"][0]["aws_id"], "users": list(users)}, "users": entries}]}


def test_retire_phase_retires_only_users_every_holder_acknowledged():
    plan = _holders_plan()
    query = _query(plan, {"u": (NEW, {"h1:/c[default]": NEW, "h2:/d[default]": NEW}), "v": (NEW, {})})
    out = role.from_store(plan, query, backend="secretsmanager")
    assert out["retire_groups"][0]["users"] == [{"name": "u", "current_key_id": NEW}]
    by_name = {u["name"]: u for u in out["users"]}
    assert by_name["v"]["pending"] == ["h1:/c[v]"] and not by_name["v"].get("retire")
    report = role.report(out, {}, phase="retire")
    assert report["summary"]["v"]["status"] == "pending" and report["errors"] == []


def test_retire_phase_never_retires_onto_a_key_the_store_did_not_record():
    plan = _holders_plan()
    query = _query(plan, {"u": (NEW, {"h1:/c[default]": OTHER, "h2:/d[default]": OTHER})})
    out = role.from_store(plan, query, backend="secretsmanager")
    assert out["retire_groups"] == [] and sorted(out["users"][0]["pending"]) == ["h1:/c[default]", "h2:/d[default]"]


def test_retire_phase_local_store_uses_the_unanimous_acknowledged_key():
    plan = _holders_plan("local")
    query = _query(plan, {"u": (None, {"h1:/c[default]": NEW, "h2:/d[default]": NEW}), "v": (None, {})})
    out = role.from_store(plan, query, backend="local")
    assert out["retire_groups"][0]["users"] == [{"name": "u", "current_key_id": NEW}] and out["escrow_remove"] == [NEW]
    assert [u["name"] for u in out["users"] if u.get("retire")] == ["u"]


def test_retire_phase_store_read_failure_keeps_the_user_pending():
    plan = _holders_plan()
    query = {"results": [{"item": {"aws_id": plan["aws_groups"][0]["aws_id"], "users": ["u", "v"]}, "failed": True, "msg": "AccessDenied"}]}
    out = role.from_store(plan, query, backend="secretsmanager")
    assert out["retire_groups"] == [] and all(u["failed"] for u in out["users"])


def test_store_queries_batch_the_users_of_each_account():
    plan = _holders_plan()
    assert role.store_queries(plan)[0]["users"] == ["u", "v"]


@pytest.mark.parametrize("settings, message", [
    ({"phase": "later"}, "access_key_rotation_phase"),
    ({"escrow_backend": "s3"}, "access_key_rotation_escrow_backend"),
    ({"escrow_prefix": "bad prefix/"}, "access_key_rotation_escrow_prefix"),
    ({"escrow_kms_key_id": "not a key!"}, "access_key_rotation_escrow_kms_key_id"),
    ({"claim_ttl_minutes": -1}, "access_key_rotation_claim_ttl_minutes"),
])
def test_bad_store_settings_fail_in_the_first_step(settings, message):
    with pytest.raises(role.RoleError, match=message):
        role.collect_holders(host_vars(h1={"credentials": creds(("u", "/c", None))}), ["h1"], POLICY, settings)


# --------------------------------------------------------------------------- reload_command (issue 12)
def _reload_inputs(held):
    plan = role.collect_holders(
        host_vars(h1={"credentials": [{"iam_user": "u", "path": "/c", "reload_command": ["systemctl", "restart", "app"]}]},
                  h2={"credentials": creds(("u", "/d", None))}),
        ["h1", "h2"], POLICY)
    results = {h: {"results": [read_result(p, [("%s:%s[default]" % (h, p), "default")], {"default": held[h]})]}
               for h, p in (("h1", "/c"), ("h2", "/d"))}
    return role.rotation_input(plan, results, [])


def test_reload_runs_for_a_changed_holder_and_a_failed_one_keeps_the_old_key():
    inputs = _reload_inputs({"h1": OLD, "h2": OLD})
    dist = role.distribute(inputs, role.targets(inputs, _fix_group(inputs, _rotation(CREATED))), None, {})
    confirm = {h: {"results": [read_result(p, [("%s:%s[default]" % (h, p), "default")], {"default": NEW})]} for h, p in (("h1", "/c"), ("h2", "/d"))}
    verify = _verified(inputs)
    todo = role.reloads(inputs, dist["users"], verify, confirm)
    assert list(todo) == ["h1"] and todo["h1"][0]["argv"] == ["systemctl", "restart", "app"]
    assert role.reloads(inputs, dist["users"], verify, confirm, check_mode=True) == {}
    failed = {"h1": {"results": [{"item": todo["h1"][0], "failed": True, "rc": 3}]}}
    retired = role.retirement(inputs, dist["users"], verify, confirm, reload_results=failed, play_hosts=["h1", "h2"])
    assert retired["retire_groups"] == [] and retired["users"][0]["pending"] == ["h1:/c[default]"]
    assert "rc 3" in retired["users"][0]["msg"]
    ok = {"h1": {"results": [{"item": todo["h1"][0], "rc": 0}]}}
    assert role.retirement(inputs, dist["users"], verify, confirm, reload_results=ok, play_hosts=["h1", "h2"])["retire_groups"]


def test_reload_again_when_the_holder_has_the_key_but_the_old_key_is_still_active():
    inputs = _reload_inputs({"h1": NEW, "h2": NEW})
    rotation = _fix_group(inputs, _rotation({"user_name": "u", "decision": "none", "target_key_id": NEW, "previous_key_ids": [OLD]}))
    dist = role.distribute(inputs, role.targets(inputs, rotation), None, {})
    assert list(role.reloads(inputs, dist["users"], {}, {})) == ["h1"]
    steady = _fix_group(inputs, _rotation({"user_name": "u", "decision": "none", "target_key_id": NEW, "previous_key_ids": []}))
    assert role.reloads(inputs, role.distribute(inputs, role.targets(inputs, steady), None, {})["users"], {}, {}) == {}


def test_a_holder_whose_host_left_the_play_is_pending():
    inputs = _reload_inputs({"h1": NEW, "h2": NEW})
    rotation = _fix_group(inputs, _rotation({"user_name": "u", "decision": "none", "target_key_id": NEW, "previous_key_ids": [OLD]}))
    dist = role.distribute(inputs, role.targets(inputs, rotation), None, {})
    retired = role.retirement(inputs, dist["users"], {}, {}, play_hosts=["h2"])
    assert retired["retire_groups"] == [] and retired["users"][0]["pending"] == ["h1:/c[default]"]


@pytest.mark.parametrize("value", ["systemctl restart app", [], ["ok", ""], [1, 2]])
def test_bad_reload_command_names_the_holder(value):
    with pytest.raises(role.RoleError, match=r"host h1: access_key_rotation_credentials\[0\]: reload_command must be"):
        role.collect_holders(host_vars(h1={"credentials": [{"iam_user": "u", "path": "/c", "reload_command": value}]}), ["h1"], POLICY)


# --------------------------------------------------------------------------- converge sources beyond credentials files
def _mixed_inputs(extra, extra_results):
    """h1: a credentials file holding OLD; ``extra``: more holders of u (host -> entries), read as ``extra_results``."""
    hosts = {"h1": {"credentials": creds(("u", "/c", None))}}
    for host, entries in extra.items():
        hosts.setdefault(host, {"credentials": []})["credentials"] += entries
    plan = role.collect_holders(host_vars(**hosts), list(hosts), POLICY)
    results = {"h1/creds": {"results": [read_result("/c", [("h1:/c[default]", "default")], {"default": OLD})]}}
    results.update(extra_results(plan))
    return role.rotation_input(plan, results, [])


def _converge(inputs, target=OTHER):
    return role.targets(inputs, _fix_group(inputs, _rotation(
        {"user_name": "u", "decision": "converge", "target_key_id": target, "previous_key_ids": [OLD]})))


def test_converge_secret_read_from_an_env_file_holder():
    import base64

    def env_read(plan):
        item = plan["env_reads_by_host"]["h2"][0]
        return {"h2/env": {"results": [{"item": item, "entries": [
            {"id_var": "AWS_ACCESS_KEY_ID", "access_key_id": OTHER, "has_secret": True}]}]}}

    inputs = _mixed_inputs({"h2": [{"iam_user": "u", "type": "env_file", "path": "/e"}]}, env_read)
    planned = _converge(inputs)
    user = planned["users"][0]
    assert user["source"] == "holder" and user["source_holder"] == "h2:/e{AWS_ACCESS_KEY_ID}" and user["write"] == ["h1:/c[default]"]
    assert planned["holder_reads"] == {} and planned["sm_source_reads"] == [] and planned["ssm_source_reads"] == []
    reads = planned["env_source_reads"]["h2"]
    assert [(r["path"], r["entries"]) for r in reads] == [("/e", [{"id_var": "AWS_ACCESS_KEY_ID", "secret_var": "AWS_SECRET_ACCESS_KEY"}])]
    content = base64.b64encode(b"# app\nexport AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY='held secret'\n" % OTHER.encode()).decode()
    slurped = {"h2/slurp": {"results": [{"item": reads[0], "content": content, "encoding": "base64"}]}}
    dist = role.distribute(inputs, planned, None, slurped)
    assert dist["writes"]["h1"][0]["secret_access_key"] == "held secret" and not dist["users"][0]["failed"]
    assert dist["verify_groups"][0]["key_pairs"][0]["access_key_id"] == OTHER


def _store_reads(plan):
    out = {}
    for item in plan["sm_reads"]:
        out["h1/sm"] = {"results": [{"item": item, "holders": [{"secret_id": "app/u", "access_key_id": OTHER, "failed": False}]}]}
    for item in plan["ssm_reads"]:
        out["h1/ssm"] = {"results": [{"item": item, "holders": [{"secret_parameter": "/u/s", "access_key_id": OTHER, "failed": False}]}]}
    return out


STORE_HOLDERS = {"h1": [{"iam_user": "u", "type": "secretsmanager", "secret_id": "app/u"},
                        {"iam_user": "u", "type": "ssm_parameter", "id_parameter": "/u/id", "secret_parameter": "/u/s"}]}


def test_converge_secret_read_from_a_secretsmanager_holder_before_ssm():
    inputs = _mixed_inputs(STORE_HOLDERS, _store_reads)
    planned = _converge(inputs)
    user = planned["users"][0]
    assert user["source"] == "holder" and user["source_holder"] == "h1:secretsmanager:app/u"
    assert planned["env_source_reads"] == {} and planned["ssm_source_reads"] == []
    reads = planned["sm_source_reads"]
    assert len(reads) == 1 and [h["secret_id"] for h in reads[0]["module_holders"]] == ["app/u"]
    assert "access_key_id" not in reads[0]["module_holders"][0]  # a read, never a write
    stores = {"sm": {"results": [{"item": reads[0], "holders": [
        {"secret_id": "app/u", "access_key_id": OTHER, "secret_access_key": "held", "failed": False}]}]}, "ssm": {"skipped": True}}
    dist = role.distribute(inputs, planned, None, {}, stores)
    assert dist["writes"]["h1"][0]["secret_access_key"] == "held" and dist["sm_writes"] == [] and dist["ssm_writes"] == []


def test_converge_secret_read_from_an_ssm_holder():
    inputs = _mixed_inputs({"h1": STORE_HOLDERS["h1"][1:]}, _store_reads)
    planned = _converge(inputs)
    assert planned["users"][0]["source_holder"] == "h1:ssm:/u/s" and planned["sm_source_reads"] == []
    reads = planned["ssm_source_reads"]
    stores = {"ssm": {"results": [{"item": reads[0], "holders": [
        {"secret_parameter": "/u/s", "access_key_id": OTHER, "secret_access_key": "held", "failed": False}]}]}}
    dist = role.distribute(inputs, planned, None, {}, stores)
    assert dist["writes"]["h1"][0]["secret_access_key"] == "held"


def test_a_store_secret_of_another_key_or_a_failed_read_is_never_used():
    inputs = _mixed_inputs(STORE_HOLDERS, _store_reads)
    planned = _converge(inputs)
    reads = planned["sm_source_reads"]
    for holder in ({"secret_id": "app/u", "access_key_id": NEW, "secret_access_key": "other key's", "failed": False},
                   {"secret_id": "app/u", "access_key_id": OTHER, "secret_access_key": "x", "failed": True}):
        dist = role.distribute(inputs, planned, None, {}, {"sm": {"results": [{"item": reads[0], "holders": [holder]}]}})
        assert dist["writes"] == {} and dist["users"][0]["failed"]
        assert "could not be read" in dist["users"][0]["msg"] and "x" not in dist["users"][0]["msg"].split()


# --------------------------------------------------------------------------- records and the steps of targets()
SECRET = "s3cr3t-value-never-shown"


def _holder(hid, reachable=True, held=None, kind="credentials_file", host="h1"):
    return {"id": hid, "host": host, "type": kind, "path": "/c", "profile": "p", "reachable": reachable, "held_key_id": held}


def test_key_secret_repr_and_str_mask_the_secret():
    key = role.KeySecret(NEW, SECRET)
    assert SECRET not in repr(key) and SECRET not in str(key)
    assert NEW in repr(key)
    assert role.KeySecret.of({"access_key_id": NEW, "secret_access_key": SECRET}) == key
    assert role.KeySecret.of({"access_key_id": NEW}) is None
    assert role.KeySecret.of("x") is None


def test_rotation_result_from_registered_masks_new_and_stored_secrets():
    result = role.RotationResult.from_registered({
        "decision": "create", "previous_key_ids": [OLD], "msg": "m", "access_keys": {"k": 1},
        "new_key": {"access_key_id": NEW, "secret_access_key": SECRET},
        "stored_key": {"access_key_id": OTHER, "secret_access_key": SECRET + "2"},
    })
    assert result.decision == "create" and result.previous_key_ids == (OLD,) and result.access_keys == {"k": 1}
    assert result.new_key == role.KeySecret(NEW, SECRET)
    assert result.stored_key.access_key_id == OTHER
    assert SECRET not in repr(result) and SECRET not in str(result)


def test_rotation_result_new_key_without_id_or_secret_is_none():
    assert role.RotationResult.from_registered({"new_key": {"access_key_id": NEW}}).new_key is None
    assert role.RotationResult.from_registered({"new_key": {"secret_access_key": SECRET}}).new_key is None
    assert role.RotationResult.from_registered({"access_keys": ["not", "a", "dict"]}).access_keys is None


def test_rotation_results_for_user_and_batch_errors():
    registered = {"results": [
        {"item": {"aws_id": "g1", "users": [{"name": "a"}, {"name": "b"}]}, "users": [{"user_name": "a", "decision": "none"}]},
        {"item": {"aws_id": "g2", "users": [{"name": "c"}]}, "failed": True, "msg": "boom"},
        {"item": {"aws_id": "g3"}, "failed": True, "msg": "whole"},
        {"item": {"aws_id": "g4"}, "skipped": True},
    ]}
    results = role.RotationResults.from_registered(registered)
    got, error = results.for_user("g1", "a")
    assert got.decision == "none" and error is None
    assert results.for_user("g1", "b") == (None, None)
    assert results.for_user("g2", "c") == (None, "boom")
    assert results.for_user("g3", "anyone") == (None, "whole")
    assert results.for_user("g4", "x") == (None, None)


def test_user_entry_from_holders():
    mine = [_holder("h1:/c[p]", held=OLD), _holder("h2:/c[p]", reachable=False, held=None, host="h2")]
    entry = role.user_entry("g1", "label", "app", mine)
    assert entry == {"key": "g1/app", "aws_id": "g1", "label": "label", "name": "app", "decision": None, "target_key_id": None,
                     "previous_key_ids": [], "source": None, "failed": False, "msg": None,
                     "holders": ["h1:/c[p]", "h2:/c[p]"], "write": [], "pending": ["h2:/c[p]"],
                     "held": {"h1:/c[p]": OLD, "h2:/c[p]": None}}


def test_apply_rotation_no_result():
    mine = [_holder("a")]
    entry = role.user_entry("g", "l", "u", mine)
    assert role.apply_rotation(entry, None, "batch failed", mine) == (False, None)
    assert entry["failed"] and entry["msg"] == "batch failed"
    entry = role.user_entry("g", "l", "u", mine)
    assert role.apply_rotation(entry, None, None, mine) == (False, None)
    assert entry["failed"] and entry["msg"] == "no rotation result for this user"
    entry = role.user_entry("g", "l", "u", mine)
    assert role.apply_rotation(entry, None, None, mine, check_mode=True) == (False, None)
    assert not entry["failed"] and entry["msg"] is None


def test_apply_rotation_busy_waiting_failed():
    mine = [_holder("a"), _holder("b")]
    for flag in ("busy", "waiting"):
        entry = role.user_entry("g", "l", "u", mine)
        result = role.RotationResult(decision="create", **{flag: True})
        assert role.apply_rotation(entry, result, None, mine) == (False, None)
        assert entry["decision"] is None and entry[flag] is True and entry["pending"] == ["a", "b"]
    entry = role.user_entry("g", "l", "u", mine)
    assert role.apply_rotation(entry, role.RotationResult(decision="create", failed=True, msg="no", access_keys={"x": 1}),
                               None, mine) == (False, None)
    assert entry["failed"] and entry["msg"] == "no" and entry["access_keys"] == {"x": 1}


def test_apply_rotation_create_new_and_store():
    mine = [_holder("a", held=OLD)]
    entry = role.user_entry("g", "l", "u", mine)
    key = role.KeySecret(NEW, SECRET)
    assert role.apply_rotation(entry, role.RotationResult(decision="create", previous_key_ids=(OLD,), new_key=key), None, mine) == (True, key)
    assert entry["source"] == "new" and entry["target_key_id"] == NEW and entry["previous_key_ids"] == [OLD]
    entry = role.user_entry("g", "l", "u", mine)
    assert role.apply_rotation(entry, role.RotationResult(decision="create"), None, mine) == (False, None)
    assert entry["failed"] and entry["msg"] == "the rotation reported a new key without its secret"
    entry = role.user_entry("g", "l", "u", mine)
    assert role.apply_rotation(entry, role.RotationResult(decision="create"), None, mine, check_mode=True) == (True, None)
    assert not entry["failed"] and entry["target_key_id"] is None
    stored = role.KeySecret(NEW, SECRET)
    entry = role.user_entry("g", "l", "u", mine)
    assert role.apply_rotation(entry, role.RotationResult(decision="converge", target_key_id=NEW, stored_key=stored), None, mine) == (True, stored)
    assert entry["source"] == "store"
    entry = role.user_entry("g", "l", "u", mine)
    other = role.KeySecret(OTHER, SECRET)
    assert role.apply_rotation(entry, role.RotationResult(decision="converge", target_key_id=NEW, stored_key=other), None, mine) == (True, None)
    assert entry["source"] is None and entry["target_key_id"] == NEW


def _converging(mine, target=NEW):
    entry = role.user_entry("g", "l", "u", mine)
    entry.update(decision="converge", target_key_id=target)
    return entry


def test_choose_source_escrow_holder_none():
    mine = [_holder("a", held=OLD), _holder("b", held=NEW, kind="env_file"), _holder("c", held=NEW), _holder("d", reachable=False)]
    entry = _converging(mine)
    assert role.choose_source(entry, mine, {NEW}) is None
    assert entry["source"] == "escrow" and entry["write"] == ["a"]
    entry = _converging(mine)
    source = role.choose_source(entry, mine, set())
    assert source["id"] == "c" and entry["source"] == "holder" and entry["source_holder"] == "c"  # a credentials file first
    entry = _converging(mine[:1])
    assert role.choose_source(entry, mine[:1], set()) is None
    assert entry["failed"] and entry["write"] == [] and "no secret available for key %s" % NEW in entry["msg"]
    entry = _converging(mine[:1])
    assert role.choose_source(entry, mine[:1], set(), check_mode=True) is None
    assert not entry["failed"] and entry["write"] == ["a"]


def test_choose_source_nothing_to_write_or_secret_known():
    mine = [_holder("a", held=NEW)]
    entry = _converging(mine)
    assert role.choose_source(entry, mine, set()) is None
    assert entry["write"] == [] and entry["source"] is None and not entry["failed"]
    mine = [_holder("a", held=OLD)]
    entry = _converging(mine)
    entry["source"] = "new"
    assert role.choose_source(entry, mine, set()) is None
    assert entry["write"] == ["a"] and entry["source"] == "new"
    entry = _converging(mine, target=None)
    assert role.choose_source(entry, mine, set()) is None and entry["write"] == ["a"]


def test_holder_reads_are_records_and_read_profiles_their_dicts():
    registered = {"h1": {"results": [
        read_result("/c", [("h1:/c[a]", "a"), ("h1:/c[b]", "b")], {"a": OLD}),
        {"item": {"path": "/d", "profiles": ["p"], "holders": [{"id": "h1:/d[p]", "profile": "p"}]}, "failed": True, "msg": "denied"},
    ]}}
    states = role.holder_reads(registered)
    assert states["h1:/c[a]"] == role.HolderRead(True, OLD, None)
    assert states["h1:/c[a]"].key_id == OLD
    assert states["h1:/c[b]"] == role.HolderRead(True, None, None)
    assert states["h1:/d[p]"] == role.HolderRead(False, None, "denied")
    assert role.read_profiles(registered)["h1:/c[a]"] == {"read": True, "key_id": OLD, "error": None}


def test_verified_keys_are_key_checks():
    verify = {"results": [
        {"item": {"aws_id": "g"}, "results": [{"access_key_id": NEW, "valid": True}, {"access_key_id": OLD, "valid": False, "reason": "r"}]},
        {"item": {"aws_id": "g2", "key_pairs": [{"access_key_id": OTHER}]}, "failed": True, "msg": "sts down"},
    ]}
    checks = role.verified_keys(verify)
    assert checks[("g", NEW)] == role.KeyCheck(True, None) and checks[("g", NEW)].valid
    assert checks[("g", OLD)] == (False, "r")  # still a (valid, reason) pair
    assert checks[("g2", OTHER)].reason == "sts down"


def test_store_entries_from_the_query():
    query = {"results": [
        {"item": {"aws_id": "g", "users": ["a", "b"]}, "users": [
            {"iam_user": "a", "in_store": True, "recorded_key_id": NEW, "acknowledgements": {"x": NEW}, "claimed_by": "c"},
            {"iam_user": "b", "failed": True, "msg": "denied"}]},
        {"item": {"aws_id": "g2", "users": ["c"]}, "failed": True, "msg": "no store"},
    ]}
    found, errors = role._query_results(query)
    assert found[("g", "a")] == role.StoreEntry(in_store=True, recorded_key_id=NEW, claimed_by="c", acknowledgements={"x": NEW})
    assert errors == {("g", "b"): "denied", ("g2", "c"): "no store"}
    assert role.StoreEntry.from_registered({"acknowledgements": "junk", "recorded_key_id": ""}) == role.StoreEntry()


def test_source_secrets_are_masked_key_secrets():
    reads = {"h1": {"results": [{"item": {"profile": "p", "target_key_id": NEW},
                                 "profiles": [{"name": "p", "aws_access_key_id": NEW, "secret_access_key": SECRET}]}]}}
    stores = {"sm": {"results": [{"holders": [{"access_key_id": OTHER, "secret_access_key": SECRET}, {"access_key_id": OLD, "failed": True}]}]}}
    keys = role.source_secrets(reads, stores)
    assert keys == [role.KeySecret(NEW, SECRET), role.KeySecret(OTHER, SECRET)]
    assert SECRET not in repr(keys)
