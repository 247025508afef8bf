# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shaping of the role keyops.aws.key_pair_rotation, moved from its tasks into Python."""

import os

import pytest

from ansible_collections.keyops.aws.plugins.plugin_utils import _key_pair_rotation_role as role

CONNECTION = {
    "ansible_host": "127.0.0.1",
    "ansible_port": "2201",
    "ansible_user": "root",
    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no",
    "ansible_ssh_extra_args": "-o IdentitiesOnly=yes",
    "ansible_ssh_private_key_file": "/keys/admin",
}


def args(**overrides):
    base = {"name": "deploy-dev", "regions": ["us-east-1"], "key_dir": "/keys", "type": "ed25519", "size": None,
            "comment": "deploy-dev", "max_age_days": "90", "force": "false", "tags": {}, "aws": {},
            "user": None, "authorized_keys_path": None, "verify_timeout": 10}
    base.update(overrides)
    return base


def record(host="web1", connection=None, **overrides):
    return role.host_record(host, args(**overrides), CONNECTION if connection is None else connection)


# --------------------------------------------------------------------------- host_record
def test_ssh_options_are_made_once_from_the_connection_variables():
    rec = record()
    assert rec["ssh"] == {"host": "127.0.0.1", "port": 2201, "ssh_args": "-o StrictHostKeyChecking=no -o IdentitiesOnly=yes",
                          "ssh_executable": "ssh", "timeout": 10}
    assert rec["login_user"] == "root"
    assert rec["connection_key"] == "/keys/admin"
    assert rec["key_pair"]["max_age_days"] == 90 and rec["key_pair"]["force"] is False


def test_ssh_options_default_to_the_inventory_name_and_leave_out_a_missing_port():
    rec = record(host="web9", connection={})
    assert rec["ssh"] == {"host": "web9", "ssh_args": "", "ssh_executable": "ssh", "timeout": 10}
    assert rec["login_user"] is None and rec["connection_key"] == "" and rec["connection_key_realpath"] is None
    # no user anywhere: the connection user's ~/.ssh/authorized_keys
    assert rec["authorized_keys"] == {"path": "~/.ssh/authorized_keys"}


def test_authorized_keys_target_is_the_path_or_else_the_user():
    assert record()["authorized_keys"] == {"user": "root"}
    assert record(user="deploy")["authorized_keys"] == {"user": "deploy"}
    assert record(authorized_keys_path="/etc/ssh/keys/root")["authorized_keys"] == {"path": "/etc/ssh/keys/root"}
    assert record(connection={"ansible_ssh_user": "admin"})["user"] == "admin"


def test_private_key_file_falls_back_and_realpath_is_expanded(tmp_path):
    target = tmp_path / "real"
    target.write_text("x")
    link = tmp_path / "link"
    os.symlink(str(target), str(link))
    rec = record(connection={"ansible_private_key_file": str(link)})
    assert rec["connection_key"] == str(link)
    assert rec["connection_key_realpath"] == str(target)


def test_key_dir_is_absolute_and_comment_defaults_to_the_name():
    rec = record(key_dir="~/keys", comment="")
    assert rec["key_pair"]["key_dir"] == os.path.expanduser("~/keys")
    assert rec["key_pair"]["comment"] == "deploy-dev"


@pytest.mark.parametrize("overrides, variable", [
    ({"name": ""}, "key_pair_rotation_name"),
    ({"regions": "us-east-1"}, "key_pair_rotation_regions"),
    ({"max_age_days": "-1"}, "key_pair_rotation_max_age_days"),
    ({"max_age_days": "soon"}, "key_pair_rotation_max_age_days"),
    ({"force": "maybe"}, "key_pair_rotation_force"),
    ({"aws": {"secret": "x"}}, "key_pair_rotation_aws"),
    ({"aws": "profile"}, "key_pair_rotation_aws"),
    ({"tags": ["a"]}, "key_pair_rotation_tags"),
    ({"verify_timeout": 0}, "key_pair_rotation_verify_timeout"),
])
def test_bad_variables_name_the_variable(overrides, variable):
    with pytest.raises(role.RoleError, match=variable):
        record(**overrides)


# --------------------------------------------------------------------------- group_key_pairs
def test_hosts_are_grouped_by_key_pair_name_in_play_order():
    records = {
        "web1": record("web1"),
        "db1": record("db1", name="deploy-prod", regions=["eu-west-1", "us-west-2"]),
        "web2": record("web2"),
    }
    grouped = role.group_key_pairs(records)
    assert grouped["names"] == ["deploy-dev", "deploy-prod"]
    assert grouped["key_pairs"] == [
        {"name": "deploy-dev", "key_dir": "/keys", "max_age_days": 90, "force": False, "regions": ["us-east-1"]},
        {"name": "deploy-prod", "key_dir": "/keys", "max_age_days": 90, "force": False, "regions": ["eu-west-1", "us-west-2"]},
    ]
    assert grouped["settings"]["deploy-dev"]["hosts"] == ["web1", "web2"]
    assert grouped["settings"]["deploy-prod"]["hosts"] == ["db1"]
    assert grouped["host_key_pair"] == {"web1": "deploy-dev", "db1": "deploy-prod", "web2": "deploy-dev"}


