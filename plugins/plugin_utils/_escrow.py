# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The escrow of new secret access keys on the controller (used by the action plugin
keyops.aws.access_key_escrow and the role keyops.aws.access_key_rotation).

A new secret is kept in ``<escrow dir>/<AccessKeyId>`` from the moment IAM returns it until every
holder of the key has it, so that a run interrupted in between (a host down, a write error) can
finish later with the same key instead of creating a third one. The directory is 0700, each file
0600, written atomically (temp file, fsync, rename); the content is a small JSON document,
encrypted with Ansible Vault when the caller gives an ``encrypt`` function (the action plugin does
so when a vault secret is configured). No secret ever appears in an exception message.
"""

import json
import os
import stat

from ansible_collections.keyops.aws.plugins.module_utils._key_ids import KEY_ID_RE, mask_key_id
from ansible_collections.keyops.aws.plugins.module_utils._fileops import (
    FileOpError,
    atomic_write,
    directory_lock,
    make_parent_dirs,
    read_regular_file,
)

FORMAT_VERSION = 1
VAULT_HEADER = b"$ANSIBLE_VAULT;"


def _vault_secrets(loader):
    secrets = None
    vault = getattr(loader, "_vault", None)
    if vault is not None:
        secrets = getattr(vault, "secrets", None)
    if not secrets:
        try:
            from ansible.parsing.vault import VaultSecretsContext  # pylint: disable=import-outside-toplevel

            context = VaultSecretsContext.current(optional=True)
            secrets = context.secrets if context else None
        except ImportError:
            secrets = None
    return list(secrets or [])


def vault_crypto(loader, mode="auto"):
    """(encrypt, decrypt) callables from the controller's vault secrets (None when there are none).

    mode: auto (encrypt when a vault secret is configured), always (fail without one), never.
    """
    from ansible import constants as C  # pylint: disable=import-outside-toplevel
    from ansible.parsing.vault import VaultLib, match_encrypt_secret  # pylint: disable=import-outside-toplevel

    secrets = _vault_secrets(loader)
    decrypt = encrypt = None
    if secrets:
        vault = VaultLib(secrets)

        def decrypt(data):
            return vault.decrypt(data)

        if mode != "never":
            vault_id, secret = match_encrypt_secret(secrets, getattr(C, "DEFAULT_VAULT_ENCRYPT_IDENTITY", None))

            def encrypt(data):
                return vault.encrypt(data, secret, vault_id=vault_id)

    if mode == "always" and encrypt is None:
        raise EscrowError("encrypt=always but no vault secret is configured (--vault-id, --vault-password-file or --ask-vault-pass)")
    return encrypt, decrypt


class EscrowError(Exception):
    """An escrow problem described for a user (never with a secret in the message)."""


def check_key_id(access_key_id):
    if not isinstance(access_key_id, str) or not KEY_ID_RE.match(access_key_id):
        raise EscrowError("%s is not an access key id (20 characters, AKIA or ASIA then uppercase letters and digits)"
                          % (mask_key_id(access_key_id) or "(not a string)"))
    return access_key_id


def check_directory(path, create=False):
    """Validate the escrow directory; create it (0700) when create is true.

    Returns a list of the changes made (``created``, ``mode``). A directory that exists must be a
    real directory (not a symlink) owned by the current user; a wider mode than 0700 is tightened.
    """
    changes = []
    if os.path.islink(path):
        raise EscrowError("escrow directory %s is a symlink: point access_key_rotation_escrow_dir at the real directory" % path)
    if os.path.exists(path):
        info = os.stat(path)
        if not stat.S_ISDIR(info.st_mode):
            raise EscrowError("escrow directory %s exists and is not a directory" % path)
        if info.st_uid != os.geteuid():
            raise EscrowError("escrow directory %s is owned by uid %d, not by the user running Ansible (uid %d)" % (path, info.st_uid, os.geteuid()))
        if stat.S_IMODE(info.st_mode) != 0o700:
            if create:
                os.chmod(path, 0o700)
            changes.append("mode")
        if not os.access(path, os.W_OK | os.X_OK):
            raise EscrowError("escrow directory %s is not writable" % path)
        return changes
    # missing: its nearest existing ancestor must let us create it
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise EscrowError("cannot create escrow directory %s: %s is not writable" % (path, parent))
    if create:
        try:
            make_parent_dirs(os.path.join(path, "x"), dir_mode=0o700)
        except FileOpError as exc:
            raise EscrowError(str(exc)) from None
    changes.append("created")
    return changes


def entry_path(directory, access_key_id):
    return os.path.join(directory, check_key_id(access_key_id))


def list_ids(directory):
    """The access key ids with an escrow file (sorted); [] when the directory does not exist."""
    if not os.path.isdir(directory):
        return []
    return sorted(name for name in os.listdir(directory) if KEY_ID_RE.match(name) and os.path.isfile(os.path.join(directory, name)))


def encode(entry):
    document = {
        "version": FORMAT_VERSION,
        "access_key_id": entry["access_key_id"],
        "secret_access_key": entry["secret_access_key"],
        "iam_user": entry.get("iam_user"),
        "stored": entry.get("stored"),
    }
    return (json.dumps(document, sort_keys=True) + "\n").encode("utf-8")


def decode(data, access_key_id, decrypt=None):
    """The escrow entry (a dict) from a file's bytes; decrypts vault content with ``decrypt``."""
    if data.startswith(VAULT_HEADER):
        if decrypt is None:
            raise EscrowError("escrow entry for %s is vault-encrypted and no vault secret is configured (--vault-id / --ask-vault-pass)" % access_key_id)
        try:
            data = decrypt(data)
        except Exception:  # pylint: disable=broad-except
            raise EscrowError("escrow entry for %s cannot be decrypted with the configured vault secrets" % access_key_id) from None
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise EscrowError("escrow entry for %s is not a valid escrow document" % access_key_id) from None
    if not isinstance(document, dict) or document.get("access_key_id") != access_key_id or not document.get("secret_access_key"):
        raise EscrowError("escrow entry for %s does not hold the secret of that key" % access_key_id)
    return document


