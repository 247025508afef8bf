# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.aws.env_file_credentials, locally and on a bed sshd host.

The written file is checked byte for byte and with os.stat; the key it holds is proven through STS
by reading the file as systemd/docker would (NAME=VALUE, quotes stripped).
"""

import os
import stat
import uuid

import pytest

DB_PASSWORD = "correct horse battery staple"
OLD_SECRET = "OldEnvSecret/" + "x" * 27
OLD_KEY_ID = "AKIAOLDENVOLDENVOLD1"

ORIGINAL = (
    "# app.env: read by systemd EnvironmentFile= and docker run --env-file\n"
    "\n"
    "APP_NAME=\"billing service with spaces\"\n"
    "export AWS_ACCESS_KEY_ID=%s\n"
    "AWS_SECRET_ACCESS_KEY='%s'\n"
    "AWS_ACCESS_KEY_ID_OLD=AKIALOOKALIKELOOKALI\n"
    "; DB settings\n"
    "DB_PASSWORD=\"%s\"\n"
    "REGION=eu-west-1"
) % (OLD_KEY_ID, OLD_SECRET, DB_PASSWORD)


def _read_env(path):
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            name, _sep, value = line.partition("=")
            name = name.strip()
            if name.startswith("export "):
                name = name[len("export "):].strip()
            value = value.strip()
            if value[:1] in "'\"" and value[-1:] == value[:1]:
                value = value[1:-1]
            values[name] = value
    return values


@pytest.mark.parametrize("target", ["localhost", "host1"])
def test_env_file_check_run_check_run(bed, ansible_playbook, no_secrets, tmp_path, target):
    iam = bed.client("iam")
    name = "envf-%s" % uuid.uuid4().hex[:10]
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    if target == "localhost":
        base = str(tmp_path / "files")
        os.makedirs(base)
    else:
        base = os.path.join(bed.host(target)["home"], uuid.uuid4().hex[:8])
        os.makedirs(base, mode=0o700)
    path = os.path.join(base, "app.env")
    with open(path, "wb") as handle:
        handle.write(ORIGINAL.encode())
    os.chmod(path, 0o640)
    before_listing = sorted(os.listdir(base))

    proc = ansible_playbook(
        "env_file/env_file.yml", diff=True, verbosity=4,
        env={"KEYOPS_TEST_KEY_ID": key["AccessKeyId"], "KEYOPS_TEST_SECRET": key["SecretAccessKey"]},
        extra_vars={"env_target": target, "env_path": path},
    )
    assert "changed=2" in proc.stdout and "failed=0" in proc.stdout
    with open(path, "rb") as handle:
        written = handle.read()
    expected = ORIGINAL.replace(OLD_KEY_ID, key["AccessKeyId"]).replace(OLD_SECRET, key["SecretAccessKey"]).encode()
    assert written == expected
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(base)) == before_listing  # no temp file left
    values = _read_env(path)
    sts = bed.client("sts", access_key_id=values["AWS_ACCESS_KEY_ID"], secret_access_key=values["AWS_SECRET_ACCESS_KEY"])
    assert sts.get_caller_identity()["Arn"].endswith(":user/%s" % name)
    output = proc.stdout + proc.stderr
    assert "********" in output and "+export AWS_ACCESS_KEY_ID=%s" % key["AccessKeyId"] in output
    no_secrets(output, bed.known_secrets() + [key["SecretAccessKey"], OLD_SECRET, DB_PASSWORD])
