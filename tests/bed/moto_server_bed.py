# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""moto in server mode, corrected to refuse Inactive access keys the way AWS does.

moto authenticates a request signed with an Inactive key as if it were Active; AWS answers
InvalidClientTokenId (EC2: AuthFailure). The test bed must behave like AWS, so the key lookup used
by moto's request authenticator is wrapped to refuse keys whose status is not Active.

It also appends every secret access key moto creates to the file named by the environment
variable KEYOPS_BED_SECRETS_LOG (mode 0600), so tests can search their output for every secret the
bed knows without dumping moto's whole state.

And it finds the owner of an access key through an index instead of moto's scan of every user (three
scans per STS request: the authenticator, GetCallerIdentity and the last-used record; AWS does no
such scan). With it, moto's time per request stays flat from 200 to 3000 users (benchmarks/README.md).
The index is only a hint: every hit is checked against the user's keys, a miss
or a stale entry falls back to moto's own scan, so the answers are moto's.

Usage: python moto_server_bed.py PORT  (binds 127.0.0.1 only)
"""

import json
import os
import sys
import threading
import time

from moto.iam import access_control
from moto.iam import models as iam_models
from moto.server import main as moto_main


_ORIGINAL_INIT = access_control.IAMUserAccessKey.__init__
_ORIGINAL_USER_FROM_KEY = iam_models.IAMBackend.get_user_from_access_key_id
_ORIGINAL_LAST_USED = iam_models.IAMBackend.get_access_key_last_used

# (id of the IAM backend, access key id) -> user name; a hint, checked on every use
_KEY_OWNERS = {}


def _indexed_key(backend, access_key_id):
    """(user, key) for an access key id through the index, or (None, None) when the hint is missing or stale."""
    name = _KEY_OWNERS.get((id(backend), access_key_id))
    user = backend.users.get(name) if name is not None else None
    if user is not None:
        for key in user.access_keys:
            if key.access_key_id == access_key_id:
                return user, key
    return None, None


def _remember(backend, access_key_id, user_name):
    _KEY_OWNERS[(id(backend), access_key_id)] = user_name


def _init_refusing_inactive(self, account_id, partition, access_key_id, headers):
    self.account_id = account_id
    self.partition = partition
    user, key = _indexed_key(self.backend, access_key_id)
    if key is None:
        _ORIGINAL_INIT(self, account_id, partition, access_key_id, headers)  # moto's scan; raises InvalidId
        _remember(self.backend, access_key_id, self._owner_user_name)  # pylint: disable=protected-access
        user, key = _indexed_key(self.backend, access_key_id)
    else:
        self._owner_user_name = user.name
        self._access_key_id = access_key_id
        self._secret_access_key = key.secret_access_key
        if "X-Amz-Security-Token" in headers:
            raise access_control.CreateAccessKeyFailure(reason="InvalidToken")
    if key is not None and key.status != "Active":
        raise access_control.CreateAccessKeyFailure(reason="InvalidId")


def _user_from_access_key_id(self, access_key_id):
    user, _key = _indexed_key(self, access_key_id)
    if user is None:
        user = _ORIGINAL_USER_FROM_KEY(self, access_key_id)
        if user is not None:
            _remember(self, access_key_id, user.name)
    return user


def _access_key_last_used(self, access_key_id):
    _user, key = _indexed_key(self, access_key_id)
    if key is None:
        return _ORIGINAL_LAST_USED(self, access_key_id)
    return {"user_name": key.user_name, "last_used": key.last_used}


_SECRETS_LOCK = threading.Lock()
_ORIGINAL_ACCESS_KEY_INIT = iam_models.AccessKey.__init__


def _init_recording_secret(self, *args, **kwargs):
    _ORIGINAL_ACCESS_KEY_INIT(self, *args, **kwargs)
    path = os.environ.get("KEYOPS_BED_SECRETS_LOG")
    if path:
        with _SECRETS_LOCK:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(self.secret_access_key + "\n")


def _delay_after_create(user_name):
    """Test hook (KEYOPS_BED_CREATE_DELAY_FILE): answer CreateAccessKey late for some users."""
    path = os.environ.get("KEYOPS_BED_CREATE_DELAY_FILE")
    if not path or not os.path.exists(path):
        return
    try:
        with open(path, encoding="utf-8") as handle:
            hook = json.load(handle)
    except (OSError, ValueError):
        return
    if str(user_name).startswith(hook.get("prefix") or "\0"):
        time.sleep(float(hook.get("seconds") or 0))


_ORIGINAL_CREATE = iam_models.IAMBackend.create_access_key


def _create_access_key_with_hook(self, user_name, *args, **kwargs):
    key = _ORIGINAL_CREATE(self, user_name, *args, **kwargs)
    _remember(self, key.access_key_id, user_name)
    _delay_after_create(user_name)
    return key


def main():
    port = sys.argv[1]
    access_control.IAMUserAccessKey.__init__ = _init_refusing_inactive
    iam_models.AccessKey.__init__ = _init_recording_secret
    iam_models.IAMBackend.create_access_key = _create_access_key_with_hook
    iam_models.IAMBackend.get_user_from_access_key_id = _user_from_access_key_id
    iam_models.IAMBackend.get_access_key_last_used = _access_key_last_used
    moto_main(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main()
