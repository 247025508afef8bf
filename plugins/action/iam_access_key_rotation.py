# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for keyops.aws.iam_access_key_rotation.

A result holding a secret is never displayed (see plugin_utils/_secret_result.py). With
escrow_dir, every newly created secret is stored in the controller's escrow (plugin_utils/_escrow.py,
vault-encrypted when a vault secret is configured) as soon as the module returns, before the task
ends: a run that dies after CreateAccessKey keeps the secret, and the next run converges on it.
"""

import os

from ansible_collections.keyops.aws.plugins.plugin_utils import _escrow
from ansible_collections.keyops.aws.plugins.plugin_utils._secret_result import SecretResultAction


class ActionModule(SecretResultAction):
    """Runs keyops.aws.iam_access_key_rotation, escrows new secrets, hides a result carrying a secret."""

    def process_result(self, result, task_vars):
        escrow_dir = self._task.args.get("escrow_dir")
        entries = [
            {
                "access_key_id": user["new_key"]["access_key_id"],
                "secret_access_key": user["new_key"]["secret_access_key"],
                "iam_user": user.get("user_name"),
            }
            for user in result.get("users") or []
            if isinstance(user, dict) and isinstance(user.get("new_key"), dict) and user["new_key"].get("secret_access_key")
        ]
        if not escrow_dir or not entries:
            return result
        path = os.path.abspath(os.path.expanduser(escrow_dir))
        try:
            encrypt, decrypt = _escrow.vault_crypto(self._loader)
            stored, _changes = _escrow.store(path, entries, encrypt=encrypt, decrypt=decrypt)
            result["escrowed_key_ids"] = sorted(stored)
        except Exception as exc:  # pylint: disable=broad-except  # never lose the result holding the new secret
            result["failed"] = True
            result["msg"] = "keys %s were created but their secrets could not be escrowed in %s: %s" % (
                ", ".join(entry["access_key_id"] for entry in entries), path, exc)
        return result
