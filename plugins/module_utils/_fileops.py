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
"""

import contextlib
import errno
import fcntl
import grp
import os
import pwd
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
