# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The bookkeeping of the role keyops.aws.access_key_rotation, as pure functions (no Ansible, no I/O):
the action plugin keyops.aws.access_key_rotation_plan feeds them inventory variables and task
results and hands their output to the next task. The role's tasks stay orchestration.

Words used here:

- a *holder* is one credentials profile on one inventory host: ``(host, path, profile)`` holding the
  key of one IAM user; its id is ``host:path[profile]``;
- *AWS settings* are the connection options of a holder (``access_key_rotation_aws``); users are
  keyed by ``(AWS settings, IAM user)`` and every AWS call is batched per distinct settings;
- a holder is *reachable* while its host is still in the play; one that is not (unreachable at any
  point, failed, outside ``--limit``) is *pending*: its user's old key stays Active.

Steps (each returns plain dicts/lists; secrets only where said):

1. ``collect_holders``: holders from every inventory host's variables, grouped by AWS settings.
2. ``rotation_input``: what each holder holds (read on the hosts) -> the ``users`` option of
   iam_access_key_rotation per AWS settings.
3. ``targets``: the rotation results -> per user the target key, where its secret comes from (the new
   key, the escrow, a holder that holds it) and which holders must be written. Holds new secrets.
4. ``distribute``: with the secrets in hand -> the writes per host and the keys to verify per AWS
   settings. Holds secrets.
5. ``retirement``: verification and read-back results -> the users whose every holder holds the
   verified target (retire their other keys, drop the escrow entry), the pending holders.
6. ``report``: the retire results -> the summary (no secret).
"""

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Dict, NamedTuple, Optional, Tuple

from ansible_collections.keyops.aws.plugins.module_utils import _durable_state as durable
from ansible_collections.keyops.aws.plugins.module_utils._booleans import parse_bool
from ansible_collections.keyops.aws.plugins.module_utils._credentials_file import CredentialsFileError, check_profile_name
from ansible_collections.keyops.aws.plugins.module_utils._env_file import EnvFile, EnvFileError
from ansible_collections.keyops.aws.plugins.module_utils._secret_stores import parameter_name_problem, secret_name_problem

_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

AWS_OPTIONS = (
    "access_key",
    "secret_key",
    "session_token",
    "profile",
    "endpoint_url",
    "region",
    "validate_certs",
    "aws_ca_bundle",
    "aws_config",
)
SENSITIVE_AWS_OPTIONS = ("secret_key", "session_token")
CREDENTIAL_KEYS = ("iam_user", "type", "path", "profile", "owner", "group")
# the keys each holder type accepts besides iam_user and type
TYPE_KEYS = {
    "credentials_file": ("path", "profile", "owner", "group"),
    "env_file": ("path", "id_var", "secret_var", "owner", "group"),
    "secretsmanager": ("secret_id", "id_key", "secret_key", "create", "kms_key_id"),
    "ssm_parameter": ("id_parameter", "secret_parameter", "kms_key_id"),
}
HOLDER_TYPES = tuple(TYPE_KEYS)
MAX_DAYS = 36500  # a hundred years: more is a typo (and overflows date arithmetic)
BOUNDS = {
    # variable: (minimum, maximum)
    "access_key_rotation_max_age_days": (1, MAX_DAYS),
    "access_key_rotation_delete_after_days": (0, MAX_DAYS),
    "access_key_rotation_verify_successes": (1, 100),
    "access_key_rotation_verify_timeout": (0, 86400),
    "access_key_rotation_batch_size": (1, 100000),
    "access_key_rotation_concurrency": (1, 256),
    "access_key_rotation_claim_ttl_minutes": (0, 10080),
}
MAX_ERRORS_SHOWN = 20
PHASES = ("all", "prepare", "distribute", "retire")
ESCROW_BACKENDS = ("local", "secretsmanager")


class RoleError(Exception):
    """A problem with the role's input, described for a user (no secret in the message)."""


# --------------------------------------------------------------------------- AWS settings
def normalize_aws(value, where):
    """The AWS settings dict (options with a value only), validated."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RoleError("%s: access_key_rotation_aws must be a dict of AWS options (%s)" % (where, ", ".join(AWS_OPTIONS)))
    unknown = sorted(set(value) - set(AWS_OPTIONS))
    if unknown:
        raise RoleError("%s: access_key_rotation_aws has unknown options %s (allowed: %s)" % (where, ", ".join(unknown), ", ".join(AWS_OPTIONS)))
    return {key: value[key] for key in AWS_OPTIONS if value.get(key) not in (None, "")}


def aws_id(settings):
    """A short stable id of AWS settings (a digest: it never reveals a secret it covers)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def aws_label(settings):
    """A human label of AWS settings, without any secret."""
    parts = []
    for key in ("profile", "region", "endpoint_url", "access_key"):
        if settings.get(key):
            parts.append("%s=%s" % (key, settings[key]))
    return " ".join(parts) if parts else "default AWS settings"


def has_sensitive(settings):
    return any(settings.get(key) for key in SENSITIVE_AWS_OPTIONS)


def has_sensitive_settings(node):
    """Whether AWS settings with a secret (secret_key, session_token) appear anywhere in node."""
    if isinstance(node, dict):
        if isinstance(node.get("aws"), dict) and has_sensitive(node["aws"]):
            return True
        return any(has_sensitive_settings(value) for value in node.values())
    if isinstance(node, list):
        return any(has_sensitive_settings(item) for item in node)
    return False


def user_key(group_id, name):
    return "%s/%s" % (group_id, name)


# --------------------------------------------------------------------------- policy
def bounded_int(value, name, where, minimum=None, bounds=None):
    """An integer variable within ``bounds`` (default BOUNDS[name]); the message names the variable and the bounds."""
    low, high = bounds or BOUNDS.get(name, (minimum, None))
    if isinstance(value, bool):
        raise RoleError("%s: %s must be an integer, got %r" % (where, name, value))
    try:
        if isinstance(value, float) and value != int(value):
            raise ValueError(value)
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise RoleError("%s: %s must be an integer, got %r" % (where, name, value)) from None
    if low is not None and number < low or high is not None and number > high:
        raise RoleError("%s: %s must be between %d and %d, got %d; nothing was changed" % (where, name, low, high, number))
    return number


def check_settings(values, where="play"):
    """The role's play-level numbers (verify, batches, threads), validated before anything is written."""
    out = {}
    for key, name in (("verify_successes", "access_key_rotation_verify_successes"),
                      ("verify_timeout", "access_key_rotation_verify_timeout"),
                      ("batch_size", "access_key_rotation_batch_size"),
                      ("concurrency", "access_key_rotation_concurrency")):
        if values.get(key) is not None:
            out[key] = bounded_int(values[key], name, where)
    phase = values.get("phase") or "all"
    if phase not in PHASES:
        raise RoleError("%s: access_key_rotation_phase must be one of %s, got %r; nothing was changed" % (where, ", ".join(PHASES), phase))
    out["phase"] = phase
    backend = values.get("escrow_backend") or "local"
    if backend not in ESCROW_BACKENDS:
        raise RoleError("%s: access_key_rotation_escrow_backend must be one of %s, got %r; nothing was changed" % (
            where, ", ".join(ESCROW_BACKENDS), backend))
    out["escrow_backend"] = backend
    try:
        durable.check_prefix(values.get("escrow_prefix") or durable.DEFAULT_PREFIX)
    except durable.StoreError as exc:
        raise RoleError("%s: access_key_rotation_%s; nothing was changed" % (where, exc)) from None
    try:
        durable.check_kms_key_id(values.get("escrow_kms_key_id") or None)
    except durable.StoreError as exc:
        raise RoleError("%s: access_key_rotation_%s; nothing was changed" % (where, exc)) from None
    if values.get("claim_ttl_minutes") is not None:
        bounded_int(values["claim_ttl_minutes"], "access_key_rotation_claim_ttl_minutes", where)
    return out


