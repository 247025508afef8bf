# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bookkeeping of the credentials_audit role (moved from the role's Jinja): pure functions, no Ansible run."""

import base64
import json
import pytest

from ansible_collections.keyops.aws.plugins.plugin_utils import _credentials_audit_role as role
from ansible_collections.keyops.aws.plugins.plugin_utils._access_key_rotation_role import RoleError

KEY1 = "AKIA0000000000000001"
KEY2 = "AKIA0000000000000002"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETKEY"
ADMIN = {"access_key": "AKIAADMIN00000000000", "secret_key": "admin-secret", "region": "us-east-1"}
GROUPS = {"all": ["h1", "h2", "h3"], "ungrouped": [], "dev": ["h1"], "staging": ["h2"], "prod": ["h3"]}


def b64(text):
    return base64.b64encode(text.encode()).decode()


def host_vars():
    return {
        "h1": {"access_key_rotation_credentials": [
            {"iam_user": "app", "path": "/h1/credentials"},
            {"iam_user": "app", "path": "/h1/credentials", "profile": "ci"},
            {"iam_user": "rot", "type": "ssm_parameter", "id_parameter": "/a/id", "secret_parameter": "/a/secret"}],
            "access_key_rotation_aws": ADMIN, "key_pair_rotation_name": "deploy", "key_pair_rotation_regions": ["us-east-1"],
            "key_pair_rotation_key_dir": "/keys", "key_pair_rotation_user": "deploy"},
        "h2": {"access_key_rotation_credentials": [
            {"iam_user": "app", "type": "secretsmanager", "secret_id": "app/aws"},
            {"iam_user": "x", "type": "nonsense"}],
            "access_key_rotation_aws": ADMIN, "keyops_environment": "staging", "access_key_rotation_delete_after_days": 10},
        "h3": {"access_key_rotation_credentials": [
            {"iam_user": "web", "type": "env_file", "path": "/etc/web.env"},
            {"iam_user": "bak", "type": "env_file", "path": "/etc/web.env", "id_var": "B_ID", "secret_var": "B_SECRET"}],
            "access_key_rotation_aws": {"profile": "prod"}},
    }


def test_scope_resolves_environments_with_the_tested_helper_and_lists_the_reads():
    plan = role.scope(host_vars(), GROUPS, {"authorized_keys_all_hosts": False})
    assert [env["environment"] for env in plan["environments"]] == ["dev", "staging", "prod"]
    hosts = plan["hosts"]
    assert hosts["h1"]["files"] == ["/h1/credentials"]  # one read per file
    assert hosts["h1"]["authorized_keys"] == "~deploy/.ssh/authorized_keys"
    assert hosts["h2"]["authorized_keys"] is None and hosts["h3"]["authorized_keys"] is None
    assert hosts["h3"]["env_files"] == [{"path": "/etc/web.env", "label": "/etc/web.env (2 entries)", "entries": [
        {"id_var": "AWS_ACCESS_KEY_ID", "secret_var": "AWS_SECRET_ACCESS_KEY"}, {"id_var": "B_ID", "secret_var": "B_SECRET"}]}]
    # a bad entry is a reported problem, the host's other entries are audited
    assert len(hosts["h2"]["errors"]) == 1 and "access_key_rotation_credentials[1]" in hosts["h2"]["errors"][0]
    assert "unknown type" in hosts["h2"]["errors"][0]
    assert [read["module_holders"] for read in plan["sm_reads"]] == [
        [{"secret_id": "app/aws", "id_key": "aws_access_key_id", "secret_key": "aws_secret_access_key"}]]
    assert [read["module_holders"] for read in plan["ssm_reads"]] == [[{"id_parameter": "/a/id", "secret_parameter": "/a/secret"}]]
    # two distinct AWS settings -> two identity reads; the loop items carry an id, never the settings
    assert len(plan["identity_reads"]) == 2
    assert all("aws" not in item for item in plan["identity_reads"] + plan["sm_reads"] + plan["ssm_reads"])
    assert plan["settings"][plan["hosts"]["h1"]["aws_id"]] == ADMIN
    assert plan["sensitive"] is True
    assert plan["controller"] == {"name": "deploy", "key_dir": "/keys", "key_base": "/keys/deploy"}
    assert plan["environments"][1]["delete_after_days"] == 10 and plan["environments"][0]["delete_after_days"] == 7
    assert plan["environments"][0]["key_pair"] == {"name": "deploy", "regions": ["us-east-1"]}


