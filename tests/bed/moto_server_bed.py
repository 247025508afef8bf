# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""moto in server mode, corrected to refuse Inactive access keys the way AWS does.

moto authenticates a request signed with an Inactive key as if it were Active; AWS answers
InvalidClientTokenId (EC2: AuthFailure). The test bed must behave like AWS, so the key lookup used
by moto's request authenticator is wrapped to refuse keys whose status is not Active.

Usage: python moto_server_bed.py PORT  (binds 127.0.0.1 only)
"""

import sys

from moto.iam import access_control
from moto.server import main as moto_main


_ORIGINAL_INIT = access_control.IAMUserAccessKey.__init__


def _init_refusing_inactive(self, account_id, partition, access_key_id, headers):
    _ORIGINAL_INIT(self, account_id, partition, access_key_id, headers)
    user = self.backend.get_user(self._owner_user_name)  # pylint: disable=protected-access
    for key in user.access_keys:
        if key.access_key_id == access_key_id and key.status != "Active":
            raise access_control.CreateAccessKeyFailure(reason="InvalidId")


def main():
    port = sys.argv[1]
    access_control.IAMUserAccessKey.__init__ = _init_refusing_inactive
    moto_main(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main()