def _bool(value, name, where):
    try:
        return parse_bool(value)
    except ValueError:
        raise RoleError("%s: %s must be a boolean, got %r" % (where, name, value)) from None


def normalize_policy(values, where):
    return {
        "max_age_days": bounded_int(values.get("max_age_days"), "access_key_rotation_max_age_days", where, 1),
        "delete_after_days": bounded_int(values.get("delete_after_days"), "access_key_rotation_delete_after_days", where, 0),
        "force": _bool(values.get("force"), "access_key_rotation_force", where),
    }


def merge_policy(current, other):
    """The stricter of two policies: the shortest max age, the longest grace, force if any asks."""
    if current is None:
        return dict(other)
    return {
        "max_age_days": min(current["max_age_days"], other["max_age_days"]),
        "delete_after_days": max(current["delete_after_days"], other["delete_after_days"]),
        "force": current["force"] or other["force"],
    }


# --------------------------------------------------------------------------- step 1
def _nonempty(item, name, where):
    if not isinstance(item.get(name), str) or not item[name].strip():
        raise RoleError("%s needs %s (a non-empty string); nothing was changed" % (where, name))
    return item[name]


def normalize_credentials(value, host):
    """The host's access_key_rotation_credentials as a list of holder dicts (validated)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RoleError("host %s: access_key_rotation_credentials must be a list of dicts (iam_user, type, ...)" % host)
    entries = []
    for index, item in enumerate(value):
        where = "host %s: access_key_rotation_credentials[%d]" % (host, index)
        if not isinstance(item, dict):
            raise RoleError("%s must be a dict with iam_user and path" % where)
        kind = item.get("type") or "credentials_file"
        if kind not in TYPE_KEYS:
            raise RoleError("%s: unknown type %r (allowed: %s); nothing was changed" % (where, kind, ", ".join(HOLDER_TYPES)))
        allowed = ("iam_user", "type", "reload_command") + TYPE_KEYS[kind]
        unknown = sorted(set(item) - set(allowed))
        if unknown:
            raise RoleError("%s (type %s) has unknown keys %s (allowed: %s); nothing was changed" % (
                where, kind, ", ".join(unknown), ", ".join(allowed)))
        entry = {"iam_user": _nonempty(item, "iam_user", where).strip(), "type": kind,
                 "reload_command": _argv(item.get("reload_command"), where)}
        if kind in ("credentials_file", "env_file"):
            entry["path"] = _nonempty(item, "path", where)
            for optional in ("owner", "group"):
                entry[optional] = str(item[optional]) if item.get(optional) not in (None, "") else None
        if kind == "credentials_file":
            profile = item.get("profile")
            if profile in (None, ""):
                profile = "default"
            if not isinstance(profile, str):
                raise RoleError("%s: profile must be a string" % where)
            try:
                check_profile_name(profile)
            except CredentialsFileError as exc:
                raise RoleError("%s.profile: %s; nothing was changed" % (where, exc)) from None
            entry["profile"] = profile
            entry["key"] = profile
        elif kind == "env_file":
            for name, default in (("id_var", "AWS_ACCESS_KEY_ID"), ("secret_var", "AWS_SECRET_ACCESS_KEY")):
                value_ = item.get(name) or default
                if not isinstance(value_, str) or not _VAR_NAME.match(value_):
                    raise RoleError("%s: %s %r is not a valid variable name; nothing was changed" % (where, name, value_))
                entry[name] = value_
            if entry["id_var"] == entry["secret_var"]:
                raise RoleError("%s: id_var and secret_var must differ; nothing was changed" % where)
            entry["key"] = entry["id_var"]
        elif kind == "secretsmanager":
            problem = secret_name_problem(item.get("secret_id"))
            if problem:
                raise RoleError("%s: %s; nothing was changed" % (where, problem))
            entry["secret_id"] = item["secret_id"]
            entry["id_key"] = item.get("id_key") or "aws_access_key_id"
            entry["secret_key"] = item.get("secret_key") or "aws_secret_access_key"
            if not isinstance(entry["id_key"], str) or not isinstance(entry["secret_key"], str) or entry["id_key"] == entry["secret_key"]:
                raise RoleError("%s: id_key and secret_key must be two different strings; nothing was changed" % where)
            entry["create"] = _bool(item.get("create", False), "create", where)
            if entry["create"] and entry["secret_id"].startswith("arn:"):
                raise RoleError("%s: a secret named by its ARN is never created (create: true); nothing was changed" % where)
            entry["kms_key_id"] = item.get("kms_key_id") or None
            entry["key"] = entry["secret_id"]
        else:
            for name in ("id_parameter", "secret_parameter"):
                problem = parameter_name_problem(name, item.get(name))
                if problem:
                    raise RoleError("%s: %s; nothing was changed" % (where, problem))
                entry[name] = item[name]
            if entry["id_parameter"] == entry["secret_parameter"]:
                raise RoleError("%s: id_parameter and secret_parameter must differ; nothing was changed" % where)
            entry["kms_key_id"] = item.get("kms_key_id") or None
            entry["key"] = entry["secret_parameter"]
        entries.append(entry)
    return entries


def _argv(value, where):
    """A reload_command: an argv list of non-empty strings (run without a shell), or None."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(arg, str) and arg != "" for arg in value):
        raise RoleError("%s: reload_command must be a non-empty list of strings (an argv, run without a shell, e.g. "
                        "['systemctl', 'restart', 'app']); nothing was changed" % where)
    if any("\0" in arg for arg in value):
        raise RoleError("%s: reload_command must not contain NUL characters; nothing was changed" % where)
    return list(value)


def holder_id_of(host, entry):
    kind = entry.get("type") or "credentials_file"
    if kind == "credentials_file":
        return holder_id(host, entry["path"], entry["profile"])
    if kind == "env_file":
        return "%s:%s{%s}" % (host, entry["path"], entry["id_var"])
    if kind == "secretsmanager":
        return "%s:secretsmanager:%s" % (host, entry["secret_id"])
    return "%s:ssm:%s" % (host, entry["secret_parameter"])


def holder_id(host, path, profile):
    return "%s:%s[%s]" % (host, path, profile)


def collect_holders(host_vars, play_hosts, play_policy, settings=None):
    """Step 1 (the role's first step: every input is validated here, before anything is written).
    ``host_vars``: ordered ``{host: {credentials, aws, max_age_days, delete_after_days, force}}``
    for every inventory host (policy values may be None: the play's are used). ``play_hosts``: the
    hosts still in the play. ``settings``: the play's verify_successes, verify_timeout, batch_size,
    concurrency (validated, returned in ``settings``).
    """
    play_hosts = set(play_hosts)
    checked = check_settings(settings or {})
    default_policy = normalize_policy(play_policy, "play")
    holders = []
    seen = set()
    groups = {}
    group_users = {}
    order = []
    for host, values in host_vars.items():
        entries = normalize_credentials(values.get("credentials"), host)
        if not entries:
            continue
        settings = normalize_aws(values.get("aws"), "host %s" % host)
        gid = aws_id(settings)
        policy_values = dict(play_policy)
        for name in ("max_age_days", "delete_after_days", "force"):
            if values.get(name) is not None:
                policy_values[name] = values[name]
        policy = normalize_policy(policy_values, "host %s" % host) if policy_values != play_policy else default_policy
        if gid not in groups:
            groups[gid] = {"aws_id": gid, "label": aws_label(settings), "aws": settings, "policy": None, "users": []}
            order.append(gid)
        group = groups[gid]
        group["policy"] = merge_policy(group["policy"], policy)
        for entry in entries:
            hid = holder_id_of(host, entry)
            if hid in seen:
                raise RoleError("host %s lists the holder %s twice in access_key_rotation_credentials" % (host, hid))
            seen.add(hid)
            holder = dict(entry, id=hid, host=host, aws_id=gid, user=user_key(gid, entry["iam_user"]), reachable=host in play_hosts)
            holders.append(holder)
            if entry["iam_user"] not in group_users.setdefault(gid, set()):
                group_users[gid].add(entry["iam_user"])
                group["users"].append(entry["iam_user"])
    by_host = {}
    env_by_host = {}
    for holder in holders:
        if holder["reachable"] and holder["type"] == "credentials_file":
            by_host.setdefault(holder["host"], []).append(
                {"id": holder["id"], "path": holder["path"], "profile": holder["profile"], "iam_user": holder["iam_user"]}
            )
        elif holder["reachable"] and holder["type"] == "env_file":
            env_by_host.setdefault(holder["host"], []).append(dict(holder, access_key_id=None, secret_access_key=None))
    store_reads = {"secretsmanager": [], "ssm_parameter": []}
    for kind in store_reads:
        mine = [dict(h, access_key_id=None, secret_access_key=None) for h in holders if h["reachable"] and h["type"] == kind]
        store_reads[kind] = store_groups(kind, mine, groups)
    return {
        "holders": holders,
        "aws_groups": [groups[gid] for gid in order],
        "holders_by_host": by_host,
        "reads_by_host": {host: group_by_file(entries) for host, entries in by_host.items()},
        "env_reads_by_host": {host: env_files(entries) for host, entries in env_by_host.items()},
        "sm_reads": store_reads["secretsmanager"],
        "ssm_reads": store_reads["ssm_parameter"],
        "sensitive": any(has_sensitive(groups[gid]["aws"]) for gid in order),
        "settings": checked,
        "store_queries": [],
    }


