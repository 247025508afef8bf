# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. SSH private key material, shared by the runners.

No runner: ``_ssh_keypair`` (ssh_keypair), ``_key_pair_rotation_state`` (key_pair_rotation_state)
and ``_key_pair_rotation_verify`` (key_pair_rotation_verify) import these helpers from here, never
from each other. Public key parsing and fingerprints are ``_ssh_public_keys``; the clear header of
the openssh-key-v1 envelope is ``_openssh_envelope``.

- ``is_encrypted`` (header only, no decryption), ``load_private`` (cryptography),
  ``public_line_of`` (the ``type base64`` line of a loaded key);
- ``private_key_public_blob`` (pure: the public blob an OpenSSH private key file stores in the clear),
  ``public_key_of_private`` (the canonical public key of a private key file's content, never with a
  passphrase). Errors are ``PrivateKeyError``, without key material.
"""

import traceback

from ansible_collections.keyops.aws.plugins.module_utils import _openssh_envelope
from ansible_collections.keyops.aws.plugins.module_utils._ssh_public_keys import InvalidPublicKey, canonical_public_key

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()


class PrivateKeyError(ValueError):
    """A private key file that cannot be used, described for a user (never with key material)."""


def public_line_of(private_key):
    """The OpenSSH public key line of a cryptography private key."""
    return private_key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")


def is_encrypted(data):
    """Whether a private key file is protected by a passphrase (read from its header, no decryption)."""
    text = data.strip()
    if _openssh_envelope.is_openssh(text):
        try:
            envelope = _openssh_envelope.parse(text)
        except ValueError:
            return False
        return envelope is not None and envelope["cipher"] != "none"
    return b"ENCRYPTED" in text[:200]


def load_private(data, passphrase):
    """(status, key, encrypted): status ok | locked (cannot open with the passphrase) | invalid."""
    encrypted = is_encrypted(data)
    password = passphrase.encode("utf-8") if (passphrase and encrypted) else None
    if encrypted and password is None:
        return "locked", None, True
    try:
        if _openssh_envelope.is_openssh(data):
            key = serialization.load_ssh_private_key(data, password=password)
        else:
            key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return ("locked" if encrypted else "invalid"), None, encrypted
    return "ok", key, encrypted


def private_key_public_blob(data):
    """The public key blob stored in the clear in an OpenSSH (``openssh-key-v1``) private key file.

    Returns None for other formats (PEM RSA, PKCS#8, ...). Raises ValueError for a damaged file.
    The private part is never decoded.
    """
    envelope = _openssh_envelope.parse(data)
    if envelope is None:
        return None
    if envelope["count"] != 1:
        raise ValueError("the file holds %d keys, expected 1" % envelope["count"])
    return envelope["public_blobs"][0]


def public_key_of_private(path, data):
    """Canonical ``type base64`` public key of the private key file at path (content data)."""
    try:
        blob = private_key_public_blob(data)
    except ValueError as exc:
        raise PrivateKeyError("%s is not a usable OpenSSH private key: %s" % (path, exc)) from None
    if blob is not None:
        try:
            return canonical_public_key(blob)
        except InvalidPublicKey as exc:
            raise PrivateKeyError("%s: %s" % (path, exc)) from None
    # Other formats (PEM/PKCS#8 RSA): read with cryptography, never with a passphrase. (ssh-keygen -y
    # would refuse a file readable by others before the mode could be reported and repaired.)
    if CRYPTOGRAPHY_IMPORT_ERROR:
        raise PrivateKeyError("reading %s needs the Python library cryptography on the controller" % path)
    status, key, _encrypted = load_private(data, None)
    if status != "ok":
        raise PrivateKeyError(
            "cannot read the public key of %s (encrypted with a passphrase, or not a private key)" % path
        )
    try:
        return canonical_public_key(public_line_of(key))
    except InvalidPublicKey as exc:
        raise PrivateKeyError("%s: %s" % (path, exc)) from None
