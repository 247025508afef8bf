# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_ssh_keypair: reading existing keys and the pure planner (no generation through Ansible here)."""

import pytest

pytest.importorskip("cryptography")

# pylint: disable=wrong-import-position
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: E402

from ansible_collections.keyops.aws.plugins.module_utils import _ssh_keypair as kp  # noqa: E402
from ansible_collections.keyops.aws.plugins.module_utils import _ssh_private_keys  # noqa: E402


def openssh_private(key, passphrase=None):
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)


def public_line(key):
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture(name="ed_key")
def fixture_ed_key():
    return ed25519.Ed25519PrivateKey.generate()


def write_pair(tmp_path, key, comment="c", passphrase=None, pub=True):
    path = tmp_path / "id"
    path.write_bytes(openssh_private(key, passphrase))
    if pub:
        (tmp_path / "id.pub").write_text(public_line(key) + (" " + comment if comment else "") + "\n")
    return str(path)


def actions(state, key_type="ed25519", size=256, comment=None, force=False, passphrase=None):
    return [a["action"] for a in kp.plan(state, key_type, size, comment, force, passphrase)]


def test_missing_key_is_generated(tmp_path):
    state = kp.read_state(str(tmp_path / "none"), None)
    assert state.private_status == "missing"
    assert actions(state) == ["generate", "write_public"]


def test_valid_key_is_kept(tmp_path, ed_key):
    state = kp.read_state(write_pair(tmp_path, ed_key), None)
    assert (state.private_status, state.key_type, state.size, state.pub_comment) == ("ok", "ssh-ed25519", 256, "c")
    assert actions(state) == []
    assert actions(state, comment="c") == []
    assert actions(state, comment="other") == ["write_public"]
    assert actions(state, force=True) == ["generate", "write_public"]


def test_missing_or_mismatched_public_key_is_rewritten(tmp_path, ed_key):
    state = kp.read_state(write_pair(tmp_path, ed_key, pub=False), None)
    assert actions(state) == ["write_public"]
    (tmp_path / "id.pub").write_text(public_line(ed25519.Ed25519PrivateKey.generate()) + " c\n")
    assert actions(kp.read_state(str(tmp_path / "id"), None)) == ["write_public"]
    (tmp_path / "id.pub").write_text("not a key\n")
    assert actions(kp.read_state(str(tmp_path / "id"), None)) == ["write_public"]


def test_other_type_or_size_is_regenerated(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    state = kp.read_state(write_pair(tmp_path, key), None)
    assert (state.key_type, state.size) == ("ssh-rsa", 2048)
    assert actions(state, "rsa", 2048) == []
    assert actions(state, "rsa", 3072) == ["generate", "write_public"]
    assert actions(state, "ed25519", 256) == ["generate", "write_public"]
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    state = kp.read_state(write_pair(tmp_path, ecdsa), None)
    assert actions(state) == ["generate", "write_public"]


def test_invalid_private_key_file_is_regenerated(tmp_path):
    (tmp_path / "id").write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nbroken\n-----END OPENSSH PRIVATE KEY-----\n")
    state = kp.read_state(str(tmp_path / "id"), None)
    assert state.private_status == "invalid"
    assert actions(state) == ["generate", "write_public"]


def test_pem_private_key_is_understood(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    (tmp_path / "id").write_bytes(pem)
    state = kp.read_state(str(tmp_path / "id"), None)
    assert (state.private_status, state.key_type, state.size) == ("ok", "ssh-rsa", 2048)


@pytest.mark.parametrize("given", [None, "wrong"])
def test_protected_key_with_missing_or_wrong_passphrase_is_an_error(tmp_path, ed_key, given):
    pytest.importorskip("bcrypt")
    state = kp.read_state(write_pair(tmp_path, ed_key, passphrase=b"right"), given)
    assert state.private_status == "locked"
    with pytest.raises(kp.SSHKeypairError) as info:
        kp.plan(state, "ed25519", 256, None, False, given)
    assert "passphrase" in str(info.value) and "right" not in str(info.value)
    assert actions(state, force=True, passphrase=given) == ["generate", "write_public"]


def test_protected_key_with_right_passphrase_is_kept(tmp_path, ed_key):
    pytest.importorskip("bcrypt")
    path = write_pair(tmp_path, ed_key, passphrase=b"right")
    assert _ssh_private_keys.is_encrypted((tmp_path / "id").read_bytes())
    state = kp.read_state(path, "right")
    assert state.private_status == "ok" and state.encrypted
    assert actions(state, passphrase="right") == []


def test_unprotected_key_and_a_passphrase_is_protected_in_place(tmp_path, ed_key):
    state = kp.read_state(write_pair(tmp_path, ed_key), "new")
    assert state.private_status == "ok" and not state.encrypted
    assert actions(state, passphrase="new") == ["protect"]


@pytest.mark.parametrize("key_type, size, expected", [("ed25519", None, 256), ("rsa", None, 3072), ("rsa", 4096, 4096)])
def test_sizes(key_type, size, expected):
    assert kp.desired_size(key_type, size) == expected


@pytest.mark.parametrize("key_type, size", [("ed25519", 2048), ("rsa", 1024), ("rsa", 8192)])
def test_bad_sizes(key_type, size):
    with pytest.raises(kp.SSHKeypairError):
        kp.desired_size(key_type, size)