def env_files(entries):
    """Env file holders of one host (with ``access_key_id``/``secret_access_key``, None to only read)
    grouped per file: the loop items of one keyops.aws.env_file_credentials call per file."""
    files = []
    index = {}
    for entry in entries:
        item = index.get(entry["path"])
        if item is None:
            item = {"path": entry["path"], "owner": None, "group": None, "entries": [], "holders": [], "_vars": set()}
            index[entry["path"]] = item
            files.append(item)
        item["owner"] = item["owner"] or entry.get("owner")
        item["group"] = item["group"] or entry.get("group")
        if entry["id_var"] not in item["_vars"]:
            item["_vars"].add(entry["id_var"])
            wanted = {"id_var": entry["id_var"], "secret_var": entry["secret_var"]}
            if entry.get("access_key_id"):
                wanted.update(access_key_id=entry["access_key_id"], secret_access_key=entry["secret_access_key"])
            item["entries"].append(wanted)
        item["holders"].append({"id": entry["id"], "key": entry["id_var"]})
    for item in files:
        del item["_vars"]
        item["label"] = "%s (%d entr%s)" % (item["path"], len(item["entries"]), "y" if len(item["entries"]) == 1 else "ies")
    return files


def env_pairs(result):
    """``[(id_var, key id, secret)]`` of a registered slurp of an env file (loop item: an ``env_files`` item)."""
    item = result.get("item") or {}
    if not result.get("content"):
        return []
    try:
        parsed = EnvFile.parse(base64.b64decode(result["content"]))
        pairs = []
        for entry in item.get("entries") or []:
            key_id, secret = parsed.value(entry.get("id_var")), parsed.value(entry.get("secret_var"))
            if key_id and secret:
                pairs.append((entry.get("id_var"), key_id, secret))
        return pairs
    except (EnvFileError, ValueError, TypeError):
        return []  # keyops.aws.env_file_credentials reports the problem (the same parser)


def store_groups(kind, entries, groups):
    """Secrets Manager / SSM holders grouped per AWS settings: one controller call per account/region.
    Each item: ``{aws_id, aws, label, module_holders: [the module's holders option], holders: [{id, key}]}``."""
    out = []
    index = {}
    for entry in entries:
        item = index.get(entry["aws_id"])
        if item is None:
            group = groups[entry["aws_id"]] if isinstance(groups, dict) else entry
            item = {"aws_id": entry["aws_id"], "aws": group["aws"], "label": group["label"], "module_holders": [],
                    "holders": [], "_keys": set()}
            index[entry["aws_id"]] = item
            out.append(item)
        if entry["key"] not in item["_keys"]:
            item["_keys"].add(entry["key"])
            if kind == "secretsmanager":
                wanted = {"secret_id": entry["secret_id"], "id_key": entry["id_key"], "secret_key": entry["secret_key"],
                          "create": entry["create"]}
                if entry.get("kms_key_id"):
                    wanted["kms_key_id"] = entry["kms_key_id"]
            else:
                wanted = {"id_parameter": entry["id_parameter"], "secret_parameter": entry["secret_parameter"]}
                if entry.get("kms_key_id"):
                    wanted["kms_key_id"] = entry["kms_key_id"]
            if entry.get("access_key_id"):
                wanted.update(access_key_id=entry["access_key_id"], secret_access_key=entry["secret_access_key"])
            item["module_holders"].append(wanted)
        item["holders"].append({"id": entry["id"], "key": entry["key"]})
    for item in out:
        del item["_keys"]
        count = len(item["module_holders"])
        item["label"] = "%d %s holder%s (%s)" % (count, kind, "" if count == 1 else "s", item["label"])
    return out


# --------------------------------------------------------------------------- step 2
def _loop_results(registered):
    """The per-item results of a registered looped task ([] when skipped or missing)."""
    if not isinstance(registered, dict):
        return []
    results = registered.get("results")
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


def group_by_file(entries):
    """Holder entries ({id, path, profile}) of one host grouped per file: one read per file."""
    files = []
    index = {}
    for entry in entries:
        if entry["path"] not in index:
            index[entry["path"]] = {"path": entry["path"], "profiles": [], "holders": [], "_seen": set()}
            files.append(index[entry["path"]])
        item = index[entry["path"]]
        if entry["profile"] not in item["_seen"]:
            item["_seen"].add(entry["profile"])
            item["profiles"].append(entry["profile"])
        item["holders"].append({"id": entry["id"], "profile": entry["profile"]})
    for item in files:
        del item["_seen"]
    return files


class HolderRead(NamedTuple):
    """What one holder was read (or written and read back) holding: ``read`` False when it could not be
    (``error`` says why); ``key_id`` None when it holds no usable key. No secret."""

    read: bool
    key_id: Optional[str]
    error: Optional[str]


def read_profiles(host_results):
    """``{holder id: {"read": bool, "key_id": str|None, "error": str|None}}``: holder_reads as dicts."""
    return {hid: state._asdict() for hid, state in holder_reads(host_results).items()}


def holder_reads(host_results):
    """``{holder id: HolderRead}`` from registered looped
    tasks with one item per file (see group_by_file) on every host (``{host: registered}``): the reads
    of credentials_profile_info (``profiles[].name``/``aws_access_key_id``) or the writes of
    credentials_profile with ``profiles`` (``profiles[].profile``/``access_key_id``, read back from the
    file after the rename)."""
    state = {}
    for _host, registered in host_results.items():
        for result in _loop_results(registered):
            item = result.get("item")
            if not isinstance(item, dict) or not isinstance(item.get("holders"), list):
                continue
            failed = result.get("failed") or result.get("skipped") or result.get("unreachable")
            held = {}
            for profile in result.get("profiles") or []:
                if not isinstance(profile, dict):
                    continue
                if profile.get("name"):
                    key_id = profile.get("aws_access_key_id") or None
                    if key_id and not profile.get("has_secret_access_key", True):
                        key_id = None  # an id without its secret is not a usable key
                    held[profile["name"]] = key_id
                elif profile.get("profile"):
                    held[profile["profile"]] = profile.get("access_key_id") or None
            unread = set()
            for entry in result.get("entries") or []:  # env_file_credentials
                if isinstance(entry, dict) and entry.get("id_var"):
                    key_id = entry.get("access_key_id") or None
                    held[entry["id_var"]] = key_id if (key_id and entry.get("has_secret", True)) else None
            for entry in result.get("holders") or []:  # secretsmanager_credentials / ssm_parameter_credentials
                if not isinstance(entry, dict):
                    continue
                name = entry.get("secret_id") or entry.get("secret_parameter")
                if entry.get("failed"):
                    unread.add(name)
                else:
                    held[name] = entry.get("access_key_id") or None
            if result.get("holders") and failed and not result.get("msg", "").endswith("nothing was changed"):
                failed = False  # per-holder failures: the others were read/written
            for holder in item["holders"]:
                key = holder.get("key", holder.get("profile"))
                if failed or key in unread:
                    state[holder["id"]] = HolderRead(False, None, str(result.get("msg") or "not read"))
                else:
                    state[holder["id"]] = HolderRead(True, held.get(key), None)
    return state


