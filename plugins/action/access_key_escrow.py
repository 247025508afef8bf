# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for keyops.aws.access_key_escrow: runs on the controller only (no module is sent to a host).

Vault encryption needs the controller's vault secrets, which a module never sees: this is why the
escrow is an action plugin. The file work is in plugin_utils/_escrow.py.
"""

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.keyops.aws.plugins.plugin_utils import _escrow
from ansible_collections.keyops.aws.plugins.plugin_utils._secret_result import contains_secret

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", choices=["present", "absent", "query", "list"], default="list"),
    keys=dict(type="list", elements="raw", default=[], no_log=False),
    encrypt=dict(type="str", choices=["auto", "always", "never"], default="auto"),
)


def _named_key_id(access_key_id, index):
    """The key id of keys[index], or an error naming that option (checked for every entry before any write)."""
    try:
        return _escrow.check_key_id(access_key_id)
    except _escrow.EscrowError as exc:
        raise _escrow.EscrowError("keys[%d].access_key_id: %s; nothing was changed" % (index, exc)) from None


class ActionModule(ActionBase):
    """Store, read, list or remove escrowed secrets on the controller."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            result.update(failed=True, msg="; ".join(validation.error_messages))
            return result
        args = validation.validated_parameters
        path = os.path.abspath(os.path.expanduser(args["path"]))
        state = args["state"]
        check_mode = bool(self._task.check_mode)
        result.update(changed=False, path=path, state=state)
        try:
            encrypt, decrypt = _escrow.vault_crypto(self._loader, args["encrypt"])
            result["encrypted"] = encrypt is not None
            if state == "list":
                _escrow.check_directory(path, create=False)
                result["access_key_ids"] = _escrow.list_ids(path)
            elif state == "present":
                entries = []
                for index, item in enumerate(args["keys"]):
                    if not isinstance(item, dict):
                        raise _escrow.EscrowError("state=present needs keys as dicts with access_key_id and secret_access_key")
                    _named_key_id(item.get("access_key_id"), index)
                    if not isinstance(item.get("secret_access_key"), str) or not item["secret_access_key"]:
                        raise _escrow.EscrowError("keys[%d].secret_access_key is required (a non-empty string); nothing was changed" % index)
                    entries.append({
                        "access_key_id": item.get("access_key_id"),
                        "secret_access_key": item.get("secret_access_key"),
                        "iam_user": item.get("iam_user") or item.get("user_name"),
                    })
                stored, changes = _escrow.store(path, entries, encrypt=encrypt, decrypt=decrypt, check_mode=check_mode)
                result["stored"] = stored
                result["changed"] = bool(stored or changes)
            else:
                ids = []
                for item in args["keys"]:
                    ids.append(item.get("access_key_id") if isinstance(item, dict) else item)
                for index, access_key_id in enumerate(ids):
                    _named_key_id(access_key_id, index)
                if state == "query":
                    found, missing = _escrow.query(path, ids, decrypt=decrypt)
                    result["entries"] = found
                    result["missing"] = missing
                else:
                    removed = _escrow.remove(path, ids, check_mode=check_mode)
                    result["removed"] = removed
                    result["changed"] = bool(removed)
        except (_escrow.EscrowError, _escrow.FileOpError, AnsibleError, OSError) as exc:
            result.update(failed=True, msg=str(exc))
        if contains_secret(result):
            result["_ansible_no_log"] = True
        return result
