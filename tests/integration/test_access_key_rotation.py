# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role keyops.aws.access_key_rotation (and its collection playbook) against the test bed.

Every assertion reads the real state: IAM through boto3, the credentials files on the hosts
(through real ssh and the filesystem), STS calls signed with what the files hold (boto3 and the
aws CLI), the escrow directory. Never the role's own output alone.
"""

import configparser
import json
import os
import re
import shutil
import stat
import subprocess
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "playbooks", "rotate_access_keys.yml")
GATHER_PLAYBOOK = "access_key_rotation/rotate_gather_facts.yml"
RECAP_RE = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
OTHER_PROFILE = (
    "[unrelated]\n# a comment that must survive\naws_access_key_id = AKIAUNRELATED0000000\n"
    "aws_secret_access_key = not-a-real-secret-unrelated\nregion = eu-west-1\n"
)


# --------------------------------------------------------------------------- helpers
def recap(output):
    """{host: {"ok", "changed", "unreachable", "failed"}} from the PLAY RECAP."""
    out = {}
    for host, ok, changed, unreachable, failed in RECAP_RE.findall(output.split("PLAY RECAP")[-1]):
        out[host] = {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
    return out


def total_changed(output):
    return sum(h["changed"] for h in recap(output).values())


class Scenario:
    """Users, credentials files and an inventory private to one test."""

    def __init__(self, bed, tmp_path, runner):
        self.bed = bed
        self.tmp = tmp_path
        self.run_playbook = runner
        self.tag = uuid.uuid4().hex[:8]
        self.iam = bed.client("iam")
        self.escrow = str(tmp_path / "escrow")
        self.secrets = set()

    def user(self, name, keys=1):
        user_name = "akr-%s-%s" % (name, self.tag)
        self.iam.create_user(UserName=user_name)
        created = []
        for _index in range(keys):
            key = self.iam.create_access_key(UserName=user_name)["AccessKey"]
            self.secrets.add(key["SecretAccessKey"])
            created.append(key)
        return user_name, created

    def path(self, host, name="credentials"):
        directory = os.path.join(self.bed.host(host)["home"], self.tag)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        return os.path.join(directory, name)

    @staticmethod
    def write(path, profiles, extra=""):
        """profiles: [(profile, key dict or None)]"""
        text = extra
        for profile, key in profiles:
            text += "[%s]\n" % profile
            if key:
                text += "aws_access_key_id = %s\naws_secret_access_key = %s\n" % (key["AccessKeyId"], key["SecretAccessKey"])
            text += "\n"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, 0o600)

    def inventory(self, hostvars, groups=None, name="inventory.yml", port_override=None, group_vars=None):
        path = str(self.tmp / name)
        self.bed.write_inventory(path, groups=groups, hostvars=hostvars)
        if port_override or group_vars:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            for host, port in (port_override or {}).items():
                for section in [data["all"]] + list(data["all"]["children"].values()):
                    if host in section.get("hosts", {}):
                        section["hosts"][host]["ansible_port"] = port
            for group, variables in (group_vars or {}).items():
                data["all"]["children"][group].setdefault("vars", {}).update(variables)
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
        return path

    def run(self, inventory, extra_vars=None, playbook=PLAYBOOK, expect_rc=0, **kwargs):
        variables = {"access_key_rotation_escrow_dir": self.escrow, "access_key_rotation_verify_successes": 2}
        variables.update(extra_vars or {})
        kwargs["env"] = dict({"ANSIBLE_PIPELINING": "True"}, **(kwargs.get("env") or {}))
        proc = self.run_playbook(playbook, inventory=inventory, extra_vars=variables, expect_rc=expect_rc, **kwargs)
        return proc.stdout + proc.stderr

    def keys(self, user_name):
        """{key id: status}"""
        return {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]}

    def tags(self, user_name):
        return {t["Key"]: t["Value"] for t in self.iam.list_user_tags(UserName=user_name)["Tags"]}

    def state(self, users, paths):
        """A snapshot of IAM keys, user tags and file contents."""
        snapshot = {}
        for user_name in users:
            snapshot[user_name] = (self.keys(user_name), self.tags(user_name))
        for path in paths:
            with open(path, encoding="utf-8") as handle:
                snapshot[path] = handle.read()
        return snapshot

    def profile(self, path, profile="default"):
        parser = configparser.RawConfigParser()
        parser.read(path)
        section = parser[profile]
        key_id, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
        if secret:
            self.secrets.add(secret)
        return key_id, secret

    def sts_arn(self, path, profile="default"):
        """Who the profile authenticates as: the aws CLI reading the file itself."""
        env = self.bed.env(AWS_SHARED_CREDENTIALS_FILE=path, AWS_PROFILE=profile)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(name, None)
        proc = subprocess.run(
            ["aws", "sts", "get-caller-identity", "--output", "json"], env=env, capture_output=True, text=True, check=False, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["Arn"]

    def ssh_cat(self, host, path):
        proc = self.bed.ssh(host, self.bed.admin_key, "cat %s" % path)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def secret_file(self, name, secret):
        """A 0600 file holding a secret, for a playbook to read (secrets never go on the command line)."""
        path = str(self.tmp / ("%s.secret" % name))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret)
        return path

    def escrow_files(self):
        if not os.path.isdir(self.escrow):
            return []
        return sorted(os.listdir(self.escrow))

    def assert_converged(self, user_name, holders):
        """Every holder holds the same key, which is the user's only Active key, and it works."""
        keys = self.keys(user_name)
        active = [k for k, status in keys.items() if status == "Active"]
        assert len(active) == 1, keys
        for path, profile in holders:
            key_id, _secret = self.profile(path, profile)
            assert key_id == active[0], (path, profile, key_id, keys)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert self.sts_arn(path, profile).endswith(":user/" + user_name)
        return active[0]

    def assert_no_leak(self, outputs, no_secrets):
        secrets = set(self.bed.known_secrets()) | self.secrets
        for output in outputs:
            no_secrets(output, secrets)


