# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The bookkeeping of the role keyops.aws.credentials_audit, as pure functions (no Ansible, no I/O): the
action plugin keyops.aws.credentials_audit_plan feeds them inventory variables and the raw results
the role's read tasks registered, and hands their output to the next task. The role's tasks only
orchestrate; the findings engine is module_utils/_audit.py.

Steps (each returns plain dicts/lists; secrets only in ``verify``):

1. ``scope``: every play host's environment (``_audit.resolve_environment``), what to read on it
   (credentials files, env files, authorized_keys), the Secrets Manager / SSM holders per AWS
   settings, the AWS settings of every environment and the controller's key paths.
2. ``accounts``: the STS identities of the environments' settings -> the AWS account of every
   environment, the IAM reads (one per account: a user held in several environments of one account
   is read once) and the EC2 key pair reads (one per environment).
3. ``verify``: the credentials files read on the hosts -> the key pairs to verify with STS, per AWS
   settings. Holds secrets.
4. ``owners``: the verification results -> the IAM users owning the keys found that are not read yet.
5. ``facts``: every raw result -> the facts of ``keyops.aws.credentials_audit_report`` (no secret:
   only whitelisted fields are copied).
"""

import base64
import os

from ansible_collections.keyops.aws.plugins.module_utils import _audit
from ansible_collections.keyops.aws.plugins.plugin_utils._access_key_rotation_role import (
    MAX_DAYS,
    RoleError,
    aws_id,
    aws_label,
    bounded_int,
    env_pairs as _env_pairs,
    has_sensitive,
    normalize_aws,
    normalize_credentials,
)

DEFAULT_KEY_DIR = "~/.ssh/keyops-aws"
INTEGER_SETTINGS = {
    # variable: (minimum, maximum)
    "credentials_audit_max_age_days": (0, MAX_DAYS),
    "credentials_audit_unused_days": (0, MAX_DAYS),
    "credentials_audit_concurrency": (1, 256),
}
MAX_VERIFY_TIMEOUT = 86400
DEFAULT_DELETE_AFTER_DAYS = _audit.DEFAULT_DELETE_AFTER_DAYS


def _plain_list(value):
    return list(value) if isinstance(value, (list, tuple)) else []


def _results(registered):
    """The per-item results of a registered loop (a skipped or missing task: none)."""
    if not isinstance(registered, dict):
        return []
    return [item for item in registered.get("results") or [] if isinstance(item, dict)]


def did_fail(result):
    """Whether a registered result failed. The role registers reads with ``failed_when: false`` (a read that fails
    is a finding's context, not a play failure), which sets ``failed`` to false: a ``msg`` tells the failure apart
    (the read modules return none on success)."""
    if not isinstance(result, dict) or result.get("skipped"):
        return False
    return bool(result.get("failed")) or bool(result.get("msg"))


def _failed_msg(result, default):
    return str(result.get("msg") or default)


def _delete_after(value):
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number <= 36500 else None


# --------------------------------------------------------------------------- step 1
def _host_entries(host, credentials):
    """Valid holder entries of a host and the problems of the others (the audit reports a bad entry, it
    does not stop)."""
    if credentials in (None, ""):
        return [], []
    if not isinstance(credentials, list):
        return [], ["access_key_rotation_credentials must be a list of dicts (iam_user, type, ...)"]
    entries, errors = [], []
    for index, item in enumerate(credentials):
        try:
            entry = normalize_credentials([item], host)[0]
        except RoleError as exc:
            errors.append(str(exc).replace("access_key_rotation_credentials[0]", "access_key_rotation_credentials[%d]" % index)
                          .replace("; nothing was changed", ""))
            continue
        entries.append(entry)
    return entries, errors


def _authorized_keys_path(values, all_hosts):
    if not values.get("key_pair_rotation_name"):
        return None
    user = values.get("key_pair_rotation_user")
    path = values.get("key_pair_rotation_authorized_keys_path")
    if not (all_hosts or user or path):
        return None
    if path:
        return str(path)
    user = user or values.get("ansible_user")
    return ("~%s/.ssh/authorized_keys" % user) if user else "~/.ssh/authorized_keys"


def _env_files(entries):
    files, index = [], {}
    for entry in entries:
        if entry["type"] != "env_file":
            continue
        item = index.get(entry["path"])
        if item is None:
            item = index[entry["path"]] = {"path": entry["path"], "entries": []}
            files.append(item)
        wanted = {"id_var": entry["id_var"], "secret_var": entry["secret_var"]}
        if wanted not in item["entries"]:
            item["entries"].append(wanted)
    for item in files:
        item["label"] = "%s (%d entr%s)" % (item["path"], len(item["entries"]), "y" if len(item["entries"]) == 1 else "ies")
    return files


def _store_reads(kind, holders_by_host, hosts):
    """The holders of one kind, one read per AWS settings: ``[{aws_id, aws, label, module_holders}]``."""
    out, index = [], {}
    for host in hosts:
        for entry in holders_by_host.get(host) or []:
            if entry["type"] != kind:
                continue
            gid = hosts[host]["aws_id"]
            item = index.get(gid)
            if item is None:
                item = index[gid] = {"aws_id": gid, "label": aws_label(hosts[host]["aws"]), "module_holders": []}
                out.append(item)
            if kind == "secretsmanager":
                wanted = {"secret_id": entry["secret_id"], "id_key": entry["id_key"], "secret_key": entry["secret_key"]}
            else:
                wanted = {"id_parameter": entry["id_parameter"], "secret_parameter": entry["secret_parameter"]}
            if wanted not in item["module_holders"]:
                item["module_holders"].append(wanted)
    return out


def check_settings(settings):
    """The role's numbers, checked in the first task (before any host is read): ``settings`` maps the
    variable names (INTEGER_SETTINGS and credentials_audit_verify_timeout) to their values; a missing one
    is not checked."""
    for name, bounds in INTEGER_SETTINGS.items():
        if settings.get(name) is not None:
            bounded_int(settings[name], name, "play", bounds=bounds)
    timeout = settings.get("credentials_audit_verify_timeout")
    if timeout is None:
        return
    try:
        seconds = float(timeout) if not isinstance(timeout, bool) else None
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or not 0 <= seconds <= MAX_VERIFY_TIMEOUT:  # NaN fails both comparisons
        raise RoleError("play: credentials_audit_verify_timeout must be a number of seconds between 0 and %d, got %r; "
                        "nothing was changed" % (MAX_VERIFY_TIMEOUT, timeout))


def scope(host_vars, groups, options=None):
    """Step 1. ``host_vars``: ordered ``{host: {...}}`` of the play hosts with the variables
    keyops_environment, access_key_rotation_credentials, access_key_rotation_aws,
    access_key_rotation_delete_after_days, key_pair_rotation_name, key_pair_rotation_regions,
    key_pair_rotation_key_dir, key_pair_rotation_user, key_pair_rotation_authorized_keys_path and
    ansible_user (missing ones None). ``groups``: the ``groups`` magic variable."""
    options = options or {}
    all_hosts = bool(options.get("authorized_keys_all_hosts"))
    hosts, entries, environments, env_index = {}, {}, [], {}
    for host, values in host_vars.items():
        values = values or {}
        environment = _audit.resolve_environment(host, values.get("keyops_environment"), groups)
        errors = []
        try:
            aws = normalize_aws(values.get("access_key_rotation_aws"), "host %s" % host)
        except RoleError as exc:
            errors.append(str(exc))
            aws = {}
        mine, problems = _host_entries(host, values.get("access_key_rotation_credentials"))
        errors += problems
        entries[host] = mine
        files = []
        for entry in mine:
            if entry["type"] == "credentials_file" and entry["path"] not in files:
                files.append(entry["path"])
        hosts[host] = {
            "environment": environment,
            "aws": aws,
            "aws_id": aws_id(aws),
            "files": files,
            "env_files": _env_files(mine),
            "authorized_keys": _authorized_keys_path(values, all_hosts),
            "errors": errors,
        }
        env = env_index.get(environment)
        if env is None:
            name = values.get("key_pair_rotation_name") or None
            regions = [str(region) for region in _plain_list(values.get("key_pair_rotation_regions"))]
            env = env_index[environment] = {
                "environment": environment,
                "hosts": [],
                "aws": aws,
                "aws_id": aws_id(aws),
                "label": aws_label(aws),
                "key_pair": {"name": str(name), "regions": regions} if name and regions else None,
                "delete_after_days": _delete_after(values.get("access_key_rotation_delete_after_days")) or DEFAULT_DELETE_AFTER_DAYS,
            }
            environments.append(env)
        else:
            days = _delete_after(values.get("access_key_rotation_delete_after_days"))
            if days is not None:
                env["delete_after_days"] = max(env["delete_after_days"], days)
        env["hosts"].append(host)
    identity_reads, seen = [], set()
    for env in environments:
        if env["aws_id"] not in seen:
            seen.add(env["aws_id"])
            identity_reads.append({"aws_id": env["aws_id"], "label": env["label"]})
    controller = None
    first = next(iter(host_vars.values()), None) or {}
    if first.get("key_pair_rotation_name"):
        key_dir = os.path.expanduser(str(first.get("key_pair_rotation_key_dir") or DEFAULT_KEY_DIR))
        name = str(first["key_pair_rotation_name"])
        controller = {"name": name, "key_dir": key_dir, "key_base": os.path.join(key_dir, name)}
    settings = dict((host["aws_id"], host["aws"]) for host in hosts.values())
    return {
        "hosts": hosts,
        "settings": settings,
        "entries": entries,
        "environments": environments,
        "identity_reads": identity_reads,
        "sm_reads": _store_reads("secretsmanager", entries, hosts),
        "ssm_reads": _store_reads("ssm_parameter", entries, hosts),
        "controller": controller,
        "sensitive": any(has_sensitive(host["aws"]) for host in hosts.values()),
    }


# --------------------------------------------------------------------------- step 2
def _scope_key(accounts, env):
    account = accounts.get(env)
    return ("account:%s" % account) if account else ("environment:%s" % env)


def accounts(plan, identity, controller_public=None):
    """Step 2. ``identity``: the registered loop of amazon.aws.aws_caller_info over ``identity_reads``;
    ``controller_public``: the registered slurp of the controller's public key."""
    by_settings, problems = {}, {}
    for result in _results(identity):
        item = result.get("item") or {}
        if did_fail(result) or not result.get("account"):
            problems[item.get("aws_id")] = _failed_msg(result, "STS GetCallerIdentity failed")
        else:
            by_settings[item.get("aws_id")] = str(result["account"])
    env_accounts, errors = {}, {}
    for env in plan["environments"]:
        env_accounts[env["environment"]] = by_settings.get(env["aws_id"])
        if env["aws_id"] in problems:
            errors[env["environment"]] = ("the AWS account of the environment could not be identified (%s); its IAM facts are "
                                          "compared within the environment only" % problems[env["aws_id"]])
    iam_reads, index = [], {}
    for env in plan["environments"]:
        key = _scope_key(env_accounts, env["environment"])
        item = index.get(key)
        if item is None:
            item = index[key] = {"scope": key, "environment": env["environment"], "environments": [], "aws_id": env["aws_id"],
                                 "label": "%s (%s)" % (key, env["label"]), "user_names": [],
                                 "delete_after_days": env["delete_after_days"]}
            iam_reads.append(item)
        item["environments"].append(env["environment"])
        item["delete_after_days"] = max(item["delete_after_days"], env["delete_after_days"])
        for host in env["hosts"]:
            for entry in plan["entries"].get(host) or []:
                if entry["iam_user"] not in item["user_names"]:
                    item["user_names"].append(entry["iam_user"])
    for item in iam_reads:
        item["user_names"].sort()
    public_key = None
    if isinstance(controller_public, dict) and controller_public.get("content"):
        public_key = _b64text(controller_public["content"]).strip() or None
    ec2_reads = []
    for env in plan["environments"]:
        if env["key_pair"]:
            ec2_reads.append({"environment": env["environment"], "aws_id": env["aws_id"],
                              "label": "%s (%s)" % (env["environment"], env["label"]),
                              "name": env["key_pair"]["name"], "regions": env["key_pair"]["regions"], "public_key": public_key})
    return {"accounts": env_accounts, "account_errors": errors,
            "iam_reads": [item for item in iam_reads if item["user_names"]], "ec2_reads": ec2_reads}


def _b64text(content):
    try:
        return base64.b64decode(content).decode("utf-8", "replace")
    except (ValueError, TypeError):
        return ""


# --------------------------------------------------------------------------- step 3
def _store_slot(entry):
    """``(path, slot)`` naming a Secrets Manager or SSM holder in a verified key's name (as its fact names it)."""
    if entry["type"] == "secretsmanager":
        return entry["secret_id"], entry["id_key"]
    return entry["id_parameter"], entry["secret_parameter"]


def verify_groups(plan, host_reads, env_reads=None, stores=None):
    """Step 3. ``host_reads``: ``{host: registered loop of credentials_profile_info (return_secrets)}``;
    ``env_reads``: ``{host: registered loop of slurp over the host's env_files}``; ``stores``: ``{sm, ssm}``, the
    registered loops of secretsmanager/ssm_parameter_credentials (return_secrets). Returns the key pairs to verify
    per AWS settings (holds secrets); a key's name is ``host\npath\nprofile, id variable, JSON key or secret parameter``."""
    groups, index = [], {}
    stores = stores or {}
    held = {"secretsmanager": _store_index(stores.get("sm"), "secret_id"),
            "ssm_parameter": _store_index(stores.get("ssm"), "secret_parameter")}

    def add(host, path, slot, key_id, secret, token=None):
        gid = plan["hosts"][host]["aws_id"]
        group = index.get(gid)
        if group is None:
            group = index[gid] = {"aws_id": gid, "label": aws_label(plan["hosts"][host]["aws"]), "key_pairs": []}
            groups.append(group)
        key = {"access_key_id": key_id, "secret_access_key": secret, "name": "%s\n%s\n%s" % (host, path, slot)}
        if token:
            key["session_token"] = token
        group["key_pairs"].append(key)

    for host in plan["hosts"]:
        for result in _results(host_reads.get(host)):
            path = result.get("item")
            for prof in result.get("profiles") or []:
                if not (prof.get("aws_access_key_id") and prof.get("has_secret_access_key") and prof.get("secret_access_key")):
                    continue
                add(host, path, prof.get("name"), prof["aws_access_key_id"], prof["secret_access_key"],
                    prof.get("session_token") if prof.get("has_session_token") else None)
        for result in _results((env_reads or {}).get(host)):
            for id_var, key_id, secret in _env_pairs(result):
                add(host, (result.get("item") or {}).get("path"), id_var, key_id, secret)
        for entry in plan["entries"].get(host) or []:
            by_holder = held.get(entry["type"])  # not "index": add() keeps the groups in that one
            holder = by_holder.get((plan["hosts"][host]["aws_id"], _STORE_KEY[entry["type"]](entry))) if by_holder else None
            if holder and not holder.get("failed") and holder.get("access_key_id") and holder.get("secret_access_key"):
                add(host, *_store_slot(entry), key_id=holder["access_key_id"], secret=holder["secret_access_key"])
    for group in groups:
        group["label"] = "%s (%d key%s)" % (group["label"], len(group["key_pairs"]), "" if len(group["key_pairs"]) == 1 else "s")
    return {"verify_groups": groups, "sensitive": True}


def _verified(verify):
    """``{(host, path, profile): {reason, arn, user_name}}`` and the problems of the verification."""
    out, errors = {}, []
    for result in _results(verify):
        if "results" not in result:
            errors.append("verification with STS failed: %s" % _failed_msg(result, "unknown error"))
            continue
        for item in result.get("results") or []:
            parts = str(item.get("name") or "").split("\n")
            if len(parts) == 3:
                out[tuple(parts)] = {"reason": item.get("reason"), "arn": item.get("arn"), "user_name": item.get("user_name")}
    return out, errors


def _iam_read(registered):
    """``{scope: {users, missing_users, error}}`` from a registered loop of iam_access_key_info over iam_reads."""
    out = {}
    for result in _results(registered):
        item = result.get("item") or {}
        users = [user for user in result.get("users") or [] if isinstance(user, dict)]
        missing = [str(name) for name in result.get("unknown_users") or []]
        error = None
        if did_fail(result) and not (missing and "reading failed" not in str(result.get("msg") or "")):
            error = _failed_msg(result, "the IAM users could not be read")
        out[item.get("scope")] = {"users": users, "missing_users": missing, "error": error, "item": item}
    return out


# --------------------------------------------------------------------------- step 4
def owners(plan, account_plan, iam_first, verify):
    """Step 4. The IAM users owning verified keys that the first IAM read did not cover, per account."""
    read = _iam_read(iam_first)
    verified, _errors = _verified(verify)
    env_accounts = account_plan["accounts"]
    reads = {}
    first_items = dict((item["scope"], item) for item in account_plan["iam_reads"])
    envs = dict((env["environment"], env) for env in plan["environments"])
    for (host, _path, _profile), info in sorted(verified.items()):
        user = info.get("user_name") or _audit.user_from_arn(info.get("arn"))
        if not user or host not in plan["hosts"]:
            continue
        environment = plan["hosts"][host]["environment"]
        key = _scope_key(env_accounts, environment)
        done = read.get(key) or {}
        known = set(u.get("user_name") for u in done.get("users") or []) | set(done.get("missing_users") or [])
        if user in known or user in (first_items.get(key) or {}).get("user_names", []):
            continue
        item = reads.get(key)
        if item is None:
            env = envs[environment]
            base = first_items.get(key) or {
                "environment": environment, "environments": [environment], "delete_after_days": env["delete_after_days"]}
            item = reads[key] = {"scope": key, "environment": base["environment"], "environments": base["environments"],
                                 "aws_id": env["aws_id"], "label": "%s (%s)" % (key, env["label"]), "user_names": [],
                                 "delete_after_days": base["delete_after_days"]}
        if user not in item["user_names"]:
            item["user_names"].append(user)
    out = [reads[key] for key in sorted(reads)]
    for item in out:
        item["user_names"].sort()
    return {"iam_reads": out}


# --------------------------------------------------------------------------- step 5
def _credentials_facts(plan, host, reads, verified):
    entries = [entry for entry in plan["entries"].get(host) or [] if entry["type"] == "credentials_file"]
    by_path = dict((result.get("item"), result) for result in _results(reads))
    out = []
    for path in plan["hosts"][host]["files"]:
        result = by_path.get(path)
        managed = [{"profile": entry["profile"], "iam_user": entry["iam_user"]} for entry in entries if entry["path"] == path]
        if result is None:
            out.append({"path": path, "exists": False, "mode": None, "owner": None, "group": None, "managed": managed,
                        "profiles": [], "error": "the file was not read"})
            continue
        readable = isinstance(result.get("profiles"), list) and not did_fail(result)
        profiles = []
        for prof in result.get("profiles") or [] if readable else []:
            profiles.append({"name": prof.get("name"), "access_key_id": prof.get("aws_access_key_id"),
                             "has_secret_access_key": bool(prof.get("has_secret_access_key")),
                             "verify": verified.get((host, path, prof.get("name")))})
        out.append({"path": path, "exists": bool(result.get("exists")), "mode": result.get("mode"),
                    "owner": result.get("owner"), "group": result.get("group"),
                    "error": None if readable else _failed_msg(result, "the file could not be read"),
                    "managed": managed, "profiles": profiles})
    return out


def _env_mode(result):
    """The mode of an env file as its read reports it (``mode``; older results: the set_mode action a read planned)."""
    if result.get("mode"):
        return str(result["mode"])
    for action in result.get("actions") or []:
        if isinstance(action, dict) and action.get("action") == "set_mode":
            reason = str(action.get("reason") or "")
            if reason.startswith("mode is "):
                return reason[len("mode is "):]
    return "0600" if result.get("exists") else None


def _store_facts(plan, host, env_reads, sm, ssm, verified):
    holders = []
    env_results = dict(((result.get("item") or {}).get("path"), result) for result in _results(env_reads))
    for entry in plan["entries"].get(host) or []:
        kind = entry["type"]
        if kind == "credentials_file":
            continue
        fact = {"type": kind, "iam_user": entry["iam_user"], "exists": False, "access_key_id": None, "mode": None,
                "error": None, "verify": None}
        if kind == "env_file":
            fact.update(path=entry["path"], slot=entry["id_var"], secret_slot=entry["secret_var"])
            result = env_results.get(entry["path"])
            if result is None:
                fact["error"] = "the env file was not read"
            elif did_fail(result):
                fact["error"] = _failed_msg(result, "the env file could not be read")
            else:
                fact["exists"] = bool(result.get("exists"))
                fact["mode"] = _env_mode(result)
                for item in result.get("entries") or []:
                    if item.get("id_var") == entry["id_var"]:
                        fact["access_key_id"] = item.get("access_key_id")
                fact["verify"] = verified.get((host, entry["path"], entry["id_var"]))
        elif kind == "secretsmanager":
            fact.update(path=entry["secret_id"], slot=entry["id_key"], secret_slot=entry["secret_key"])
            _store_result(fact, sm.get((plan["hosts"][host]["aws_id"], entry["secret_id"])), "secret %s" % entry["secret_id"])
            fact["verify"] = verified.get((host,) + _store_slot(entry))
        else:
            fact.update(path=entry["id_parameter"], slot=None, secret_slot=entry["secret_parameter"])
            _store_result(fact, ssm.get((plan["hosts"][host]["aws_id"], entry["secret_parameter"])),
                          "parameters %s, %s" % (entry["id_parameter"], entry["secret_parameter"]))
            fact["verify"] = verified.get((host,) + _store_slot(entry))
        holders.append(fact)
    return holders


def _store_result(fact, result, what):
    if result is None:
        fact["error"] = "%s: not read" % what
    elif result.get("failed"):
        msg = str(result.get("msg") or "")
        if "not found" in msg.lower() or "ResourceNotFound" in msg:
            fact["exists"] = False
        fact["error"] = msg or "%s: could not be read" % what
    else:
        fact["exists"] = result.get("access_key_id") is not None
        fact["access_key_id"] = result.get("access_key_id")


_STORE_KEY = {"secretsmanager": lambda entry: entry["secret_id"], "ssm_parameter": lambda entry: entry["secret_parameter"]}


def _store_index(registered, key):
    """``{(aws_id, holder key): holder result}`` of a registered loop of secretsmanager/ssm_parameter_credentials."""
    out = {}
    for result in _results(registered):
        item = result.get("item") or {}
        gid = item.get("aws_id")
        got = dict((holder.get(key), holder) for holder in result.get("holders") or [] if isinstance(holder, dict))
        for wanted in item.get("module_holders") or []:
            holder = got.get(wanted.get(key))
            if holder is None:
                holder = {"failed": True, "msg": _failed_msg(result, "could not be read")}
            out[(gid, wanted.get(key))] = holder
    return out


def _authorized_keys_facts(path, stat_result, slurp_result):
    if not path:
        return None
    stat_result = stat_result if isinstance(stat_result, dict) else {}
    slurp_result = slurp_result if isinstance(slurp_result, dict) else {}
    exists = bool((stat_result.get("stat") or {}).get("exists"))
    error = None
    if "stat" not in stat_result:
        error = _failed_msg(stat_result, "cannot read the file")
    elif exists and not slurp_result.get("skipped") and "content" not in slurp_result:
        error = _failed_msg(slurp_result, "cannot read the file")
    content = _b64text(slurp_result["content"]) if slurp_result.get("content") else ""
    return {"path": path, "exists": exists, "content": content, "error": error}


def _controller_facts(plan, reads):
    controller = plan.get("controller")
    if not controller:
        return {}
    reads = reads or {}
    private = (reads.get("private_stat") or {}).get("stat") or {}
    public = reads.get("public_read") or {}
    retired = []
    for result in sorted(_results(reads.get("retired_read")), key=lambda item: str(item.get("item"))):
        if result.get("content"):
            retired.append({"path": str(result.get("item")), "public_key": _b64text(result["content"]).strip()})
    return {
        "name": controller["name"],
        "key_dir": controller["key_dir"],
        "public_key_path": controller["key_base"] + ".pub",
        "public_key": _b64text(public["content"]).strip() if public.get("content") else None,
        "private_key": {"path": controller["key_base"], "exists": bool(private.get("exists")), "mode": private.get("mode")},
        "retired_public_keys": retired,
    }


def _ec2_facts(ec2):
    out = {}
    for result in _results(ec2):
        item = result.get("item") or {}
        name, regions_wanted = item.get("name"), item.get("regions") or []
        failed = [str(region) for region in result.get("failed_regions") or []]
        present = result.get("present_in")
        regions, errors = {}, []
        if present is None:
            errors.append(_failed_msg(result, "the key pairs could not be read"))
        else:
            for region in regions_wanted:
                if region in failed:
                    continue
                pair = next((p for p in result.get("key_pairs") or []
                             if p.get("region") == region and p.get("key_name") == name), None)
                regions[region] = {"present": region in present, "public_key": (pair or {}).get("public_key"),
                                   "fingerprint": (pair or {}).get("fingerprint")}
        for region in failed:
            errors.append("%s: %s" % (region, (result.get("errors") or {}).get(region) or "could not be read"))
        out[item.get("environment")] = {"name": name, "regions": regions, "found_elsewhere": result.get("found_elsewhere") or [],
                                        "error": "; ".join(errors) if errors else None}
    return out


def facts(plan, account_plan, results, host_results, not_audited=()):
    """Step 5: the facts of keyops.aws.credentials_audit_report from the raw results.

    ``results``: the controller's registered results ``{iam_first, iam_owners, verify, sm, ssm, ec2,
    controller: {private_stat, public_read, retired_read}}``; ``host_results``: ``{host: {reads, env_reads,
    ak_stat, ak_read}}`` (hosts no longer in the play left out)."""
    verified, verify_errors = _verified(results.get("verify"))
    sm = _store_index(results.get("sm"), "secret_id")
    ssm = _store_index(results.get("ssm"), "secret_parameter")
    hosts = []
    for host, info in plan["hosts"].items():
        mine = host_results.get(host)
        if mine is None:
            continue
        errors = list(info["errors"])
        if verify_errors and (info["files"] or info["env_files"] or
                              any(entry["type"] in _STORE_KEY for entry in plan["entries"].get(host) or [])):
            errors += verify_errors
        hosts.append({
            "host": host,
            "environment": info["environment"],
            "credentials": _credentials_facts(plan, host, mine.get("reads"), verified),
            "holders": _store_facts(plan, host, mine.get("env_reads"), sm, ssm, verified),
            "authorized_keys": _authorized_keys_facts(info["authorized_keys"], mine.get("ak_stat"), mine.get("ak_read")),
            "errors": errors,
        })
    iam = {}
    for registered in (results.get("iam_first"), results.get("iam_owners")):
        for _scope, data in _iam_read(registered).items():
            item = data["item"]
            env = item.get("environment")
            known = iam.setdefault(env, {"users": [], "missing_users": [], "error": None,
                                         "delete_after_days": item.get("delete_after_days")})
            known["users"] += data["users"]
            known["missing_users"] = sorted(set(known["missing_users"]) | set(data["missing_users"]))
            if data["error"]:
                known["error"] = "; ".join(part for part in (known["error"], data["error"]) if part)
    for env, message in sorted((account_plan.get("account_errors") or {}).items()):
        known = iam.setdefault(env, {"users": [], "missing_users": [], "error": None})
        known["error"] = "; ".join(part for part in (known["error"], message) if part)
    return {
        "hosts": hosts,
        "iam": iam,
        "accounts": dict((env, acct) for env, acct in (account_plan.get("accounts") or {}).items() if acct),
        "key_pairs": _ec2_facts(results.get("ec2")),
        "controller": _controller_facts(plan, results.get("controller")),
        "not_audited": sorted(str(host) for host in not_audited),
    }
