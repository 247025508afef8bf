# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. OpenSSH public keys: parsing and fingerprints.

Pure functions, standard library only (no file or network access):

- parse_public_key(text) -> (key_type, blob, comment): one ``type base64 [comment]`` line; the blob is
  decoded and walked field by field, its embedded type must equal the type field, nothing may trail.
- canonical_public_key(text) -> ``"type base64"`` (the comparable identity of a key: no comment).
- openssh_fingerprint(text_or_blob) -> ``"SHA256:..."`` exactly as ``ssh-keygen -l`` prints it.
- md5_fingerprint(text_or_blob) -> ``"MD5:aa:bb:..."`` as ``ssh-keygen -l -E md5`` prints it.
- ec2_fingerprint(text) -> what EC2 shows once the key is IMPORTED: RSA = MD5 of the DER
  SubjectPublicKeyInfo as colon-separated lowercase hex (not ``ssh-keygen -E md5``); ed25519 = base64
  SHA256 of the key blob with ``=`` padding and no prefix. Other types raise (EC2 imports only those).
- key_bits(text_or_blob) -> the key size in bits (RSA modulus size, ECDSA curve size, 256 for ed25519).

Every problem is an InvalidPublicKey (a ValueError); UnsupportedKeyType is its subclass for a
well-formed line of a type this collection does not handle. Messages never hold the whole blob.
"""

import base64
import binascii
import hashlib
import re


class InvalidPublicKey(ValueError):
    """A public key that is malformed, truncated, or otherwise not usable."""


class UnsupportedKeyType(InvalidPublicKey):
    """A public key of a type that is not supported."""


ECDSA_CURVES = {
    "ecdsa-sha2-nistp256": ("nistp256", 256),
    "ecdsa-sha2-nistp384": ("nistp384", 384),
    "ecdsa-sha2-nistp521": ("nistp521", 521),
}
SK_ECDSA = "sk-ecdsa-sha2-nistp256@openssh.com"
SK_ED25519 = "sk-ssh-ed25519@openssh.com"

#: Key types whose blobs this module understands (what current OpenSSH accepts in authorized_keys).
SUPPORTED_KEY_TYPES = ("ssh-ed25519", "ssh-rsa") + tuple(sorted(ECDSA_CURVES)) + (SK_ED25519, SK_ECDSA)

#: Key types EC2 ImportKeyPair accepts.
EC2_KEY_TYPES = ("ssh-rsa", "ssh-ed25519")

_KNOWN_UNSUPPORTED = {
    "ssh-dss": "DSA keys are disabled in current OpenSSH and not supported",
}

_KEY_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._+-]*$")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class _Reader:
    """Reads SSH wire-format fields (RFC 4251) from a blob; raises InvalidPublicKey when truncated."""

    def __init__(self, blob):
        self.blob = blob
        self.pos = 0

    def string(self, what):
        if self.pos + 4 > len(self.blob):
            raise InvalidPublicKey("truncated public key: %s is missing" % what)
        length = int.from_bytes(self.blob[self.pos:self.pos + 4], "big")
        start = self.pos + 4
        if start + length > len(self.blob):
            raise InvalidPublicKey("truncated public key: %s is cut short" % what)
        self.pos = start + length
        return self.blob[start:self.pos]

    def mpint(self, what):
        raw = self.string(what)
        if not raw:
            return 0
        if raw[0] & 0x80:
            raise InvalidPublicKey("malformed public key: %s is negative" % what)
        if len(raw) > 1 and raw[0] == 0 and not raw[1] & 0x80:
            raise InvalidPublicKey("malformed public key: %s has a needless leading zero" % what)
        return int.from_bytes(raw, "big")

    def done(self):
        if self.pos != len(self.blob):
            raise InvalidPublicKey("malformed public key: %d unexpected bytes after the key" % (len(self.blob) - self.pos))


def _check_point(point, bits):
    size = (bits + 7) // 8
    if len(point) != 1 + 2 * size or point[0] != 4:
        raise InvalidPublicKey("malformed public key: the ECDSA point is not an uncompressed %d-bit point" % bits)


def _walk_blob(blob):
    """Validate the blob; returns (key_type, bits)."""
    reader = _Reader(blob)
    try:
        embedded = reader.string("the key type").decode("ascii")
    except UnicodeDecodeError:
        raise InvalidPublicKey("malformed public key: the embedded key type is not text") from None
    if embedded in _KNOWN_UNSUPPORTED:
        raise UnsupportedKeyType("unsupported key type %s: %s" % (embedded, _KNOWN_UNSUPPORTED[embedded]))
    if embedded == "ssh-rsa":
        exponent = reader.mpint("the RSA exponent")
        modulus = reader.mpint("the RSA modulus")
        if exponent < 3 or exponent % 2 == 0 or modulus < 3:
            raise InvalidPublicKey("malformed public key: invalid RSA numbers")
        bits = modulus.bit_length()
    elif embedded in ("ssh-ed25519", SK_ED25519):
        if len(reader.string("the ed25519 key")) != 32:
            raise InvalidPublicKey("malformed public key: an ed25519 key is 32 bytes")
        if embedded == SK_ED25519:
            reader.string("the security key application")
        bits = 256
    elif embedded in ECDSA_CURVES or embedded == SK_ECDSA:
        curve, bits = ECDSA_CURVES.get(embedded, ("nistp256", 256))
        if reader.string("the curve name") != curve.encode("ascii"):
            raise InvalidPublicKey("malformed public key: the curve name does not match %s" % embedded)
        _check_point(reader.string("the ECDSA point"), bits)
        if embedded == SK_ECDSA:
            reader.string("the security key application")
    else:
        raise UnsupportedKeyType(
            "unsupported key type %s (supported: %s)" % (embedded[:64], ", ".join(SUPPORTED_KEY_TYPES))
        )
    reader.done()
    return embedded, bits


def decode_blob(key_type, data):
    """Decode the base64 field of a key line and check it against key_type; returns the blob."""
    if not _BASE64_RE.match(data) or len(data) % 4:
        raise InvalidPublicKey("malformed public key: the key data is not valid base64 (truncated?)")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPublicKey("malformed public key: the key data is not valid base64 (truncated?)") from None
    embedded, _bits = _walk_blob(blob)
    if embedded != key_type:
        raise InvalidPublicKey("malformed public key: the line says %s but the key data holds %s" % (key_type[:64], embedded))
    return blob


def parse_public_key(text):
    """Parse one ``type base64 [comment]`` public key line.

    text may be str or bytes, with one trailing newline (LF or CRLF). Returns
    ``(key_type, blob, comment)``; comment is ``""`` when absent. Options in front of the key
    (authorized_keys syntax) are refused here: see _authorized_keys for whole lines.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPublicKey("malformed public key: not UTF-8 text") from None
    if not isinstance(text, str):
        raise InvalidPublicKey("a public key must be a string, got %s" % type(text).__name__)
    line = text.strip()
    if not line:
        raise InvalidPublicKey("empty public key")
    if "\n" in line or "\r" in line:
        raise InvalidPublicKey("a public key is one line; got several lines")
    parts = line.split(None, 2)
    key_type = parts[0]
    if not _KEY_TYPE_RE.match(key_type):
        raise InvalidPublicKey("malformed public key: it must start with a key type such as ssh-ed25519 (options are not allowed here)")
    if key_type in _KNOWN_UNSUPPORTED:
        raise UnsupportedKeyType("unsupported key type %s: %s" % (key_type, _KNOWN_UNSUPPORTED[key_type]))
    if key_type not in SUPPORTED_KEY_TYPES:
        raise UnsupportedKeyType(
            "unsupported key type %s (supported: %s)" % (key_type[:64], ", ".join(SUPPORTED_KEY_TYPES))
        )
    if len(parts) < 2:
        raise InvalidPublicKey("malformed public key: the %s key has no key data" % key_type)
    blob = decode_blob(key_type, parts[1])
    comment = parts[2].strip() if len(parts) > 2 else ""
    return key_type, blob, comment


