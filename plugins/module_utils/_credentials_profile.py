# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice.

The logic of keyops.aws.credentials_profile and keyops.aws.credentials_profile_info.

``plan()`` is pure: the current bytes and attributes of the file plus the wanted profile give the
new bytes and the list of actions. ``run_module()`` reads the file (under a directory lock when it
may write), plans, applies unless in check mode (so check mode predicts exactly) and exits once.
"""

import grp
import os
import pwd
import re
import stat

from ansible_collections.keyops.aws.plugins.module_utils import _fileops
from ansible_collections.keyops.aws.plugins.module_utils._credentials_file import (
    ACCESS_KEY_ID,
    CREDENTIAL_KEYS,
    MASK,
    SECRET_ACCESS_KEY,
    SECURITY_TOKEN,
    SESSION_TOKEN,
    CredentialsFile,
    CredentialsFileError,
    check_profile_name,
    is_secret_name,
)
from ansible_collections.keyops.aws.plugins.module_utils._key_ids import key_id_problem


class ProfileError(Exception):
    """A problem reported to the user with fail_json (never holds a secret)."""


# ---------------------------------------------------------------------- options
def parse_mode(mode):
    """0o600 from "0600", "600", 0o600 (YAML 0600) or 384; ProfileError otherwise."""
    return _fileops.parse_mode(mode, ProfileError)


def settings_values(settings):
    """User settings as {name: str | dict | None}: numbers and booleans become the strings AWS tools read."""
    result = {}
    for name, value in (settings or {}).items():
        if not isinstance(name, str):
            raise ProfileError("settings: names must be strings")
        if name.lower() in CREDENTIAL_KEYS:
            raise ProfileError("settings: set %s through the access_key_id/secret_access_key/session_token options" % name)
        result[name] = _setting_text(name, value)
    return result


def _setting_text(name, value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {str(key): _setting_text(name, item) for key, item in value.items() if item is not None}
    raise ProfileError("settings: %s must be a string, a number, a boolean or a dict of those" % name)


def wanted_values(params):
    """The options to set in the profile, in the order new ones are written."""
    values = {}
    key_id = params.get("access_key_id")
    secret = params.get("secret_access_key")
    token = params.get("session_token")
    if key_id is not None:
        problem = key_id_problem(key_id)
        if problem:
            raise ProfileError("access_key_id: %s; nothing was changed" % problem)
        if secret in (None, ""):
            raise ProfileError("secret_access_key is required with access_key_id")
        if key_id.startswith("ASIA") and not token:
            raise ProfileError("access_key_id is a temporary (ASIA) key: session_token is required with it")
        values[ACCESS_KEY_ID] = key_id
        values[SECRET_ACCESS_KEY] = secret
        # A token left from an earlier temporary key would make the new key pair fail: replace or drop it.
        values[SESSION_TOKEN] = token or None
        values[SECURITY_TOKEN] = None
    elif secret is not None or token is not None:
        raise ProfileError("secret_access_key and session_token need access_key_id")
    values.update(settings_values(params.get("settings")))
    return values


# ---------------------------------------------------------------------- planning (pure)
def plan(data, attrs, params, uid=-1, gid=-1):
    """Work out the change.

    data: current bytes or None (no file); attrs: {"mode", "uid", "gid"} of the existing file or None.
    Returns {"before": CredentialsFile|None, "after": CredentialsFile|None, "new_data": bytes|None,
    "actions": [...], "warnings": [...]}; new_data is None when the content stays as it is.
    """
    file_type = params.get("file_type") or "credentials"
    profile = params.get("profile") or "default"
    state = params.get("state") or "present"
    mode = parse_mode(params.get("mode"))
    actions = []
    try:
        before = CredentialsFile.parse(data, file_type) if data is not None else None
    except CredentialsFileError as exc:
        raise ProfileError("%s is not a valid AWS %s file: %s; nothing was changed" % (params["path"], file_type, exc)) from None
    warnings = list(before.warnings) if before is not None else []
    after = None
    new_data = None
    if state == "absent":
        if before is not None:
            after = CredentialsFile.parse(data, file_type)
            if after.remove_profile(profile):
                new_data = after.render()
                actions.append({"action": "remove_profile", "profile": profile, "reason": "state=absent"})
    else:
        values = wanted_values(params)
        after = CredentialsFile.parse(data, file_type) if before is not None else CredentialsFile([], file_type)
        existed = after.find_profile(profile) is not None
        try:
            changed = after.set_profile(profile, values)
        except CredentialsFileError as exc:
            raise ProfileError("%s; nothing was changed" % exc) from None
        if before is None:
            new_data = after.render()
            actions.append({"action": "create_file", "profile": profile, "reason": "the file does not exist"})
        elif changed:
            new_data = after.render()
            actions.append(
                {"action": "update_profile" if existed else "add_profile", "profile": profile,
                 "reason": "the profile differs" if existed else "the profile is missing"}
            )
    if new_data is None:
        # content kept as is: fix what differs of mode and owner (a rewrite sets both itself)
        actions.extend(_fileops.mode_owner_actions(attrs, mode, uid, gid))
    if mode & 0o007:
        warnings.append("mode %04o lets every user of the host read the credentials" % mode)
    return {"before": before, "after": after, "new_data": new_data, "actions": actions, "warnings": warnings, "mode": mode}


def masked_diff(path, before, after):
    """A diff of masked renderings: no secret of any profile appears, changed secrets get new labels."""
    labels = {}
    return {
        "before_header": path,
        "after_header": path,
        "before": before.masked_text(labels) if before is not None else "",
        "after": after.masked_text(labels) if after is not None else "",
    }


# ---------------------------------------------------------------------- reading / applying
def _apply(path, result, params):
    """Write the new content (after a backup when asked); returns the backup's name or None."""
    backup = None
    if result["new_data"] is not None:
        if params.get("backup") and os.path.exists(path):
            backup = _fileops.backup_file(path)
        _fileops.atomic_write(path, result["new_data"], mode=result["mode"], owner=params.get("owner"), group=params.get("group"))
    return backup