def _holders_by_user(holders):
    """``{(aws_id, iam_user): [holders]}`` in holder order (one pass: no per-user scan of every holder)."""
    index = {}
    for holder in holders:
        index.setdefault((holder["aws_id"], holder["iam_user"]), []).append(holder)
    return index


def batches(group, users, batch_size, several, key="users"):
    """One loop item per ``batch_size`` users of an AWS settings group, labelled for progress."""
    size = max(1, int(batch_size or len(users) or 1))
    total = len(users)
    out = []
    for start in range(0, total, size):
        chunk = users[start:start + size]
        label = "users %d-%d of %d" % (start + 1, start + len(chunk), total)
        if several:
            label += " (%s)" % group["label"]
        item = {k: v for k, v in group.items() if k not in ("users", "skipped_users")}
        item.update({key: chunk, "label": label})
        out.append(item)
    return out


def rotation_input(plan, host_results, escrowed_key_ids, batch_size=None):
    """Step 2. The ``users`` option of iam_access_key_rotation, per AWS settings, in batches of
    ``batch_size`` users (``rotate_groups``: the loop items of the rotation task).

    A user none of whose holders could be read is left out (all its holders are pending).
    The escrowed key ids are given once per batch (``escrowed_key_ids``), not once per user.
    """
    held = holder_reads(host_results)
    escrowed = sorted(set(escrowed_key_ids or []))
    if batch_size is None:
        batch_size = (plan.get("settings") or {}).get("batch_size")
    holders = []
    for holder in plan["holders"]:
        state = held.get(holder["id"]) if holder["reachable"] else None
        holders.append(dict(holder, read=bool(state and state.read), held_key_id=state.key_id if state else None,
                            reachable=holder["reachable"] and bool(state and state.read)))
    index = _holders_by_user(holders)
    groups = []
    for group in plan["aws_groups"]:
        users = []
        skipped = []
        for name in group["users"]:
            read = [h for h in index.get((group["aws_id"], name), []) if h["read"]]
            if not read:
                skipped.append(name)
                continue
            users.append({"name": name, "held_key_ids": [h["held_key_id"] or "" for h in read], "escrowed_key_ids": []})
        groups.append(dict(group, users=users, skipped_users=skipped))
    several = len(groups) > 1
    rotate = []
    for group in groups:
        if group["users"]:
            for item in batches(group, group["users"], batch_size, several):
                item["escrowed_key_ids"] = escrowed
                rotate.append(item)
    return {
        "holders": holders,
        "aws_groups": groups,
        "rotate_groups": rotate,
        "escrowed_key_ids": escrowed,
        "batch_size": batch_size,
        "settings": plan.get("settings") or {},
        "sensitive": plan.get("sensitive", False),
    }


# --------------------------------------------------------------------------- step 3
def _group_results(rotation):
    """From a registered looped task of iam_access_key_rotation (one item per batch):
    ``({(aws_id, user): user result}, {(aws_id, user) or (aws_id, None): error msg})``. A batch that
    failed as a whole (no per-user results) fails the users of its item (all of its AWS settings'
    users without a result when the item does not list them)."""
    users = {}
    errors = {}
    for result in _loop_results(rotation):
        item = result.get("item") or {}
        gid = item.get("aws_id")
        if gid is None or result.get("skipped"):
            continue
        got = False
        for user in result.get("users") or []:
            if isinstance(user, dict) and user.get("user_name"):
                users[(gid, user["user_name"])] = user
                got = True
        if result.get("failed") and not got:
            msg = str(result.get("msg") or "the rotation task failed")
            names = [u.get("name") if isinstance(u, dict) else u for u in item.get("users") or []]
            if names:
                for name in names:
                    errors[(gid, name)] = msg
            else:
                errors[(gid, None)] = msg
    return users, errors


def _result_for(results, gid, name):
    users, errors = results
    return users.get((gid, name)), errors.get((gid, name)) or errors.get((gid, None))


# --------------------------------------------------------------------------- records (the registered results, typed once)
@dataclass(frozen=True)
class KeySecret:
    """An access key id with its secret. Its repr never shows the secret."""

    access_key_id: Optional[str]
    secret_access_key: str

    def __repr__(self):
        return "KeySecret(access_key_id=%r, secret_access_key=<hidden>)" % (self.access_key_id,)

    __str__ = __repr__

    @classmethod
    def of(cls, value):
        """The key of a registered ``{access_key_id, secret_access_key}`` dict; None without a secret."""
        if isinstance(value, dict) and value.get("secret_access_key"):
            return cls(value.get("access_key_id"), value["secret_access_key"])
        return None


@dataclass(frozen=True)
class RotationResult:
    """One user's result of iam_access_key_rotation, as the targets step reads it. ``new_key`` is set only
    when the rotation returned both the new id and its secret; ``stored_key`` is the key the Secrets
    Manager store recorded (with its secret). The repr masks both secrets (see KeySecret)."""

    decision: Optional[str] = None
    previous_key_ids: Tuple[str, ...] = ()
    msg: Optional[str] = None
    busy: bool = False
    waiting: bool = False
    failed: bool = False
    access_keys: Optional[dict] = None
    target_key_id: Optional[str] = None
    new_key: Optional[KeySecret] = None
    stored_key: Optional[KeySecret] = None

    @classmethod
    def from_registered(cls, user):
        new_key = user.get("new_key") or None
        if not (isinstance(new_key, dict) and new_key.get("access_key_id") and new_key.get("secret_access_key")):
            new_key = None
        return cls(
            decision=user.get("decision"),
            previous_key_ids=tuple(user.get("previous_key_ids") or []),
            msg=user.get("msg"),
            busy=bool(user.get("busy")),
            waiting=bool(user.get("waiting")),
            failed=bool(user.get("failed")),
            access_keys=user["access_keys"] if isinstance(user.get("access_keys"), dict) else None,
            target_key_id=user.get("target_key_id"),
            new_key=KeySecret.of(new_key),
            stored_key=KeySecret.of(user.get("stored_key") or None),
        )


@dataclass(frozen=True)
class RotationResults:
    """The registered looped rotation task, converted once: per ``(aws_id, user)`` a RotationResult, and the
    errors of batches that failed as a whole (keyed ``(aws_id, user)`` or ``(aws_id, None)``)."""

    users: Dict[Tuple[str, str], RotationResult] = field(default_factory=dict)
    errors: Dict[Tuple[str, Optional[str]], str] = field(default_factory=dict)

    @classmethod
    def from_registered(cls, rotation):
        users, errors = _group_results(rotation)
        return cls({key: RotationResult.from_registered(user) for key, user in users.items()}, errors)

    def for_user(self, gid, name):
        """``(RotationResult or None, the error of its batch or None)``."""
        return _result_for((self.users, self.errors), gid, name)


# --------------------------------------------------------------------------- step 3
def user_entry(gid, label, name, mine):
    """The per-user entry the steps pass on, before any decision: its holders (``mine``, in holder order),
    the unreachable ones pending, what each holds."""
    return {
        "key": user_key(gid, name),
        "aws_id": gid,
        "label": label,
        "name": name,
        "decision": None,
        "target_key_id": None,
        "previous_key_ids": [],
        "source": None,
        "failed": False,
        "msg": None,
        "holders": [h["id"] for h in mine],
        "write": [],
        "pending": [h["id"] for h in mine if not h["reachable"]],
        "held": {h["id"]: h["held_key_id"] for h in mine},
    }


