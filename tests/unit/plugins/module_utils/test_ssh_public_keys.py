# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_ssh_public_keys: parsing, validation and fingerprints checked against ssh-keygen, openssl and cryptography."""

import base64
import hashlib
import shutil
import struct
import subprocess

import pytest

from ansible_collections.keyops.aws.plugins.module_utils import _ssh_public_keys

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen is not installed")


def _string(data):
    return struct.pack(">I", len(data)) + data


def _line(blob, comment=""):
    key_type = blob[4:4 + struct.unpack(">I", blob[:4])[0]].decode()
    text = "%s %s" % (key_type, base64.b64encode(blob).decode())
    return text + (" " + comment if comment else "")


ED25519_BLOB = _string(b"ssh-ed25519") + _string(bytes(range(32)))
SK_ED25519_BLOB = _string(b"sk-ssh-ed25519@openssh.com") + _string(bytes(range(32))) + _string(b"ssh:")
# the P-256 base point: a valid point, so ssh-keygen accepts the key
P256_G = bytes.fromhex(
    "04"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)
SK_ECDSA_BLOB = _string(b"sk-ecdsa-sha2-nistp256@openssh.com") + _string(b"nistp256") + _string(P256_G) + _string(b"ssh:")


def keygen(tmp_path, key_type, bits=None, comment="test key"):
    path = str(tmp_path / ("k_%s_%s" % (key_type, bits)))
    argv = [SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-C", comment, "-f", path]
    if bits:
        argv[4:4] = ["-b", str(bits)]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    with open(path + ".pub", encoding="utf-8") as handle:
        return path + ".pub", handle.read()


def keygen_fingerprint(pub_path, hash_name="sha256"):
    out = subprocess.run([SSH_KEYGEN, "-l", "-E", hash_name, "-f", pub_path], check=True, capture_output=True, text=True).stdout
    bits, fingerprint = out.split()[:2]
    return int(bits), fingerprint


# ------------------------------------------------------------------------------------- parsing


def test_parse_returns_type_blob_comment():
    key_type, blob, comment = _ssh_public_keys.parse_public_key(_line(ED25519_BLOB, "alice@laptop  2026") + "\r\n")
    assert key_type == "ssh-ed25519"
    assert blob == ED25519_BLOB
    assert comment == "alice@laptop  2026"


def test_parse_without_comment_and_bytes_input():
    assert _ssh_public_keys.parse_public_key(_line(ED25519_BLOB).encode()) == ("ssh-ed25519", ED25519_BLOB, "")


@pytest.mark.parametrize("blob", [SK_ED25519_BLOB, SK_ECDSA_BLOB])
def test_parse_security_key_types(blob):
    key_type, parsed, _comment = _ssh_public_keys.parse_public_key(_line(blob))
    assert key_type.startswith("sk-") and parsed == blob


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("ssh-ed25519", "no key data"),
        ("ssh-ed25519 AAAA!!!!", "base64"),
        ("ssh-ed25519 " + base64.b64encode(ED25519_BLOB).decode()[:-8], "truncated"),  # cut mid-way
        ("ssh-ed25519 " + base64.b64encode(ED25519_BLOB[:-5]).decode(), "truncated"),  # truncated blob
        ("ssh-ed25519 " + base64.b64encode(ED25519_BLOB + b"\x00").decode(), "unexpected bytes"),
        ("ssh-rsa " + base64.b64encode(ED25519_BLOB).decode(), "holds ssh-ed25519"),
        ('no-pty ssh-ed25519 ' + base64.b64encode(ED25519_BLOB).decode(), "key type"),
        ("ssh-ed25519 " + base64.b64encode(ED25519_BLOB).decode() + "\nssh-ed25519 x", "several lines"),
        ("ssh-ed25519 " + base64.b64encode(_string(b"ssh-ed25519") + _string(bytes(31))).decode(), "32 bytes"),
        (
            "ecdsa-sha2-nistp256 " + base64.b64encode(_string(b"ecdsa-sha2-nistp256") + _string(b"nistp384") + _string(b"\x04" + bytes(64))).decode(),
            "curve name",
        ),
    ],
)
def test_malformed_keys_are_refused(text, fragment):
    with pytest.raises(_ssh_public_keys.InvalidPublicKey) as info:
        _ssh_public_keys.parse_public_key(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("key_type", ["ssh-dss", "ssh-foo", "ssh-ed25519-cert-v01@openssh.com"])
def test_unsupported_types(key_type):
    blob = _string(key_type.encode()) + _string(bytes(32))
    with pytest.raises(_ssh_public_keys.UnsupportedKeyType):
        _ssh_public_keys.parse_public_key("%s %s" % (key_type, base64.b64encode(blob).decode()))


def test_unsupported_embedded_type_is_unsupported():
    blob = _string(b"ssh-dss") + _string(b"\x01") * 4
    with pytest.raises(_ssh_public_keys.UnsupportedKeyType):
        _ssh_public_keys.openssh_fingerprint(blob)


def test_canonical_drops_comment_and_blanks():
    text = "  " + _line(ED25519_BLOB).replace(" ", "\t") + "   some comment\n"
    assert _ssh_public_keys.canonical_public_key(text) == _line(ED25519_BLOB)
    assert _ssh_public_keys.canonical_public_key(ED25519_BLOB) == _line(ED25519_BLOB)


def test_fingerprint_of_blob_equals_fingerprint_of_line():
    assert _ssh_public_keys.openssh_fingerprint(ED25519_BLOB) == _ssh_public_keys.openssh_fingerprint(_line(ED25519_BLOB, "c"))


def test_ec2_refuses_types_ec2_does_not_import():
    with pytest.raises(_ssh_public_keys.UnsupportedKeyType):
        _ssh_public_keys.ec2_fingerprint(_line(SK_ED25519_BLOB))


# ------------------------------------------------------------------------- against real tools


@needs_ssh_keygen
@pytest.mark.parametrize(
    "key_type, bits",
    [("ed25519", None), ("rsa", 2048), ("rsa", 3072), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521)],
)
def test_fingerprints_match_ssh_keygen(tmp_path, key_type, bits):
    pub_path, text = keygen(tmp_path, key_type, bits, comment="a comment with spaces")
    keygen_bits, sha256 = keygen_fingerprint(pub_path)
    assert _ssh_public_keys.openssh_fingerprint(text) == sha256
    assert _ssh_public_keys.md5_fingerprint(text) == keygen_fingerprint(pub_path, "md5")[1]
    assert _ssh_public_keys.key_bits(text) == keygen_bits
    assert _ssh_public_keys.parse_public_key(text)[2] == "a comment with spaces"