def read_entry(directory, access_key_id, decrypt=None):
    """The entry for access_key_id, or None when there is none."""
    try:
        data = read_regular_file(entry_path(directory, access_key_id))
    except FileOpError as exc:
        raise EscrowError(str(exc)) from None
    if data is None:
        return None
    return decode(data, access_key_id, decrypt)


def store(directory, entries, encrypt=None, decrypt=None, check_mode=False):
    """Store entries (dicts with access_key_id, secret_access_key, iam_user). Returns the ids stored.

    An entry already stored with the same secret is left alone (not reported).
    """
    for entry in entries:
        check_key_id(entry.get("access_key_id"))
        if not isinstance(entry.get("secret_access_key"), str) or not entry["secret_access_key"]:
            raise EscrowError("escrow entry for %s has no secret_access_key" % entry.get("access_key_id"))
    changes = check_directory(directory, create=not check_mode)
    stored = []
    if check_mode:
        for entry in entries:
            current = read_entry(directory, entry["access_key_id"], decrypt) if os.path.isdir(directory) else None
            if current is None or current.get("secret_access_key") != entry["secret_access_key"]:
                stored.append(entry["access_key_id"])
        return stored, changes
    with directory_lock(os.path.join(directory, "lock")):
        for entry in entries:
            current = read_entry(directory, entry["access_key_id"], decrypt)
            if current is not None and current.get("secret_access_key") == entry["secret_access_key"]:
                # the module wrote it in plain text the moment the key existed: encrypt it now
                if encrypt is None or _is_encrypted(directory, entry["access_key_id"]):
                    continue
            data = encode(entry)
            if encrypt is not None:
                data = encrypt(data)
            try:
                atomic_write(entry_path(directory, entry["access_key_id"]), data, mode=0o600, dir_mode=0o700)
            except FileOpError as exc:
                raise EscrowError(str(exc)) from None
            stored.append(entry["access_key_id"])
    return stored, changes


def _is_encrypted(directory, access_key_id):
    try:
        data = read_regular_file(entry_path(directory, access_key_id))
    except FileOpError:
        return False
    return bool(data) and data.startswith(VAULT_HEADER)


def remove_claims(directory, access_key_ids):
    """Remove the claim files (``claims/<user>.json``, written by the module) that record one of these keys."""
    claims = os.path.join(directory, "claims")
    removed = []
    if not os.path.isdir(claims) or os.path.islink(claims):
        return removed
    wanted = set(access_key_ids)
    for name in sorted(os.listdir(claims)):
        path = os.path.join(claims, name)
        if not name.endswith(".json") or not os.path.isfile(path) or os.path.islink(path):
            continue
        try:
            with open(path, "rb") as handle:
                document = json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(document, dict) and document.get("access_key_id") in wanted:
            try:
                os.unlink(path)
                removed.append(name[:-len(".json")])
            except FileNotFoundError:
                pass
    try:
        os.rmdir(claims)  # only when empty: an escrow with nothing in progress is an empty directory
    except OSError:
        pass
    return removed


def query(directory, access_key_ids, decrypt=None):
    """([entry, ...], [missing id, ...]) for the ids asked."""
    if os.path.lexists(directory):
        check_directory(directory)
    found, missing = [], []
    for access_key_id in access_key_ids:
        entry = read_entry(directory, access_key_id, decrypt) if os.path.isdir(directory) else None
        if entry is None:
            missing.append(access_key_id)
        else:
            found.append({"access_key_id": access_key_id, "secret_access_key": entry["secret_access_key"], "iam_user": entry.get("iam_user")})
    return found, missing


def remove(directory, access_key_ids, check_mode=False):
    """Remove the entries of the ids given; returns the ids removed (or, in check mode, to remove)."""
    for access_key_id in access_key_ids:
        check_key_id(access_key_id)
    removed = []
    if not os.path.lexists(directory):
        return removed
    check_directory(directory)
    for access_key_id in access_key_ids:
        path = entry_path(directory, access_key_id)
        if not os.path.lexists(path):
            continue
        removed.append(access_key_id)
        if not check_mode:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise EscrowError("cannot remove escrow entry %s: %s" % (path, exc.strerror or exc)) from None
    if not check_mode:
        remove_claims(directory, access_key_ids)
    return removed