def _read_and_plan(path, params, uid, gid, planner=None):
    data = _fileops.read_regular_file(path)
    attrs = _fileops.stat_attrs(path) if data is not None else None
    return (planner or plan)(data, attrs, params, uid, gid)


def _attributes_done(planned, attributes):
    """changed and diff of the file common arguments; a set_attributes action when only they change."""
    if attributes is None:
        return False, None
    changed, other, diff = attributes
    if other and planned["new_data"] is None:
        planned["actions"].append({"action": "set_attributes", "reason": "the SELinux context or attributes differ"})
    return changed, diff


def _hide_secret_settings(module, settings):
    """Values of secret-looking settings (credential_process, *password*, *token*) are never echoed."""
    for name, value in (settings or {}).items():
        if isinstance(value, dict):
            _hide_secret_settings(module, {k: v for k, v in value.items() if is_secret_name(k) or is_secret_name(name)})
        elif value not in (None, "") and is_secret_name(name):
            module.no_log_values.add(str(value))


# ---------------------------------------------------------------------- many profiles of one file
PROFILE_ENTRY_KEYS = ("profile", "access_key_id", "secret_access_key", "session_token", "state")


def profile_entries(params):
    """The ``profiles`` option as a list of validated entries (no secret in any message)."""
    entries = []
    seen = set()
    for index, item in enumerate(params.get("profiles") or []):
        where = "profiles[%d]" % index
        if not isinstance(item, dict):
            raise ProfileError("%s must be a dict with profile, access_key_id and secret_access_key" % where)
        name = item.get("profile")
        if not isinstance(name, str) or not name:
            raise ProfileError("%s needs profile (a non-empty string); nothing was changed" % where)
        try:
            check_profile_name(name)
        except CredentialsFileError as exc:
            raise ProfileError("%s.profile: %s; nothing was changed" % (where, exc)) from None
        if name in seen:
            raise ProfileError("%s: profile %s is listed twice; nothing was changed" % (where, name))
        seen.add(name)
        state = item.get("state") or params.get("state") or "present"
        if state not in ("present", "absent"):
            raise ProfileError("%s.state must be present or absent" % where)
        entry = {"profile": name, "state": state}
        if state == "present":
            if not item.get("access_key_id"):
                raise ProfileError("%s (profile %s) needs access_key_id and secret_access_key; nothing was changed" % (where, name))
            try:
                entry["values"] = wanted_values({"access_key_id": item.get("access_key_id"),
                                                 "secret_access_key": item.get("secret_access_key"),
                                                 "session_token": item.get("session_token")})
            except ProfileError as exc:
                raise ProfileError("%s (profile %s): %s" % (where, name, exc)) from None
        entries.append(entry)
    if not entries:
        raise ProfileError("profiles must list at least one profile")
    return entries


