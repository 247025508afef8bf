# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The file modules with ansible-core's file common arguments (add_file_common_args): run through a
real AnsibleModule. Mode, owner, group and attributes on an unchanged file: check mode predicts,
the run changes, the next run is idempotent; the diff shows them. SELinux is not enabled on the
test machines, so the SELinux options are only shown to be accepted (ansible-core skips them)."""

import contextlib
import json
import os
import shutil
import stat
import subprocess

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.keyops.aws.plugins.modules import authorized_keys as authorized_keys_module
from ansible_collections.keyops.aws.plugins.modules import credentials_profile as credentials_profile_module
from ansible_collections.keyops.aws.plugins.modules import env_file_credentials as env_file_module

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
except ImportError:  # ansible-core 2.17 / 2.18
    patch_module_args = None

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ED_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHjZ4x5Ve3rC0Z5d1CkqJmCXSqzq3x1sJ1yJfN1wJZ2v"


@contextlib.contextmanager
def _module_args(args):
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    old = getattr(basic, "_ANSIBLE_ARGS", None)
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = old


def run(module, capsys, check=False, diff=True, **args):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with _module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


def _lsattr(path):
    out = subprocess.run(["lsattr", "-d", str(path)], check=True, capture_output=True, text=True).stdout
    return out.split()[0].replace("-", "")


@pytest.fixture(name="with_a")
def fixture_with_a(tmp_path):
    """The attribute string lsattr shows for a file of tmp_path with +A (no atime updates), or skip."""
    if not shutil.which("chattr") or not shutil.which("lsattr"):
        pytest.skip("chattr/lsattr not installed")
    probe = tmp_path / "probe"
    probe.write_text("x")
    if subprocess.run(["chattr", "+A", str(probe)], capture_output=True, check=False).returncode != 0:
        pytest.skip("this file system does not take chattr +A")
    flags = _lsattr(probe)
    probe.unlink()
    return flags


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------------- env_file_credentials
def _env(tmp_path, mode=0o600):
    path = tmp_path / "app.env"
    path.write_text("A=1\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (KEY_ID, SECRET))
    os.chmod(path, mode)
    return path


def test_env_file_mode_of_an_unchanged_file_check_run_idempotent(tmp_path, capsys):
    path = _env(tmp_path, 0o644)
    before = path.read_bytes()
    args = dict(path=str(path), access_key_id=KEY_ID, secret_access_key=SECRET)
    checked = run(env_file_module, capsys, check=True, **args)
    assert checked["changed"] is True and _mode(path) == 0o644
    assert [a["action"] for a in checked["actions"]] == ["set_mode"]
    assert checked["diff"]["before"] == {"mode": "0644"} and checked["diff"]["after"] == {"mode": "0600"}
    done = run(env_file_module, capsys, **args)
    assert done["changed"] is True and _mode(path) == 0o600 and path.read_bytes() == before
    assert done["diff"]["after"] == {"mode": "0600"}
    again = run(env_file_module, capsys, **args)
    assert again["changed"] is False and "diff" not in again and again["actions"] == []
    assert SECRET not in json.dumps([checked, done, again])


def test_env_file_attributes_of_an_unchanged_file(tmp_path, capsys, with_a):
    path = _env(tmp_path)
    args = dict(path=str(path), access_key_id=KEY_ID, secret_access_key=SECRET, attributes=with_a)
    checked = run(env_file_module, capsys, check=True, **args)
    assert checked["changed"] is True and "A" not in _lsattr(path)
    assert [a["action"] for a in checked["actions"]] == ["set_attributes"]
    assert checked["diff"]["after"] == {"attributes": "=" + with_a}
    done = run(env_file_module, capsys, **args)
    assert done["changed"] is True and _lsattr(path) == with_a
    again = run(env_file_module, capsys, **args)
    assert again["changed"] is False
    # a rewrite is a new inode: the attributes are set on it too, and only the content diff is shown
    args.update(access_key_id="AKIAIOSFODNN7EXAMPL2")
    rewritten = run(env_file_module, capsys, **args)
    assert rewritten["changed"] is True and _lsattr(path) == with_a
    assert [a["action"] for a in rewritten["actions"]] == ["update_entry"]
    assert isinstance(rewritten["diff"], list) and rewritten["diff"][1]["after"] == {"attributes": "=" + with_a}
    assert run(env_file_module, capsys, **args)["changed"] is False


def test_env_file_read_only_task_changes_no_attribute(tmp_path, capsys):
    path = _env(tmp_path, 0o644)
    result = run(env_file_module, capsys, path=str(path))
    assert result["changed"] is False and result["access_key_id"] == KEY_ID and _mode(path) == 0o644


def test_env_file_bad_attributes_refused_before_any_write(tmp_path, capsys):
    path = tmp_path / "new.env"
    result = run(env_file_module, capsys, path=str(path), access_key_id=KEY_ID, secret_access_key=SECRET, attributes="+A!")
    assert result["failed"] is True and "attributes" in result["msg"] and not path.exists()


def test_env_file_new_file_is_0600_and_selinux_options_accepted(tmp_path, capsys):
    path = tmp_path / "sub" / "new.env"
    result = run(env_file_module, capsys, path=str(path), access_key_id=KEY_ID, secret_access_key=SECRET,
                 setype="etc_t", seuser="system_u")
    assert result["changed"] is True and _mode(path) == 0o600 and _mode(path.parent) == 0o700


# ---------------------------------------------------------------------- credentials_profile
def _credentials(tmp_path, mode=0o600):
    path = tmp_path / "credentials"
    path.write_text("[deploy]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (KEY_ID, SECRET))
    os.chmod(path, mode)
    return path


def test_credentials_profile_mode_and_group_of_an_unchanged_file(tmp_path, capsys):
    path = _credentials(tmp_path, 0o640)
    args = dict(path=str(path), profile="deploy", access_key_id=KEY_ID, secret_access_key=SECRET,
                group=str(os.getgid()))
    checked = run(credentials_profile_module, capsys, check=True, **args)
    assert checked["changed"] is True and _mode(path) == 0o640
    assert checked["diff"]["before"]["mode"] == "0640" and checked["diff"]["after"]["mode"] == "0600"
    assert run(credentials_profile_module, capsys, **args)["changed"] is True and _mode(path) == 0o600
    assert run(credentials_profile_module, capsys, **args)["changed"] is False


def test_credentials_profile_attributes_single_and_many(tmp_path, capsys, with_a):
    path = _credentials(tmp_path)
    args = dict(path=str(path), profile="deploy", access_key_id=KEY_ID, secret_access_key=SECRET, attributes=with_a)
    checked = run(credentials_profile_module, capsys, check=True, **args)
    assert checked["changed"] is True and [a["action"] for a in checked["actions"]] == ["set_attributes"]
    assert run(credentials_profile_module, capsys, **args)["changed"] is True and _lsattr(path) == with_a
    assert run(credentials_profile_module, capsys, **args)["changed"] is False
    subprocess.run(["chattr", "-A", str(path)], check=True)
    many = dict(path=str(path), attributes=with_a,
                profiles=[{"profile": "deploy", "access_key_id": KEY_ID, "secret_access_key": SECRET}])
    checked = run(credentials_profile_module, capsys, check=True, **many)
    assert checked["changed"] is True and "A" not in _lsattr(path)
    done = run(credentials_profile_module, capsys, **many)
    assert done["changed"] is True and _lsattr(path) == with_a and done["profiles"][0]["changed"] is False
    assert run(credentials_profile_module, capsys, **many)["changed"] is False


# ---------------------------------------------------------------------- authorized_keys
def test_authorized_keys_mode_of_an_unchanged_file(tmp_path, capsys):
    path = tmp_path / "authorized_keys"
    path.write_text(ED_KEY + " a@b\n")
    os.chmod(path, 0o644)
    args = dict(path=str(path), keys=[ED_KEY + " a@b"], mode="0600")
    checked = run(authorized_keys_module, capsys, check=True, **args)
    assert checked["changed"] is True and _mode(path) == 0o644
    assert isinstance(checked["diff"], list) and checked["diff"][1]["after"] == {"mode": "0600"}
    assert run(authorized_keys_module, capsys, **args)["changed"] is True and _mode(path) == 0o600
    again = run(authorized_keys_module, capsys, **args)
    assert again["changed"] is False and not isinstance(again["diff"], list)
    # without mode an unchanged file keeps its mode, as before
    os.chmod(path, 0o640)
    assert run(authorized_keys_module, capsys, path=str(path), keys=[ED_KEY + " a@b"])["changed"] is False
    assert _mode(path) == 0o640


def test_authorized_keys_bad_mode_refused_before_any_write(tmp_path, capsys):
    path = tmp_path / "authorized_keys"
    result = run(authorized_keys_module, capsys, path=str(path), keys=[ED_KEY], mode="u=rw")
    assert result["failed"] is True and "mode" in result["msg"] and not path.exists()


# ---------------------------------------------------------------------- ssh_keypair
def test_ssh_keypair_mode_of_an_unchanged_key(tmp_path, capsys):
    pytest.importorskip("cryptography")
    from ansible_collections.keyops.aws.plugins.modules import ssh_keypair as ssh_keypair_module  # pylint: disable=import-outside-toplevel

    path = tmp_path / "id"
    first = run(ssh_keypair_module, capsys, path=str(path))
    assert first["changed"] is True and _mode(path) == 0o600 and _mode(str(path) + ".pub") == 0o644
    args = dict(path=str(path), mode="0400")
    checked = run(ssh_keypair_module, capsys, check=True, **args)
    assert checked["changed"] is True and _mode(path) == 0o600
    assert [a["action"] for a in checked["actions"]] == ["set_attributes"]
    assert checked["diff"][1]["after"] == {"mode": "0400"} and checked["fingerprint"] == first["fingerprint"]
    done = run(ssh_keypair_module, capsys, **args)
    assert done["changed"] is True and _mode(path) == 0o400 and done["fingerprint"] == first["fingerprint"]
    assert _mode(str(path) + ".pub") == 0o644
    assert run(ssh_keypair_module, capsys, **args)["changed"] is False