def _blob_of(text_or_blob):
    if isinstance(text_or_blob, (bytes, bytearray)) and text_or_blob[:1] == b"\x00":
        # a raw blob starts with a 4-byte big-endian length (first byte 0); a key line with its type
        blob = bytes(text_or_blob)
        _walk_blob(blob)
        return blob
    return parse_public_key(text_or_blob)[1]


def key_type_of_blob(blob):
    """The key type embedded in a blob (validated)."""
    return _walk_blob(blob)[0]


def canonical_public_key(text_or_blob):
    """``"type base64"``: the identity of a key, without comment or options (for comparisons)."""
    blob = _blob_of(text_or_blob)
    return "%s %s" % (_walk_blob(blob)[0], base64.b64encode(blob).decode("ascii"))


def key_bits(text_or_blob):
    """Size of the key in bits (RSA modulus, ECDSA curve; 256 for ed25519)."""
    return _walk_blob(_blob_of(text_or_blob))[1]


def openssh_fingerprint(text_or_blob):
    """``SHA256:<base64 without padding>``, the value ``ssh-keygen -l`` prints."""
    digest = hashlib.sha256(_blob_of(text_or_blob)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def md5_fingerprint(text_or_blob):
    """``MD5:aa:bb:...``, the value ``ssh-keygen -l -E md5`` prints (NOT what EC2 shows for RSA)."""
    digest = hashlib.md5(_blob_of(text_or_blob)).hexdigest()  # nosec - a fingerprint, not security
    return "MD5:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _der_length(length):
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag, content):
    return bytes([tag]) + _der_length(len(content)) + content


def _der_integer(value):
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # always room for a sign bit
    return _der(0x02, raw)


# AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
_RSA_ALGORITHM = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")


def rsa_spki_der(text_or_blob):
    """DER SubjectPublicKeyInfo of an RSA public key (what ``openssl pkey -pubout -outform DER`` gives)."""
    blob = _blob_of(text_or_blob)
    reader = _Reader(blob)
    if reader.string("the key type") != b"ssh-rsa":
        raise UnsupportedKeyType("not an RSA key")
    exponent = reader.mpint("the RSA exponent")
    modulus = reader.mpint("the RSA modulus")
    rsa_key = _der(0x30, _der_integer(modulus) + _der_integer(exponent))
    return _der(0x30, _RSA_ALGORITHM + _der(0x03, b"\x00" + rsa_key))


def ec2_fingerprint(text_or_blob):
    """The fingerprint EC2 shows for this key once imported with ImportKeyPair.

    RSA: MD5 of the DER SubjectPublicKeyInfo, colon-separated lowercase hex.
    ed25519: base64 SHA256 of the OpenSSH key blob, with ``=`` padding, no prefix.
    Other types raise UnsupportedKeyType: EC2 imports only RSA and ed25519 keys.
    """
    blob = _blob_of(text_or_blob)
    key_type = _walk_blob(blob)[0]
    if key_type == "ssh-rsa":
        digest = hashlib.md5(rsa_spki_der(blob)).hexdigest()  # nosec - EC2's fingerprint format
        return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
    if key_type == "ssh-ed25519":
        return base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    raise UnsupportedKeyType("EC2 imports only RSA and ed25519 keys, not %s" % key_type)
