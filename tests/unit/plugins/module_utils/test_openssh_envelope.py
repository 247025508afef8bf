# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_openssh_envelope.py: the openssh-key-v1 header, parsed once for the key-pair state and ssh_keypair."""

import pytest

pytest.importorskip("cryptography")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa  # noqa: E402

from ansible_collections.keyops.aws.plugins.module_utils import _openssh_envelope, _ssh_private_keys  # noqa: E402


def _openssh(key, password=None):
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)


def _public_blob(key):
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    import base64  # pylint: disable=import-outside-toplevel
    return base64.b64decode(line.split()[1])


def test_clear_and_encrypted_headers():
    key = ed25519.Ed25519PrivateKey.generate()
    clear = _openssh_envelope.parse(_openssh(key))
    assert clear["cipher"] == "none" and clear["count"] == 1 and clear["public_blobs"] == [_public_blob(key)]
    locked = _openssh_envelope.parse(_openssh(key, b"passphrase"))
    assert locked["cipher"] != "none" and locked["kdf"] == "bcrypt" and locked["public_blobs"] == [_public_blob(key)]


def test_both_callers_use_it():
    key = ed25519.Ed25519PrivateKey.generate()
    assert _ssh_private_keys.private_key_public_blob(_openssh(key, b"pw")) == _public_blob(key)
    assert _ssh_private_keys.is_encrypted(_openssh(key, b"pw")) is True
    assert _ssh_private_keys.is_encrypted(_openssh(key)) is False


def test_other_formats_and_damage():
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert _openssh_envelope.parse(pem) is None
    assert _ssh_private_keys.is_encrypted(pem) is False
    with pytest.raises(ValueError, match="base64"):
        _openssh_envelope.parse("-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n")
    truncated = _openssh(ed25519.Ed25519PrivateKey.generate()).decode().splitlines()
    with pytest.raises(ValueError):
        _openssh_envelope.parse("\n".join(truncated[:2] + truncated[-1:]))
    assert _ssh_private_keys.is_encrypted(b"-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n") is False