@needs_ssh_keygen
@pytest.mark.parametrize("blob", [SK_ED25519_BLOB, SK_ECDSA_BLOB])
def test_security_key_fingerprints_match_ssh_keygen(tmp_path, blob):
    path = tmp_path / "sk.pub"
    path.write_text(_line(blob, "yubikey") + "\n")
    assert _ssh_public_keys.openssh_fingerprint(_line(blob)) == keygen_fingerprint(str(path))[1]


@needs_ssh_keygen
def test_ed25519_ec2_fingerprint_is_padded_sha256(tmp_path):
    pub_path, text = keygen(tmp_path, "ed25519")
    sha256 = keygen_fingerprint(pub_path)[1]
    ec2 = _ssh_public_keys.ec2_fingerprint(text)
    assert ec2 == sha256[len("SHA256:"):] + "="
    assert len(ec2) == 44


@needs_ssh_keygen
@pytest.mark.parametrize("bits", [2048, 4096])
def test_rsa_ec2_fingerprint_against_openssl(tmp_path, bits):
    """EC2's imported-RSA value: MD5 of the DER SubjectPublicKeyInfo (openssl pipeline, independent)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    pub_path, text = keygen(tmp_path, "rsa", bits)
    pem = subprocess.run([SSH_KEYGEN, "-e", "-m", "PKCS8", "-f", pub_path], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem, check=True, capture_output=True).stdout
    expected = ":".join("%02x" % byte for byte in hashlib.md5(der).digest())
    assert _ssh_public_keys.ec2_fingerprint(text) == expected
    assert _ssh_public_keys.rsa_spki_der(text) == der
    # and NOT ssh-keygen's MD5 of the blob
    assert "MD5:" + expected != keygen_fingerprint(pub_path, "md5")[1]


def test_rsa_ec2_fingerprint_against_cryptography():
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    for exponent in (3, 65537):
        key = rsa.generate_private_key(public_exponent=exponent, key_size=2048).public_key()
        text = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert _ssh_public_keys.rsa_spki_der(text) == der
        digest = hashlib.md5(der).hexdigest()
        assert _ssh_public_keys.ec2_fingerprint(text) == ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def test_no_key_material_in_error_messages():
    data = base64.b64encode(ED25519_BLOB[:-3]).decode()
    with pytest.raises(_ssh_public_keys.InvalidPublicKey) as info:
        _ssh_public_keys.parse_public_key("ssh-ed25519 " + data)
    assert data[:20] not in str(info.value)


# ------------------------------------------------------------------- the cryptography library


def test_ecdsa_point_off_the_curve_is_refused():
    blob = _string(b"ecdsa-sha2-nistp256") + _string(b"nistp256") + _string(b"\x04" + b"\x01" * 64)
    with pytest.raises(_ssh_public_keys.InvalidPublicKey) as info:
        _ssh_public_keys.parse_public_key(_line(blob))
    assert "not on the curve" in str(info.value)


def test_rsa_spki_der_is_cryptographys(tmp_path):
    from cryptography.hazmat.primitives import serialization

    if SSH_KEYGEN is None:
        pytest.skip("ssh-keygen is not installed")
    text = keygen(tmp_path, "rsa", 2048)[1]
    key = serialization.load_ssh_public_key(text.encode())
    assert _ssh_public_keys.rsa_spki_der(text) == key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_without_cryptography_only_the_format_is_checked(monkeypatch):
    # a managed host without the library: authorized_keys still reads lines and fingerprints keys
    monkeypatch.setattr(_ssh_public_keys, "HAS_CRYPTOGRAPHY", False)
    assert _ssh_public_keys.parse_public_key(_line(ED25519_BLOB, "c")) == ("ssh-ed25519", ED25519_BLOB, "c")
    assert _ssh_public_keys.openssh_fingerprint(ED25519_BLOB).startswith("SHA256:")
    with pytest.raises(_ssh_public_keys.InvalidPublicKey, match="cryptography"):
        _ssh_public_keys.key_bits(ED25519_BLOB)
    with pytest.raises(_ssh_public_keys.UnsupportedKeyType):
        _ssh_public_keys.parse_public_key("ssh-dss " + base64.b64encode(_string(b"ssh-dss") + _string(b"\x01")).decode())
