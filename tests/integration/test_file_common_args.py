# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-core's file common arguments in the file modules, on a bed sshd host.

Files whose content is already right get another mode and the attributes lsattr shows with +A
(no atime updates): check mode predicts, the run sets them (checked with os.stat and lsattr, the
content byte for byte), the next check and run change nothing. SELinux is not enabled on the bed's
machine, so the SELinux options are not exercised here (see the unit tests: they are accepted).
"""

import os
import shutil
import stat
import subprocess
import uuid

import pytest


def _lsattr(path):
    out = subprocess.run(["lsattr", "-d", path], check=True, capture_output=True, text=True).stdout
    return out.split()[0].replace("-", "")


def test_mode_and_attributes_of_unchanged_files(bed, ansible_playbook, no_secrets):
    if not shutil.which("chattr") or not shutil.which("lsattr"):
        pytest.skip("chattr/lsattr not installed")
    iam = bed.client("iam")
    name = "fargs-%s" % uuid.uuid4().hex[:10]
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    base = os.path.join(bed.host("host1")["home"], uuid.uuid4().hex[:8])
    os.makedirs(base, mode=0o700)
    probe = os.path.join(base, "probe")
    with open(probe, "w", encoding="ascii") as handle:
        handle.write("x")
    if subprocess.run(["chattr", "+A", probe], capture_output=True, check=False).returncode != 0:
        pytest.skip("this file system does not take chattr +A")
    attributes = _lsattr(probe)
    os.unlink(probe)

    public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHjZ4x5Ve3rC0Z5d1CkqJmCXSqzq3x1sJ1yJfN1wJZ2v fargs@test"
    files = {
        "fa_env_path": ("app.env", "# app\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (
            key["AccessKeyId"], key["SecretAccessKey"]), 0o644),
        "fa_credentials_path": ("credentials", "[deploy]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
            key["AccessKeyId"], key["SecretAccessKey"]), 0o600),
        "fa_authorized_keys_path": ("authorized_keys", public_key + "\n", 0o640),
    }
    extra_vars = {"fa_target": "host1", "fa_attributes": attributes, "fa_public_key": public_key}
    for var, (filename, content, mode) in files.items():
        path = os.path.join(base, filename)
        with open(path, "w", encoding="ascii") as handle:
            handle.write(content)
        os.chmod(path, mode)
        extra_vars[var] = path
    inodes = {var: os.stat(extra_vars[var]).st_ino for var in files}

    proc = ansible_playbook(
        "file_common_args/file_args.yml", diff=True,
        env={"KEYOPS_TEST_KEY_ID": key["AccessKeyId"], "KEYOPS_TEST_SECRET": key["SecretAccessKey"]},
        extra_vars=extra_vars,
    )
    assert "failed=0" in proc.stdout
    for var, (filename, content, _mode) in files.items():
        path = extra_vars[var]
        with open(path, encoding="ascii") as handle:
            assert handle.read() == content, filename  # the content stays byte for byte
        assert os.stat(path).st_ino == inodes[var], filename  # not rewritten
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, filename
        assert _lsattr(path) == attributes, filename
    assert sorted(os.listdir(base)) == sorted(name for name, _content, _mode in files.values())
    # the mode and attributes diff of authorized_keys was shown (the other two tasks are no_log)
    assert '"attributes": "=%s"' % attributes in proc.stdout and '"mode": "0600"' in proc.stdout
    no_secrets(proc.stdout + proc.stderr, [key["SecretAccessKey"]])
