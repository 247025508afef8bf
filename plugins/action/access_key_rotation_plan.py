# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for keyops.aws.access_key_rotation_plan: the controller-side bookkeeping of the role
keyops.aws.access_key_rotation. Pure computation on the controller (no module is sent to a host);
the decisions are in plugin_utils/_access_key_rotation_role.py.
"""


from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.keyops.aws.plugins.plugin_utils import _access_key_rotation_role as role
from ansible_collections.keyops.aws.plugins.plugin_utils._secret_result import contains_secret
from ansible_collections.keyops.aws.plugins.plugin_utils._plain import plain

STEPS = ["holders", "users", "targets", "distribute", "reloads", "retire", "report"]

ARGUMENT_SPEC = dict(
    step=dict(type="str", required=True, choices=STEPS),
    credentials_var=dict(type="str", default="access_key_rotation_credentials"),
    aws_var=dict(type="str", default="access_key_rotation_aws"),
    max_age_days=dict(type="raw", default=90),
    delete_after_days=dict(type="raw", default=7),
    force=dict(type="raw", default=False),
    plan=dict(type="dict"),
    holders_plan=dict(type="dict"),
    previous=dict(type="dict"),
    results=dict(type="raw"),
    escrowed_key_ids=dict(type="list", elements="str", default=[]),
    escrow_query=dict(type="raw"),
    host_results_var=dict(type="list", elements="str"),
    reload_results_var=dict(type="str"),
    verify_successes=dict(type="raw"),
    verify_timeout=dict(type="raw"),
    batch_size=dict(type="raw"),
    concurrency=dict(type="raw"),
    phase=dict(type="raw", default="all"),
    escrow_backend=dict(type="raw", default="local"),
    escrow_prefix=dict(type="raw"),
    escrow_kms_key_id=dict(type="raw"),
    claim_ttl_minutes=dict(type="raw"),
)


class ActionModule(ActionBase):
    """One step of the role's bookkeeping (see the role's tasks/main.yml)."""

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
        except KeyError:
            return None

    def _host_results(self, task_vars, hosts, names):
        """``{host or host/var: registered}`` of one or more registered variables (a list of names:
        the reads/writes of every holder type)."""
        hostvars = task_vars.get("hostvars") or {}
        # a host no longer in the play (unreachable, failed) counts as not read, whatever it registered before
        in_play = set(plain(task_vars.get("ansible_play_hosts") or []))
        names = [names] if isinstance(names, str) else list(names or [])
        out = {}
        for host in hosts:
            if host not in in_play:
                continue
            for name in names:
                value = self._hostvar(hostvars, host, name)
                if value is not None:
                    out[host if len(names) == 1 else "%s/%s" % (host, name)] = value
        return out

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            result.update(failed=True, msg="; ".join(validation.error_messages))
            return result
        args = {k: plain(v) for k, v in validation.validated_parameters.items()}
        check_mode = bool(self._task.check_mode)
        step = args["step"]
        try:
            output = self._step(step, args, task_vars, check_mode)
        except role.RoleError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(output)
        result["changed"] = False
        result["step"] = step
        if contains_secret(result) or output.get("sensitive") or role.has_sensitive_settings(result):
            result["_ansible_no_log"] = True
        return result

    def _need(self, args, name, step):
        if args.get(name) is None:
            raise role.RoleError("step %s needs the option %s" % (step, name))
        return args[name]

    def _step(self, step, args, task_vars, check_mode):
        if step == "holders":
            groups = task_vars.get("groups") or {}
            hostvars = task_vars.get("hostvars") or {}
            host_vars = {}
            for host in groups.get("all") or []:
                host_vars[host] = {
                    "credentials": self._hostvar(hostvars, host, args["credentials_var"]),
                    "aws": self._hostvar(hostvars, host, args["aws_var"]),
                    "max_age_days": self._hostvar(hostvars, host, "access_key_rotation_max_age_days"),
                    "delete_after_days": self._hostvar(hostvars, host, "access_key_rotation_delete_after_days"),
                    "force": self._hostvar(hostvars, host, "access_key_rotation_force"),
                }
            play_hosts = plain(task_vars.get("ansible_play_hosts") or [])
            policy = {"max_age_days": args["max_age_days"], "delete_after_days": args["delete_after_days"], "force": args["force"]}
            settings = {name: args[name] for name in ("verify_successes", "verify_timeout", "batch_size", "concurrency", "phase",
                                                      "escrow_backend", "escrow_prefix", "escrow_kms_key_id", "claim_ttl_minutes")}
            output = role.collect_holders(host_vars, play_hosts, policy, settings)
            if output["settings"]["phase"] == "retire":  # no host is read; the store is
                output.update(reads_by_host={}, env_reads_by_host={}, sm_reads=[], ssm_reads=[], store_queries=role.store_queries(output))
            return output
        if step == "retire" and args.get("holders_plan"):
            phase = (args["holders_plan"].get("settings") or {}).get("phase") or "all"
            if phase == "retire":  # no host is contacted: the acknowledgements in the store decide
                output = role.from_store(args["holders_plan"], args.get("results"),
                                         backend=args["holders_plan"]["settings"].get("escrow_backend") or "local")
                return dict(output, phase=phase)
            if phase == "prepare":  # keys created and stored; the distribute phase writes the holders
                return dict(role.prepared(self._need(args, "previous", step)["users"]), phase=phase)
        plan = self._need(args, "plan", step)
        if step == "users":
            hosts = sorted({h["host"] for h in plan["holders"]})
            host_results = self._host_results(task_vars, hosts, self._need(args, "host_results_var", step))
            return role.rotation_input(plan, host_results, args["escrowed_key_ids"])
        if step == "targets":
            return role.targets(plan, args.get("results"), check_mode=check_mode)
        if step == "distribute":
            previous = self._need(args, "previous", step)
            hosts = sorted(set(previous.get("holder_reads") or {}) | set(previous.get("env_source_reads") or {}))
            host_results = self._host_results(task_vars, hosts, args["host_results_var"]) if args.get("host_results_var") else {}
            stores = args.get("results") if isinstance(args.get("results"), dict) else {}
            return role.distribute(plan, previous, args.get("escrow_query"), host_results, stores)
        if step == "reloads":
            previous = self._need(args, "previous", step)
            hosts = sorted({h["host"] for h in plan["holders"]})
            host_results = self._host_results(task_vars, hosts, self._need(args, "host_results_var", step))
            return {"reloads": role.reloads(plan, previous["users"], args.get("results"), host_results, check_mode=check_mode)}
        if step == "retire":
            previous = self._need(args, "previous", step)
            hosts = sorted({h["host"] for h in plan["holders"]})
            host_results = self._host_results(task_vars, hosts, self._need(args, "host_results_var", step))
            reload_results = self._host_results(task_vars, hosts, [args["reload_results_var"]]) if args.get("reload_results_var") else {}
            output = role.retirement(plan, previous["users"], args.get("results"), host_results, check_mode=check_mode,
                                     reload_results=reload_results, play_hosts=plain(task_vars.get("ansible_play_hosts") or []))
            phase = (plan.get("settings") or {}).get("phase") or "all"
            if phase == "distribute":  # retiring is the retire phase's work: here only the acknowledgements
                output = dict(output, retire_groups=[], escrow_remove=[])
            else:
                output["acknowledge"] = []
            return dict(output, phase=phase)
        previous = self._need(args, "previous", step)
        return role.report(previous, args.get("results"), check_mode=check_mode, phase=(plan.get("settings") or {}).get("phase"))
