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
