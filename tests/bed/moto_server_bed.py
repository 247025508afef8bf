# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""moto in server mode, corrected to refuse Inactive access keys the way AWS does.

moto authenticates a request signed with an Inactive key as if it were Active; AWS answers
InvalidClientTokenId (EC2: AuthFailure). The test bed must behave like AWS, so the key lookup used
by moto's request authenticator is wrapped to refuse keys whose status is not Active.

It also appends every secret access key moto creates to the file named by the environment
variable KEYOPS_BED_SECRETS_LOG (mode 0600), so tests can search their output for every secret the
bed knows without dumping moto's whole state.

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


def _init_refusing_inactive(self, account_id, partition, access_key_id, headers):
    _ORIGINAL_INIT(self, account_id, partition, access_key_id, headers)
    user = self.backend.get_user(self._owner_user_name)  # pylint: disable=protected-access
    for key in user.access_keys:
        if key.access_key_id == access_key_id and key.status != "Active":
            raise access_control.CreateAccessKeyFailure(reason="InvalidId")


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
    _delay_after_create(user_name)
    return key


def main():
    port = sys.argv[1]
    access_control.IAMUserAccessKey.__init__ = _init_refusing_inactive
    iam_models.AccessKey.__init__ = _init_recording_secret
    iam_models.IAMBackend.create_access_key = _create_access_key_with_hook
    moto_main(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main()