def apply_rotation(entry, result, group_error, mine, check_mode=False):
    """The decision from the user's RotationResult (None: no result; ``group_error``: its batch's error) into
    ``entry``. Returns ``(proceed, key)``: ``proceed`` False when the user goes no further this run (no result,
    busy, waiting, failed); ``key`` the KeySecret the user's holders get when the rotation gave it (``entry
    ["source"]`` says which: ``new`` or ``store``), else None."""
    if result is None:
        entry["failed"] = True
        entry["msg"] = group_error or ("no rotation result for this user" if not check_mode else None)
        if check_mode and not group_error:
            entry["failed"] = False
        return False, None
    entry["decision"] = result.decision
    entry["previous_key_ids"] = list(result.previous_key_ids)
    entry["msg"] = result.msg
    if result.busy or result.waiting:
        # another run's live claim (nothing created, written or retired), or a new key due that this
        # phase may not create (distribute): the holders stay as they are, the old key Active
        entry["decision"] = None
        entry["busy" if result.busy else "waiting"] = True
        entry["pending"] = [h["id"] for h in mine]
        return False, None
    if result.access_keys is not None:
        entry["access_keys"] = result.access_keys  # carried to the retire step: no second read of the user
    if result.failed:
        entry["failed"] = True
        return False, None
    if entry["decision"] == "create":
        if result.new_key is not None:
            entry["target_key_id"] = result.new_key.access_key_id
            entry["source"] = "new"
            return True, result.new_key
        if not check_mode:
            entry["failed"] = True
            entry["msg"] = "the rotation reported a new key without its secret"
            return False, None
        return True, None
    entry["target_key_id"] = result.target_key_id
    stored = result.stored_key
    if stored is not None and stored.access_key_id == entry["target_key_id"]:
        # the Secrets Manager store recorded this key (an earlier job, maybe on another controller)
        entry["source"] = "store"
        return True, stored
    return True, None


def choose_source(entry, mine, escrowed, check_mode=False):
    """The holders to write (reachable ones not holding the target) and, when the rotation gave no secret,
    where it comes from: ``escrow`` (the target is escrowed) or ``holder`` (a reachable holder holds it:
    returned, its id in ``source_holder``). No source: the user fails (outside check mode). Returns the
    source holder or None."""
    target = entry["target_key_id"]
    reachable = [h for h in mine if h["reachable"]]
    entry["write"] = [h["id"] for h in reachable if target is None or h["held_key_id"] != target]
    if not entry["write"] or entry["source"] is not None or target is None:
        return None
    if target in escrowed:
        entry["source"] = "escrow"
        return None
    source = _source_holder(reachable, target)
    if source:
        entry["source"] = "holder"
        entry["source_holder"] = source["id"]
        return source
    if not check_mode:
        entry["failed"] = True
        entry["msg"] = "no secret available for key %s (not escrowed, no reachable holder has it)" % target
        entry["write"] = []
    return None


def _source_read(source, target, holder_reads, source_reads):
    """Add the read of ``source`` (the holder a converge secret comes from) to the reads of its type."""
    kind = source.get("type", "credentials_file")
    if kind == "credentials_file":
        holder_reads.setdefault(source["host"], []).append(
            {"id": source["id"], "path": source["path"], "profile": source["profile"], "target_key_id": target}
        )
    else:
        source_reads[kind].append(dict(source, access_key_id=None, secret_access_key=None))


