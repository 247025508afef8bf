# -*- coding: utf-8 -*-
# Copyright: keyops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenSSH private-key envelope (``openssh-key-v1``, PROTOCOL.key), parsed once.

Only the clear-text header is read: the cipher and KDF names and the public key blobs stored before
the (possibly encrypted) private section, which is never decoded here. Loading the key itself is
cryptography's ``load_ssh_private_key`` (``_ssh_private_keys.load_private``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii

MAGIC = b"openssh-key-v1\x00"
BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
END = "-----END OPENSSH PRIVATE KEY-----"


def _ssh_string(data, pos):
    if pos + 4 > len(data):
        raise ValueError("truncated")
    length = int.from_bytes(data[pos:pos + 4], "big")
    end = pos + 4 + length
    if end > len(data):
        raise ValueError("truncated")
    return data[pos + 4:end], end


def is_openssh(data):
    """Whether data (bytes or text) is in the OpenSSH private key format (by its armour)."""
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    return text.lstrip().startswith(BEGIN)


def parse(data):
    """The envelope of an OpenSSH private key file: ``{cipher, kdf, public_blobs}`` (cipher and kdf as
    text, ``"none"`` when not encrypted; one public key blob per key the file holds).

    Returns None for other formats (PEM RSA, PKCS#8, ...); ValueError (without key material) for a
    damaged file.
    """
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    if BEGIN not in text:
        return None
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    try:
        raw = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError("the OpenSSH private key is not valid base64") from None
    if not raw.startswith(MAGIC):
        raise ValueError("not an openssh-key-v1 private key")
    pos = len(MAGIC)
    cipher, pos = _ssh_string(raw, pos)
    kdf, pos = _ssh_string(raw, pos)
    _kdf_options, pos = _ssh_string(raw, pos)
    if pos + 4 > len(raw):
        raise ValueError("truncated")
    count = int.from_bytes(raw[pos:pos + 4], "big")
    pos += 4
    blobs = []
    for _index in range(min(count, 16)):
        blob, pos = _ssh_string(raw, pos)
        blobs.append(blob)
    return {"cipher": cipher.decode("ascii", "replace"), "kdf": kdf.decode("ascii", "replace"), "public_blobs": blobs,
            "count": count}