def test_hosts_sharing_a_name_but_not_its_settings_fail_naming_what_differs():
    records = {"web1": record("web1"), "web2": record("web2", type="rsa", regions=["eu-west-1"])}
    with pytest.raises(role.RoleError) as info:
        role.group_key_pairs(records)
    message = str(info.value)
    assert "ask for different key pair settings" in message and "deploy-dev" in message
    assert "key_pair_rotation_type" in message and "key_pair_rotation_regions" in message
    assert "web1 and web2" in message


def test_secrets_are_not_compared_and_never_in_messages():
    records = {"web1": record("web1", aws={"access_key": "AKIAX", "secret_key": "s3cr3t-one"}),
               "web2": record("web2", aws={"access_key": "AKIAX", "secret_key": "s3cr3t-two"})}
    assert role.group_key_pairs(records)["names"] == ["deploy-dev"]
    records["web2"] = record("web2", aws={"access_key": "AKIAY", "secret_key": "s3cr3t-two"})
    with pytest.raises(role.RoleError) as info:
        role.group_key_pairs(records)
    assert "key_pair_rotation_aws" in str(info.value) and "s3cr3t" not in str(info.value)
    assert "AKIA" not in str(info.value)


def test_regions_are_checked_per_key_pair():
    records = {"web1": record("web1"), "db1": record("db1", name="deploy-prod", regions=["moon-1"])}

    def problem(regions):
        return None if regions == ["us-east-1"] else "regions (key_pair_rotation_regions): 'moon-1' is not an EC2 region"

    with pytest.raises(role.RoleError, match=r"key pair deploy-prod \(hosts db1\): regions \(key_pair_rotation_regions\)"):
        role.group_key_pairs(records, problem)


def test_has_secret_settings():
    assert role.has_secret_settings({"secret_key": "x"})
    assert role.has_secret_settings({"session_token": "x"})
    assert not role.has_secret_settings({"profile": "p", "secret_key": ""})
    assert not role.has_secret_settings(None)


# --------------------------------------------------------------------------- proven
def key_set(distribute=True, pending=True, current=True):
    target = {"path": "/keys/x.new", "public_key": "ssh-ed25519 AAAA new", "fingerprint": "SHA256:new"}
    return {
        "distribute": distribute,
        "target": target if distribute else None,
        "pending": dict(target) if pending else None,
        "current": {"path": "/keys/x", "fingerprint": "SHA256:old", "ec2_fingerprint": "e", "created": "c",
                    "age_days": 1, "public_key": "ssh-ed25519 AAAA old"} if current else None,
        "retired": [{"fingerprint": "SHA256:older"}],
        "due": pending,
        "reason": "force" if pending else "none",
    }


def grouped_two():
    return role.group_key_pairs({"web1": record("web1"),
                                 "db1": record("db1", name="deploy-prod", regions=["eu-west-1"], tags={"env": "prod"})})


def test_proven_lists_key_pairs_with_a_host_left_in_the_play():
    grouped = grouped_two()
    keys = {"key_pairs": {"deploy-dev": key_set(), "deploy-prod": key_set(pending=False)}}
    out = role.proven(grouped, keys, ["web1", "db1"])
    assert out["imports"] == [
        {"name": "deploy-dev", "public_key": "ssh-ed25519 AAAA new", "regions": ["us-east-1"], "tags": {}},
        {"name": "deploy-prod", "public_key": "ssh-ed25519 AAAA new", "regions": ["eu-west-1"], "tags": {"env": "prod"}},
    ]
    assert out["promotions"] == [{"name": "deploy-dev", "key_dir": "/keys", "fingerprint": "SHA256:new", "max_age_days": 90}]
    # every prod host refused the key (left the play): prod is neither imported nor promoted
    out = role.proven(grouped, keys, ["web1"])
    assert [entry["name"] for entry in out["imports"]] == ["deploy-dev"]
    # check mode before the key exists: nothing to distribute
    keys["key_pairs"]["deploy-dev"] = key_set(distribute=False)
    assert role.proven(grouped, keys, ["web1"]) == {"imports": [], "promotions": []}


# --------------------------------------------------------------------------- host_report
SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}


