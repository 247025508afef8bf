# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for keyops.aws.key_pair_rotation_plan: the shaping of the role keyops.aws.key_pair_rotation.
Pure computation on the controller (no module is sent to a host, nothing is written); the
functions are in plugin_utils/_key_pair_rotation_role.py.
"""

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.keyops.aws.plugins.plugin_utils import _key_pair_rotation_role as role

STEPS = ["host", "key_pairs", "proven", "report", "summary"]
HOST_OPTIONS = ["name", "regions", "key_dir", "type", "size", "comment", "max_age_days", "force", "tags", "aws",
                "user", "authorized_keys_path", "verify_timeout"]
# The host's variables a proof login and the authorized_keys target are made of.
CONNECTION_VARS = ["ansible_host", "ansible_port", "ansible_user", "ansible_ssh_user", "ansible_ssh_common_args",
                   "ansible_ssh_extra_args", "ansible_ssh_executable", "ansible_ssh_private_key_file",
                   "ansible_private_key_file"]

ARGUMENT_SPEC = dict(
    step=dict(type="str", required=True, choices=STEPS),
    host_var=dict(type="str", default="key_pair_rotation__host"),
    host_result_var=dict(type="str", default="key_pair_rotation_host_result"),
    key_pairs=dict(type="dict"),
    plan=dict(type="dict"),
    keys=dict(type="dict"),
    key_pair=dict(type="dict"),
    added=dict(type="raw"),
    verify=dict(type="raw"),
    removed=dict(type="raw"),
    switched=dict(type="raw"),
    imported=dict(type="raw"),
    promoted=dict(type="raw"),
    **{name: dict(type="raw") for name in HOST_OPTIONS}
)
NEEDS = {
    "host": ["name", "regions"],
    "key_pairs": [],
    "proven": ["key_pairs", "keys"],
    "report": ["key_pair"],
    "summary": ["key_pairs", "plan", "keys"],
}


def _region_problem(regions):
    from ansible_collections.keyops.aws.plugins.module_utils import _key_pair_rotation_state as state  # pylint: disable=import-outside-toplevel

    try:
        known = state.known_ec2_regions()
    except ImportError:
        return "checking region names (key_pair_rotation_regions) needs botocore on the controller"
    return state.region_problem(regions, known)


class ActionModule(ActionBase):
    """One step of the role's shaping (see the role's tasks/main.yml)."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False
    _requires_connection = False

    @staticmethod
    def _hostvars(task_vars, host, names):
        hostvars = task_vars.get("hostvars") or {}
        try:
            host_vars = hostvars[host]
        except KeyError:
            return {}
        out = {}
        for name in names:
            if name in host_vars:
                out[name] = role.plain(host_vars[name])
        return out

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            result.update(failed=True, msg="; ".join(validation.error_messages))
            return result
        args = {k: role.plain(v) for k, v in validation.validated_parameters.items()}
        step = args["step"]
        missing = [name for name in NEEDS[step] if args.get(name) is None]
        if missing:
            result.update(failed=True, msg="step %s needs the option(s) %s" % (step, ", ".join(missing)))
            return result
        try:
            output = self._step(step, args, task_vars)
        except role.RoleError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(output)
        result["changed"] = False
        if any(role.has_secret_settings(aws) for aws in self._aws_of(output)):
            result["_ansible_no_log"] = True
        return result

    @staticmethod
    def _aws_of(output):
        if "aws" not in output:
            return []
        aws = output["aws"]
        if any(isinstance(value, dict) for value in aws.values()):
            return list(aws.values())
        return [aws]

    def _step(self, step, args, task_vars):
        play_hosts = role.plain(task_vars.get("ansible_play_hosts") or [])
        if step == "host":
            host = str(task_vars.get("inventory_hostname"))
            connection = self._hostvars(task_vars, host, CONNECTION_VARS)
            return role.host_record(host, {name: args.get(name) for name in HOST_OPTIONS}, connection)
        if step == "key_pairs":
            records = {}
            for host in play_hosts:
                record = self._hostvars(task_vars, host, [args["host_var"]]).get(args["host_var"])
                if record and "key_pair" in record:
                    records[host] = record
            return role.group_key_pairs(records, _region_problem)
        if step == "proven":
            return role.proven(args["key_pairs"], args["keys"], play_hosts)
        if step == "report":
            return role.host_report(args["key_pair"], args.get("added"), args.get("verify"), args.get("removed"),
                                    args.get("switched"))
        hosts = role.plain(task_vars.get("ansible_play_hosts_all") or play_hosts)
        host_results = {}
        for host in hosts:
            found = self._hostvars(task_vars, host, [args["host_result_var"]]).get(args["host_result_var"])
            if isinstance(found, dict) and "status" in found:
                host_results[host] = {k: v for k, v in found.items() if k in role.HOST_REPORT_FIELDS}
        return role.summary(args["key_pairs"], args["plan"], args["keys"], args.get("imported"), args.get("promoted"),
                            hosts, host_results)
