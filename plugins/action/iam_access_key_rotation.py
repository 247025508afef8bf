# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for keyops.aws.iam_access_key_rotation.

A result holding a secret is never displayed (see plugin_utils/_secret_result.py).

Where the durable state is written (claims before CreateAccessKey, the new key right after it):
in the module's runner, per user (module_utils/_iam.py + _durable_state.py), not here. This action
only sees the result once the module has returned for the whole batch: a crash or a kill while the
module runs would lose every secret created so far, which is the window issue 13 closes. The module
can do it because it runs on the controller (the role delegates it to localhost; this plugin refuses
a local escrow_dir on a remote connection), and it has the task's AWS settings for Secrets Manager.

What only the controller's Ansible can do stays here: Ansible Vault. With the local backend the
module writes each new secret 0600 in plain text at once, and this plugin vault-encrypts the files of
this task's new keys (when a vault secret is configured) as soon as the module returns, before the
task ends. A secret the module could not record is stored here as before (nothing is lost).
"""

import os

from ansible_collections.keyops.aws.plugins.plugin_utils import _escrow
from ansible_collections.keyops.aws.plugins.plugin_utils._secret_result import SecretResultAction


class ActionModule(SecretResultAction):
    """Runs keyops.aws.iam_access_key_rotation, escrows new secrets, hides a result carrying a secret."""

    def check_args(self, task_vars):
        """A local escrow is on the controller: the module must run there (delegate_to: localhost)."""
        if self._task.args.get("escrow_dir") and (self._task.args.get("escrow_backend") or "local") == "local":
            transport = getattr(self._connection, "transport", None) or getattr(self._connection, "_load_name", "")
            if str(transport).rsplit(".", maxsplit=1)[-1] != "local":
                return ("escrow_dir is a directory on the controller: run this task there (delegate_to: localhost), "
                        "or use escrow_backend=secretsmanager")
        return None

    def process_result(self, result, task_vars):
        if (self._task.args.get("escrow_backend") or "local") != "local":
            return result
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
            result["escrowed_key_ids"] = sorted(set(stored) | set(result.get("escrowed_key_ids") or []))
        except Exception as exc:  # pylint: disable=broad-except  # never lose the result holding the new secret
            result["failed"] = True
            result["msg"] = "keys %s were created but their secrets could not be escrowed in %s: %s" % (
                ", ".join(entry["access_key_id"] for entry in entries), path, exc)
        return result