def targets(inputs, rotation, check_mode=False):
    """Step 3. Per user: the target key and the source of its secret; the new secrets to escrow.

    Returns (secrets inside ``escrow_store`` and ``new_secrets``)::

        {users: [...], escrow_store: [...], escrow_read: [ids], holder_reads: {host: [...]},
         new_secrets: {key id: secret}}
    """
    results = RotationResults.from_registered(rotation)
    escrowed = set(inputs.get("escrowed_key_ids") or [])
    index = _holders_by_user(inputs["holders"])
    users = []
    escrow_store = []
    escrow_read = []
    escrow_read_seen = set()
    holder_reads = {}
    source_reads = {kind: [] for kind in SOURCE_ORDER[1:]}
    new_secrets = {}
    for group in inputs["aws_groups"]:
        gid = group["aws_id"]
        skipped_users = set(group.get("skipped_users") or [])
        names = [u["name"] for u in group["users"]] + list(group.get("skipped_users") or [])
        for name in names:
            mine = index.get((gid, name), [])
            entry = user_entry(gid, group["label"], name, mine)
            users.append(entry)
            if name in skipped_users:
                entry["msg"] = "no holder of this user could be read: nothing done"
                continue
            proceed, key = apply_rotation(entry, *results.for_user(gid, name), mine, check_mode=check_mode)
            if not proceed:
                continue
            if key is not None:
                new_secrets[key.access_key_id] = key.secret_access_key
                if entry["source"] == "new":
                    escrow_store.append({"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key, "iam_user": name})
            source = choose_source(entry, mine, escrowed, check_mode=check_mode)
            if entry["source"] == "escrow" and entry["target_key_id"] not in escrow_read_seen:
                escrow_read_seen.add(entry["target_key_id"])
                escrow_read.append(entry["target_key_id"])
            if source is not None:
                _source_read(source, entry["target_key_id"], holder_reads, source_reads)
    return {
        "users": users,
        "escrow_store": escrow_store,
        "escrow_read": escrow_read,
        "holder_reads": holder_reads,
        "env_source_reads": _env_source_reads(source_reads["env_file"]),
        "sm_source_reads": store_groups("secretsmanager", source_reads["secretsmanager"], _groups_by_id(inputs)),
        "ssm_source_reads": store_groups("ssm_parameter", source_reads["ssm_parameter"], _groups_by_id(inputs)),
        "new_secrets": new_secrets,
    }


# the holder types a converge secret is read from, in order of preference: a file on a host first (credentials
# files: one profile read; env files: one read per file), then the stores (one controller call per AWS settings)
SOURCE_ORDER = ("credentials_file", "env_file", "secretsmanager", "ssm_parameter")


def _source_holder(reachable, target):
    """The reachable holder of a user that already holds ``target`` to read its secret from (None when none)."""
    holding = [h for h in reachable if h["held_key_id"] == target]
    for kind in SOURCE_ORDER:
        for holder in holding:
            if holder.get("type", "credentials_file") == kind:
                return holder
    return None


def _groups_by_id(inputs):
    return {group["aws_id"]: group for group in inputs["aws_groups"]}


def _env_source_reads(entries):
    """``{host: [env_files items]}``: the env files to read a converge secret from (one slurp per file)."""
    by_host = {}
    for entry in entries:
        by_host.setdefault(entry["host"], []).append(entry)
    return {host: env_files(items) for host, items in by_host.items()}


def source_secrets(holder_read_results, store_reads=None):
    """``[KeySecret]`` read from the holders that hold a converge target: the registered reads of
    credentials_profile_info (``return_secrets``, one item per holder), of slurp over env files (one item per
    file) in ``holder_read_results`` (``{host or host/var: registered}``), and of secretsmanager_credentials /
    ssm_parameter_credentials with ``return_secrets`` (``store_reads``: ``{sm, ssm}``, registered loops)."""
    pairs = []
    for _host, registered in (holder_read_results or {}).items():
        for result in _loop_results(registered):
            item = result.get("item") or {}
            if result.get("failed") or result.get("skipped"):
                continue
            if "content" in result:
                pairs.extend(KeySecret(key_id, secret) for _var, key_id, secret in env_pairs(result))
                continue
            for profile in result.get("profiles") or []:
                if (isinstance(profile, dict) and profile.get("name") == item.get("profile")
                        and profile.get("aws_access_key_id") == item.get("target_key_id") and profile.get("secret_access_key")):
                    pairs.append(KeySecret(item["target_key_id"], profile["secret_access_key"]))
    for registered in (store_reads or {}).values():
        for result in _loop_results(registered):
            if result.get("skipped"):
                continue
            for holder in result.get("holders") or []:  # a failed call still returns the holders it read
                if (isinstance(holder, dict) and not holder.get("failed") and holder.get("access_key_id")
                        and holder.get("secret_access_key")):
                    pairs.append(KeySecret(holder["access_key_id"], holder["secret_access_key"]))
    return pairs


# --------------------------------------------------------------------------- step 4
def _file_writes(writes):
    """The per-holder writes of one host grouped per credentials file: one credentials_profile call
    (``profiles``) per file. The first owner/group set by a holder of the file applies to the file."""
    files = []
    index = {}
    for write in writes:
        item = index.get(write["path"])
        if item is None:
            item = {"path": write["path"], "owner": None, "group": None, "profiles": [], "holders": [], "_profiles": {}}
            index[write["path"]] = item
            files.append(item)
        item["owner"] = item["owner"] or write.get("owner")
        item["group"] = item["group"] or write.get("group")
        if write["profile"] not in item["_profiles"]:
            item["_profiles"][write["profile"]] = write["access_key_id"]
            item["profiles"].append({"profile": write["profile"], "access_key_id": write["access_key_id"],
                                     "secret_access_key": write["secret_access_key"]})
        item["holders"].append({"id": write["id"], "profile": write["profile"]})
    for item in files:
        del item["_profiles"]
        item["label"] = "%s (%d profile%s)" % (item["path"], len(item["profiles"]), "" if len(item["profiles"]) == 1 else "s")
    return files


def distribute(inputs, planned, escrow_query, holder_read_results, store_reads=None):
    """Step 4 (secrets in and out). Returns ``{writes: {host: [per holder]}, file_writes: {host: [per file]},
    verify_groups: [...], users: [...]}``; ``file_writes`` are the loop items of the write task (one
    credentials_profile call per file, with ``profiles``). ``holder_read_results`` and ``store_reads``: the
    reads of the holders a converge secret comes from (see source_secrets); only a secret read for a user's
    target from a holder is used (verified with STS before any old key is retired)."""
    secrets = dict(planned.get("new_secrets") or {})
    if isinstance(escrow_query, dict):
        for key in escrow_query.get("entries") or []:
            if isinstance(key, dict) and key.get("access_key_id") and key.get("secret_access_key"):
                secrets.setdefault(key["access_key_id"], key["secret_access_key"])
    wanted = set(entry.get("target_key_id") for entry in planned["users"] if entry.get("source") == "holder")
    for key in source_secrets(holder_read_results, store_reads):
        if key.access_key_id in wanted:
            secrets.setdefault(key.access_key_id, key.secret_access_key)
    holders = {h["id"]: h for h in inputs["holders"]}
    groups = {g["aws_id"]: g for g in inputs["aws_groups"]}
    writes = {}
    env_writes = {}
    store_writes = {"secretsmanager": [], "ssm_parameter": []}
    verify = {}
    users = []
    for entry in planned["users"]:
        entry = dict(entry)
        users.append(entry)
        target = entry.get("target_key_id")
        if entry.get("failed") or not target or entry.get("source") is None:
            continue
        secret = secrets.get(target)
        if not secret:
            entry["failed"] = True
            entry["msg"] = "the secret of key %s could not be read (%s)" % (target, entry["source"])
            entry["write"] = []
            continue
        for hid in entry["write"]:
            holder = holders[hid]
            kind = holder.get("type", "credentials_file")
            if kind == "credentials_file":
                writes.setdefault(holder["host"], []).append({
                    "id": hid,
                    "iam_user": holder["iam_user"],
                    "path": holder["path"],
                    "profile": holder["profile"],
                    "owner": holder.get("owner"),
                    "group": holder.get("group"),
                    "access_key_id": target,
                    "secret_access_key": secret,
                })
            elif kind == "env_file":
                env_writes.setdefault(holder["host"], []).append(dict(holder, access_key_id=target, secret_access_key=secret))
            else:
                store_writes[kind].append(dict(holder, access_key_id=target, secret_access_key=secret))
        group = groups[entry["aws_id"]]
        verify.setdefault(entry["aws_id"], {"aws_id": entry["aws_id"], "label": group["label"], "aws": group["aws"], "key_pairs": []})
        verify[entry["aws_id"]]["key_pairs"].append({"access_key_id": target, "secret_access_key": secret, "name": entry["key"]})
    for item in verify.values():
        count = len(item["key_pairs"])
        item["label"] = "%d key%s (%s)" % (count, "" if count == 1 else "s", item["label"])
    # the same holders without the secret (what each file must hold afterwards)
    confirm = {host: group_by_file(items) for host, items in writes.items()}
    file_writes = {host: _file_writes(items) for host, items in writes.items()}
    return {"writes": writes, "file_writes": file_writes, "confirm": confirm, "verify_groups": list(verify.values()), "users": users,
            "env_writes": {host: env_files(items) for host, items in env_writes.items()},
            "sm_writes": store_groups("secretsmanager", store_writes["secretsmanager"], groups),
            "ssm_writes": store_groups("ssm_parameter", store_writes["ssm_parameter"], groups)}


# --------------------------------------------------------------------------- step 4b
def reloads(inputs, planned_users, verify, confirm_results, check_mode=False):
    """The reload_command of each holder, per host (``{host: [{id, iam_user, argv, label}]}``): run after
    the holder changed (written this run and read back holding the verified target), or when it already
    holds the target while its user still has another Active key this run is about to retire (the run
    that wrote it could not finish: its reload may have failed). Never in check mode, never for a user
    whose new key did not verify."""
    if check_mode:
        return {}
    confirmed = holder_reads(confirm_results)
    checks = verified_keys(verify)
    holders = {h["id"]: h for h in inputs["holders"]}
    out = {}
    for entry in planned_users:
        target = entry.get("target_key_id")
        if entry.get("failed") or not target or entry.get("decision") is None:
            continue
        if entry.get("source") is not None and not checks.get((entry["aws_id"], target), KeyCheck(False, None)).valid:
            continue
        others = [k for k in entry.get("previous_key_ids") or [] if k != target]
        pending = set(entry.get("pending") or [])
        write = set(entry.get("write") or [])
        for hid in entry["holders"]:
            holder = holders.get(hid) or {}
            if not holder.get("reload_command") or hid in pending:
                continue
            if hid in write:
                state = confirmed.get(hid)
                due = bool(state and state.read and state.key_id == target)
            else:
                due = entry.get("held", {}).get(hid) == target and bool(others)
            if due:
                out.setdefault(holder["host"], []).append({
                    "id": hid, "iam_user": holder["iam_user"], "argv": holder["reload_command"],
                    "label": "%s (IAM user %s): %s" % (hid, holder["iam_user"], " ".join(holder["reload_command"]))})
    return out


def reload_failures(reload_results):
    """``{holder id: why}`` of the reload_command runs that failed (registered looped command task per host)."""
    out = {}
    for _host, registered in (reload_results or {}).items():
        for result in _loop_results(registered):
            item = result.get("item") or {}
            if item.get("id") and (result.get("failed") or result.get("unreachable")):
                why = "reload_command %s failed" % " ".join(item.get("argv") or [])
                if result.get("rc") is not None:
                    why += " (rc %s)" % result["rc"]
                out[item["id"]] = why
    return out


# --------------------------------------------------------------------------- step 5
class KeyCheck(NamedTuple):
    """The verification of one key (STS): ``valid`` and, when not, why. No secret."""

    valid: bool
    reason: Optional[str]


def verified_keys(verify):
    """``{(aws_id, key id): KeyCheck(valid, reason)}`` from the registered looped access_key_verify task."""
    out = {}
    for result in _loop_results(verify):
        gid = (result.get("item") or {}).get("aws_id")
        if result.get("skipped"):
            continue
        for key in result.get("results") or []:
            if isinstance(key, dict) and key.get("access_key_id"):
                out[(gid, key["access_key_id"])] = KeyCheck(bool(key.get("valid")), key.get("reason") or key.get("message"))
        if result.get("failed") and not result.get("results"):
            for key in (result.get("item") or {}).get("key_pairs") or []:
                out[(gid, key.get("access_key_id"))] = KeyCheck(False, str(result.get("msg") or "verification failed"))
    return out


def retirement(inputs, planned_users, verify, confirm_results, check_mode=False, batch_size=None, reload_results=None, play_hosts=None):
    """Step 5. Who is done: their other keys are retired and their escrow entry dropped.

    ``confirm_results``: ``{host: registered}`` of the write task (key ids read back from each file
    after its rename) or of a read of the files. ``retire_groups`` are the loop items of the retire
    task, in batches of ``batch_size`` users; each user carries the keys the rotate step saw (``keys``)
    so IAM is not read again.
    """
    confirmed = holder_reads(confirm_results)
    checks = verified_keys(verify)
    failed_reloads = reload_failures(reload_results)
    hosts_of = {h["id"]: h["host"] for h in inputs["holders"]}
    in_play = set(play_hosts) if play_hosts is not None else None
    groups = {g["aws_id"]: g for g in inputs["aws_groups"]}
    retire = {}
    order = []
    escrow_remove = []
    removing = set()
    users = []
    escrowed = set(inputs.get("escrowed_key_ids") or [])
    acks = {}
    for entry in planned_users:
        entry = dict(entry)
        users.append(entry)
        entry["updated"] = []
        entry["pending"] = list(entry.get("pending") or [])
        target = entry.get("target_key_id")
        if entry.get("failed") or entry.get("decision") is None:
            entry["pending"] = list(entry["holders"])
            continue
        if target is None:  # check mode create: the new id is not known yet; unreachable holders stay pending
            entry["updated"] = list(entry["write"])
            continue
        if entry.get("source") is not None:
            valid, reason = checks.get((entry["aws_id"], target), KeyCheck(check_mode, "not verified"))
            entry["verified"] = valid
            if not valid and not check_mode:
                entry["failed"] = True
                entry["msg"] = "key %s did not verify (%s): old keys kept" % (target, reason)
        pending = set(entry["pending"])
        write = set(entry["write"])
        for hid in entry["holders"]:
            if hid in pending:
                continue
            if hid in failed_reloads or (in_play is not None and hosts_of.get(hid) not in in_play):
                # its reload failed, or its host left the play (failed, unreachable) since it was read
                entry["pending"].append(hid)
                if hid in failed_reloads:
                    entry["msg"] = "; ".join(filter(None, [entry.get("msg"), "%s: %s" % (hid, failed_reloads[hid])]))
                continue
            if hid in write:
                # written this run: the file read back after the write must hold the target
                state = confirmed.get(hid)
                if check_mode or (state and state.read and state.key_id == target):
                    entry["updated"].append(hid)
                else:
                    entry["pending"].append(hid)
            elif entry.get("held", {}).get(hid) != target:
                entry["pending"].append(hid)
        if not entry["failed"] and target and (entry.get("source") is None or entry.get("verified")):
            # what the distribute phase records in the store: the holders of this job that hold the verified target
            done = [hid for hid in entry["holders"] if hid not in set(entry["pending"])]
            if done:
                acks.setdefault(entry["aws_id"], []).append({"iam_user": entry["name"], "access_key_id": target, "holders": done})
        if entry["failed"] or entry["pending"]:
            continue
        if entry["aws_id"] not in retire:
            retire[entry["aws_id"]] = []
            order.append(entry["aws_id"])
        user = {"name": entry["name"], "current_key_id": target}
        if entry.get("access_keys") and not check_mode:
            user["access_keys"] = entry["access_keys"]
        retire[entry["aws_id"]].append(user)
        entry["retire"] = True
        # the escrow entry is no longer needed once every holder has the key
        for kid in [target] + list(entry.get("previous_key_ids") or []):
            stored_now = entry.get("source") == "new" and kid == target and not check_mode
            if (kid in escrowed or stored_now) and kid not in removing:
                removing.add(kid)
                escrow_remove.append(kid)
    several = len(groups) > 1
    retire_groups = []
    for gid in order:
        retire_groups.extend(batches(groups[gid], retire[gid], batch_size or inputs.get("batch_size"), several))
    acknowledge = []
    for gid in [g["aws_id"] for g in inputs["aws_groups"]]:
        if acks.get(gid):
            group = groups[gid]
            count = len(acks[gid])
            acknowledge.append({"aws_id": gid, "aws": group["aws"], "acknowledgements": acks[gid],
                                "label": "%d user%s (%s)" % (count, "" if count == 1 else "s", group["label"])})
    return {"retire_groups": retire_groups, "escrow_remove": escrow_remove, "users": users, "acknowledge": acknowledge}


# --------------------------------------------------------------------------- phases (prepare, retire)
def prepared(planned_users):
    """The end of the prepare phase: the keys are created and stored; no holder is written. Each
    user's holders to write are named (``to_distribute``) for the distribute phase."""
    users = []
    for entry in planned_users:
        entry = dict(entry)
        users.append(entry)
        entry["updated"] = []
        to_write = list(entry.get("write") or [])
        if entry.get("decision") in ("create", "converge") and not entry.get("failed"):
            entry["to_distribute"] = to_write
            entry["pending"] = [h for h in entry.get("pending") or [] if h not in to_write]
            if to_write:
                entry["phase_note"] = "prepared: the distribute phase writes %d holder%s" % (len(to_write), "" if len(to_write) == 1 else "s")
        elif entry.get("failed") or entry.get("decision") is None:
            entry["pending"] = list(entry.get("holders") or []) if not isinstance(entry.get("pending"), list) else entry["pending"]
    return {"retire_groups": [], "escrow_remove": [], "users": users, "acknowledge": []}


@dataclass(frozen=True)
class StoreEntry:
    """One user's entry in the durable store (the retire phase's query): whether the store has a rotation of
    it, the key it recorded, its claim, and per holder hash the key id the holder acknowledged. No secret."""

    in_store: bool = False
    recorded_key_id: Optional[str] = None
    claimed_by: Optional[str] = None
    claimed_at: Optional[str] = None
    acknowledgements: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_registered(cls, user):
        acked = user.get("acknowledgements")
        return cls(in_store=bool(user.get("in_store")), recorded_key_id=user.get("recorded_key_id") or None,
                   claimed_by=user.get("claimed_by"), claimed_at=user.get("claimed_at"),
                   acknowledgements=dict(acked) if isinstance(acked, dict) else {})


def _query_results(registered):
    """``({(aws_id, user): StoreEntry}, {(aws_id, user): error})`` from the looped access_key_rotation_state query task."""
    out = {}
    errors = {}
    for result in _loop_results(registered):
        item = result.get("item") or {}
        gid = item.get("aws_id")
        if gid is None or result.get("skipped"):
            continue
        for user in result.get("users") or []:
            if isinstance(user, dict) and user.get("iam_user"):
                if user.get("failed"):
                    errors[(gid, user["iam_user"])] = str(user.get("msg") or "the store could not be read")
                else:
                    out[(gid, user["iam_user"])] = StoreEntry.from_registered(user)
        if result.get("failed") and not result.get("users"):
            for name in item.get("users") or []:
                errors[(gid, name)] = str(result.get("msg") or "the store could not be read")
    return out, errors


def from_store(inputs, query, backend="local", batch_size=None):
    """The retire phase (no host is contacted): per user, the holders' acknowledgements in the store.

    A user is retired onto key K when every holder of it in the whole inventory acknowledged K (and,
    with the Secrets Manager store, K is the key the store recorded): its other keys are retired and
    its store entry removed. Otherwise it is pending (its old key stays Active), each holder that did
    not acknowledge K named. A user with no rotation in the store has nothing to retire here.
    """
    found, errors = _query_results(query)
    index = _holders_by_user(inputs["holders"])
    groups = {g["aws_id"]: g for g in inputs["aws_groups"]}
    users = []
    retire = {}
    order = []
    escrow_remove = []
    for group in inputs["aws_groups"]:
        gid = group["aws_id"]
        for name in group["users"]:
            mine = [h["id"] for h in index.get((gid, name), [])]
            entry = {"key": user_key(gid, name), "aws_id": gid, "label": group["label"], "name": name, "decision": "none",
                     "target_key_id": None, "previous_key_ids": [], "source": None, "failed": False, "msg": None,
                     "holders": mine, "write": [], "pending": [], "updated": [], "held": {}}
            users.append(entry)
            if (gid, name) in errors:
                entry.update(failed=True, decision=None, pending=list(mine), msg=errors[(gid, name)])
                continue
            state = found.get((gid, name)) or StoreEntry()
            acked = state.acknowledgements
            recorded = state.recorded_key_id
            if backend == "secretsmanager" and not state.in_store:
                entry["msg"] = "no rotation of this user in the store: nothing to retire"
                continue
            if backend == "secretsmanager" and not recorded:
                entry.update(decision=None, pending=list(mine),
                             msg="the store's claim (%s at %s) has no key yet: the prepare phase has not finished" % (
                                 state.claimed_by, state.claimed_at))
                continue
            by_holder = {hid: acked.get(durable.holder_hash(hid)) for hid in mine}
            if recorded:
                target = recorded
            else:
                counts = {}
                for kid in by_holder.values():
                    if kid:
                        counts[kid] = counts.get(kid, 0) + 1
                if not counts:
                    entry["msg"] = "no acknowledgement in the store: nothing to retire"
                    continue
                target = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
            entry["target_key_id"] = target
            entry["held"] = by_holder
            entry["updated"] = [hid for hid, kid in by_holder.items() if kid == target]
            entry["pending"] = [hid for hid, kid in by_holder.items() if kid != target]
            if entry["pending"]:
                entry["msg"] = "%d of %d holders acknowledged %s; the others have not (their distribute job has not run or failed)" % (
                    len(entry["updated"]), len(mine), target)
                continue
            entry["retire"] = True
            if gid not in retire:
                retire[gid] = []
                order.append(gid)
            retire[gid].append({"name": name, "current_key_id": target})
            if backend == "local":
                escrow_remove.append(target)
    several = len(groups) > 1
    retire_groups = []
    for gid in order:
        retire_groups.extend(batches(groups[gid], retire[gid], batch_size or (inputs.get("settings") or {}).get("batch_size"), several))
    return {"retire_groups": retire_groups, "escrow_remove": escrow_remove, "users": users, "acknowledge": []}


def store_queries(inputs):
    """The loop items of the retire phase's store query: the users of each AWS settings group, in batches."""
    several = len(inputs["aws_groups"]) > 1
    out = []
    for group in inputs["aws_groups"]:
        if group["users"]:
            out.extend(batches(group, list(group["users"]), (inputs.get("settings") or {}).get("batch_size"), several))
    return out


# --------------------------------------------------------------------------- step 6
def _status(entry, retired_ids, check_mode):
    """One word per user for the totals: rotated, converged, up_to_date, pending, failed."""
    if entry.get("failed"):
        return "failed"
    if entry.get("busy"):
        return "busy"
    if entry.get("decision") is None:
        return "pending"
    if entry.get("pending"):
        return "pending"
    if entry.get("decision") == "create":
        return "rotated"
    if entry.get("decision") == "converge":
        return "converged"
    if retired_ids:
        return "retired"
    return "up_to_date"


def report(retired, retire_results, check_mode=False, phase=None):
    """Step 6. The summary: ``lines`` for people (a totals line, then one line per user that changed or
    needs attention), ``totals``, ``summary`` (every user's full data) and the ``errors`` that fail
    the play at its end."""
    results = _group_results(retire_results)
    summary = {}
    errors = []
    pending = []
    lines = []
    totals = {"rotated": 0, "up_to_date": 0, "converged": 0, "retired": 0, "pending": 0, "busy": 0, "failed": 0}
    several = len({u["aws_id"] for u in retired["users"]}) > 1
    for entry in retired["users"]:
        retire, group_error = _result_for(results, entry["aws_id"], entry["name"]) if entry.get("retire") else (None, None)
        retired_ids = []
        if retire:
            retired_ids = ["%s %s" % (a.get("access_key_id"), a.get("action"))
                           for a in retire.get("actions") or [] if a.get("action") in ("deactivate", "delete")]
            if retire.get("failed"):
                entry["failed"] = True
                entry["msg"] = retire.get("msg")
        elif entry.get("retire") and group_error:
            entry["failed"] = True
            entry["msg"] = group_error
        old = [k for k in entry.get("previous_key_ids") or [] if k != entry.get("target_key_id")]
        if entry.get("decision") == "create":
            what = "%s -> %s" % (", ".join(old) or "(no key)", entry.get("target_key_id") or "(new key)")
        elif entry.get("decision") == "converge":
            what = "converge on %s" % entry.get("target_key_id")
        elif entry.get("decision") == "none":
            what = "up to date (%s)" % entry.get("target_key_id")
        else:
            what = "not rotated"
        if check_mode and entry.get("decision") in ("create", "converge"):
            what = "would %s: %s" % ("rotate" if entry["decision"] == "create" else "converge", what)
        line = {
            "aws": entry.get("label"),
            "iam_user": entry["name"],
            "decision": entry.get("decision"),
            "keys": what,
            "old_key_ids": old,
            "new_key_id": entry.get("target_key_id"),
            "holders_updated": entry.get("updated") or [],
            "holders_pending": entry.get("pending") or [],
            "retired": retired_ids,
        }
        notes = [entry["msg"]] if entry.get("msg") else []
        if entry.get("phase_note"):
            notes.append(entry["phase_note"])
        if entry.get("to_distribute"):
            line["holders_to_distribute"] = entry["to_distribute"]
        if entry.get("pending") and entry.get("decision") is not None and not entry.get("failed"):
            notes.append("the other keys stay Active until every holder holds %s: re-run once the pending holders are back"
                         % (entry.get("target_key_id") or "the new key"))
        if notes:
            line["note"] = "; ".join(notes)
        name = "%s (%s)" % (entry["name"], entry.get("label")) if several else entry["name"]
        summary[name] = line
        status = _status(entry, retired_ids, check_mode)
        line["status"] = status
        totals[status] += 1
        if status != "up_to_date":
            text = "%s: %s; %s" % (name, status.replace("_", " "), what)
            text += "; holders_updated=%d, holders_pending=%s" % (
                len(line["holders_updated"]), ", ".join(line["holders_pending"]) if line["holders_pending"] else "0")
            if retired_ids:
                text += "; retired %s" % ", ".join(retired_ids)
            if notes and status in ("pending", "failed", "busy"):
                text += "; %s" % line["note"]
            lines.append(text)
        if entry.get("failed"):
            errors.append("%s (%s): %s" % (entry["name"], entry.get("label"), entry.get("msg")))
        pending.extend(entry.get("pending") or [])
    head = "%s%d users: %d rotated, %d up to date, %d converged, %d retired old keys only, %d pending, %d failed" % (
        "check mode, would do - " if check_mode else "", len(retired["users"]), totals["rotated"], totals["up_to_date"],
        totals["converged"], totals["retired"], totals["pending"], totals["failed"])
    if totals["busy"]:
        head += ", %d busy (another run holds their claim)" % totals["busy"]
    if phase and phase != "all":
        head = "phase %s: %s" % (phase, head)
    shown = errors[:MAX_ERRORS_SHOWN]
    if len(errors) > MAX_ERRORS_SHOWN:
        shown.append("... and %d more (see the registered result's summary)" % (len(errors) - MAX_ERRORS_SHOWN))
    return {"lines": [head] + lines, "totals": totals, "summary": summary, "errors": errors, "errors_shown": shown,
            "pending": sorted(set(pending)), "check_mode": bool(check_mode)}
