# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.aws.secretsmanager_credentials and ssm_parameter_credentials against the bed's moto.

Asserted through boto3: the JSON keys kept, versions counted, SecureString and its KMS key, the key
proven through STS.
"""

import json
import uuid

OTHER_SECRET = "db-password-" + "p" * 20


def _new_key(bed):
    iam = bed.client("iam")
    name = "store-%s" % uuid.uuid4().hex[:10]
    iam.create_user(UserName=name)
    return name, iam.create_access_key(UserName=name)["AccessKey"]


def _env(key):
    return {"KEYOPS_TEST_KEY_ID": key["AccessKeyId"], "KEYOPS_TEST_SECRET": key["SecretAccessKey"]}


def _versions(sm, secret_id):
    return len(sm.list_secret_version_ids(SecretId=secret_id)["Versions"])


def test_secretsmanager_and_ssm_check_run_check_run(bed, ansible_playbook, no_secrets):
    name, key = _new_key(bed)
    tag = uuid.uuid4().hex[:8]
    sm, ssm, kms = bed.client("secretsmanager"), bed.client("ssm"), bed.client("kms")
    existing, new = "app-%s/aws" % tag, "app-%s/new" % tag
    sm.create_secret(Name=existing, SecretString=json.dumps(
        {"aws_access_key_id": "AKIAOLDOLDOLDOLDOLD1", "aws_secret_access_key": "old" * 13, "db_password": OTHER_SECRET,
         "host": "db.internal"}))
    prefix = "/app-%s" % tag
    ssm.put_parameter(Name=prefix + "/existing/id", Value="AKIAOLDOLDOLDOLDOLD1", Type="StringList")
    ssm.put_parameter(Name=prefix + "/existing/secret", Value="old" * 13, Type="SecureString")
    kms_key = kms.create_key()["KeyMetadata"]["KeyId"]

    proc = ansible_playbook("secret_stores/write.yml", env=_env(key), diff=True, verbosity=4,
                            extra_vars={"sm_existing": existing, "sm_new": new, "ssm_prefix": prefix,
                                        "ssm_kms_key_id": kms_key})
    no_secrets(proc.stdout + proc.stderr, bed.known_secrets() + [key["SecretAccessKey"], OTHER_SECRET, "old" * 13])

    value = json.loads(sm.get_secret_value(SecretId=existing)["SecretString"])
    assert value == {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"],
                     "db_password": OTHER_SECRET, "host": "db.internal"}
    assert _versions(sm, existing) == 2  # the original + exactly one new version
    created = json.loads(sm.get_secret_value(SecretId=new)["SecretString"])
    assert created == {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    assert _versions(sm, new) == 1

    params = {p["Name"]: p for p in ssm.get_parameters(
        Names=[prefix + n for n in ("/existing/id", "/existing/secret", "/new/id", "/new/secret")],
        WithDecryption=True)["Parameters"]}
    assert params[prefix + "/existing/id"]["Type"] == "StringList"
    assert params[prefix + "/existing/id"]["Version"] == 2
    assert params[prefix + "/existing/secret"]["Type"] == "SecureString"
    assert params[prefix + "/existing/secret"]["Version"] == 2
    assert params[prefix + "/new/id"]["Type"] == "String" and params[prefix + "/new/id"]["Version"] == 1
    assert params[prefix + "/new/secret"]["Type"] == "SecureString"
    assert params[prefix + "/new/secret"]["Value"] == key["SecretAccessKey"]
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [prefix + "/existing/secret"]}])
    assert kms_key in described["Parameters"][0].get("KeyId", "")
    sts = bed.client("sts", access_key_id=value["aws_access_key_id"], secret_access_key=value["aws_secret_access_key"])
    assert sts.get_caller_identity()["Arn"].endswith(":user/%s" % name)


def test_failing_holders_are_named(bed, ansible_playbook, no_secrets):
    _name, key = _new_key(bed)
    tag = uuid.uuid4().hex[:8]
    sm = bed.client("secretsmanager")
    good, text = "good-%s" % tag, "text-%s" % tag
    sm.create_secret(Name=good, SecretString="{}")
    sm.create_secret(Name=text, SecretString="not json")
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-%s-AbCdEf" % tag
    holders = [{"secret_id": "missing-%s" % tag}, {"secret_id": good}, {"secret_id": text}, {"secret_id": arn}]
    proc = ansible_playbook("secret_stores/bad.yml", env=_env(key), verbosity=4, extra_vars={"sm_holders": holders})
    output = proc.stdout + proc.stderr
    no_secrets(output, bed.known_secrets() + [key["SecretAccessKey"]])
    assert "secret missing-%s does not exist; set create: true" % tag in output
    assert "secret text-%s does not hold JSON" % tag in output
    assert "gone-%s" % tag in output and "never created" in output
    assert "id_parameter 'bad name' is not a valid parameter name" in output
    assert json.loads(sm.get_secret_value(SecretId=good)["SecretString"])["aws_access_key_id"] == key["AccessKeyId"]
    assert sm.get_secret_value(SecretId=text)["SecretString"] == "not json"
    assert "missing-%s" % tag not in [s["Name"] for s in sm.list_secrets()["SecretList"]]