def test_scope_all_hosts_authorized_keys_and_ungrouped():
    values = {"h9": {"key_pair_rotation_name": "deploy", "ansible_user": "admin"}}
    plan = role.scope(values, {"all": ["h9"], "ungrouped": ["h9"]}, {"authorized_keys_all_hosts": True})
    assert plan["hosts"]["h9"]["environment"] == "ungrouped"
    assert plan["hosts"]["h9"]["authorized_keys"] == "~admin/.ssh/authorized_keys"
    assert role.scope(values, {}, {})["hosts"]["h9"]["authorized_keys"] is None


def identity(plan, accounts):
    return {"results": [dict({"item": item}, **({"account": acct} if acct else {"failed": False, "msg": "AccessDenied"}))
                        for item, acct in zip(plan["identity_reads"], accounts)]}


def test_accounts_one_iam_read_per_account():
    plan = role.scope(host_vars(), GROUPS)
    same = role.accounts(plan, identity(plan, ["111", "111"]), {"content": b64("ssh-ed25519 AAAA me\n")})
    assert same["accounts"] == {"dev": "111", "staging": "111", "prod": "111"}
    assert len(same["iam_reads"]) == 1
    read = same["iam_reads"][0]
    assert read["environments"] == ["dev", "staging", "prod"] and read["environment"] == "dev"
    assert read["user_names"] == ["app", "bak", "rot", "web"]
    assert read["delete_after_days"] == 10
    assert same["ec2_reads"] == [{"environment": "dev", "aws_id": plan["environments"][0]["aws_id"], "label": same["ec2_reads"][0]["label"],
                                  "name": "deploy", "regions": ["us-east-1"], "public_key": "ssh-ed25519 AAAA me"}]
    # STS failed for prod's settings: prod is its own scope and the problem is reported
    split = role.accounts(plan, identity(plan, ["111", None]))
    assert split["accounts"]["prod"] is None and "AccessDenied" in split["account_errors"]["prod"]
    assert [item["environments"] for item in split["iam_reads"]] == [["dev", "staging"], ["prod"]]


def creds_read(path, profiles, **extra):
    return dict({"item": path, "exists": True, "mode": "0600", "profiles": profiles, "changed": False}, **extra)


def profile(name, key, secret=SECRET):
    return {"name": name, "aws_access_key_id": key, "has_secret_access_key": True, "secret_access_key": secret,
            "has_session_token": False}


def test_verify_groups_hold_the_secrets_per_settings_and_owners_adds_unread_users():
    plan = role.scope(host_vars(), GROUPS)
    reads = {"h1": {"results": [creds_read("/h1/credentials", [profile("default", KEY1), profile("ci", KEY2),
                                                               {"name": "empty", "aws_access_key_id": None}])]}}
    out = role.verify_groups(plan, reads)
    assert out["sensitive"] is True
    [group] = out["verify_groups"]
    assert [key["name"] for key in group["key_pairs"]] == ["h1\n/h1/credentials\ndefault", "h1\n/h1/credentials\nci"]
    assert group["key_pairs"][0]["secret_access_key"] == SECRET and "aws" not in group
    accounts = role.accounts(plan, identity(plan, ["111", "111"]))
    verify = {"results": [{"item": {"aws_id": group["aws_id"]}, "results": [
        {"name": "h1\n/h1/credentials\ndefault", "reason": "ok", "user_name": "app"},
        {"name": "h1\n/h1/credentials\nci", "reason": "ok", "arn": "arn:aws:iam::111:user/team/ci-bot"}]}]}
    first = {"results": [{"item": accounts["iam_reads"][0], "users": [{"user_name": "app", "access_keys": []}]}]}
    owners = role.owners(plan, accounts, first, verify)
    assert [(item["scope"], item["user_names"]) for item in owners["iam_reads"]] == [("account:111", ["ci-bot"])]


