# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops.aws.credentials_profile and credentials_profile_info, locally and on a bed sshd host.

The written file is checked byte for byte, with os.stat, and by the real readers: the AWS CLI
(``aws sts get-caller-identity --profile``) and boto3 (``Session(profile_name=...)``).
"""

import glob
import os
import stat
import subprocess
import sys
import uuid

import pytest

OTHER_SECRET = "OtherProfileSecret/" + "q" * 21  # a secret of another profile: must never be shown
OLD_SECRET = "OldTargetSecret+" + "w" * 24
OLD_KEY_ID = "AKIAOLDOLDOLDOLDOLD1"


def _original(key_id_other="AKIAOTHEROTHEROTHER1", newline="\n"):
    text = (
        "# Credentials for the app; edited by hand too\n"
        "[default]\n"
        "aws_access_key_id=%s\n"
        "aws_secret_access_key=%s\n"
        "\n"
        "; the target profile, rotated by keyops\n"
        "[target]\n"
        "aws_access_key_id = %s\n"
        "aws_secret_access_key = %s\n"
        "region = us-east-1\n"
        "\n"
        "[zeta]\n"
        "aws_access_key_id: AKIAZETAZETAZETAZETA\n"
        "aws_secret_access_key: not-a-real-secret-but-secret-looking-zz\n"
        "s3 =\n"
        "    max_concurrent_requests = 20\n"
        "    addressing_style = path"
    ) % (key_id_other, OTHER_SECRET, OLD_KEY_ID, OLD_SECRET)
    return text.replace("\n", newline).encode()


@pytest.fixture
def user_key(bed):
    iam = bed.client("iam")
    name = "cred-%s" % uuid.uuid4().hex[:10]
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key


def _env(key):
    return {"KEYOPS_TEST_KEY_ID": key["AccessKeyId"], "KEYOPS_TEST_SECRET": key["SecretAccessKey"]}


def _reader_env(bed, path):
    env = bed.env(AWS_SHARED_CREDENTIALS_FILE=path, AWS_CONFIG_FILE=os.devnull)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    return env


def _aws_cli_arn(bed, path, profile):
    proc = subprocess.run(
        ["aws", "sts", "get-caller-identity", "--profile", profile, "--query", "Arn", "--output", "text"],
        env=_reader_env(bed, path), capture_output=True, text=True, check=False, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _boto3_arn(bed, path, profile):
    code = "import boto3; print(boto3.Session(profile_name=%r).client('sts').get_caller_identity()['Arn'])" % profile
    proc = subprocess.run([sys.executable, "-c", code], env=_reader_env(bed, path), capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _where(bed, target, tmp_path):
    if target == "localhost":
        return str(tmp_path)
    base = os.path.join(bed.host(target)["home"], uuid.uuid4().hex[:8])
    os.makedirs(base, mode=0o700)
    return base


@pytest.mark.parametrize("target, newline", [("localhost", "\n"), ("host1", "\r\n")])
def test_update_keeps_everything_else(bed, ansible_playbook, no_secrets, user_key, tmp_path, target, newline):
    name, key = user_key
    base = _where(bed, target, tmp_path)
    path = os.path.join(base, "credentials")
    original = _original(newline=newline)
    with open(path, "wb") as handle:
        handle.write(original)
    os.chmod(path, 0o644)  # too open: the module makes it 0600

    proc = ansible_playbook(
        "credentials/profile.yml", env=_env(key), diff=True, verbosity=4,
        extra_vars={"cred_target": target, "cred_path": path, "cred_profile": "target", "cred_backup": True},
    )
    assert "changed=2" in proc.stdout and "failed=0" in proc.stdout
    with open(path, "rb") as handle:
        written = handle.read()
    # only the two option lines changed, in their own format and line ends
    expected = original.replace(OLD_KEY_ID.encode(), key["AccessKeyId"].encode()).replace(
        OLD_SECRET.encode(), key["SecretAccessKey"].encode())
    assert written == expected
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # one backup, the original content, private
    backups = glob.glob(path + ".*.bak")
    assert len(backups) == 1
    with open(backups[0], "rb") as handle:
        assert handle.read() == original
    assert stat.S_IMODE(os.stat(backups[0]).st_mode) == 0o600
    # the real readers use it
    arn = "arn:aws:iam::123456789012:user/%s" % name
    assert _aws_cli_arn(bed, path, "target") == arn
    assert _boto3_arn(bed, path, "target") == arn
    # --diff at -vvvv: masked, no secret of any profile
    output = proc.stdout + proc.stderr
    assert "********" in output and "+aws_access_key_id = %s" % key["AccessKeyId"] in output
    no_secrets(output, bed.known_secrets() + [OTHER_SECRET, OLD_SECRET, "not-a-real-secret-but-secret-looking-zz"])


@pytest.mark.parametrize("target", ["localhost", "host1"])
def test_new_file_in_new_directories(bed, ansible_playbook, no_secrets, user_key, tmp_path, target):
    name, key = user_key
    base = _where(bed, target, tmp_path)
    path = os.path.join(base, "home", ".aws", "credentials")
    proc = ansible_playbook(
        "credentials/profile.yml", env=_env(key), verbosity=4,
        extra_vars={"cred_target": target, "cred_path": path, "cred_profile": "deploy"},
    )
    no_secrets(proc.stdout + proc.stderr, bed.known_secrets())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.dirname(os.path.dirname(path))).st_mode) == 0o700
    with open(path, "rb") as handle:
        assert handle.read() == (
            "[deploy]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = us-east-1\n"
            % (key["AccessKeyId"], key["SecretAccessKey"])).encode()
    assert not [name for name in os.listdir(os.path.dirname(path)) if name.endswith(".tmp")]
    arn = "arn:aws:iam::123456789012:user/%s" % name
    assert _aws_cli_arn(bed, path, "deploy") == arn
    assert _boto3_arn(bed, path, "deploy") == arn


@pytest.mark.parametrize("target", ["localhost", "host1"])
def test_absent_removes_that_profile_only(bed, ansible_playbook, tmp_path, target):
    base = _where(bed, target, tmp_path)
    path = os.path.join(base, "credentials")
    original = _original()
    with open(path, "wb") as handle:
        handle.write(original)
    os.chmod(path, 0o600)
    ansible_playbook("credentials/absent.yml", extra_vars={"cred_target": target, "cred_path": path, "cred_profile": "target"})
    with open(path, "rb") as handle:
        written = handle.read()
    start = original.index(b"; the target profile")
    end = original.index(b"[zeta]")
    assert written == original[:start] + original[end:]


def test_bad_input_changes_nothing(bed, ansible_playbook, no_secrets, user_key, tmp_path):
    _name, key = user_key
    base = str(tmp_path / "bad")
    os.makedirs(base)
    files = {
        "good": _original(),
        "duplicate": b"[target]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\n\n[other]\nx = 1\n[target]\nregion = x\n",
        "corrupt": b"[target]\nregion = x\nthis line is not a setting\n",
        "elsewhere": _original(),
    }
    for file_name, data in files.items():
        with open(os.path.join(base, file_name), "wb") as handle:
            handle.write(data)
    os.mkdir(os.path.join(base, "adir"))
    os.symlink(os.path.join(base, "elsewhere"), os.path.join(base, "link"))
    os.mkfifo(os.path.join(base, "fifo"))
    before = {entry: (os.lstat(os.path.join(base, entry)).st_mtime_ns, os.lstat(os.path.join(base, entry)).st_mode)
              for entry in os.listdir(base)}

    proc = ansible_playbook("credentials/bad_input.yml", env=_env(key), verbosity=4,
                            extra_vars={"cred_target": "localhost", "cred_dir": base})

    assert sorted(os.listdir(base)) == sorted(before)
    for entry, state in before.items():
        info = os.lstat(os.path.join(base, entry))
        assert (info.st_mtime_ns, info.st_mode) == state, entry
    for file_name, data in files.items():
        with open(os.path.join(base, file_name), "rb") as handle:
            assert handle.read() == data, file_name
    no_secrets(proc.stdout + proc.stderr, bed.known_secrets() + [OTHER_SECRET, OLD_SECRET])


@pytest.mark.parametrize("target", ["localhost", "host1"])
def test_config_file_and_info(bed, ansible_playbook, no_secrets, tmp_path, target):
    base = _where(bed, target, tmp_path)
    path = os.path.join(base, "credentials")
    config = os.path.join(base, "config")
    with open(path, "wb") as handle:
        handle.write(_original())
    os.chmod(path, 0o644)  # the info module reports it as it is
    original_config = b"# shared settings\r\n[default]\r\nregion = us-east-1\r\n\r\n[sso-session corp]\r\nsso_region = us-east-1\r\n"
    with open(config, "wb") as handle:
        handle.write(original_config)
    profile = "dev-%s" % uuid.uuid4().hex[:6]
    proc = ansible_playbook(
        "credentials/config_and_info.yml", verbosity=4, env={"KEYOPS_TEST_OLD_SECRET": OLD_SECRET},
        extra_vars={"cred_target": target, "cred_path": path, "cred_config": config, "cred_profile": profile},
    )
    no_secrets(proc.stdout + proc.stderr, bed.known_secrets() + [OTHER_SECRET, OLD_SECRET])
    with open(config, "rb") as handle:
        written = handle.read()
    assert written == original_config + (
        "\r\n[profile %s]\r\nregion = eu-west-3\r\noutput = json\r\nmax_attempts = 5\r\n"
        "s3 =\r\n    max_concurrent_requests = 20\r\n    addressing_style = path\r\n" % profile).encode()
    env = bed.env(AWS_CONFIG_FILE=config, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(name, None)
    got = subprocess.run(["aws", "configure", "get", "region", "--profile", profile], env=env,
                         capture_output=True, text=True, check=False, timeout=60)
    assert got.stdout.strip() == "eu-west-3", got.stderr
    code = ("import boto3; s = boto3.Session(profile_name=%r); "
            "print(s.region_name, s._session.get_scoped_config()['s3']['addressing_style'])" % profile)
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert got.stdout.split() == ["eu-west-3", "path"], got.stderr


def test_parallel_writers_and_owner(bed, ansible_playbook, user_key, tmp_path):
    name, key = user_key
    base = os.path.join(bed.host("host1")["home"], uuid.uuid4().hex[:8])
    os.makedirs(base, mode=0o700)
    path = os.path.join(base, "credentials")
    with open(path, "wb") as handle:
        handle.write(_original())
    os.chmod(path, 0o600)
    import grp  # pylint: disable=import-outside-toplevel
    import pwd  # pylint: disable=import-outside-toplevel

    owner = pwd.getpwnam("nobody")
    group = grp.getgrgid(owner.pw_gid)
    ansible_playbook("credentials/shared_file.yml", env=_env(key), extra_vars={
        "cred_path": path, "cred_owner": owner.pw_name, "cred_group": group.gr_name})
    with open(path, "rb") as handle:
        written = handle.read()
    assert written.startswith(_original())
    names = [line for line in written.decode().splitlines() if line.startswith("[writer-")]
    assert len(names) == 9 and len(set(names)) == 9
    info = os.stat(path)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (owner.pw_uid, owner.pw_gid, 0o600)
    assert not [entry for entry in os.listdir(base) if entry.endswith(".tmp")]
    assert _aws_cli_arn(bed, path, "writer-host2-3").endswith("/" + name)


@pytest.mark.parametrize("target", ["localhost", "host1"])
def test_profiles_list_one_write_per_file(bed, ansible_playbook, no_secrets, user_key, tmp_path, target):
    """`profiles`: two profiles set and one removed in one call; the others stay byte for byte; the
    real readers see the new key; the diff and output never show a secret (-vvvv)."""
    name, key = user_key
    base = _where(bed, target, tmp_path)
    path = os.path.join(base, "credentials")
    original = _original()
    with open(path, "wb") as handle:
        handle.write(original)
    os.chmod(path, 0o644)
    proc = ansible_playbook("credentials/profiles_many.yml", env=_env(key), verbosity=4,
                            extra_vars={"cred_target": target, "cred_path": path})
    no_secrets(proc.stdout + proc.stderr, set(bed.known_secrets()) | {OTHER_SECRET, OLD_SECRET, key["SecretAccessKey"]})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "rb") as handle:
        written = handle.read()
    # the default profile and its comments are kept byte for byte; zeta is gone; added is appended
    assert written.startswith(original[:original.index(b"; the target profile")])
    assert b"[zeta]" not in written and b"[added]" in written and OLD_KEY_ID.encode() not in written
    arn = "arn:aws:iam::123456789012:user/%s" % name
    assert _aws_cli_arn(bed, path, "target") == arn
    assert _boto3_arn(bed, path, "added") == arn
    assert not [n for n in os.listdir(base) if n.endswith(".tmp")]
