# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. OpenSSH public keys: parsing and fingerprints.

The key material is loaded and validated by the cryptography library
(``serialization.load_ssh_public_key``); this module only splits the ``type base64 [comment]`` line,
checks the type named on the line against the type inside the key data, and computes fingerprints
(no file or network access):

- parse_public_key(text) -> (key_type, blob, comment): one ``type base64 [comment]`` line.
- canonical_public_key(text) -> ``"type base64"`` (the comparable identity of a key: no comment).
- openssh_fingerprint(text_or_blob) -> ``"SHA256:..."`` exactly as ``ssh-keygen -l`` prints it.
- md5_fingerprint(text_or_blob) -> ``"MD5:aa:bb:..."`` as ``ssh-keygen -l -E md5`` prints it.
- ec2_fingerprint(text) -> what EC2 shows once the key is IMPORTED: RSA = MD5 of the DER
  SubjectPublicKeyInfo (cryptography's ``public_bytes(DER, SubjectPublicKeyInfo)``) as colon-separated
  lowercase hex (not ``ssh-keygen -E md5``); ed25519 = base64 SHA256 of the key blob with ``=`` padding
  and no prefix. Other types raise (EC2 imports only those).
- key_bits(text_or_blob) -> the key size in bits (RSA modulus size, ECDSA curve size, 256 for ed25519).

On a managed host without cryptography (authorized_keys runs there), only the line's format and the
embedded key type are checked; key_bits, rsa_spki_der and ec2_fingerprint (controller side, where
cryptography is a requirement) then raise.

Every problem is an InvalidPublicKey (a ValueError); UnsupportedKeyType is its subclass for a
well-formed line of a type this collection does not handle. Messages never hold the whole blob.
"""

import base64
import binascii
import hashlib
import re

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - a managed host without the library
    HAS_CRYPTOGRAPHY = False


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

# cryptography's messages for malformed key data -> ours (which name the problem for a user)
_CRYPTOGRAPHY_MESSAGES = (
    ("unparsed data", "malformed public key: unexpected bytes after the key"),
    ("invalid data", "malformed or truncated public key: the key data is cut short or invalid"),
    ("curve name mismatch", "malformed public key: the curve name does not match the key type"),
    ("32 bytes", "malformed public key: an ed25519 key is 32 bytes"),
    ("invalid ec key", "malformed public key: the ECDSA point is not on the curve"),
)


def _embedded_type(blob):
    """The key type inside a blob: its first SSH string (RFC 4251), checked for support."""
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else None
    if length is None or 4 + length > len(blob):
        raise InvalidPublicKey("truncated public key: the key type is cut short")
    try:
        embedded = blob[4:4 + length].decode("ascii")
    except UnicodeDecodeError:
        raise InvalidPublicKey("malformed public key: the embedded key type is not text") from None
    if embedded in _KNOWN_UNSUPPORTED:
        raise UnsupportedKeyType("unsupported key type %s: %s" % (embedded, _KNOWN_UNSUPPORTED[embedded]))
    if embedded not in SUPPORTED_KEY_TYPES:
        raise UnsupportedKeyType(
            "unsupported key type %s (supported: %s)" % (embedded[:64], ", ".join(SUPPORTED_KEY_TYPES))
        )
    return embedded


def _load(blob, required=False):
    """(key_type, cryptography public key or None): the blob validated by cryptography.

    None only when cryptography is not installed and not required (a managed host)."""
    embedded = _embedded_type(blob)
    if not HAS_CRYPTOGRAPHY:
        if required:
            raise InvalidPublicKey("reading the %s key needs the Python library cryptography, which is not installed" % embedded)
        return embedded, None
    try:
        key = serialization.load_ssh_public_key(embedded.encode("ascii") + b" " + base64.b64encode(blob))
    except (ValueError, TypeError) as exc:
        text = str(exc).lower()
        for fragment, message in _CRYPTOGRAPHY_MESSAGES:
            if fragment in text:
                raise InvalidPublicKey(message) from None
        raise InvalidPublicKey("malformed public key: %s" % str(exc)[:200]) from None
    except Exception:  # cryptography's UnsupportedAlgorithm and the like
        raise UnsupportedKeyType("unsupported public key of type %s" % embedded) from None
    return embedded, key


def _bits(key):
    if isinstance(key, rsa.RSAPublicKey):
        return key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 256
    raise UnsupportedKeyType("unsupported public key")  # pragma: no cover - _embedded_type filters


def decode_blob(key_type, data):
    """Decode the base64 field of a key line and check it against key_type; returns the blob."""
    if not _BASE64_RE.match(data) or len(data) % 4:
        raise InvalidPublicKey("malformed public key: the key data is not valid base64 (truncated?)")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPublicKey("malformed public key: the key data is not valid base64 (truncated?)") from None
    embedded = _embedded_type(blob)
    if embedded != key_type:
        raise InvalidPublicKey("malformed public key: the line says %s but the key data holds %s" % (key_type[:64], embedded))
    _load(blob)
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
        _load(blob)
        return blob
    return parse_public_key(text_or_blob)[1]


def key_type_of_blob(blob):
    """The key type embedded in a blob (validated)."""
    return _load(blob)[0]


def canonical_public_key(text_or_blob):
    """``"type base64"``: the identity of a key, without comment or options (for comparisons)."""
    blob = _blob_of(text_or_blob)
    return "%s %s" % (_embedded_type(blob), base64.b64encode(blob).decode("ascii"))


def key_bits(text_or_blob):
    """Size of the key in bits (RSA modulus, ECDSA curve; 256 for ed25519)."""
    return _bits(_load(_blob_of(text_or_blob), required=True)[1])


def openssh_fingerprint(text_or_blob):
    """``SHA256:<base64 without padding>``, the value ``ssh-keygen -l`` prints."""
    digest = hashlib.sha256(_blob_of(text_or_blob)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def md5_fingerprint(text_or_blob):
    """``MD5:aa:bb:...``, the value ``ssh-keygen -l -E md5`` prints (NOT what EC2 shows for RSA)."""
    digest = hashlib.md5(_blob_of(text_or_blob)).hexdigest()  # nosec - a fingerprint, not security
    return "MD5:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def rsa_spki_der(text_or_blob):
    """DER SubjectPublicKeyInfo of an RSA public key (what ``openssl pkey -pubout -outform DER`` gives)."""
    key_type, key = _load(_blob_of(text_or_blob), required=True)
    if key_type != "ssh-rsa":
        raise UnsupportedKeyType("not an RSA key")
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def ec2_fingerprint(text_or_blob):
    """The fingerprint EC2 shows for this key once imported with ImportKeyPair.

    RSA: MD5 of the DER SubjectPublicKeyInfo, colon-separated lowercase hex.
    ed25519: base64 SHA256 of the OpenSSH key blob, with ``=`` padding, no prefix.
    Other types raise UnsupportedKeyType: EC2 imports only RSA and ed25519 keys.
    """
    blob = _blob_of(text_or_blob)
    key_type = _embedded_type(blob)
    if key_type == "ssh-rsa":
        digest = hashlib.md5(rsa_spki_der(blob)).hexdigest()  # nosec - EC2's fingerprint format
        return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
    if key_type == "ssh-ed25519":
        return base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    raise UnsupportedKeyType("EC2 imports only RSA and ed25519 keys, not %s" % key_type)
