# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. Safe file reads and writes for secret files.

- read_regular_file(): refuses directories, non-regular files and (unless allowed) symlinks.
- atomic_write(): temp file in the same directory (mode 0600 from its first byte), fsync, chmod,
  chown, rename over the target, fsync of the directory. Missing parent directories are created
  0700. Never puts file content in an exception message.
- directory_lock(): an advisory lock (flock on the directory) so parallel writers on one host do
  not lose each other's edits.
- The set-up the file modules share: parse_mode(), stat_attrs(), mode_owner_actions() (pure),
  target_and_owner(), plan_under_lock() (read and plan; unless in check mode, plan again and apply
  under the lock) and apply_file_args() (ansible-core's file common arguments - SELinux context,
  attributes, mode, owner, group - after the write, or on an unchanged file; check mode predicts).
"""

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import re
import stat
import tempfile


class FileOpError(Exception):
    """A file problem described for a user (no file content in the message)."""


def check_target(path, follow=False):
    """Return the path to operate on, refusing what would surprise a user.

    A directory, a device or a socket is refused. A symlink is refused unless follow is true, in
    which case its final target is returned (and must itself be a regular file or missing).
    """
    if os.path.islink(path):
        target = os.path.realpath(path)
        if not follow:
            raise FileOpError(
                "%s is a symlink to %s: refusing to replace it; point the path at the real file or set follow=true" % (path, target)
            )
        path = target
    if os.path.exists(path):
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise FileOpError("%s is a directory, not a file" % path)
        if not stat.S_ISREG(mode):
            raise FileOpError("%s is not a regular file" % path)
    return path


def read_regular_file(path, follow=False):
    """Bytes of the file at path, or None when it does not exist."""
    path = check_target(path, follow)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileOpError("cannot read %s: %s" % (path, exc.strerror or exc)) from None


def make_parent_dirs(path, dir_mode=0o700):
    """Create the missing parent directories of path with dir_mode; returns the list created."""
    created = []
    parent = os.path.dirname(os.path.abspath(path))
    missing = []
    while parent and not os.path.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, dir_mode)
            os.chmod(directory, dir_mode)
            created.append(directory)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise FileOpError("cannot create directory %s: %s" % (directory, exc.strerror or exc)) from None
    return created


def resolve_owner(owner=None, group=None):
    """(uid, gid) for names or numeric ids; -1 for what is not set."""
    uid = gid = -1
    if owner not in (None, ""):
        try:
            uid = int(owner)
        except ValueError:
            try:
                uid = pwd.getpwnam(owner).pw_uid
            except KeyError:
                raise FileOpError("unknown owner %r" % owner) from None
    if group not in (None, ""):
        try:
            gid = int(group)
        except ValueError:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise FileOpError("unknown group %r" % group) from None
    return uid, gid


def atomic_write(path, data, mode=0o600, owner=None, group=None, dir_mode=0o700, keep_owner=True):
    """Replace path with data atomically. The content is never readable with other permissions.

    When keep_owner is true and owner/group are not given, an existing file's owner and group are kept.
    """
    uid, gid = resolve_owner(owner, group)
    if keep_owner and os.path.exists(path):
        current = os.stat(path)
        uid = current.st_uid if uid == -1 else uid
        gid = current.st_gid if gid == -1 else gid
    make_parent_dirs(path, dir_mode)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp_path = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    except OSError as exc:
        raise FileOpError("cannot write in %s: %s" % (directory, exc.strerror or exc)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise FileOpError("cannot write %s: %s" % (path, exc.strerror or exc)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def backup_file(path):
    """Copy path beside itself as <path>.<timestamp>.bak with the same (private) mode; returns the name.

    The name holds only the original name and a time: never anything from the content.
    """
    import time  # pylint: disable=import-outside-toplevel

    data = read_regular_file(path)
    if data is None:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    backup = "%s.%s.%d.bak" % (path, stamp, os.getpid())
    current = os.stat(path)
    atomic_write(backup, data, mode=stat.S_IMODE(current.st_mode) & 0o600 or 0o600, owner=current.st_uid, group=current.st_gid)
    return backup


@contextlib.contextmanager
def directory_lock(path):
    """Hold an exclusive advisory lock on the directory that contains path (created 0700 if missing)."""
    make_parent_dirs(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def file_mode(path):
    """Permission bits of path, or None when it does not exist."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------------- what the file modules share