def test_facts_shape_every_raw_result_without_secrets():
    plan = role.scope(host_vars(), GROUPS)
    accounts = role.accounts(plan, identity(plan, ["111", "111"]))
    iam_item = accounts["iam_reads"][0]
    results = {
        "iam_first": {"results": [{"item": iam_item, "failed": False, "msg": "IAM user(s) not found: rot", "unknown_users": ["rot"],
                                   "users": [{"user_name": "app", "access_keys": [{"access_key_id": KEY1, "status": "Active"}]}]}]},
        "iam_owners": {"results": []},
        "verify": {"results": [{"results": [{"name": "h1\n/h1/credentials\ndefault", "reason": "secret_mismatch", "arn": None}]}]},
        "sm": {"results": [{"item": plan["sm_reads"][0], "holders": [{"secret_id": "app/aws", "access_key_id": KEY2, "failed": False}]}]},
        "ssm": {"results": [{"item": plan["ssm_reads"][0], "failed": False, "msg": "parameters /a/id, /a/secret: cannot read them",
                             "holders": [{"secret_parameter": "/a/secret", "failed": True, "access_key_id": None,
                                          "msg": "parameters /a/id, /a/secret: cannot read them"}]}]},
        "ec2": {"results": [{"item": accounts["ec2_reads"][0], "present_in": ["us-east-1"], "failed_regions": [],
                             "key_pairs": [{"region": "us-east-1", "key_name": "deploy", "public_key": "ssh-ed25519 AAAA"}]}]},
        "controller": {"private_stat": {"stat": {"exists": True, "mode": "0600"}}, "public_read": {"content": b64("ssh-ed25519 AAAA\n")},
                       "retired_read": {"results": [{"item": "/keys/deploy.retired/b.pub", "content": b64("ssh-ed25519 BBBB\n")}]}},
    }
    host_results = {
        "h1": {"reads": {"results": [creds_read("/h1/credentials", [profile("default", KEY1), profile("ci", KEY2)])]},
               "ak_stat": {"stat": {"exists": True}}, "ak_read": {"content": b64("ssh-ed25519 AAAA\n")}},
        "h2": {"reads": {"results": []}},
        "h3": {"env_reads": {"results": [{"item": {"path": "/etc/web.env"}, "exists": True, "changed": False,
                                          "actions": [{"action": "set_mode", "reason": "mode is 0644"}],
                                          "entries": [{"id_var": "AWS_ACCESS_KEY_ID", "access_key_id": KEY1},
                                                      {"id_var": "B_ID", "access_key_id": None}]}]}},
    }
    out = role.facts(plan, accounts, results, host_results, not_audited=["h4"])
    assert SECRET not in json.dumps(out) and "admin-secret" not in json.dumps(out)
    hosts = dict((item["host"], item) for item in out["hosts"])
    h1 = hosts["h1"]
    assert h1["environment"] == "dev"
    assert h1["credentials"][0]["managed"] == [{"profile": "default", "iam_user": "app"}, {"profile": "ci", "iam_user": "app"}]
    assert h1["credentials"][0]["profiles"][0]["verify"] == {"reason": "secret_mismatch", "arn": None, "user_name": None}
    assert h1["credentials"][0]["profiles"][1]["verify"] is None
    assert h1["authorized_keys"] == {"path": "~deploy/.ssh/authorized_keys", "exists": True, "content": "ssh-ed25519 AAAA\n", "error": None}
    assert h1["holders"][0]["type"] == "ssm_parameter" and "cannot read them" in h1["holders"][0]["error"]
    assert hosts["h2"]["holders"][0]["access_key_id"] == KEY2 and hosts["h2"]["holders"][0]["path"] == "app/aws"
    web, bak = hosts["h3"]["holders"]
    assert (web["access_key_id"], web["mode"], web["slot"]) == (KEY1, "0644", "AWS_ACCESS_KEY_ID")
    assert bak["access_key_id"] is None and bak["slot"] == "B_ID"
    # the IAM read of the account is keyed by its first environment, missing users are not an error
    assert out["iam"] == {"dev": {"users": results["iam_first"]["results"][0]["users"], "missing_users": ["rot"], "error": None,
                                  "delete_after_days": 10}}
    assert out["accounts"] == {"dev": "111", "staging": "111", "prod": "111"}
    assert out["key_pairs"]["dev"]["regions"] == {"us-east-1": {"present": True, "public_key": "ssh-ed25519 AAAA", "fingerprint": None}}
    assert out["controller"]["retired_public_keys"] == [{"path": "/keys/deploy.retired/b.pub", "public_key": "ssh-ed25519 BBBB"}]
    assert out["controller"]["private_key"] == {"path": "/keys/deploy", "exists": True, "mode": "0600"}
    assert out["not_audited"] == ["h4"]


