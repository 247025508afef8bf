# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The durable state of an access-key rotation: per IAM user, a *claim* written before that user's
CreateAccessKey and the new key pair recorded in the same place as soon as the key exists.

Two backends share one document format:

- ``local``: the controller's escrow directory (``<dir>/claims/<user>.json`` for the claim, no
  secret; ``<dir>/<AccessKeyId>`` for the secret, in the format of plugin_utils/_escrow.py;
  ``<dir>/acks/<user>/<holder hash>`` = key id for each holder's acknowledgement). The
  module writes the secret file 0600 in plain text at once and removes the claim (the entry, which
  names its iam_user, is the record; callers pass listed entries as escrowed_key_ids); the action
  plugin vault-encrypts the entry (when a vault secret is configured) when the module returns.
- ``secretsmanager``: one secret per user, ``<prefix><user>``, in the account and region of the IAM
  calls. Its value is the document below (the claim, then the key pair); holders' acknowledgements
  are tags ``keyops:ack:<hash of the holder>`` = key id (one TagResource each: concurrent
  distribute jobs never overwrite each other's acknowledgements).

Document::

    {"version": 1, "iam_user": str, "claimed_by": str, "claimed_at": ISO 8601,
     "access_key_id": str | None, "secret_access_key": str | None, "create_date": ISO | None}

The claim decision (``plan_claim``) is pure: the stored document, the user's keys, the holders'
and stores' key ids, the clock and the TTL in; a decision out:

- ``free``: no claim; a create must first claim (create-if-absent).
- ``resume``: the claim recorded an Active key: converge on it (it is escrowed), create nothing new
  for this claim.
- ``leftover``: the claim recorded a key that is gone or Inactive (a finished or abandoned rotation):
  a create overwrites the claim.
- ``busy``: a live claim (younger than the TTL) without a recorded key: another run is creating the
  key right now; this run creates nothing for the user.
- ``stale``: a claim older than the TTL without a recorded key: its run died in or around
  CreateAccessKey. Each Active key created at or after the claim (less CLOCK_SKEW) that no holder
  and no store holds is the crash orphan (nobody has its secret): it is deleted, then the user is
  rotated anew under a fresh claim.

No secret ever appears in an exception message.
"""

import datetime
import hashlib
import json
import os
import re
import socket
import uuid

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import client_pair, error_code, error_message
from ansible_collections.keyops.aws.plugins.module_utils._dates import iso, parse_iso_or_none
from ansible_collections.keyops.aws.plugins.module_utils._key_ids import KEY_ID_RE
from ansible_collections.keyops.aws.plugins.module_utils._fileops import FileOpError, atomic_write, make_parent_dirs, read_regular_file

FORMAT_VERSION = 1
DEFAULT_PREFIX = "keyops/access-keys/"
DEFAULT_CLAIM_TTL_MINUTES = 60
# keys created up to this long before a claim (clock difference between the controller and IAM)
# still count as created after it when looking for the orphan of a stale claim
CLOCK_SKEW = datetime.timedelta(seconds=60)
ACK_TAG_PREFIX = "keyops:ack:"
MAX_ACK_TAGS = 45  # Secrets Manager allows 50 tags per secret; we keep 5 for the user's own
PREFIX_RE = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,400}$")
KMS_KEY_RE = re.compile(r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|[A-Za-z0-9-]{1,2048})$")
LOCAL_KEY_ID_RE = KEY_ID_RE

FREE = "free"
RESUME = "resume"
LEFTOVER = "leftover"
BUSY = "busy"
STALE = "stale"


class StoreError(Exception):
    """A durable-store problem described for a user (never with a secret in the message)."""


def run_id():
    """Who is claiming: the controller's host name, the process id and a random part."""
    return "%s pid %d run %s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])


def check_prefix(prefix):
    if not isinstance(prefix, str) or not PREFIX_RE.match(prefix):
        raise StoreError("escrow_prefix %r is not a valid Secrets Manager name prefix (1-400 characters of "
                         "letters, digits and /_+=.@-)" % (prefix,))
    return prefix


def check_kms_key_id(kms_key_id):
    if kms_key_id in (None, ""):
        return None
    if not isinstance(kms_key_id, str) or not KMS_KEY_RE.match(kms_key_id):
        raise StoreError("escrow_kms_key_id %r is not a KMS key id, key ARN, alias name or alias ARN" % (kms_key_id,))
    return kms_key_id


def check_ttl(ttl_minutes):
    if not isinstance(ttl_minutes, int) or isinstance(ttl_minutes, bool) or ttl_minutes < 0 or ttl_minutes > 10080:
        raise StoreError("claim_ttl_minutes must be an integer from 0 to 10080 (a week), got %r" % (ttl_minutes,))
    return ttl_minutes


def new_claim(user_name, claimed_by, now):
    return {"version": FORMAT_VERSION, "iam_user": user_name, "claimed_by": claimed_by, "claimed_at": iso(now),
            "access_key_id": None, "secret_access_key": None, "create_date": None}


def with_key(document, new_key):
    return dict(document, access_key_id=new_key["access_key_id"], secret_access_key=new_key["secret_access_key"],
                create_date=iso(new_key.get("create_date")))


def holder_hash(holder):
    """A short stable id of a holder (host, path, profile, ...), usable as a tag key."""
    return hashlib.sha256(str(holder).encode("utf-8")).hexdigest()[:24]


def _as_utc(value):
    return parse_iso_or_none(value)


# ---------------------------------------------------------------- the pure claim planner


def plan_claim(document, keys, now, ttl_minutes, held_key_ids=(), stored_key_ids=()):
    """The claim decision for one user (see the module docstring).

    ``keys``: the user's keys (planner key dicts: access_key_id, status, create_date).
    Returns ``{"decision", "recorded_key_id", "orphan_key_ids", "claimed_by", "claimed_at", "msg"}``.
    """
    result = {"decision": FREE, "recorded_key_id": None, "orphan_key_ids": [], "claimed_by": None, "claimed_at": None, "msg": None}
    if not document:
        return result
    result["claimed_by"] = document.get("claimed_by")
    result["claimed_at"] = document.get("claimed_at")
    by_id = {k["access_key_id"]: k for k in keys}
    recorded = document.get("access_key_id")
    if recorded and document.get("secret_access_key"):
        result["recorded_key_id"] = recorded
        key = by_id.get(recorded)
        if key is not None and key["status"] == "Active":
            result.update(decision=RESUME, msg="resuming the rotation to %s started by %s at %s" % (
                recorded, result["claimed_by"], result["claimed_at"]))
        else:
            result.update(decision=LEFTOVER, msg="the stored key %s is %s" % (recorded, "Inactive" if key else "gone"))
        return result
    claimed_at = _as_utc(document.get("claimed_at"))
    if claimed_at is None:  # unreadable time: treat as infinitely old (a claim we cannot date is not live)
        claimed_at = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    age = _as_utc(now) - claimed_at
    if age < datetime.timedelta(minutes=ttl_minutes):
        result.update(decision=BUSY, msg="busy: claimed by %s at %s (claim_ttl_minutes %d); no key created for this user" % (
            result["claimed_by"], result["claimed_at"], ttl_minutes))
        return result
    known = set(k for k in list(held_key_ids or ()) + list(stored_key_ids or ()) if k)
    orphans = []
    for key in keys:
        created = _as_utc(key.get("create_date"))
        if key["status"] != "Active" or key["access_key_id"] in known or created is None:
            continue
        if created >= claimed_at - CLOCK_SKEW:
            orphans.append(key["access_key_id"])
    result.update(decision=STALE, orphan_key_ids=sorted(orphans),
                  msg="stale claim by %s at %s without a recorded key%s" % (
                      result["claimed_by"], result["claimed_at"],
                      ("; orphan key(s) %s created after it, held by no holder and no store, are deleted" % ", ".join(sorted(orphans)))
                      if orphans else ""))
    return result


def unrecorded_new_keys(keys_before, keys_after):
    """The Active keys in ``keys_after`` that were not in ``keys_before`` (an ambiguous create's key)."""
    before = set(k["access_key_id"] for k in keys_before)
    return sorted(k["access_key_id"] for k in keys_after if k["access_key_id"] not in before and k["status"] == "Active")


# ---------------------------------------------------------------- backends


class LocalStore:
    """Claims and new secrets in the controller's escrow directory (the module runs on the controller)."""

    backend = "local"

    def __init__(self, directory):
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self.claims = os.path.join(self.directory, "claims")

    def where(self, user_name):
        return os.path.join(self.claims, "%s.json" % user_name)

    def _prepare(self):
        if os.path.islink(self.directory):
            raise StoreError("escrow directory %s is a symlink: point it at the real directory" % self.directory)
        try:
            make_parent_dirs(os.path.join(self.claims, "x"), dir_mode=0o700)
        except FileOpError as exc:
            raise StoreError(str(exc)) from None

    def read(self, user_name):
        try:
            data = read_regular_file(self.where(user_name))
        except FileOpError as exc:
            raise StoreError(str(exc)) from None
        if data is None:
            return None
        try:
            document = json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise StoreError("claim file %s is not a valid claim document" % self.where(user_name)) from None
        if not isinstance(document, dict):
            raise StoreError("claim file %s is not a valid claim document" % self.where(user_name))
        kid = document.get("access_key_id")
        if kid:
            secret = self._read_secret(kid)
            document["secret_access_key"] = secret
        return document

    def _read_secret(self, access_key_id):
        """Whether the escrow file exists is what counts here (it may be vault-encrypted): a marker, not the secret."""
        if not isinstance(access_key_id, str) or not LOCAL_KEY_ID_RE.match(access_key_id):
            return None
        path = os.path.join(self.directory, access_key_id)
        return "(escrowed)" if os.path.isfile(path) and not os.path.islink(path) else None

    def claim(self, user_name, document, replace=False):
        """Write the claim; create-if-absent unless replace. Returns False when another claim exists."""
        self._prepare()
        data = (json.dumps({k: v for k, v in document.items() if k != "secret_access_key"}, sort_keys=True) + "\n").encode("utf-8")
        path = self.where(user_name)
        if replace:
            self._write_claim(path, data)
            return True
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StoreError("cannot write claim %s: %s" % (path, exc.strerror or exc)) from None
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    @staticmethod
    def _write_claim(path, data):
        try:
            atomic_write(path, data, mode=0o600, dir_mode=0o700)
        except FileOpError as exc:
            raise StoreError(str(exc)) from None

    def record(self, user_name, document):
        """Store the new secret (0600, plain; the action plugin vault-encrypts it) and point the claim at it."""
        self._prepare()
        kid = document["access_key_id"]
        if not LOCAL_KEY_ID_RE.match(kid or ""):
            raise StoreError("the new key's id is not an access key id")
        entry = {"version": 1, "access_key_id": kid, "secret_access_key": document["secret_access_key"],
                 "iam_user": user_name, "stored": iso(datetime.datetime.now(datetime.timezone.utc))}
        try:
            atomic_write(os.path.join(self.directory, kid), (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"),
                         mode=0o600, dir_mode=0o700)
        except FileOpError as exc:
            raise StoreError("the secret of %s could not be escrowed: %s" % (kid, exc)) from None
        # the escrow entry (with its iam_user) is now the record: the claim has done its work. The
        # escrow directory then holds only entries, as before claims existed; the caller lists them
        # and passes their ids as escrowed_key_ids, which makes the next run converge on the key.
        self.delete(user_name)

    def _acks_dir(self, user_name):
        return os.path.join(self.directory, "acks", user_name)

    def acknowledge(self, user_name, holders_to_key):
        """Record ``{holder: key id}`` acknowledgements: one file per holder (``acks/<user>/<holder hash>``),
        so concurrent distribute jobs on this controller never overwrite each other's."""
        if not holders_to_key:
            return
        self._prepare()
        for holder, kid in sorted(holders_to_key.items()):
            if not LOCAL_KEY_ID_RE.match(kid or ""):
                raise StoreError("an acknowledgement needs an access key id")
            try:
                atomic_write(os.path.join(self._acks_dir(user_name), holder_hash(holder)), (kid + "\n").encode("ascii"),
                             mode=0o600, dir_mode=0o700)
            except FileOpError as exc:
                raise StoreError("cannot record the acknowledgement of %s: %s" % (user_name, exc)) from None

    def acknowledgements(self, user_name):
        """``{holder hash: key id}`` of the acknowledgements recorded for the user."""
        directory = self._acks_dir(user_name)
        out = {}
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return out
        except OSError as exc:
            raise StoreError("cannot read acknowledgements in %s: %s" % (directory, exc.strerror or exc)) from None
        for name in names:
            try:
                data = read_regular_file(os.path.join(directory, name))
            except FileOpError:
                continue
            kid = (data or b"").decode("ascii", "replace").strip()
            if LOCAL_KEY_ID_RE.match(kid):
                out[name] = kid
        return out

    def forget_acknowledgements(self, user_name):
        """Remove the user's acknowledgements (its rotation is finished)."""
        directory = self._acks_dir(user_name)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError("cannot remove acknowledgements in %s: %s" % (directory, exc.strerror or exc)) from None
        for name in names:
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StoreError("cannot remove acknowledgements in %s: %s" % (directory, exc.strerror or exc)) from None
        for path in (directory, os.path.dirname(directory)):
            try:
                os.rmdir(path)  # only when empty
            except OSError:
                pass
        return True

    def delete(self, user_name):
        path = self.where(user_name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError("cannot remove claim %s: %s" % (path, exc.strerror or exc)) from None
        try:
            os.rmdir(self.claims)  # only when empty
        except OSError:
            pass
        return True


class SecretsManagerStore:
    """One secret per IAM user, ``<prefix><user>``; ``reader`` retries, ``writer`` makes one attempt."""

    backend = "secretsmanager"

    def __init__(self, reader, writer, prefix=DEFAULT_PREFIX, kms_key_id=None):
        self.reader = reader
        self.writer = writer
        self.prefix = check_prefix(prefix)
        self.kms_key_id = check_kms_key_id(kms_key_id)

    def where(self, user_name):
        return self.prefix + user_name

    def _fail(self, what, user_name, exc):
        return StoreError("Secrets Manager %s of %s failed: %s" % (what, self.where(user_name), error_message(exc)))

    def read(self, user_name):
        try:
            value = self.reader.get_secret_value(SecretId=self.where(user_name), aws_retry=True)
        except Exception as exc:  # pylint: disable=broad-except
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                return None
            if code == "InvalidRequestException":  # scheduled for deletion: gone
                return None
            raise self._fail("GetSecretValue", user_name, exc) from None
        try:
            document = json.loads(value.get("SecretString") or "")
        except ValueError:
            raise StoreError("secret %s does not hold a keyops.aws claim document; remove it or choose another "
                             "escrow prefix" % self.where(user_name)) from None
        if not isinstance(document, dict) or document.get("iam_user") not in (None, user_name):
            raise StoreError("secret %s does not hold a keyops.aws claim document for %s" % (self.where(user_name), user_name))
        return document

    def _scheduled_for_deletion(self, user_name):
        try:
            info = self.reader.describe_secret(SecretId=self.where(user_name), aws_retry=True)
        except Exception as exc:  # pylint: disable=broad-except
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise self._fail("DescribeSecret", user_name, exc) from None
        return bool(info.get("DeletedDate"))

    def claim(self, user_name, document, replace=False):
        """Create-if-absent (or overwrite with replace). Returns False when another claim exists."""
        body = json.dumps(document, sort_keys=True)
        if replace:
            self._put(user_name, body)
            return True
        args = {"Name": self.where(user_name), "SecretString": body,
                "Description": "keyops.aws: access key rotation of IAM user %s (claim and new key)" % user_name,
                "Tags": [{"Key": "keyops:iam-user", "Value": user_name}]}
        if self.kms_key_id:
            args["KmsKeyId"] = self.kms_key_id
        for attempt in range(6):
            try:
                self.writer.create_secret(**args)
                return True
            except Exception as exc:  # pylint: disable=broad-except
                code = error_code(exc)
                if code not in ("ResourceExistsException", "InvalidRequestException") and code is not None:
                    raise self._fail("CreateSecret (the claim)", user_name, exc) from None
                if code is None:  # no answer: did it happen? our own claim has our claimed_by
                    current = self.read(user_name)
                    if current and current.get("claimed_by") == document["claimed_by"]:
                        return True
                    if current is not None:
                        return False
                    if attempt >= 2:
                        raise self._fail("CreateSecret (the claim)", user_name, exc) from None
                    continue
                if not self._scheduled_for_deletion(user_name):
                    if code == "InvalidRequestException":
                        raise self._fail("CreateSecret (the claim)", user_name, exc) from None
                    return False
                # a finished rotation's secret waiting for deletion: delete it for good, then claim
                try:
                    self.reader.delete_secret(SecretId=self.where(user_name), ForceDeleteWithoutRecovery=True, aws_retry=True)
                except Exception as exc2:  # pylint: disable=broad-except
                    if error_code(exc2) != "ResourceNotFoundException":
                        raise self._fail("DeleteSecret (of a secret scheduled for deletion)", user_name, exc2) from None
                _sleep(0.5 * attempt)
        raise StoreError("Secrets Manager CreateSecret of %s: the name stays scheduled for deletion" % self.where(user_name))

    def _put(self, user_name, body):
        try:
            self.reader.put_secret_value(SecretId=self.where(user_name), SecretString=body, aws_retry=True)
        except Exception as exc:  # pylint: disable=broad-except
            raise self._fail("PutSecretValue", user_name, exc) from None

    def record(self, user_name, document):
        self._put(user_name, json.dumps(document, sort_keys=True))

    def delete(self, user_name):
        try:
            self.reader.delete_secret(SecretId=self.where(user_name), ForceDeleteWithoutRecovery=True, aws_retry=True)
            return True
        except Exception as exc:  # pylint: disable=broad-except
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise self._fail("DeleteSecret", user_name, exc) from None

    def acknowledge(self, user_name, holders_to_key):
        """Record ``{holder: key id}`` acknowledgements (one tag per holder; no read-modify-write)."""
        tags = [{"Key": ACK_TAG_PREFIX + holder_hash(h), "Value": kid} for h, kid in sorted(holders_to_key.items())]
        if not tags:
            return
        if len(tags) > MAX_ACK_TAGS:
            raise StoreError("user %s has %d holders; the secretsmanager backend records at most %d per user" % (
                user_name, len(tags), MAX_ACK_TAGS))
        try:
            self.reader.tag_resource(SecretId=self.where(user_name), Tags=tags, aws_retry=True)
        except Exception as exc:  # pylint: disable=broad-except
            raise self._fail("TagResource (acknowledgements)", user_name, exc) from None

    def acknowledgements(self, user_name):
        """``{holder hash: key id}`` of the acknowledgements recorded; {} when there is no secret."""
        try:
            info = self.reader.describe_secret(SecretId=self.where(user_name), aws_retry=True)
        except Exception as exc:  # pylint: disable=broad-except
            if error_code(exc) == "ResourceNotFoundException":
                return {}
            raise self._fail("DescribeSecret", user_name, exc) from None
        return {t["Key"][len(ACK_TAG_PREFIX):]: t.get("Value") for t in info.get("Tags") or [] if t["Key"].startswith(ACK_TAG_PREFIX)}


def store_options(params):
    """The validated store options of a task's params (before any write); StoreError names the option."""
    return {
        "backend": params.get("escrow_backend") or "local",
        "prefix": check_prefix(params.get("escrow_prefix") or DEFAULT_PREFIX),
        "kms_key_id": check_kms_key_id(params.get("escrow_kms_key_id")),
        "claim_ttl_minutes": check_ttl(DEFAULT_CLAIM_TTL_MINUTES if params.get("claim_ttl_minutes") is None
                                       else params["claim_ttl_minutes"]),
        "create_keys": params.get("create_keys", True) is not False,
    }


def open_store(module, params, concurrency):
    """The durable store of this task, or None (local backend without escrow_dir: no claims, as before).

    Shared by the runners of iam_access_key_rotation (``_iam``) and access_key_rotation_state
    (``_rotation_state``), so that neither imports the other.
    """
    opts = store_options(params)
    if opts["backend"] == "secretsmanager":
        sm_reader, sm_writer = client_pair(module, "secretsmanager", concurrency)
        return SecretsManagerStore(sm_reader, sm_writer, prefix=opts["prefix"], kms_key_id=opts["kms_key_id"])
    if params.get("escrow_dir"):
        return LocalStore(params["escrow_dir"])
    return None


def _sleep(seconds):
    if seconds:
        import time  # pylint: disable=import-outside-toplevel

        time.sleep(seconds)
