# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.aws.access_key_verify against the bed (moto refusing Inactive keys like AWS), at -vvvv."""

import os
import uuid


def test_every_outcome_and_no_secret_shown(bed, ansible_playbook, no_secrets, tmp_path):
    iam = bed.client("iam")
    name = "verify-%s" % uuid.uuid4().hex[:10]
    iam.create_user(UserName=name)
    valid = iam.create_access_key(UserName=name)["AccessKey"]
    inactive = iam.create_access_key(UserName=name)["AccessKey"]
    iam.update_access_key(UserName=name, AccessKeyId=inactive["AccessKeyId"], Status="Inactive")
    other = "verify-gone-%s" % uuid.uuid4().hex[:10]
    iam.create_user(UserName=other)
    deleted = iam.create_access_key(UserName=other)["AccessKey"]
    iam.delete_access_key(UserName=other, AccessKeyId=deleted["AccessKeyId"])

    cred_path = str(tmp_path / "credentials")
    fd = os.open(cred_path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# app\n[other]\nregion = x\n\n[app]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                     % (valid["AccessKeyId"], valid["SecretAccessKey"]))

    env = {
        "KT_VALID_ID": valid["AccessKeyId"], "KT_VALID_SECRET": valid["SecretAccessKey"],
        "KT_INACTIVE_ID": inactive["AccessKeyId"], "KT_INACTIVE_SECRET": inactive["SecretAccessKey"],
        "KT_DELETED_ID": deleted["AccessKeyId"], "KT_DELETED_SECRET": deleted["SecretAccessKey"],
        "KT_USER_ARN": "arn:aws:iam::123456789012:user/%s" % name, "KT_CRED_PATH": cred_path,
    }
    proc = ansible_playbook("verify/verify.yml", env=env, verbosity=4)
    output = proc.stdout + proc.stderr
    assert "failed=0" in output and "ignored=1" in output
    secrets = bed.known_secrets() + [deleted["SecretAccessKey"], valid["SecretAccessKey"][:-4] + "XXXX"]
    no_secrets(output, secrets)
    # the verification changed nothing in IAM
    statuses = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}
    assert statuses == {valid["AccessKeyId"]: "Active", inactive["AccessKeyId"]: "Inactive"}