def test_facts_report_failed_reads_as_problems():
    plan = role.scope(host_vars(), GROUPS)
    accounts = role.accounts(plan, identity(plan, ["111", "111"]))
    results = {"iam_first": {"results": [{"item": accounts["iam_reads"][0], "failed": False, "msg": "reading failed for: app: Throttling"}]},
               "verify": {"results": [{"failed": False, "msg": "no credentials"}]}}
    host_results = {"h1": {"reads": {"results": [{"item": "/h1/credentials", "failed": False, "msg": "permission denied"}]},
                           "ak_stat": {"failed": False, "msg": "cannot stat"}}}
    out = role.facts(plan, accounts, results, host_results)
    assert out["iam"]["dev"]["error"] == "reading failed for: app: Throttling"
    [h1] = out["hosts"]
    assert h1["credentials"][0]["error"] == "permission denied"
    assert h1["authorized_keys"]["error"] == "cannot stat"
    assert "verification with STS failed: no credentials" in h1["errors"]


def test_env_file_key_pairs_are_verified_and_their_verdict_reaches_the_facts():
    plan = role.scope(host_vars(), GROUPS)
    env_file = 'A=1\nexport AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY="%s"\nB_ID=%s\n' % (KEY1, SECRET, KEY2)
    raw = {"h3": {"results": [{"item": plan["hosts"]["h3"]["env_files"][0], "content": b64(env_file)}]}}
    [group] = role.verify_groups(plan, {}, raw)["verify_groups"]
    # B_ID has no secret: nothing to verify for it
    assert group["key_pairs"] == [{"access_key_id": KEY1, "secret_access_key": SECRET, "name": "h3\n/etc/web.env\nAWS_ACCESS_KEY_ID"}]
    # a file the parser refuses (a variable set twice) is left to env_file_credentials' own error
    twice = {"h3": {"results": [{"item": plan["hosts"]["h3"]["env_files"][0], "content": b64(env_file + "AWS_ACCESS_KEY_ID=x\n")}]}}
    assert role.verify_groups(plan, {}, twice)["verify_groups"] == []
    accounts = role.accounts(plan, identity(plan, ["111", "111"]))
    results = {"verify": {"results": [{"results": [{"name": "h3\n/etc/web.env\nAWS_ACCESS_KEY_ID", "reason": "secret_mismatch"}]}]}}
    host_results = {"h3": {"env_reads": {"results": [{"item": {"path": "/etc/web.env"}, "exists": True,
                                                      "entries": [{"id_var": "AWS_ACCESS_KEY_ID", "access_key_id": KEY1}]}]}}}
    [h3] = role.facts(plan, accounts, results, host_results)["hosts"]
    assert h3["holders"][0]["verify"] == {"reason": "secret_mismatch", "arn": None, "user_name": None}
    assert h3["holders"][1]["verify"] is None


@pytest.mark.parametrize("settings, named", [
    ({"credentials_audit_max_age_days": -1}, "credentials_audit_max_age_days"),
    ({"credentials_audit_unused_days": 10 ** 10}, "credentials_audit_unused_days"),
    ({"credentials_audit_concurrency": 0}, "credentials_audit_concurrency"),
    ({"credentials_audit_concurrency": "many"}, "credentials_audit_concurrency"),
    ({"credentials_audit_concurrency": True}, "credentials_audit_concurrency"),
    ({"credentials_audit_verify_timeout": -0.5}, "credentials_audit_verify_timeout"),
    ({"credentials_audit_verify_timeout": float("nan")}, "credentials_audit_verify_timeout"),
])
def test_check_settings_names_the_variable(settings, named):
    with pytest.raises(RoleError) as caught:
        role.check_settings(settings)
    assert named in str(caught.value)


