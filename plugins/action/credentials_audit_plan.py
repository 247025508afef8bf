# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for keyops.aws.credentials_audit_plan: the controller-side bookkeeping of the role
keyops.aws.credentials_audit. Pure computation on the controller (no module is sent to a host, no AWS
call); the shaping is in plugin_utils/_credentials_audit_role.py, the findings in module_utils/_audit.py.
"""


from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.keyops.aws.plugins.module_utils._booleans import parse_bool
from ansible_collections.keyops.aws.plugins.plugin_utils import _credentials_audit_role as role
from ansible_collections.keyops.aws.plugins.plugin_utils._access_key_rotation_role import RoleError, has_sensitive_settings
from ansible_collections.keyops.aws.plugins.plugin_utils._secret_result import contains_secret
from ansible_collections.keyops.aws.plugins.plugin_utils._plain import plain


STEPS = ["scope", "accounts", "verify", "owners", "facts"]

# the host variables the audit reads (shared with keyops.aws.access_key_rotation and keyops.aws.key_pair_rotation)
HOST_VARIABLES = (
    "keyops_environment",
    "access_key_rotation_credentials",
    "access_key_rotation_aws",
    "access_key_rotation_delete_after_days",
    "key_pair_rotation_name",
    "key_pair_rotation_regions",
    "key_pair_rotation_key_dir",
    "key_pair_rotation_user",
    "key_pair_rotation_authorized_keys_path",
    "ansible_user",
)

# variables a play, a role's vars/params or a block may set for every host (they are not in hostvars):
# taken from the running task's variables when the inventory does not set them for the host
PLAY_LEVEL_VARIABLES = (
    "access_key_rotation_aws",
    "access_key_rotation_delete_after_days",
    "key_pair_rotation_name",
    "key_pair_rotation_regions",
    "key_pair_rotation_key_dir",
    "key_pair_rotation_user",
    "key_pair_rotation_authorized_keys_path",
)

ARGUMENT_SPEC = dict(
    step=dict(type="str", required=True, choices=STEPS),
    authorized_keys_all_hosts=dict(type="raw", default=False),
    settings=dict(type="dict", default={}),
    plan=dict(type="dict"),
    accounts=dict(type="dict"),
    results=dict(type="dict", default={}),
    host_results_var=dict(type="dict", default={}),
)


class ActionModule(ActionBase):
    """One step of the audit's bookkeeping (see the role's tasks/main.yml)."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False
    _requires_connection = False

    @staticmethod
    def _hostvar(hostvars, host, name):
        try:
            host_vars = hostvars[host]
            if name not in host_vars:
                return None
            return plain(host_vars[name])
        except Exception:  # pylint: disable=broad-except  # an undefined or broken variable counts as not set
            return None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            result.update(failed=True, msg="; ".join(validation.error_messages))
            return result
        args = {k: plain(v) for k, v in validation.validated_parameters.items()}
        step = args["step"]
        try:
            output = self._step(step, args, task_vars)
        except (RoleError, TypeError, ValueError) as exc:
            result.update(failed=True, msg="credentials audit (%s): %s" % (step, exc))
            return result
        result.update(output)
        result["changed"] = False
        result["step"] = step
        if contains_secret(result) or output.get("sensitive") or has_sensitive_settings(result):
            result["_ansible_no_log"] = True
        return result

    def _need(self, args, name, step):
        if args.get(name) is None:
            raise RoleError("step %s needs the option %s" % (step, name))
        return args[name]

    def _host_results(self, task_vars, hosts, names):
        """``{host: {key: registered}}`` for the hosts still in the play."""
        hostvars = task_vars.get("hostvars") or {}
        in_play = set(plain(task_vars.get("ansible_play_hosts") or []))
        out = {}
        for host in hosts:
            if host not in in_play:
                continue
            out[host] = dict((key, self._hostvar(hostvars, host, name)) for key, name in names.items())
        return out

    def _step(self, step, args, task_vars):
        if step == "scope":
            hostvars = task_vars.get("hostvars") or {}
            play_hosts = plain(task_vars.get("ansible_play_hosts") or [])
            host_vars = dict((host, dict((name, self._hostvar(hostvars, host, name)) for name in HOST_VARIABLES))
                             for host in play_hosts)
            me = task_vars.get("inventory_hostname")
            for name in PLAY_LEVEL_VARIABLES:
                if self._hostvar(hostvars, me, name) is None and task_vars.get(name) is not None:
                    value = self._templar.template(task_vars[name])
                    for values in host_vars.values():
                        if values.get(name) is None:
                            values[name] = plain(value)
            try:
                all_hosts = parse_bool(args["authorized_keys_all_hosts"])
            except ValueError:
                raise RoleError("credentials_audit_authorized_keys_all_hosts must be a boolean") from None
            role.check_settings(args.get("settings") or {})
            return role.scope(host_vars, plain(task_vars.get("groups") or {}), {"authorized_keys_all_hosts": all_hosts})
        plan = self._need(args, "plan", step)
        results = args["results"]
        if step == "accounts":
            return role.accounts(plan, results.get("identity"), results.get("controller_public"))
        if step == "verify":
            names = self._need(args, "host_results_var", step)
            mine = self._host_results(task_vars, plan["hosts"], names)
            return role.verify_groups(plan, dict((host, value.get("reads")) for host, value in mine.items()),
                                      dict((host, value.get("env_raw")) for host, value in mine.items()),
                                      {"sm": results.get("sm"), "ssm": results.get("ssm")})
        accounts = self._need(args, "accounts", step)
        if step == "owners":
            return role.owners(plan, accounts, results.get("iam_first"), results.get("verify"))
        names = self._need(args, "host_results_var", step)
        host_results = self._host_results(task_vars, plan["hosts"], names)
        all_hosts = plain(task_vars.get("ansible_play_hosts_all") or [])
        in_play = set(plain(task_vars.get("ansible_play_hosts") or []))
        return {"facts": role.facts(plan, accounts, results, host_results, [host for host in all_hosts if host not in in_play])}