def test_host_report_of_a_converged_host():
    report = role.host_report(
        {"distribute": True},
        {"changed": True, "path": "/root/.ssh/authorized_keys", "added": [{"fingerprint": "SHA256:new"}]},
        {"verified": True, "accepted_fingerprint": "SHA256:new"},
        {"changed": True, "removed": [{"fingerprint": "SHA256:old"}, {"fingerprint": "SHA256:old"}]},
        {"ansible_facts": {"ansible_ssh_private_key_file": "/keys/x"}},
    )
    assert report == {"status": "converged", "pending": False, "authorized_keys": "/root/.ssh/authorized_keys",
                      "added": ["SHA256:new"], "removed": ["SHA256:old"], "verified": "SHA256:new",
                      "connection_switched": True}


def test_host_report_in_check_mode():
    before_key = role.host_report({"distribute": False}, SKIPPED, SKIPPED, SKIPPED, SKIPPED)
    assert before_key == {"status": "new key not generated yet (check mode)", "pending": True, "authorized_keys": None,
                          "added": [], "removed": [], "verified": None, "connection_switched": False}
    predicted = role.host_report({"distribute": True}, {"changed": True, "path": "/a", "added": []},
                                 {"verified": False, "accepted_fingerprint": None}, SKIPPED, SKIPPED)
    assert predicted["status"] == "would converge (check mode)" and predicted["pending"] is True


# --------------------------------------------------------------------------- summary
def report(pending=False):
    return {"status": "converged" if not pending else "failed", "pending": pending, "added": [], "removed": [],
            "verified": None, "authorized_keys": None, "connection_switched": False}


def test_summary_of_one_key_pair_keeps_the_fields_at_the_top():
    grouped = role.group_key_pairs({"web1": record("web1"), "web2": record("web2")})
    plan = {"key_pairs": {"deploy-dev": key_set(current=False) | {"reason": "no_key", "due": True}}}
    keys = {"key_pairs": {"deploy-dev": key_set(current=False)}}
    imported = {"results": [{"item": {"name": "deploy-dev"}, "changed": True,
                             "regions": {"us-east-1": {"action": "import", "changed": True}}}]}
    promoted = {"results": [{"item": {"name": "deploy-dev"}, "changed": True,
                             "current": {"path": "/keys/deploy-dev", "fingerprint": "SHA256:new", "public_key": "k",
                                         "ec2_fingerprint": "e", "created": "c", "age_days": 0, "type": "t"},
                             "retired": []}]}
    out = role.summary(grouped, plan, keys, imported, promoted, ["web1", "web2"], {"web1": report()})
    assert out["key_pair"] == "deploy-dev"
    assert out["rotation"] == "rotated (no_key)"
    assert out["current_key"] == {"path": "/keys/deploy-dev", "fingerprint": "SHA256:new", "ec2_fingerprint": "e",
                                  "created": "c", "age_days": 0}
    assert out["retired_fingerprints"] == []
    assert out["regions"] == {"us-east-1": "import"}
    assert out["hosts"]["web1"]["pending"] is False
    assert out["hosts"]["web2"] == role.UNFINISHED  # it never reported: unreachable or failed
    assert out["pending_hosts"] == ["web2"]
    assert out["key_pairs"]["deploy-dev"]["pending_hosts"] == ["web2"]


def test_summary_of_several_key_pairs_per_name():
    grouped = grouped_two()
    plan = {"key_pairs": {"deploy-dev": key_set(), "deploy-prod": key_set(pending=False)}}
    keys = {"key_pairs": {"deploy-dev": key_set(), "deploy-prod": key_set(pending=False)}}
    skipped_loop = {"results": [], "skipped": True, "skipped_reason": "No items in the list"}
    out = role.summary(grouped, plan, keys, skipped_loop, skipped_loop, ["web1", "db1"],
                       {"web1": report(), "db1": report()})
    assert "key_pair" not in out and "rotation" not in out
    assert out["key_pairs"]["deploy-dev"]["rotation"] == "would rotate (force)"
    assert out["key_pairs"]["deploy-prod"]["rotation"] == "not due"
    assert out["key_pairs"]["deploy-prod"]["retired_fingerprints"] == ["SHA256:older"]
    assert out["key_pairs"]["deploy-prod"]["current_key"]["fingerprint"] == "SHA256:old"
    assert list(out["key_pairs"]["deploy-prod"]["hosts"]) == ["db1"]
    assert out["key_pairs"]["deploy-dev"]["regions"] == {}
    assert out["pending_hosts"] == []


def test_plain_turns_containers_into_builtins():
    class Lazy(dict):
        pass

    assert role.plain(Lazy(a=(1, "x"), b={"c": None})) == {"a": [1, "x"], "b": {"c": None}}