@pytest.fixture
def scenario(bed, tmp_path, ansible_playbook):
    return Scenario(bed, tmp_path, ansible_playbook)


# --------------------------------------------------------------------------- tests
def test_full_rotation_three_hosts_two_environments(scenario, ansible_playbook, no_secrets, bed):
    """Check -> run (at -vvvv) -> check -> run: changed, changed, unchanged, unchanged; one user held by two hosts;
    prod has its own AWS settings (a separate batch) with an explicit secret that never shows."""
    s = scenario
    alpha, (alpha_old,) = s.user("alpha")
    shared, (shared_old,) = s.user("shared")
    gamma, (gamma_old,) = s.user("gamma")
    p1, p2, p3 = s.path("host1"), s.path("host2"), s.path("host3")
    s.write(p1, [("default", alpha_old), ("app", shared_old)], extra=OTHER_PROFILE)
    s.write(p2, [("default", shared_old)])
    s.write(p3, [("default", gamma_old)])
    admin = bed.admin_credentials
    inventory = s.inventory(
        {
            "host1": {"access_key_rotation_credentials": [{"iam_user": alpha, "path": p1}, {"iam_user": shared, "path": p1, "profile": "app"}]},
            "host2": {"access_key_rotation_credentials": [{"iam_user": shared, "path": p2, "profile": "default", "owner": "root"}]},
            "host3": {"access_key_rotation_credentials": [{"iam_user": gamma, "path": p3}]},
        },
        groups={"dev": ["host1", "host2"], "prod": ["host3"]},
        group_vars={
            "prod": {
                "access_key_rotation_aws": {
                    "endpoint_url": bed.endpoint,
                    "region": "us-west-2",
                    "access_key": admin["access_key_id"],
                    "secret_key": admin["secret_access_key"],
                }
            }
        },
    )
    users = [alpha, shared, gamma]
    before = s.state(users, [p1, p2, p3])

    # check mode: reports the rotation, changes nothing
    out = s.run(inventory, {"access_key_rotation_force": True}, check=True)
    assert total_changed(out) > 0
    assert s.state(users, [p1, p2, p3]) == before
    assert s.escrow_files() == []

    # real run, at -vvvv
    out = s.run(inventory, {"access_key_rotation_force": True}, verbosity=4)
    assert total_changed(out) > 0
    assert "us-west-2" in out  # the prod batch is its own call
    new_alpha = s.assert_converged(alpha, [(p1, "default")])
    new_shared = s.assert_converged(shared, [(p1, "app"), (p2, "default")])
    new_gamma = s.assert_converged(gamma, [(p3, "default")])
    assert new_alpha != alpha_old["AccessKeyId"] and new_shared != shared_old["AccessKeyId"] and new_gamma != gamma_old["AccessKeyId"]
    for user_name, old in ((alpha, alpha_old), (shared, shared_old), (gamma, gamma_old)):
        keys = s.keys(user_name)
        assert keys[old["AccessKeyId"]] == "Inactive"  # delete_after_days 7: kept, deactivated
        assert "keyops:deactivated:%s" % old["AccessKeyId"] in s.tags(user_name)
    # the unrelated profile and its comment are untouched; read through real ssh
    text = s.ssh_cat("host1", p1)
    assert "# a comment that must survive" in text and "AKIAUNRELATED0000000" in text and "not-a-real-secret-unrelated" in text
    # the escrow is emptied once every holder has its key
    assert s.escrow_files() == []
    assert "holders_pending" in out

    after = s.state(users, [p1, p2, p3])
    out = s.run(inventory, check=True)
    assert total_changed(out) == 0, recap(out)
    out = s.run(inventory)
    assert total_changed(out) == 0, recap(out)
    assert s.state(users, [p1, p2, p3]) == after  # no AWS write, no file write
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_two_key_limit_with_an_inactive_key(scenario, ansible_playbook, no_secrets):
    """Active (held) + Inactive without a recorded time: the Inactive one is deleted to make room."""
    s = scenario
    user_name, (spare, held) = s.user("limit", keys=2)
    s.iam.update_access_key(UserName=user_name, AccessKeyId=spare["AccessKeyId"], Status="Inactive")
    path = s.path("host1")
    s.write(path, [("default", held)])
    inventory = s.inventory({"host1": {"access_key_rotation_credentials": [{"iam_user": user_name, "path": path}]}})
    s.run(inventory, {"access_key_rotation_force": True})
    new = s.assert_converged(user_name, [(path, "default")])
    keys = s.keys(user_name)
    assert spare["AccessKeyId"] not in keys
    assert keys == {new: "Active", held["AccessKeyId"]: "Inactive"}
    out = s.run(inventory)
    assert total_changed(out) == 0
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_holders_disagree_one_active_key(scenario, ansible_playbook, no_secrets):
    """One holder has the Active key, another a deleted key, a third nothing: all end on one new key."""
    s = scenario
    user_name, (current, gone) = s.user("disagree", keys=2)
    s.iam.delete_access_key(UserName=user_name, AccessKeyId=gone["AccessKeyId"])
    p1, p2, p3 = s.path("host1"), s.path("host2"), s.path("host3")
    s.write(p1, [("default", current)])
    s.write(p2, [("default", gone)])
    inventory = s.inventory({h: {"access_key_rotation_credentials": [{"iam_user": user_name, "path": p}]}
                             for h, p in (("host1", p1), ("host2", p2), ("host3", p3))})
    s.run(inventory)  # no force: the disagreement alone makes the rotation due
    new = s.assert_converged(user_name, [(p1, "default"), (p2, "default"), (p3, "default")])
    assert new != current["AccessKeyId"]
    assert s.keys(user_name)[current["AccessKeyId"]] == "Inactive"
    assert total_changed(s.run(inventory)) == 0
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_holders_disagree_two_active_keys(scenario, ansible_playbook, no_secrets):
    """Two Active keys, each held by one holder: no room for a new key, none deleted first; converge
    on the newest held key (its secret read from its holder), then retire the other."""
    s = scenario
    user_name, (older, newer) = s.user("twoactive", keys=2)
    p1, p2 = s.path("host1"), s.path("host2")
    s.write(p1, [("default", older)])
    s.write(p2, [("default", newer)])
    inventory = s.inventory({"host1": {"access_key_rotation_credentials": [{"iam_user": user_name, "path": p1}]},
                             "host2": {"access_key_rotation_credentials": [{"iam_user": user_name, "path": p2}]}})
    before = s.state([user_name], [p1, p2])
    out = s.run(inventory, check=True)
    assert total_changed(out) > 0
    assert s.state([user_name], [p1, p2]) == before
    s.run(inventory, verbosity=4)
    chosen = s.assert_converged(user_name, [(p1, "default"), (p2, "default")])
    assert chosen == newer["AccessKeyId"]  # no key created
    assert s.keys(user_name) == {newer["AccessKeyId"]: "Active", older["AccessKeyId"]: "Inactive"}
    assert s.profile(p1)[1] == newer["SecretAccessKey"]
    assert total_changed(s.run(inventory)) == 0
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_holder_down_then_rerun_converges(scenario, ansible_playbook, no_secrets, bed):
    """host3 unreachable (at fact gathering) during the rotation: its user keeps the old key Active,
    other users carry on, the play reports it pending; a re-run gives it the same new key (no third
    key), then retires the old one. The escrow is vault-encrypted when a vault secret is set."""
    s = scenario
    down_user, (down_old,) = s.user("down")
    other_user, (other_old,) = s.user("other")
    p1, p2, p3 = s.path("host1"), s.path("host2"), s.path("host3")
    s.write(p1, [("default", down_old)])
    s.write(p2, [("default", other_old)])
    s.write(p3, [("default", down_old)])
    hostvars = {
        "host1": {"access_key_rotation_credentials": [{"iam_user": down_user, "path": p1}]},
        "host2": {"access_key_rotation_credentials": [{"iam_user": other_user, "path": p2}]},
        "host3": {"access_key_rotation_credentials": [{"iam_user": down_user, "path": p3}]},
    }
    closed_port = _closed_port()
    broken = s.inventory(hostvars, name="broken.yml", port_override={"host3": closed_port})
    good = s.inventory(hostvars)
    vault_file = s.tmp / "vault-pass"
    vault_file.write_text("correct horse battery staple\n")
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(vault_file)}

    out = s.run(broken, {"access_key_rotation_force": True}, playbook=GATHER_PLAYBOOK, expect_rc=4, env=env, verbosity=4)
    assert recap(out)["host3"]["unreachable"] == 1
    keys = s.keys(down_user)
    assert list(keys.values()) == ["Active", "Active"]  # old key kept Active for the pending holder
    new_key = [k for k in keys if k != down_old["AccessKeyId"]][0]
    assert s.profile(p1)[0] == new_key
    assert s.profile(p3)[0] == down_old["AccessKeyId"]
    assert s.sts_arn(p3).endswith(down_user)  # the pending holder still works
    s.assert_converged(other_user, [(p2, "default")])  # the other user carried on
    assert "holders_pending" in out and "host3:%s[default]" % p3 in out
    # the new secret waits in escrow: 0700 directory, 0600 vault-encrypted file
    assert s.escrow_files() == [new_key]
    assert stat.S_IMODE(os.stat(s.escrow).st_mode) == 0o700
    entry = os.path.join(s.escrow, new_key)
    assert stat.S_IMODE(os.stat(entry).st_mode) == 0o600
    with open(entry, encoding="utf-8") as handle:
        content = handle.read()
    assert content.startswith("$ANSIBLE_VAULT;")
    assert s.profile(p1)[1] not in content

    out = s.run(good, env=env, verbosity=4)  # no force: converge on the escrowed key (read back from the vault-encrypted escrow)
    final = s.assert_converged(down_user, [(p1, "default"), (p3, "default")])
    assert final == new_key
    assert s.keys(down_user) == {new_key: "Active", down_old["AccessKeyId"]: "Inactive"}
    assert s.escrow_files() == []
    assert total_changed(s.run(good, env=env)) == 0
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_write_error_keeps_old_key_then_rerun_converges(scenario, ansible_playbook, no_secrets):
    """A holder whose file cannot be written (a symlink, refused) fails its host and stays pending:
    its user keeps the old key Active, another user carries on; once fixed, a re-run gives it the
    same new key from the escrow."""
    s = scenario
    user_name, (old,) = s.user("writeerr")
    other_user, (other_old,) = s.user("writeok")
    p1, p2, p3 = s.path("host1"), s.path("host2"), s.path("host3")
    real = s.path("host1", "real-credentials")
    s.write(real, [("default", old)])
    os.symlink(real, p1)
    s.write(p2, [("default", old)])
    s.write(p3, [("default", other_old)])
    inventory = s.inventory({
        "host1": {"access_key_rotation_credentials": [{"iam_user": user_name, "path": p1}]},
        "host2": {"access_key_rotation_credentials": [{"iam_user": user_name, "path": p2}]},
        "host3": {"access_key_rotation_credentials": [{"iam_user": other_user, "path": p3}]},
    })
    out = s.run(inventory, {"access_key_rotation_force": True}, expect_rc=2)
    assert recap(out)["host1"]["failed"] == 1
    assert "symlink" in out  # the write error is shown (without any secret)
    keys = s.keys(user_name)
    assert keys[old["AccessKeyId"]] == "Active" and len(keys) == 2
    new_key = [k for k in keys if k != old["AccessKeyId"]][0]
    assert s.profile(p2)[0] == new_key and s.profile(real)[0] == old["AccessKeyId"]
    s.assert_converged(other_user, [(p3, "default")])
    assert s.escrow_files() == [new_key]

    os.unlink(p1)
    shutil.copy2(real, p1)
    s.run(inventory)
    assert s.assert_converged(user_name, [(p1, "default"), (p2, "default")]) == new_key
    assert s.escrow_files() == []
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_holder_added_later(scenario, ansible_playbook, no_secrets):
    """A new holder (no file yet) makes the holders disagree: everyone ends on one key, the only Active one."""
    s = scenario
    user_name, (old,) = s.user("added")
    p1, p2 = s.path("host1"), s.path("host2")
    s.write(p1, [("default", old)])
    one = {"host1": {"access_key_rotation_credentials": [{"iam_user": user_name, "path": p1}]}}
    inventory = s.inventory(one)
    assert total_changed(s.run(inventory)) == 0  # young key, one holder: nothing to do
    two = dict(one, host2={"access_key_rotation_credentials": [{"iam_user": user_name, "path": p2, "profile": "deploy"}]})
    inventory = s.inventory(two, name="two.yml")
    s.run(inventory)
    final = s.assert_converged(user_name, [(p1, "default"), (p2, "deploy")])
    assert final != old["AccessKeyId"]
    assert stat.S_IMODE(os.stat(p2).st_mode) == 0o600
    assert total_changed(s.run(inventory)) == 0
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_delete_after_days(scenario, ansible_playbook, no_secrets):
    """0 deletes the old key in the same run; 7 keeps it Inactive, and a later run deletes it once
    the recorded deactivation is older than 7 days."""
    s = scenario
    now_user, (now_old,) = s.user("del0")
    later_user, (later_old,) = s.user("del7")
    p1, p2 = s.path("host1"), s.path("host2")
    s.write(p1, [("default", now_old)])
    s.write(p2, [("default", later_old)])
    inv_now = s.inventory({"host1": {"access_key_rotation_credentials": [{"iam_user": now_user, "path": p1}]}}, name="now.yml")
    inv_later = s.inventory({"host2": {"access_key_rotation_credentials": [{"iam_user": later_user, "path": p2}]}}, name="later.yml")

    s.run(inv_now, {"access_key_rotation_force": True, "access_key_rotation_delete_after_days": 0})
    new_now = s.assert_converged(now_user, [(p1, "default")])
    assert s.keys(now_user) == {new_now: "Active"}
    assert not any(k.startswith("keyops:deactivated:") for k in s.tags(now_user))

    s.run(inv_later, {"access_key_rotation_force": True})
    new_later = s.assert_converged(later_user, [(p2, "default")])
    assert s.keys(later_user) == {new_later: "Active", later_old["AccessKeyId"]: "Inactive"}
    assert total_changed(s.run(inv_later)) == 0  # grace not over: nothing to do
    # eight days later (the recorded time moved back)
    s.iam.tag_user(UserName=later_user, Tags=[{"Key": "keyops:deactivated:%s" % later_old["AccessKeyId"], "Value": "2020-01-01T00:00:00Z"}])
    out = s.run(inv_later)
    assert total_changed(out) > 0
    assert s.keys(later_user) == {new_later: "Active"}
    assert total_changed(s.run(inv_later)) == 0
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_module_defaults_and_bad_input(scenario, ansible_playbook, no_secrets, bed):
    """AWS settings from module_defaults (no AWS_* variables); a credentials entry without a path fails clearly."""
    s = scenario
    user_name, (old,) = s.user("mdef")
    path = s.path("host1")
    s.write(path, [("default", old)])
    inventory = s.inventory({"host1": {"access_key_rotation_credentials": [{"iam_user": user_name, "path": path}]}})
    admin = bed.admin_credentials
    env = {name: "" for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    s.run(inventory, {"access_key_rotation_force": True, "bed_endpoint": bed.endpoint, "bed_admin_key": admin["access_key_id"],
                      "bed_admin_secret_file": s.secret_file("admin", admin["secret_access_key"])},
          playbook="access_key_rotation/module_defaults.yml", env=env, verbosity=4)
    s.assert_converged(user_name, [(path, "default")])

    bad = s.inventory({"host1": {"access_key_rotation_credentials": [{"iam_user": user_name}]}}, name="bad.yml")
    before = s.state([user_name], [path])
    out = s.run(bad, {"access_key_rotation_force": True}, expect_rc=2)
    assert "needs path" in out
    assert s.state([user_name], [path]) == before
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_escrow_module(scenario, ansible_playbook, no_secrets):
    """keyops.aws.access_key_escrow alone: 0700/0600, idempotent store, query, removal; no secret shown."""
    s = scenario
    secret = "escrow-test-secret-" + uuid.uuid4().hex
    s.secrets.add(secret)
    key_id = "AKIA" + uuid.uuid4().hex[:16].upper()
    secret_file = s.secret_file("key_secret", secret)
    ansible_playbook("access_key_rotation/escrow.yml", extra_vars={"escrow_dir": s.escrow, "key_id": key_id, "key_secret_file": secret_file},
                     verbosity=4)
    assert stat.S_IMODE(os.stat(s.escrow).st_mode) == 0o700
    assert s.escrow_files() == []
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def _closed_port():
    import socket  # pylint: disable=import-outside-toplevel

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_example_inventory_is_valid(bed):
    """examples/inventory parses: three environments, each with both roles' settings, every host holding credentials."""
    inventory = os.path.join(ROOT, "examples", "inventory")
    proc = subprocess.run(["ansible-inventory", "-i", inventory, "--list"], env=bed.env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {"dev", "staging", "prod"} <= set(data["all"]["children"])
    hostvars = data["_meta"]["hostvars"]
    for group in ("dev", "staging", "prod"):
        for host in data[group]["hosts"]:
            variables = hostvars[host]
            assert variables["access_key_rotation_credentials"], host
            assert all(c["iam_user"] and c["path"] for c in variables["access_key_rotation_credentials"])
            assert "access_key_rotation_aws" in variables
            assert variables["key_pair_rotation_name"].startswith(group)
            assert variables["key_pair_rotation_regions"]
    proc = subprocess.run(["ansible-playbook", "-i", inventory, "--syntax-check", PLAYBOOK], env=bed.env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("hostvar, extra_vars, message", [
    ({"profile": "app]x"}, {}, "access_key_rotation_credentials[0].profile"),
    ({"profile": "app\nx"}, {}, "access_key_rotation_credentials[0].profile"),
    ({}, {"access_key_rotation_verify_successes": 0}, "access_key_rotation_verify_successes must be between 1 and 100, got 0"),
    ({}, {"access_key_rotation_verify_timeout": -1}, "access_key_rotation_verify_timeout must be between 0 and 86400, got -1"),
    ({}, {"access_key_rotation_delete_after_days": 10000000000},
     "access_key_rotation_delete_after_days must be between 0 and 36500, got 10000000000"),
    ({}, {"access_key_rotation_batch_size": 0}, "access_key_rotation_batch_size must be between 1 and 100000, got 0"),
])
def test_bad_role_input_changes_nothing(scenario, ansible_playbook, no_secrets, hostvar, extra_vars, message):
    """Issue 9: every role variable is checked in the role's first step; nothing is created or written
    (IAM keys and tags through boto3, the file's bytes, the escrow) and the message names the variable."""
    s = scenario
    user_name, (old,) = s.user("badin")
    path = s.path("host1")
    s.write(path, [("default", old)])
    entry = dict({"iam_user": user_name, "path": path}, **hostvar)
    inventory = s.inventory({"host1": {"access_key_rotation_credentials": [entry]}})
    before = s.state([user_name], [path])
    out = s.run(inventory, dict({"access_key_rotation_force": True}, **extra_vars), expect_rc=2)
    assert message in out
    assert "Python int too large" not in out and "Traceback" not in out
    assert s.state([user_name], [path]) == before
    assert s.escrow_files() == []
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)
