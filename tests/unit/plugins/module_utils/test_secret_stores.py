# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the pure parts of the Secrets Manager / SSM holder modules."""

import json

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _secret_stores as s

KEY_ID = "AKIANEWNEWNEWNEWNEW1"
SECRET = "NewSecret+" + "n" * 30


def _sm(**extra):
    holder = {"secret_id": "app/aws", "access_key_id": KEY_ID, "secret_access_key": SECRET}
    holder.update(extra)
    return s.validate_secretsmanager([holder])[0]


def test_secret_keeps_other_keys_and_writes_only_on_change():
    current = json.dumps({"aws_access_key_id": "AKIAOLDOLDOLDOLDOLD1", "aws_secret_access_key": "x" * 40, "db": "p"})
    planned = s.plan_secret(_sm(), current)
    assert planned["write"] == "put" and planned["after"] == {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "db": "p"}
    again = s.plan_secret(_sm(), json.dumps(planned["after"]))
    assert again["write"] is None


def test_missing_secret_needs_create_and_an_arn_is_never_created():
    with pytest.raises(s.HolderError, match="set create: true"):
        s.plan_secret(_sm(), None)
    assert s.plan_secret(_sm(create=True), None)["write"] == "create"
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf"
    with pytest.raises(s.HolderError, match="never created"):
        s.plan_secret(_sm(secret_id=arn), None)
    with pytest.raises(s.HolderError, match="never created"):
        _sm(secret_id=arn, create=True)


def test_non_json_secret_refused():
    with pytest.raises(s.HolderError, match="does not hold JSON"):
        s.plan_secret(_sm(), "plain text")
    with pytest.raises(s.HolderError, match="JSON object"):
        s.plan_secret(_sm(), "[1]")


def test_parameters_keep_id_type_secure_secret_and_kms_on_write():
    holder = {"id_parameter": "/a/id", "secret_parameter": "/a/secret", "kms_key_id": "alias/x",
              "access_key_id": KEY_ID, "secret_access_key": SECRET}
    planned = s.plan_parameters(holder, {"/a/id": {"Value": "AKIAOLDOLDOLDOLDOLD1", "Type": "StringList"},
                                         "/a/secret": {"Value": "old", "Type": "SecureString"}})
    assert planned["puts"] == [
        {"Name": "/a/secret", "Value": SECRET, "Type": "SecureString", "Overwrite": True, "KeyId": "alias/x"},
        {"Name": "/a/id", "Value": KEY_ID, "Type": "StringList", "Overwrite": True}]
    same = s.plan_parameters(holder, {"/a/id": {"Value": KEY_ID, "Type": "String"},
                                      "/a/secret": {"Value": SECRET, "Type": "SecureString"}})
    assert same["puts"] == []
    created = s.plan_parameters(dict(holder, kms_key_id=None), {})
    assert created["puts"][1]["Type"] == "String" and "KeyId" not in created["puts"][0]
    plain = s.plan_parameters(holder, {"/a/id": {"Value": KEY_ID, "Type": "String"}, "/a/secret": {"Value": SECRET, "Type": "String"}})
    assert [p["Name"] for p in plain["puts"]] == ["/a/secret"]  # a plain String secret becomes SecureString


@pytest.mark.parametrize("name, message", [
    ("bad name", "not a valid parameter name"), ("a/b", "must start with /"), ("/a//b", "empty hierarchy"),
    ("/aws/x", "reserved"), ("ssm-x", "reserved"), ("", "is required"),
])
def test_parameter_names(name, message):
    assert message in s.parameter_name_problem("id_parameter", name)


def test_bad_pairs_never_echo_the_secret():
    with pytest.raises(s.HolderError) as info:
        s.validate_ssm([{"id_parameter": "/a", "secret_parameter": "/b", "access_key_id": KEY_ID, "secret_access_key": "short secret"}])
    assert "short secret" not in str(info.value)


# ---------------------------------------------------------------------- the shared runner (fake clients)
class _Exit(Exception):
    pass


class _FakeModule:
    def __init__(self, holders, check_mode=False, diff=True, return_secrets=False):
        self.params = {"holders": holders, "concurrency": 2, "return_secrets": return_secrets}
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values = set()
        self.result = None

    def exit_json(self, **result):
        self.result = dict(result, failed=False)
        raise _Exit()

    def fail_json(self, **result):
        self.result = dict(result, failed=True)
        raise _Exit()


class _FakeSecrets:
    def __init__(self, secrets):
        self.secrets = secrets
        self.writes = []

    def get_secret_value(self, SecretId, aws_retry=False):  # pylint: disable=invalid-name,unused-argument
        if SecretId not in self.secrets:
            error = Exception("not found")
            error.response = {"Error": {"Code": "ResourceNotFoundException", "Message": "not found"}}
            raise error
        return {"SecretString": self.secrets[SecretId]}

    def put_secret_value(self, SecretId, SecretString):  # pylint: disable=invalid-name
        self.writes.append(("put", SecretId))
        self.secrets[SecretId] = SecretString

    def create_secret(self, Name, SecretString, KmsKeyId=None):  # pylint: disable=invalid-name,unused-argument
        self.writes.append(("create", Name))
        self.secrets[Name] = SecretString


