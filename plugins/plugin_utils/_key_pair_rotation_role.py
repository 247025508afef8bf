# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. The shaping of the role keyops.aws.key_pair_rotation.

The role's tasks only orchestrate; what they used to work out in Jinja and set_fact is worked out
here, by pure functions the action keyops.aws.key_pair_rotation_plan calls (one per step):

1. ``host_record``: one host's variables -> its key pair settings, the ssh options of its proof
   logins (defined once), its authorized_keys target and the key Ansible logs in with.
2. ``group_key_pairs``: every play host's record -> one entry per key pair name (an environment),
   refusing hosts that share a name but not its settings, and unknown regions, before anything is
   read or written.
3. ``proven``: after the proof logins, the key pairs to import and promote (those with a host
   still in the play).
4. ``host_report``: one host's registered results -> its report.
5. ``summary``: every host's report and the controller results -> the summary per key pair.

No function here reads files, talks to a host or to AWS, or returns a secret it was not given.
"""

import os
from collections.abc import Mapping, Sequence

from ansible_collections.keyops.aws.plugins.module_utils._booleans import parse_bool
from ansible_collections.keyops.aws.plugins.module_utils._key_pair_rotation_state import KeyRotationStateError, check_name
from ansible_collections.keyops.aws.plugins.module_utils._ssh_keypair import SSHKeypairError, desired_size
# plain is used by the action plugin as role.plain
from ansible_collections.keyops.aws.plugins.plugin_utils._plain import plain  # noqa: F401  pylint: disable=unused-import

# AWS options that are secrets: never compared in messages, never shown.
SECRET_AWS_OPTIONS = ("secret_key", "session_token")
AWS_OPTIONS = ("access_key", "secret_key", "session_token", "profile", "endpoint_url", "region",
               "validate_certs", "aws_ca_bundle", "aws_config")
# The settings that make a key pair; hosts sharing a name must agree on each (variable names for messages).
SETTING_VARS = {
    "key_dir": "key_pair_rotation_key_dir",
    "regions": "key_pair_rotation_regions",
    "type": "key_pair_rotation_type",
    "size": "key_pair_rotation_size",
    "comment": "key_pair_rotation_comment",
    "max_age_days": "key_pair_rotation_max_age_days",
    "force": "key_pair_rotation_force",
    "tags": "key_pair_rotation_tags",
    "aws": "key_pair_rotation_aws",
}
SUMMARY_KEY_FIELDS = ("path", "fingerprint", "ec2_fingerprint", "created", "age_days")
HOST_REPORT_FIELDS = ("status", "pending", "detail", "authorized_keys", "added", "removed", "verified",
                      "connection_switched")
UNFINISHED = {
    "status": "failed",
    "pending": True,
    "detail": "unreachable or failed before the key could be proven; the host keeps its old key and a "
              "later run converges it",
}


class RoleError(Exception):
    """A problem with the role's variables, described for a user (never with a secret)."""


def has_secret_settings(aws):
    return isinstance(aws, Mapping) and any(aws.get(option) for option in SECRET_AWS_OPTIONS)


# --------------------------------------------------------------------------- 1. one host
def _text(value):
    return "" if value is None else str(value)


def ssh_options(inventory_hostname, connection, timeout):
    """The options every proof login of this host shares (module_defaults of key_pair_rotation_verify).

    connection: the host's ``ansible_host``, ``ansible_port``, ``ansible_ssh_common_args``,
    ``ansible_ssh_extra_args`` and ``ansible_ssh_executable`` (missing ones left out).
    """
    options = {
        "host": _text(connection.get("ansible_host")) or inventory_hostname,
        "ssh_args": " ".join(_text(connection.get(var)) for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args")
                             if _text(connection.get(var))),
        "ssh_executable": _text(connection.get("ansible_ssh_executable")) or "ssh",
        "timeout": timeout,
    }
    if connection.get("ansible_port") not in (None, ""):
        options["port"] = int(connection["ansible_port"])
    return options


