# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role keyops.aws.access_key_rotation with every holder type (issue 12): one IAM user held at once
by a credentials file, an env file, a Secrets Manager secret and an SSM parameter pair.

Asserted through the files, boto3 (secret versions, parameter versions, IAM key states) and STS.
"""

import json
import os
import stat
import sys

from test_access_key_rotation import Scenario, recap, total_changed  # pylint: disable=import-error

DB_PASSWORD = "s3cret db password with spaces"


def _env_text(key):
    return (
        "# billing.env: systemd EnvironmentFile= / docker --env-file\n"
        "\n"
        "APP_NAME=\"billing service\"\n"
        "export AWS_ACCESS_KEY_ID=%s\n"
        "AWS_SECRET_ACCESS_KEY=\"%s\"\n"
        "AWS_ACCESS_KEY_ID_OLD=AKIALOOKALIKELOOKALI\n"
        "DB_PASSWORD='%s'\n"
        "REGION=us-east-1"
    ) % (key["AccessKeyId"], key["SecretAccessKey"], DB_PASSWORD)


def _env_values(path):
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _sep, value = line.partition("=")
            name = name.replace("export ", "").strip()
            values[name] = value.strip().strip("\"'")
    return values


class Stores:
    def __init__(self, bed, tag):
        self.sm = bed.client("secretsmanager")
        self.ssm = bed.client("ssm")
        self.secret_id = "akr-%s/app" % tag
        self.prefix = "/akr-%s" % tag

    def seed(self, key):
        self.sm.create_secret(Name=self.secret_id, SecretString=json.dumps({
            "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"],
            "db_password": DB_PASSWORD, "port": 5432}))
        self.ssm.put_parameter(Name=self.prefix + "/id", Value=key["AccessKeyId"], Type="String")
        self.ssm.put_parameter(Name=self.prefix + "/secret", Value=key["SecretAccessKey"], Type="SecureString")

    def secret(self):
        return json.loads(self.sm.get_secret_value(SecretId=self.secret_id)["SecretString"])

    def secret_versions(self):
        return len(self.sm.list_secret_version_ids(SecretId=self.secret_id)["Versions"])

    def params(self):
        got = self.ssm.get_parameters(Names=[self.prefix + "/id", self.prefix + "/secret"], WithDecryption=True)["Parameters"]
        return {p["Name"].rsplit("/", 1)[1]: (p["Value"], p["Type"], p["Version"]) for p in got}

    def state(self):
        return (self.secret(), self.secret_versions(), self.params())


def _holders(s, user, p1, e1, stores, sm_extra=None):
    sm_holder = {"iam_user": user, "type": "secretsmanager", "secret_id": stores.secret_id}
    sm_holder.update(sm_extra or {})
    return {
        "host1": {"access_key_rotation_credentials": [
            {"iam_user": user, "path": p1},
            {"iam_user": user, "type": "env_file", "path": e1},
            sm_holder,
        ]},
        "host2": {"access_key_rotation_credentials": [
            {"iam_user": user, "type": "ssm_parameter", "id_parameter": stores.prefix + "/id",
             "secret_parameter": stores.prefix + "/secret"},
        ]},
    }


def test_every_holder_type_check_run_check_run(bed, tmp_path, ansible_playbook, no_secrets):
    s = Scenario(bed, tmp_path, ansible_playbook)
    user, (old,) = s.user("holders")
    p1, e1 = s.path("host1"), s.path("host1", "billing.env")
    s.write(p1, [("default", old)])
    original_env = _env_text(old)
    with open(e1, "w", encoding="utf-8") as handle:
        handle.write(original_env)
    os.chmod(e1, 0o640)
    stores = Stores(bed, s.tag)
    stores.seed(old)
    inventory = s.inventory(_holders(s, user, p1, e1, stores))
    before = (s.state([user], [p1, e1]), stores.state())

    out = s.run(inventory, {"access_key_rotation_force": True}, check=True)
    assert total_changed(out) > 0
    assert (s.state([user], [p1, e1]), stores.state()) == before

    out = s.run(inventory, {"access_key_rotation_force": True}, verbosity=4, diff=True)
    new_id = s.assert_converged(user, [(p1, "default")])
    assert new_id != old["AccessKeyId"] and s.keys(user)[old["AccessKeyId"]] == "Inactive"
    env = _env_values(e1)
    secret = stores.secret()
    params = stores.params()
    new_secret = env["AWS_SECRET_ACCESS_KEY"]
    s.secrets.add(new_secret)
    with open(e1, encoding="utf-8") as handle:
        assert handle.read() == original_env.replace(old["AccessKeyId"], new_id).replace(old["SecretAccessKey"], new_secret)
    assert stat.S_IMODE(os.stat(e1).st_mode) == 0o600
    assert secret == {"aws_access_key_id": new_id, "aws_secret_access_key": new_secret, "db_password": DB_PASSWORD, "port": 5432}
    assert params["id"] == (new_id, "String", 2) and params["secret"] == (new_secret, "SecureString", 2)
    assert stores.secret_versions() == 2
    for key_id, key_secret in ((env["AWS_ACCESS_KEY_ID"], new_secret), (secret["aws_access_key_id"], secret["aws_secret_access_key"]),
                               (params["id"][0], params["secret"][0])):
        sts = bed.client("sts", access_key_id=key_id, secret_access_key=key_secret)
        assert sts.get_caller_identity()["Arn"].endswith(":user/" + user)

    after = (s.state([user], [p1, e1]), stores.state())
    out = s.run(inventory, check=True)
    assert total_changed(out) == 0, recap(out)
    out = s.run(inventory)
    assert total_changed(out) == 0, recap(out)
    assert (s.state([user], [p1, e1]), stores.state()) == after  # no new secret or parameter version
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)
    for output in ansible_playbook.outputs:
        no_secrets(output, [DB_PASSWORD])


def test_failing_secret_holder_keeps_old_key_then_converges(bed, tmp_path, ansible_playbook, no_secrets):
    s = Scenario(bed, tmp_path, ansible_playbook)
    user, (old,) = s.user("smfail")
    p1, e1 = s.path("host1"), s.path("host1", "app.env")
    s.write(p1, [("default", old)])
    with open(e1, "w", encoding="utf-8") as handle:
        handle.write(_env_text(old))
    stores = Stores(bed, s.tag)
    stores.seed(old)
    stores.secret_id += "-missing"  # a secret that does not exist, without create
    inventory = s.inventory(_holders(s, user, p1, e1, stores))
    out = s.run(inventory, {"access_key_rotation_force": True}, expect_rc=2)
    assert "secret %s does not exist; set create: true" % stores.secret_id in out
    assert s.keys(user)[old["AccessKeyId"]] == "Active"  # the old key stays Active
    fixed = s.inventory(_holders(s, user, p1, e1, stores, {"create": True}), name="fixed.yml")
    s.run(fixed)
    new_id = s.assert_converged(user, [(p1, "default")])
    assert stores.secret()["aws_access_key_id"] == new_id
    assert _env_values(e1)["AWS_ACCESS_KEY_ID"] == new_id
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_bad_holder_entries_fail_naming_the_holder(bed, tmp_path, ansible_playbook):
    s = Scenario(bed, tmp_path, ansible_playbook)
    user, (old,) = s.user("badholder")
    p1 = s.path("host1")
    s.write(p1, [("default", old)])
    cases = [
        ({"iam_user": user, "type": "vault", "path": p1}, "unknown type 'vault'"),
        ({"iam_user": user, "type": "secretsmanager"}, "secret_id is required"),
        ({"iam_user": user, "type": "ssm_parameter", "id_parameter": "bad name", "secret_parameter": "/x/y"},
         "id_parameter 'bad name' is not a valid parameter name"),
        ({"iam_user": user, "path": p1 + ".other", "reload_command": "systemctl restart app"},
         "reload_command must be a non-empty list of strings"),
    ]
    before = s.state([user], [p1])
    for index, (entry, message) in enumerate(cases):
        inventory = s.inventory({"host1": {"access_key_rotation_credentials": [{"iam_user": user, "path": p1}, entry]}},
                                name="bad%d.yml" % index)
        out = s.run(inventory, {"access_key_rotation_force": True}, expect_rc=2)
        assert "host host1: access_key_rotation_credentials[1]" in out and message in out, out[-2000:]
        assert s.state([user], [p1]) == before


def test_reload_command_runs_once_on_change_and_a_failed_one_keeps_the_old_key(bed, tmp_path, ansible_playbook, no_secrets):
    """An env file holder with a reload_command (an argv, no shell): check mode runs nothing; a failing reload
    keeps the old key Active (the task says reload, the run fails naming the holder); once it works, the
    next run reloads again and only then retires the old key; a steady run reloads nothing."""
    s = Scenario(bed, tmp_path, ansible_playbook)
    user, (old,) = s.user("reload")
    e1 = s.path("host1", "app.env")
    with open(e1, "w", encoding="utf-8") as handle:
        handle.write(_env_text(old))
    log, flag = str(tmp_path / "reloads.log"), str(tmp_path / "reload-works")
    argv = [sys.executable, "-c", "import os, sys; open(sys.argv[1], 'a').write('reload\\n'); sys.exit(0 if os.path.exists(sys.argv[2]) else 3)",
            log, flag]
    inventory = s.inventory({"host1": {"access_key_rotation_credentials": [
        {"iam_user": user, "type": "env_file", "path": e1, "reload_command": argv}]}})

    def reloads():
        if not os.path.exists(log):
            return 0
        with open(log, encoding="utf-8") as handle:
            return handle.read().count("reload")

    s.run(inventory, {"access_key_rotation_force": True}, check=True)
    assert reloads() == 0 and s.keys(user) == {old["AccessKeyId"]: "Active"}
    out = s.run(inventory, {"access_key_rotation_force": True}, expect_rc=2)
    assert reloads() == 1
    assert "Reload the services" in out and "reload failed, the old key stays Active" in out and "IAM user %s" % user in out
    new_id = _env_values(e1)["AWS_ACCESS_KEY_ID"]
    assert new_id != old["AccessKeyId"]
    assert s.keys(user) == {old["AccessKeyId"]: "Active", new_id: "Active"}  # the old key stays Active
    with open(flag, "w", encoding="utf-8"):
        pass
    s.run(inventory)  # not forced: the holder holds the new key, the old key is still Active -> reload, then retire
    assert reloads() == 2 and s.keys(user) == {old["AccessKeyId"]: "Inactive", new_id: "Active"}
    out = s.run(inventory)
    assert reloads() == 2 and total_changed(out) == 0, recap(out)
    s.secrets.add(_env_values(e1)["AWS_SECRET_ACCESS_KEY"])
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)


def test_converge_secret_from_an_env_file_a_secret_or_a_parameter_when_the_escrow_is_gone(bed, tmp_path, ansible_playbook, no_secrets):
    """Each user has two Active keys and no escrow (a run that created the newer key lost its escrow): the newer key
    reached only an env file (envsrc), only a Secrets Manager secret (smsrc) or only an SSM pair (ssmsrc). The re-run
    converges every other holder on it, its secret read from that holder, then retires the older key; the next run
    changes nothing and no secret shows at -vvvv."""
    s = Scenario(bed, tmp_path, ansible_playbook)
    users = {}
    for name in ("envsrc", "smsrc", "ssmsrc"):
        users[name] = s.user(name, keys=2)
    env_user, (env_old, env_new) = users["envsrc"]
    sm_user, (sm_old, sm_new) = users["smsrc"]
    ssm_user, (ssm_old, ssm_new) = users["ssmsrc"]
    p_env, p_sm = s.path("host1", "env-user"), s.path("host1", "sm-user")
    e_env, e_ssm = s.path("host2", "env-user.env"), s.path("host2", "ssm-user.env")
    s.write(p_env, [("default", env_old)])
    s.write(p_sm, [("default", sm_old)])
    for path, key in ((e_env, env_new), (e_ssm, ssm_old)):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(_env_text(key))
        os.chmod(path, 0o600)
    sm_stores, ssm_stores = Stores(bed, s.tag + "-sm"), Stores(bed, s.tag + "-ssm")
    sm_stores.seed(sm_new)
    ssm_stores.seed(ssm_new)
    inventory = s.inventory({
        "host1": {"access_key_rotation_credentials": [
            {"iam_user": env_user, "path": p_env},
            {"iam_user": sm_user, "path": p_sm},
            {"iam_user": sm_user, "type": "secretsmanager", "secret_id": sm_stores.secret_id}]},
        "host2": {"access_key_rotation_credentials": [
            {"iam_user": env_user, "type": "env_file", "path": e_env},
            {"iam_user": ssm_user, "type": "env_file", "path": e_ssm},
            {"iam_user": ssm_user, "type": "ssm_parameter", "id_parameter": ssm_stores.prefix + "/id",
             "secret_parameter": ssm_stores.prefix + "/secret"}]},
    })
    assert s.escrow_files() == []
    sm_before, ssm_before = sm_stores.state(), ssm_stores.state()
    files = [p_env, p_sm, e_env, e_ssm]
    before = s.state([env_user, sm_user, ssm_user], files)

    out = s.run(inventory, check=True)  # reads the source holders, changes nothing
    assert total_changed(out) > 0, recap(out)
    assert s.state([env_user, sm_user, ssm_user], files) == before
    assert sm_stores.state() == sm_before and ssm_stores.state() == ssm_before

    out = s.run(inventory, verbosity=4)
    for user, old, new in ((env_user, env_old, env_new), (sm_user, sm_old, sm_new), (ssm_user, ssm_old, ssm_new)):
        assert s.keys(user) == {new["AccessKeyId"]: "Active", old["AccessKeyId"]: "Inactive"}, (user, recap(out))
    assert s.assert_converged(env_user, [(p_env, "default")]) == env_new["AccessKeyId"]
    assert s.profile(p_env)[1] == env_new["SecretAccessKey"]  # the secret read from the env file
    assert s.assert_converged(sm_user, [(p_sm, "default")]) == sm_new["AccessKeyId"]
    assert s.profile(p_sm)[1] == sm_new["SecretAccessKey"]  # the secret read from Secrets Manager
    ssm_env = _env_values(e_ssm)
    assert (ssm_env["AWS_ACCESS_KEY_ID"], ssm_env["AWS_SECRET_ACCESS_KEY"]) == (ssm_new["AccessKeyId"], ssm_new["SecretAccessKey"])
    with open(e_ssm, encoding="utf-8") as handle:  # only the two values changed
        assert handle.read() == _env_text(ssm_new)
    # the source holders were read, not written: no new secret or parameter version
    assert sm_stores.state() == sm_before and ssm_stores.state() == ssm_before
    assert s.escrow_files() == []

    out = s.run(inventory)
    assert total_changed(out) == 0, recap(out)
    s.assert_no_leak(ansible_playbook.outputs, no_secrets)
    for output in ansible_playbook.outputs:
        no_secrets(output, [DB_PASSWORD])