def parse_mode(mode, error=FileOpError, default=0o600):
    """File modes, defined once: 0o600 from "0600", "600", "0o600", 0o600 (YAML 0600) or 384.

    None gives ``default`` (0o600 for the file modules: a file holding secrets); error (a class) for
    anything else, naming the option ``mode``.
    """
    if mode is None:
        return default
    if isinstance(mode, int) and not isinstance(mode, bool):
        value = mode
    else:
        text = str(mode).strip()
        try:
            value = int(text[2:] if text.lower().startswith("0o") else text, 8)
        except ValueError:
            raise error("mode must be an octal number such as '0600', got %r" % text[:12]) from None
    if value < 0 or value > 0o7777:
        raise error("mode %r is out of range" % (mode,))
    return value


def stat_attrs(path):
    """{"mode", "uid", "gid"} of path, or None when it does not exist."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return {"mode": info.st_mode, "uid": info.st_uid, "gid": info.st_gid}


def mode_owner_actions(attrs, mode, uid=-1, gid=-1):
    """Pure: the set_mode / set_owner actions of a file whose content stays (attrs None: no file)."""
    actions = []
    if attrs is None:
        return actions
    if stat.S_IMODE(attrs["mode"]) != mode:
        actions.append({"action": "set_mode", "mode": "%04o" % mode, "reason": "mode is %04o" % stat.S_IMODE(attrs["mode"])})
    if (uid != -1 and uid != attrs["uid"]) or (gid != -1 and gid != attrs["gid"]):
        actions.append({"action": "set_owner", "reason": "owner or group differs"})
    return actions


_ATTRIBUTES = re.compile(r"^[-+=]?[A-Za-z]*$")


def check_file_args(params):
    """Refuse, before anything is written, file common arguments that could only fail later."""
    attributes = params.get("attributes")
    if attributes is not None and not _ATTRIBUTES.match(attributes):
        raise FileOpError("attributes %r: give letters as lsattr shows them, optionally after + or - (such as +A)" % attributes)


def target_and_owner(params):
    """(path, uid, gid) of a file module's task: the target checked (check_target), owner and group resolved."""
    check_file_args(params)
    path = check_target(params["path"], params.get("follow"))
    uid, gid = resolve_owner(params.get("owner"), params.get("group"))
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise FileOpError("%s is not a directory" % parent)
    return path, uid, gid


def plan_under_lock(module, params, path, read_and_plan, apply, write=True, mode=None):
    """(path, planned, applied, attributes) of a file module's task.

    Check mode (or write false): read_and_plan(path) only. Otherwise under the directory lock: the
    target checked again, read_and_plan(path), then apply(path, planned) (its value is ``applied``).
    When write is true and the file exists then (or would, unchanged, in check mode), the file
    common arguments are applied (check mode: predicted) with apply_file_args(); ``attributes`` is
    its (changed, other, diff), or None. mode, params' owner and group are enforced on a file whose
    content stays (a rewrite sets them itself).
    """
    if module.check_mode or not write:
        planned = read_and_plan(path)
        attributes = None
        if write and planned is not None:
            kept = planned.get("new_data") is None
            attributes = apply_file_args(module, path, mode if kept else None,
                                         params.get("owner") if kept else None, params.get("group") if kept else None)
        return path, planned, None, attributes
    with directory_lock(path):
        path = check_target(params["path"], params.get("follow"))
        planned = read_and_plan(path)
        applied = apply(path, planned)
        attributes = apply_file_args(module, path, mode, params.get("owner"), params.get("group"))
        return path, planned, applied, attributes


# mode/owner/group: what a module's own planner already predicts as set_mode / set_owner
_PLANNED_KEYS = ("mode", "owner", "group")


def apply_file_args(module, path, mode=None, owner=None, group=None, label=None):
    """ansible-core's file common arguments on the existing file path, through
    module.set_fs_attributes_if_different(): the SELinux context (seuser, serole, setype,
    selevel) and attributes from the task, and the mode/owner/group given here (None: left as is).
    Check mode predicts and changes nothing. A missing file is left alone (the write that creates it
    sets mode and owner itself).

    Returns (changed, other, diff): other is true when more than mode/owner/group changed (context,
    attributes); diff is None or {"before_header", "after_header", "before": {...}, "after": {...}}.
    """
    if not os.path.lexists(path):
        return False, False, None
    args = module.load_file_common_arguments(module.params, path=path)
    args.update(path=path, mode=mode, owner=owner, group=group)
    record = {"before": {}, "after": {}}
    changed = module.set_fs_attributes_if_different(args, False, record)
    other = any(key not in _PLANNED_KEYS for key in record["after"])
    diff = None
    if record["after"] or record["before"]:
        header = "%s (%s)" % (path, label or "file attributes")
        diff = {"before_header": header, "after_header": header, "before": record["before"], "after": record["after"]}
    return bool(changed), other, diff


def combine_diffs(*diffs):
    """One diff, a list of diffs (what the callbacks show one after the other), or None."""
    present = [diff for diff in diffs if diff]
    if not present:
        return None
    return present[0] if len(present) == 1 else present