def _int_var(value, var, minimum):
    if isinstance(value, bool):
        raise RoleError("%s must be a whole number, got %r" % (var, value))
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise RoleError("%s must be a whole number, got %r" % (var, value)) from None
    if number < minimum:
        raise RoleError("%s must be %d or more, got %d" % (var, minimum, number))
    return number


def _bool_var(value, var):
    try:
        return parse_bool(value)
    except ValueError:
        raise RoleError("%s must be true or false, got %r" % (var, value)) from None


def host_record(inventory_hostname, args, connection):
    """One host's key pair and connection, from the role's variables (``args``, as the role passes
    them) and the host's connection variables (``connection``).

    Returns ``key_pair`` (the settings that make the key pair, compared across hosts), ``aws``,
    ``user``, ``authorized_keys`` (the options of keyops.aws.authorized_keys), ``ssh`` (the options
    every proof login shares), ``login_user`` and ``connection_key`` / ``connection_key_realpath``.
    """
    name = args.get("name")
    if not isinstance(name, str) or not name:
        raise RoleError("key_pair_rotation_name must be set (the EC2 key pair name) for host %s" % inventory_hostname)
    try:
        check_name(name)
    except KeyRotationStateError as exc:
        raise RoleError("key_pair_rotation_name for host %s: %s; nothing was changed" % (inventory_hostname, exc)) from None
    regions = args.get("regions")
    if isinstance(regions, str) or not isinstance(regions, Sequence):
        raise RoleError("key_pair_rotation_regions must be a list of regions for host %s" % inventory_hostname)
    key_dir = _text(args.get("key_dir"))
    if not key_dir:
        raise RoleError("key_pair_rotation_key_dir must be set for host %s" % inventory_hostname)
    aws = args.get("aws") or {}
    if not isinstance(aws, Mapping):
        raise RoleError("key_pair_rotation_aws must be a dict of AWS options for host %s" % inventory_hostname)
    unknown = sorted(set(aws) - set(AWS_OPTIONS))
    if unknown:
        raise RoleError("key_pair_rotation_aws for host %s: unknown option(s) %s (known: %s)"
                        % (inventory_hostname, ", ".join(unknown), ", ".join(AWS_OPTIONS)))
    tags = args.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise RoleError("key_pair_rotation_tags must be a dict for host %s" % inventory_hostname)
    size = args.get("size")
    key_type = _text(args.get("type")) or "ed25519"
    if size not in (None, ""):
        try:
            desired_size(key_type, _int_var(size, "key_pair_rotation_size", 1))
        except SSHKeypairError as exc:
            raise RoleError("key_pair_rotation_size %s for host %s: %s; nothing was changed" % (size, inventory_hostname, exc)) from None
    key_pair = {
        "name": name,
        "key_dir": os.path.abspath(os.path.expanduser(key_dir)),
        "regions": [str(region) for region in regions],
        "type": key_type,
        "size": None if size in (None, "") else _int_var(size, "key_pair_rotation_size", 1),
        "comment": _text(args.get("comment")) or name,
        "max_age_days": _int_var(args.get("max_age_days", 90), "key_pair_rotation_max_age_days", 0),
        "force": _bool_var(args.get("force", False), "key_pair_rotation_force"),
        "tags": {str(k): _text(v) for k, v in tags.items()},
    }
    user = _text(args.get("user")) or _text(connection.get("ansible_user")) or _text(connection.get("ansible_ssh_user"))
    path = _text(args.get("authorized_keys_path")) or ("" if user else "~/.ssh/authorized_keys")
    connection_key = (_text(connection.get("ansible_ssh_private_key_file"))
                      or _text(connection.get("ansible_private_key_file")))
    timeout = _int_var(args.get("verify_timeout", 10), "key_pair_rotation_verify_timeout", 1)
    return {
        "key_pair": key_pair,
        "aws": dict(aws),
        "user": user,
        "authorized_keys": {"path": path} if path else {"user": user},
        "ssh": ssh_options(inventory_hostname, connection, timeout),
        "login_user": _text(connection.get("ansible_user")) or None,
        "connection_key": connection_key,
        "connection_key_realpath": os.path.realpath(os.path.expanduser(connection_key)) if connection_key else None,
    }


