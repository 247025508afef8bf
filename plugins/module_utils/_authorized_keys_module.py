# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. The keyops.aws.authorized_keys module's run.

Read -> plan (pure, _authorized_keys.plan). When the plan changes something (and not in check
mode): create missing directories (0700, owned by the file's owner), take an advisory lock on the
file's directory, read and plan again under it, write atomically (temp file in the same directory,
0600, owner kept), apply the file common arguments (mode, owner, group, SELinux context,
attributes), release the lock. Nothing is created or locked when the keys do not change; the file
common arguments are then applied (or, in check mode, predicted) on the existing file.
"""

import os
import pwd

from ansible_collections.keyops.aws.plugins.module_utils import _authorized_keys as ak
from ansible_collections.keyops.aws.plugins.module_utils import _fileops


class AuthorizedKeysModuleError(Exception):
    """The one error type of a run: caught once in run_module and reported with fail_json."""


ARGUMENT_SPEC = dict(
    path=dict(type="path"),
    user=dict(type="str"),
    keys=dict(type="list", elements="raw", default=[], no_log=False),
    remove=dict(type="list", elements="str", default=[]),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    exclusive=dict(type="bool", default=False),
    managed=dict(type="list", elements="str", default=[]),
    managed_comment=dict(type="str"),
    owner=dict(type="str"),
    mode=dict(type="raw"),
    follow=dict(type="bool", default=False),
)
# add_file_common_args: group, seuser, serole, setype, selevel, attributes (and unsafe_writes, not used:
# the file is always replaced atomically) from ansible-core
MODULE_KWARGS = dict(required_one_of=[("path", "user")], supports_check_mode=True, add_file_common_args=True)


def resolve_path(path, user):
    """(path, owner name for a new file) from the options."""
    if path:
        return path, user
    if not user:
        raise AuthorizedKeysModuleError("path or user is required (both are empty)")
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise AuthorizedKeysModuleError("unknown user %r" % user) from None
    return os.path.join(entry.pw_dir, ".ssh", "authorized_keys"), user


def parse_inputs(params):
    """Validate every option before anything is read or written."""
    try:
        keys = [ak.desired_key(spec, index) for index, spec in enumerate(params["keys"] or [])]
        remove = [ak.fingerprint_of(spec, "remove[%d]" % index) for index, spec in enumerate(params["remove"] or [])]
        managed = [ak.fingerprint_of(spec, "managed[%d]" % index) for index, spec in enumerate(params["managed"] or [])]
    except ak.AuthorizedKeysError as exc:
        raise AuthorizedKeysModuleError(str(exc)) from None
    return keys, remove, managed


def summarise(actions, kind):
    return [dict(fingerprint=a["fingerprint"], comment=a["comment"]) for a in actions if a["action"] == kind]


def apply_plan(write, params, path, owner, keys, remove, managed):
    """Read, plan and (when write is true) write; returns the result fields."""
    try:
        target = _fileops.check_target(path, follow=params["follow"])
        data = _fileops.read_regular_file(target, follow=params["follow"])
    except _fileops.FileOpError as exc:
        raise AuthorizedKeysModuleError(str(exc)) from None
    exists = data is not None
    before_text = ak.decode(data) if exists else ""
    before = ak.parse(before_text)
    try:
        after, actions = ak.plan(
            before, keys, params["state"], remove, params["exclusive"], managed, params["managed_comment"]
        )
    except ak.AuthorizedKeysError as exc:
        raise AuthorizedKeysModuleError(str(exc)) from None
    new_data = ak.encode(ak.render(after))
    changed = bool(actions) and new_data != (data or b"")
    if changed and write:
        new_owner = params["owner"] if params["owner"] else (None if exists else owner)
        group = None
        if new_owner and not exists:
            try:
                group = pwd.getpwnam(new_owner).pw_gid if not new_owner.isdigit() else None
            except KeyError:
                raise AuthorizedKeysModuleError("unknown owner %r" % new_owner) from None
        try:
            _fileops.atomic_write(target, new_data, mode=0o600, owner=new_owner, group=group)
        except _fileops.FileOpError as exc:
            raise AuthorizedKeysModuleError(str(exc)) from None
    fingerprints = [line.fingerprint for line in after if line.kind == "key"]
    return dict(
        changed=changed,
        path=target,
        actions=actions,
        added=summarise(actions, "add"),
        removed=summarise(actions, "remove"),
        updated=summarise(actions, "update"),
        keys=fingerprints,
        fingerprints=fingerprints,
        diff=dict(
            before=ak.display(before) if exists else "",
            after=ak.display(after),
            before_header="%s (keys by fingerprint)" % target,
            after_header="%s (keys by fingerprint)" % target,
        ),
    )


def _chown_created(created, owner):
    if not owner or not created:
        return
    try:
        entry = pwd.getpwnam(owner) if not owner.isdigit() else pwd.getpwuid(int(owner))
    except KeyError:
        raise AuthorizedKeysModuleError("unknown owner %r" % owner) from None
    for directory in created:
        try:
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        except OSError as exc:
            raise AuthorizedKeysModuleError("cannot set the owner of %s: %s" % (directory, exc.strerror or exc)) from None


def _file_args(module, params, path):
    """(changed, diff) of the file common arguments on path (check mode: predicted)."""
    try:
        changed, _other, diff = _fileops.apply_file_args(module, path, params["mode"], params["owner"], params.get("group"))
    except OSError as exc:
        raise AuthorizedKeysModuleError("cannot set the attributes of %s: %s" % (path, exc.strerror or exc)) from None
    return changed, diff


def run_module(module):
    params = module.params
    result = None
    fs_changed, fs_diff = False, None
    try:
        path, owner = resolve_path(params["path"], params["user"])
        owner = params["owner"] or owner
        keys, remove, managed = parse_inputs(params)
        try:
            if params.get("mode") is not None:
                params["mode"] = _fileops.parse_mode(params["mode"])
            _fileops.check_file_args(params)
            _fileops.resolve_owner(params["owner"], params.get("group"))
        except _fileops.FileOpError as exc:
            raise AuthorizedKeysModuleError(str(exc)) from None
        try:
            # refuses a directory, a device, a symlink unless follow (then its target is edited)
            path = _fileops.check_target(path, follow=params["follow"])
        except _fileops.FileOpError as exc:
            raise AuthorizedKeysModuleError(str(exc)) from None
        result = apply_plan(False, params, path, owner, keys, remove, managed)
        if result["changed"] and not module.check_mode:
            # read again and plan again under the lock: that plan is the one applied
            try:
                created = _fileops.make_parent_dirs(path)
            except _fileops.FileOpError as exc:
                raise AuthorizedKeysModuleError(str(exc)) from None
            _chown_created(created, owner)
            with _fileops.directory_lock(path):
                result = apply_plan(True, params, path, owner, keys, remove, managed)
                fs_changed, fs_diff = _file_args(module, params, result["path"])
        else:
            fs_changed, fs_diff = _file_args(module, params, result["path"])
    except AuthorizedKeysModuleError as exc:
        module.fail_json(msg=str(exc))
    diff = result.pop("diff")
    result["changed"] = result["changed"] or fs_changed
    if module._diff:  # pylint: disable=protected-access
        result["diff"] = _fileops.combine_diffs(diff, fs_diff)
    module.exit_json(**result)