def plan_many(data, attrs, params, uid=-1, gid=-1):
    """Like plan(), for every entry of ``profiles`` at once: one parse, one new content.

    Adds ``results``: one ``{profile, state, changed, actions}`` per entry, in input order.
    """
    file_type = params.get("file_type") or "credentials"
    mode = parse_mode(params.get("mode"))
    entries = profile_entries(params)
    try:
        before = CredentialsFile.parse(data, file_type) if data is not None else None
    except CredentialsFileError as exc:
        raise ProfileError("%s is not a valid AWS %s file: %s; nothing was changed" % (params["path"], file_type, exc)) from None
    warnings = list(before.warnings) if before is not None else []
    if before is None and all(e["state"] == "absent" for e in entries):
        after = None
    elif before is None:
        after = CredentialsFile([], file_type)
    else:
        after = CredentialsFile.parse(data, file_type)
    actions = []
    results = []
    any_change = False
    for entry in entries:
        name = entry["profile"]
        mine = []
        if entry["state"] == "absent":
            if after is not None and after.remove_profile(name):
                mine.append({"action": "remove_profile", "profile": name, "reason": "state=absent"})
        else:
            existed = after.find_profile(name) is not None
            try:
                changed = after.set_profile(name, entry["values"])
            except CredentialsFileError as exc:
                raise ProfileError("profile %s: %s; nothing was changed" % (name, exc)) from None
            if changed or before is None:
                mine.append({"action": "update_profile" if existed else "add_profile", "profile": name,
                             "reason": "the profile differs" if existed else "the profile is missing"})
        any_change = any_change or bool(mine)
        actions.extend(mine)
        results.append({"profile": name, "state": entry["state"], "changed": bool(mine), "actions": mine})
    new_data = None
    if after is not None and (before is None or any_change):
        new_data = after.render()
        if before is None:
            actions.insert(0, {"action": "create_file", "profile": entries[0]["profile"], "reason": "the file does not exist"})
    if new_data is None:
        actions.extend(_fileops.mode_owner_actions(attrs, mode, uid, gid))
    if mode & 0o007:
        warnings.append("mode %04o lets every user of the host read the credentials" % mode)
    return {"before": before, "after": after, "new_data": new_data, "actions": actions, "warnings": warnings, "mode": mode,
            "results": results}


def _key_ids(parsed, names):
    """{profile: access key id or None} of a parsed file (None: no file)."""
    out = {}
    for name in names:
        section = parsed.find_profile(name) if parsed is not None else None
        out[name] = parsed.option_value(section, ACCESS_KEY_ID) if section is not None else None
    return out


def run_many(module):
    """keyops.aws.credentials_profile with ``profiles``: one read, one lock, one write, one diff."""
    params = module.params
    result = {"changed": False, "path": params["path"], "profile": None, "access_key_id": None, "backup_file": None,
              "actions": [], "profiles": []}
    try:
        path, uid, gid = _fileops.target_and_owner(params)
        file_type = params.get("file_type") or "credentials"
        mode = parse_mode(params.get("mode"))

        def read_and_plan(target):
            return _read_and_plan(target, params, uid, gid, plan_many)

        def apply(target, planned):
            backup = _apply(target, planned, params)
            # the key ids as the file holds them now (read back after the rename)
            data = _fileops.read_regular_file(target)
            return backup, (CredentialsFile.parse(data, file_type) if data is not None else None)

        path, planned, applied, attributes = _fileops.plan_under_lock(module, params, path, read_and_plan, apply, True, mode)
        backup, reread = applied if applied is not None else (None, planned["after"])
        fs_changed, fs_diff = _attributes_done(planned, attributes)
    except (ProfileError, _fileops.FileOpError, CredentialsFileError) as exc:
        module.fail_json(msg=str(exc), **result)
    except OSError as exc:
        module.fail_json(msg="cannot change the mode or owner of %s: %s" % (params["path"], exc.strerror or exc), **result)
    for warning in planned["warnings"]:
        module.warn(warning)
    held = _key_ids(reread, [r["profile"] for r in planned["results"]])
    profiles = [dict(r, access_key_id=held[r["profile"]]) for r in planned["results"]]
    result.update(changed=bool(planned["actions"]) or fs_changed, path=path, actions=planned["actions"], backup_file=backup,
                  profiles=profiles)
    _add_diff(module, result, path, planned, fs_diff)
    module.exit_json(**result)