# --------------------------------------------------------------------------- 2. the play's key pairs
def _comparable(record):
    settings = dict(record["key_pair"])
    settings["aws"] = {k: v for k, v in (record.get("aws") or {}).items() if k not in SECRET_AWS_OPTIONS}
    return settings


def group_key_pairs(records, region_problem=None):
    """``{host: host_record}`` (play order) -> one entry per key pair name.

    Hosts that share a name must ask for the same settings (they are one key pair in one key file):
    else a RoleError naming the key pair, two of its hosts and the variables they differ in.
    ``region_problem(regions)`` returns None or a message about the regions (checked per key pair).

    Returns ``names`` (first-seen order), ``key_pairs`` (the option of keyops.aws.key_pair_rotation_state),
    ``settings`` (name -> settings and ``hosts``), ``aws`` (name -> AWS options) and ``host_key_pair``.
    """
    names, settings, aws, first_host, host_key_pair = [], {}, {}, {}, {}
    for host, record in records.items():
        name = record["key_pair"]["name"]
        host_key_pair[host] = name
        if name not in settings:
            names.append(name)
            first_host[name] = host
            settings[name] = dict(record["key_pair"], hosts=[host])
            aws[name] = dict(record.get("aws") or {})
            continue
        mine, theirs = _comparable(record), _comparable(records[first_host[name]])
        differ = [SETTING_VARS[key] for key in SETTING_VARS if mine.get(key) != theirs.get(key)]
        if differ:
            raise RoleError(
                "The hosts of this play ask for different key pair settings for the key pair %s (%s and %s differ in %s): "
                "hosts that share a key_pair_rotation_name share one key file and one EC2 key pair, so they must "
                "agree; give each environment its own key_pair_rotation_name. Nothing was changed."
                % (name, first_host[name], host, ", ".join(differ))
            )
        settings[name]["hosts"].append(host)
    by_dir = {}
    for name in names:
        path = os.path.join(settings[name]["key_dir"], name)
        if path in by_dir:  # pragma: no cover - one name is one file
            raise RoleError("key pairs %s and %s use the same key file %s" % (by_dir[path], name, path))
        by_dir[path] = name
        problem = region_problem(settings[name]["regions"]) if region_problem else None
        if problem:
            raise RoleError("key pair %s (hosts %s): %s" % (name, ", ".join(settings[name]["hosts"]), problem))
    return {
        "names": names,
        "key_pairs": [
            {"name": name, "key_dir": settings[name]["key_dir"], "max_age_days": settings[name]["max_age_days"],
             "force": settings[name]["force"], "regions": settings[name]["regions"]}
            for name in names
        ],
        "settings": settings,
        "aws": aws,
        "host_key_pair": host_key_pair,
    }


# --------------------------------------------------------------------------- 3. after the proof
def proven(key_pairs, keys, active_hosts):
    """The key pairs whose key is imported now, and those whose pending key is promoted: a key pair
    converges when it has a key to converge to and at least one of its hosts is still in the play
    (a host that refused the key failed and left the play)."""
    active = set(active_hosts)
    imports, promotions = [], []
    for name in key_pairs["names"]:
        settings = key_pairs["settings"][name]
        result = (keys.get("key_pairs") or {}).get(name) or {}
        if not result.get("distribute") or not active.intersection(settings["hosts"]):
            continue
        target = result["target"]
        imports.append({"name": name, "public_key": target["public_key"], "regions": settings["regions"],
                        "tags": settings["tags"]})
        if result.get("pending") is not None:
            promotions.append({"name": name, "key_dir": settings["key_dir"], "fingerprint": result["pending"]["fingerprint"],
                               "max_age_days": settings["max_age_days"]})
    return {"imports": imports, "promotions": promotions}


