# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test bed behaves like AWS where it matters, and its hosts are real sshd hosts."""

import uuid

import botocore.exceptions
import pytest


def _error_code(call):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]


@pytest.fixture
def user_key(bed):
    iam = bed.client("iam")
    name = "bed-test-%s" % uuid.uuid4().hex[:8]
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key


def test_admin_and_new_key_authenticate(bed, user_key):
    _name, key = user_key
    sts = bed.client("sts", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"].endswith(":user/" + _name)


def test_wrong_secret_is_signature_mismatch(bed, user_key):
    _name, key = user_key
    sts = bed.client("sts", access_key_id=key["AccessKeyId"], secret_access_key="x" * 40)
    assert _error_code(sts.get_caller_identity) == "SignatureDoesNotMatch"


def test_unknown_and_deleted_keys_are_invalid_client_token(bed, user_key):
    name, key = user_key
    sts = bed.client("sts", access_key_id="AKIA" + "Z" * 16, secret_access_key="x" * 40)
    assert _error_code(sts.get_caller_identity) == "InvalidClientTokenId"
    bed.client("iam").delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    sts = bed.client("sts", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    assert _error_code(sts.get_caller_identity) == "InvalidClientTokenId"


def test_inactive_key_is_refused_like_aws(bed, user_key):
    """moto alone accepts Inactive keys; the bed refuses them as AWS does (STS, IAM and EC2)."""
    name, key = user_key
    iam = bed.client("iam")
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    creds = dict(access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    assert _error_code(bed.client("sts", **creds).get_caller_identity) == "InvalidClientTokenId"
    assert _error_code(bed.client("ec2", **creds).describe_key_pairs) == "AuthFailure"
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert bed.client("sts", **creds).get_caller_identity()["Account"] == "123456789012"


def test_hosts_accept_admin_key_only(bed, tmp_path):
    for host in bed.hosts:
        assert bed.ssh(host["name"], bed.admin_key, "echo ok").stdout.strip() == "ok"
    other = tmp_path / "other"
    import subprocess  # pylint: disable=import-outside-toplevel

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    assert bed.ssh("host1", str(other)).returncode != 0


def test_hosts_are_ansible_inventory(bed, ansible_playbook):
    proc = ansible_playbook("bed_ping.yml")
    assert "host1" in proc.stdout and "failed=0" in proc.stdout


def test_known_secrets_include_every_created_key(bed, user_key):
    _name, key = user_key
    secrets = bed.known_secrets()
    assert key["SecretAccessKey"] in secrets
    assert bed.admin_credentials["secret_access_key"] in secrets