def test_check_settings_accepts_the_defaults_and_bounds():
    role.check_settings({"credentials_audit_max_age_days": 0, "credentials_audit_unused_days": "90",
                         "credentials_audit_verify_timeout": 2.5, "credentials_audit_concurrency": 256})
    role.check_settings({})


def test_store_key_pairs_read_with_return_secrets_are_verified_and_their_verdict_reaches_the_facts():
    plan = role.scope(host_vars(), GROUPS)
    sm_item, ssm_item = plan["sm_reads"][0], plan["ssm_reads"][0]
    sm = {"results": [{"item": sm_item, "holders": [{"secret_id": "app/aws", "access_key_id": KEY1, "secret_access_key": SECRET}]}]}
    ssm = {"results": [{"item": ssm_item, "holders": [
        {"id_parameter": "/a/id", "secret_parameter": "/a/secret", "access_key_id": KEY2, "secret_access_key": SECRET}]}]}
    groups = role.verify_groups(plan, {}, {}, {"sm": sm, "ssm": ssm})["verify_groups"]
    pairs = sorted((pair for group in groups for pair in group["key_pairs"]), key=lambda pair: pair["name"])
    assert pairs == [{"access_key_id": KEY2, "secret_access_key": SECRET, "name": "h1\n/a/id\n/a/secret"},
                     {"access_key_id": KEY1, "secret_access_key": SECRET, "name": "h2\napp/aws\naws_access_key_id"}]
    # a holder read without its secret (return_secrets false) or failed is not verified
    no_secret = {"results": [{"item": sm_item, "holders": [{"secret_id": "app/aws", "access_key_id": KEY1, "secret_access_key": None}]}]}
    failed = {"results": [{"item": ssm_item, "failed": True, "msg": "AccessDenied", "holders": []}]}
    assert role.verify_groups(plan, {}, {}, {"sm": no_secret, "ssm": failed})["verify_groups"] == []
    accounts = role.accounts(plan, identity(plan, ["111", "111"]))
    results = {"sm": sm, "ssm": ssm, "verify": {"results": [{"results": [
        {"name": "h2\napp/aws\naws_access_key_id", "reason": "secret_mismatch"}, {"name": "h1\n/a/id\n/a/secret", "reason": "ok"}]}]}}
    hosts = role.facts(plan, accounts, results, {"h1": {}, "h2": {}})["hosts"]
    by_host = dict((item["host"], item) for item in hosts)
    [ssm_fact] = by_host["h1"]["holders"]
    [sm_fact, _bad] = by_host["h2"]["holders"] if len(by_host["h2"]["holders"]) == 2 else by_host["h2"]["holders"] + [None]
    assert sm_fact["verify"]["reason"] == "secret_mismatch" and ssm_fact["verify"]["reason"] == "ok"
    assert SECRET not in json.dumps(hosts)


def test_verify_groups_of_several_hosts_whose_entries_end_with_a_file():
    # a host's entries ending with a credentials file, then another host's key pairs: one group each
    values = host_vars()
    values["h1"]["access_key_rotation_credentials"].reverse()
    plan = role.scope(values, GROUPS)
    reads = {"h1": {"results": [creds_read("/h1/credentials", [profile("default", KEY1)])]}}
    env_file = 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' % (KEY2, SECRET)
    raw = {"h3": {"results": [{"item": plan["hosts"]["h3"]["env_files"][0], "content": b64(env_file)}]}}
    groups = role.verify_groups(plan, reads, raw)["verify_groups"]
    assert [[key["name"] for key in group["key_pairs"]] for group in groups] == [
        ["h1\n/h1/credentials\ndefault"], ["h3\n/etc/web.env\nAWS_ACCESS_KEY_ID"]]
