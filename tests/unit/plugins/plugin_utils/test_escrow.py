# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The escrow of new secrets on the controller: files, modes, encryption hooks, errors without secrets."""

import os
import stat

import pytest

from ansible_collections.keyops.aws.plugins.plugin_utils import _escrow

KEY = "AKIAESCROW0000000001"
SECRET = "escrow/unit+secret/0000000000000000000000"


def entry(key=KEY, secret=SECRET):
    return {"access_key_id": key, "secret_access_key": secret, "iam_user": "u"}


def test_store_creates_private_directory_and_file(tmp_path):
    directory = str(tmp_path / "a" / "escrow")
    stored, changes = _escrow.store(directory, [entry()])
    assert stored == [KEY] and "created" in changes
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(directory, KEY)).st_mode) == 0o600
    assert _escrow.list_ids(directory) == [KEY]
    found, missing = _escrow.query(directory, [KEY, "AKIAMISSING000000000"])
    assert found[0]["secret_access_key"] == SECRET and missing == ["AKIAMISSING000000000"]


def test_store_is_idempotent_and_check_mode_writes_nothing(tmp_path):
    directory = str(tmp_path / "escrow")
    assert _escrow.store(directory, [entry()], check_mode=True)[0] == [KEY]
    assert not os.path.exists(directory)
    _escrow.store(directory, [entry()])
    assert _escrow.store(directory, [entry()]) == ([], [])
    assert _escrow.store(directory, [entry()], check_mode=True) == ([], [])


def test_wide_directory_is_tightened(tmp_path):
    directory = tmp_path / "escrow"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    _escrow.store(str(directory), [entry()])
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


def test_encryption_hooks_are_used(tmp_path):
    directory = str(tmp_path / "escrow")

    def encrypt(data):
        return b"$ANSIBLE_VAULT;1.1;AES256\n" + data[::-1]

    def decrypt(data):
        return data.split(b"\n", 1)[1][::-1]

    _escrow.store(directory, [entry()], encrypt=encrypt, decrypt=decrypt)
    with open(os.path.join(directory, KEY), "rb") as handle:
        raw = handle.read()
    assert SECRET.encode() not in raw
    assert _escrow.query(directory, [KEY], decrypt=decrypt)[0][0]["secret_access_key"] == SECRET
    with pytest.raises(_escrow.EscrowError, match="no vault secret") as info:
        _escrow.query(directory, [KEY])
    assert SECRET not in str(info.value)


def test_remove(tmp_path):
    directory = str(tmp_path / "escrow")
    _escrow.store(directory, [entry()])
    assert _escrow.remove(directory, [KEY], check_mode=True) == [KEY]
    assert _escrow.list_ids(directory) == [KEY]
    assert _escrow.remove(directory, [KEY]) == [KEY]
    assert _escrow.remove(directory, [KEY]) == []


@pytest.mark.parametrize("bad", ["../etc/passwd", "akia0000000000000000", "", None])
def test_bad_key_ids_are_refused(tmp_path, bad):
    with pytest.raises(_escrow.EscrowError):
        _escrow.store(str(tmp_path / "e"), [entry(key=bad)])


def test_symlinked_or_foreign_directory_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(_escrow.EscrowError, match="symlink"):
        _escrow.check_directory(str(link))
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(_escrow.EscrowError, match="not a directory"):
        _escrow.check_directory(str(afile))


def test_corrupt_entry_fails_without_content(tmp_path):
    directory = tmp_path / "escrow"
    directory.mkdir(mode=0o700)
    (directory / KEY).write_text("not json " + SECRET)
    with pytest.raises(_escrow.EscrowError) as info:
        _escrow.query(str(directory), [KEY])
    assert SECRET not in str(info.value)