def _add_diff(module, result, path, planned, fs_diff):
    if module._diff:
        diff = _fileops.combine_diffs(
            masked_diff(path, planned["before"], planned["after"]) if planned["new_data"] is not None else None, fs_diff)
        if diff:
            result["diff"] = diff


def run_module(module):
    params = module.params
    if params.get("profiles") is not None:
        run_many(module)
        return
    if params.get("profile") is None:
        params["profile"] = "default"
    _hide_secret_settings(module, params.get("settings"))
    result = {"changed": False, "path": params["path"], "profile": params["profile"], "access_key_id": None,
              "backup_file": None, "actions": []}
    try:
        path, uid, gid = _fileops.target_and_owner(params)
        mode = parse_mode(params.get("mode"))
        write = not (params["state"] == "absent" and not os.path.exists(path))
        path, planned, backup, attributes = _fileops.plan_under_lock(
            module, params, path, lambda target: _read_and_plan(target, params, uid, gid),
            lambda target, planned: _apply(target, planned, params), write, mode)
        fs_changed, fs_diff = _attributes_done(planned, attributes)
    except (ProfileError, _fileops.FileOpError, CredentialsFileError) as exc:
        module.fail_json(msg=str(exc), **result)
    except OSError as exc:
        module.fail_json(msg="cannot change the mode or owner of %s: %s" % (params["path"], exc.strerror or exc), **result)
    for warning in planned["warnings"]:
        module.warn(warning)
    after = planned["after"]
    section = after.find_profile(params["profile"]) if after is not None else None
    if section is not None:
        result["access_key_id"] = after.option_value(section, ACCESS_KEY_ID)
    result.update(changed=bool(planned["actions"]) or fs_changed, path=path, actions=planned["actions"], backup_file=backup)
    _add_diff(module, result, path, planned, fs_diff)
    module.exit_json(**result)


# ---------------------------------------------------------------------- info
def _name_of(uid, lookup):
    try:
        return lookup(uid)[0]
    except KeyError:
        return str(uid)


def describe_profiles(parsed, wanted=None, return_secrets=False):
    """The info module's profile list (pure)."""
    profiles = []
    for name, options in parsed.profiles():
        if wanted and name not in wanted:
            continue
        entry = {
            "name": name,
            "aws_access_key_id": options.get(ACCESS_KEY_ID),
            "has_secret_access_key": bool(options.get(SECRET_ACCESS_KEY)),
            "has_session_token": bool(options.get(SESSION_TOKEN) or options.get(SECURITY_TOKEN)),
            "settings": {},
        }
        for option, value in options.items():
            if option in CREDENTIAL_KEYS:
                continue
            if is_secret_name(option):
                value = MASK
            elif isinstance(value, dict):
                value = {key: (MASK if is_secret_name(key) else item) for key, item in value.items()}
            entry["settings"][option] = value
        if return_secrets:
            entry["secret_access_key"] = options.get(SECRET_ACCESS_KEY)
            entry["session_token"] = options.get(SESSION_TOKEN) or options.get(SECURITY_TOKEN)
        profiles.append(entry)
    return profiles


def run_info(module):
    params = module.params
    result = {"changed": False, "path": params["path"], "exists": False, "mode": None, "owner": None, "group": None,
              "profiles": []}
    for index, name in enumerate(params.get("profiles") or []):
        # a name no section header can hold would silently list nothing: refuse it
        if not name or name != name.strip() or re.search(r"[\[\]\r\n]", name):
            module.fail_json(msg="profiles[%d]: %r cannot be a profile name (empty, surrounding spaces, [ ] or a line break)"
                             % (index, name), **result)
    try:
        path = _fileops.check_target(params["path"], params.get("follow"))
        data = _fileops.read_regular_file(path)
        if data is not None:
            info = os.stat(path)
            parsed = CredentialsFile.parse(data, params.get("file_type") or "credentials")
            result.update(
                path=path,
                exists=True,
                mode="%04o" % stat.S_IMODE(info.st_mode),
                owner=_name_of(info.st_uid, pwd.getpwuid),
                group=_name_of(info.st_gid, grp.getgrgid),
                profiles=describe_profiles(parsed, params.get("profiles"), params.get("return_secrets")),
            )
            for warning in parsed.warnings:
                module.warn(warning)
    except CredentialsFileError as exc:
        module.fail_json(msg="%s is not a valid AWS %s file: %s" % (params["path"], params.get("file_type"), exc), **result)
    except _fileops.FileOpError as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)