# --------------------------------------------------------------------------- 4. one host's report
def _ran(result):
    return isinstance(result, Mapping) and bool(result) and not result.get("skipped")


def host_report(key_pair, added, verify, removed, switched):
    """One host's report from its key pair's key set and the results it registered."""
    distribute = bool((key_pair or {}).get("distribute"))
    verified = _ran(verify) and bool(verify.get("verified"))
    if not distribute:
        status = "new key not generated yet (check mode)"
    elif verified:
        status = "converged"
    else:
        status = "would converge (check mode)"
    added = added if _ran(added) else {}
    removed = removed if _ran(removed) else {}
    removed_fps = []
    for entry in removed.get("removed") or []:
        if entry.get("fingerprint") not in removed_fps:
            removed_fps.append(entry.get("fingerprint"))
    return {
        "status": status,
        "pending": not (distribute and verified),
        "authorized_keys": added.get("path"),
        "added": [entry.get("fingerprint") for entry in added.get("added") or []],
        "removed": removed_fps,
        "verified": verify.get("accepted_fingerprint") if _ran(verify) else None,
        "connection_switched": _ran(switched),
    }


# --------------------------------------------------------------------------- 5. the summary
def _loop_items(registered):
    """{item name: item result} of a registered loop (items are names or dicts with a name)."""
    out = {}
    for entry in (registered or {}).get("results") or []:
        item = entry.get("item")
        name = item.get("name") if isinstance(item, Mapping) else item
        out[name] = entry
    return out


def _key_view(view):
    return {k: v for k, v in (view or {}).items() if k in SUMMARY_KEY_FIELDS}


def key_pair_summary(name, plan, keys, imported, promoted, host_results):
    """The summary of one key pair (the role's summary before it rotated several at once)."""
    before = plan or {}
    promoted = promoted if _ran(promoted) else None
    if promoted is not None and promoted.get("changed"):
        rotation = "rotated (%s)" % before.get("reason")
    elif before.get("due"):
        rotation = "would rotate (%s)" % before.get("reason")
    else:
        rotation = "not due"
    source = promoted if promoted is not None else (keys or {})
    imported = imported if _ran(imported) else {}
    return {
        "key_pair": name,
        "rotation": rotation,
        "current_key": _key_view(source.get("current")),
        "retired_fingerprints": [view["fingerprint"] for view in source.get("retired") or []],
        "regions": {region: (entry or {}).get("action") for region, entry in (imported.get("regions") or {}).items()},
        "hosts": host_results,
        "pending_hosts": [host for host, result in host_results.items() if result.get("pending")],
    }


def summary(key_pairs, plan, keys, imported, promoted, hosts, host_results):
    """The role's summary: ``key_pairs`` (name -> its summary), ``hosts`` and ``pending_hosts`` over
    every host of the play; with one key pair, that key pair's summary fields at the top as well.

    hosts: every host of the play, in play order (``ansible_play_hosts_all``); host_results: the
    reports of the hosts that finished (the others are reported as unfinished).
    """
    every = {host: dict(host_results.get(host) or UNFINISHED) for host in hosts}
    plans, reads = (plan or {}).get("key_pairs") or {}, (keys or {}).get("key_pairs") or {}
    imports, promotions = _loop_items(imported), _loop_items(promoted)
    per_name = {}
    for name in key_pairs["names"]:
        members = [host for host in hosts if key_pairs["host_key_pair"].get(host) == name]
        per_name[name] = key_pair_summary(name, plans.get(name), reads.get(name), imports.get(name),
                                          promotions.get(name), {host: every[host] for host in members})
    out = {}
    if len(per_name) == 1:
        out.update(next(iter(per_name.values())))
    out.update(
        key_pairs=per_name,
        hosts=every,
        pending_hosts=[host for host, result in every.items() if result.get("pending")],
    )
    return out
