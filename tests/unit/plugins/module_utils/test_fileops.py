# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the private file helpers (atomic writes of secret files)."""

import os
import stat
import threading

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _fileops


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_creates_private_file_and_dirs(tmp_path):
    target = tmp_path / "a" / "b" / "credentials"
    _fileops.atomic_write(str(target), b"[default]\n")
    assert target.read_bytes() == b"[default]\n"
    assert _mode(target) == 0o600
    assert _mode(tmp_path / "a") == 0o700
    assert _mode(tmp_path / "a" / "b") == 0o700
    assert not [name for name in os.listdir(target.parent) if name.endswith(".tmp")]


def test_atomic_write_never_exposes_content_with_open_mode(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(_mode(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old_umask = os.umask(0)
    try:
        _fileops.atomic_write(str(tmp_path / "f"), b"x", mode=0o600)
    finally:
        os.umask(old_umask)
    assert seen == [0o600]


def test_atomic_write_replaces_and_keeps_mode_argument(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    _fileops.atomic_write(str(target), b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600


def test_check_target_refuses_directory_and_symlink(tmp_path):
    with pytest.raises(_fileops.FileOpError, match="is a directory"):
        _fileops.check_target(str(tmp_path))
    real = tmp_path / "real"
    real.write_bytes(b"x")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(_fileops.FileOpError, match="is a symlink"):
        _fileops.check_target(str(link))
    assert _fileops.check_target(str(link), follow=True) == str(real)


def test_read_regular_file_missing_is_none(tmp_path):
    assert _fileops.read_regular_file(str(tmp_path / "nope")) is None


def test_backup_name_holds_no_content_and_is_private(tmp_path):
    target = tmp_path / "credentials"
    target.write_bytes(b"aws_secret_access_key = SECRETVALUE\n")
    os.chmod(target, 0o600)
    backup = _fileops.backup_file(str(target))
    assert "SECRETVALUE" not in backup
    assert os.path.basename(backup).startswith("credentials.")
    assert _mode(backup) == 0o600
    with open(backup, "rb") as handle:
        assert handle.read() == target.read_bytes()


def test_resolve_owner_unknown_names_fail():
    with pytest.raises(_fileops.FileOpError, match="unknown owner"):
        _fileops.resolve_owner("no-such-user-keyops")
    assert _fileops.resolve_owner(0, "0") == (0, 0)


def test_directory_lock_serialises_writers(tmp_path):
    target = str(tmp_path / "d" / "authorized_keys")
    _fileops.atomic_write(target, b"")

    def append(line):
        with _fileops.directory_lock(target):
            data = _fileops.read_regular_file(target)
            _fileops.atomic_write(target, data + line)

    threads = [threading.Thread(target=append, args=(b"k%d\n" % i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(_fileops.read_regular_file(target).splitlines()) == sorted(b"k%d" % i for i in range(20))