class _FakeParameters:
    def __init__(self, parameters):
        self.parameters = parameters
        self.writes = []

    def get_parameters(self, Names, WithDecryption, aws_retry=False):  # pylint: disable=invalid-name,unused-argument
        return {"Parameters": [dict(self.parameters[name], Name=name) for name in Names if name in self.parameters]}

    def put_parameter(self, **put):
        self.writes.append(put["Name"])
        self.parameters[put["Name"]] = {"Value": put["Value"], "Type": put["Type"]}


def _run(monkeypatch, store, client, module):
    monkeypatch.setattr(s, "client_pair", lambda _module, _service, _concurrency: (client, client))
    with pytest.raises(_Exit):
        s.run_store(module, store)
    return module.result


def test_runner_secretsmanager_check_run_idempotent_and_one_failure(monkeypatch):
    client = _FakeSecrets({"app/aws": json.dumps({"other": "x"})})
    holders = [{"secret_id": "app/aws", "access_key_id": KEY_ID, "secret_access_key": SECRET},
               {"secret_id": "missing/aws", "access_key_id": KEY_ID, "secret_access_key": SECRET}]
    checked = _run(monkeypatch, s.SECRETSMANAGER, client, _FakeModule(holders, check_mode=True))
    assert client.writes == [] and checked["failed"] is True and checked["failed_holders"] == ["missing/aws"]
    assert checked["holders"][0] == {"secret_id": "app/aws", "action": "put", "changed": True, "failed": False, "msg": "",
                                     "access_key_id": KEY_ID}
    assert "create: true" in checked["msg"] and SECRET not in json.dumps(checked)
    done = _run(monkeypatch, s.SECRETSMANAGER, client, _FakeModule(holders[:1]))
    assert done["changed"] is True and client.writes == [("put", "app/aws")] and SECRET not in json.dumps(done)
    again = _run(monkeypatch, s.SECRETSMANAGER, client, _FakeModule(holders[:1]))
    assert again["changed"] is False and client.writes == [("put", "app/aws")] and "diff" not in again


def test_runner_ssm_writes_secret_then_id_and_reports_written(monkeypatch):
    client = _FakeParameters({"/app/id": {"Value": "AKIAOLDOLDOLDOLDOLD1", "Type": "String"}})
    holders = [{"id_parameter": "/app/id", "secret_parameter": "/app/secret", "access_key_id": KEY_ID,
                "secret_access_key": SECRET}]
    done = _run(monkeypatch, s.SSM, client, _FakeModule(holders))
    assert client.writes == ["/app/secret", "/app/id"]
    assert done["holders"] == [{"id_parameter": "/app/id", "secret_parameter": "/app/secret", "written": ["/app/secret", "/app/id"],
                                "changed": True, "failed": False, "msg": "", "access_key_id": KEY_ID}]
    assert "AKIAOLDOLDOLDOLDOLD1" in done["diff"]["before"] and SECRET not in json.dumps(done)
    again = _run(monkeypatch, s.SSM, client, _FakeModule(holders))
    assert again["changed"] is False and again["holders"][0]["written"] == []


def test_runner_refuses_a_bad_holder_before_any_call(monkeypatch):
    client = _FakeParameters({})
    result = _run(monkeypatch, s.SSM, client, _FakeModule([{"id_parameter": "/a", "secret_parameter": "/a"}]))
    assert result["failed"] is True and "must differ" in result["msg"] and "nothing was changed" in result["msg"]


def test_return_secrets_reads_each_holders_secret_and_never_diffs_it(monkeypatch):
    secrets = _FakeSecrets({"app/aws": json.dumps({"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET}),
                            "no/secret": json.dumps({"aws_access_key_id": KEY_ID})})
    read = _run(monkeypatch, s.SECRETSMANAGER, secrets, _FakeModule(
        [{"secret_id": "app/aws"}, {"secret_id": "no/secret"}, {"secret_id": "missing/aws"}], return_secrets=True))
    assert [(item["access_key_id"], item["secret_access_key"]) for item in read["holders"]] == [
        (KEY_ID, SECRET), (KEY_ID, None), (None, None)]
    assert secrets.writes == [] and "diff" not in read and SECRET not in read["holders"][0]["msg"]
    plain = _run(monkeypatch, s.SECRETSMANAGER, secrets, _FakeModule([{"secret_id": "app/aws"}]))
    assert "secret_access_key" not in plain["holders"][0] and SECRET not in json.dumps(plain)
    parameters = _FakeParameters({"/app/id": {"Value": KEY_ID, "Type": "String"}, "/app/secret": {"Value": SECRET, "Type": "SecureString"}})
    read = _run(monkeypatch, s.SSM, parameters, _FakeModule(
        [{"id_parameter": "/app/id", "secret_parameter": "/app/secret"}, {"id_parameter": "/b/id", "secret_parameter": "/b/secret"}],
        return_secrets=True))
    assert [(item["access_key_id"], item["secret_access_key"]) for item in read["holders"]] == [(KEY_ID, SECRET), (None, None)]
    assert parameters.writes == []


def test_return_secrets_refuses_a_writing_call_before_any_call(monkeypatch):
    client = _FakeSecrets({})
    holders = [{"secret_id": "a/aws"}, {"secret_id": "app/aws", "access_key_id": KEY_ID, "secret_access_key": SECRET}]
    result = _run(monkeypatch, s.SECRETSMANAGER, client, _FakeModule(holders, return_secrets=True))
    assert result["failed"] is True and "return_secrets" in result["msg"] and "holders[1]" in result["msg"]
    assert client.writes == [] and SECRET not in json.dumps(result)
