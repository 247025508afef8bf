# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. The keyops.aws.ssh_keypair module's run.

read_state() looks at the existing files, plan() (pure) decides, apply() generates and writes:
the private key through _fileops.atomic_write (0600 from its first byte, directory 0700 when
created), the public key beside it (0644). Then the file common arguments are applied to both
files (mode to the private key only). Check mode stops after plan() and predicts the file
common arguments.
"""

import os
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.keyops.aws.plugins.module_utils import _fileops
from ansible_collections.keyops.aws.plugins.module_utils import _ssh_public_keys
from ansible_collections.keyops.aws.plugins.module_utils._ssh_private_keys import load_private, public_line_of

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

BCRYPT_IMPORT_ERROR = None
try:
    import bcrypt  # noqa: F401  pylint: disable=unused-import
except ImportError:
    BCRYPT_IMPORT_ERROR = traceback.format_exc()


class SSHKeypairError(Exception):
    """The one error type of a run (never holds the passphrase or key material)."""


ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    type=dict(type="str", choices=["ed25519", "rsa"], default="ed25519"),
    size=dict(type="int"),
    passphrase=dict(type="str", no_log=True),
    comment=dict(type="str"),
    force=dict(type="bool", default=False),
    owner=dict(type="str"),
    group=dict(type="str"),
    mode=dict(type="raw"),
)
# add_file_common_args: seuser, serole, setype, selevel, attributes (and unsafe_writes, not used: the
# files are always replaced atomically) from ansible-core
MODULE_KWARGS = dict(supports_check_mode=True, add_file_common_args=True)

RSA_SIZES = (2048, 3072, 4096)
SSH_TYPES = {"ed25519": "ssh-ed25519", "rsa": "ssh-rsa"}


def desired_size(key_type, size):
    if key_type == "ed25519":
        if size not in (None, 256):
            raise SSHKeypairError("size applies to RSA keys only (ed25519 keys are always 256 bits)")
        return 256
    size = 3072 if size is None else size
    if size not in RSA_SIZES:
        raise SSHKeypairError("RSA size must be one of %s" % ", ".join(str(s) for s in RSA_SIZES))
    return size


class KeyState:
    """What is on disk: the private key (status, loaded key, protected or not) and the public key file."""

    def __init__(self):
        self.private_status = "missing"  # missing | invalid | locked | other (type) | ok
        self.private_key = None
        self.encrypted = False
        self.public_line = None  # "type base64" of the private key
        self.key_type = None
        self.size = None
        self.pub_status = "missing"  # missing | invalid | ok
        self.pub_canonical = None
        self.pub_comment = None


def read_state(path, passphrase):
    state = KeyState()
    try:
        data = _fileops.read_regular_file(path)
        pub = _fileops.read_regular_file(path + ".pub")
    except _fileops.FileOpError as exc:
        raise SSHKeypairError(str(exc)) from None
    if data is not None:
        state.private_status, key, state.encrypted = load_private(data, passphrase)
        if key is not None:
            try:
                state.public_line = public_line_of(key)
                state.key_type, blob, _comment = _ssh_public_keys.parse_public_key(state.public_line)
                state.size = _ssh_public_keys.key_bits(blob)
                state.private_key = key
            except (ValueError, TypeError, UnsupportedAlgorithm):
                state.private_status = "other"
                state.public_line = None
            if state.key_type not in SSH_TYPES.values():
                state.private_status = "other"
    if pub is not None:
        try:
            _key_type, blob, comment = _ssh_public_keys.parse_public_key(pub)
            state.pub_canonical = _ssh_public_keys.canonical_public_key(blob)
            state.pub_comment = comment
            state.pub_status = "ok"
        except _ssh_public_keys.InvalidPublicKey:
            state.pub_status = "invalid"
    return state


def plan(state, key_type, size, comment, force, passphrase):
    """Pure: the list of actions ({action, reason}) from the state on disk and the options."""
    ssh_type = SSH_TYPES[key_type]
    if state.private_status == "locked" and not force:
        raise SSHKeypairError(
            "the existing private key is protected by a passphrase and it cannot be opened with the "
            "passphrase given (none or a wrong one); nothing changed (force=true would replace the key)"
        )
    reason = None
    if force:
        reason = "force"
    elif state.private_status == "missing":
        reason = "missing"
    elif state.private_status in ("invalid", "other"):
        reason = "invalid private key" if state.private_status == "invalid" else "unsupported key type"
    elif state.key_type != ssh_type:
        reason = "type %s asked, found %s" % (ssh_type, state.key_type)
    elif state.size != size:
        reason = "size %d asked, found %d" % (size, state.size)
    if reason:
        return [dict(action="generate", reason=reason), dict(action="write_public", reason="new key")]
    actions = []
    if passphrase and not state.encrypted:
        actions.append(dict(action="protect", reason="passphrase given, key not protected"))
    want_comment = state.pub_comment if comment is None else comment
    if state.pub_status != "ok":
        actions.append(dict(action="write_public", reason="public key file %s" % state.pub_status))
    elif state.pub_canonical != state.public_line:
        actions.append(dict(action="write_public", reason="public key file does not match the private key"))
    elif (want_comment or "") != (state.pub_comment or ""):
        actions.append(dict(action="write_public", reason="comment"))
    return actions


def _generate(key_type, size):
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def _private_bytes(key, passphrase):
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)


def apply(path, actions, state, key_type, size, comment, passphrase, owner, group):
    """Carry out the actions; returns the (possibly new) private key object."""
    key = state.private_key
    comment_out = state.pub_comment if comment is None else comment
    for action in actions:
        if action["action"] == "generate":
            key = _generate(key_type, size)
        if action["action"] in ("generate", "protect"):
            _fileops.atomic_write(path, _private_bytes(key, passphrase), mode=0o600, owner=owner, group=group)
        if action["action"] == "write_public":
            line = public_line_of(key) + (" " + comment_out if comment_out else "") + "\n"
            _fileops.atomic_write(path + ".pub", line.encode("utf-8"), mode=0o644, owner=owner, group=group)
    return key


def describe(public_line, comment):
    if public_line is None:
        return dict(public_key=None, fingerprint=None, ec2_fingerprint=None, comment=comment)
    return dict(
        public_key=public_line + (" " + comment if comment else ""),
        fingerprint=_ssh_public_keys.openssh_fingerprint(public_line),
        ec2_fingerprint=_ssh_public_keys.ec2_fingerprint(public_line),
        comment=comment or "",
    )


def file_args(module, params, path):
    """The file common arguments on both files: (changed, [diffs]); mode is the private key's only."""
    changed, diffs = False, []
    for target, mode, label in ((path, params["mode"], "private key attributes"), (path + ".pub", None, "public key attributes")):
        try:
            one, _other, diff = _fileops.apply_file_args(module, target, mode, params["owner"], params["group"], label)
        except OSError as exc:
            raise SSHKeypairError("cannot set the attributes of %s: %s" % (target, exc.strerror or exc)) from None
        changed = changed or one
        diffs.append(diff)
    return changed, diffs


def run_module(module):
    params = module.params
    result = None
    try:
        if CRYPTOGRAPHY_IMPORT_ERROR:
            module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
        if params["passphrase"] and BCRYPT_IMPORT_ERROR:
            module.fail_json(msg=missing_required_lib("bcrypt (for passphrase-protected OpenSSH keys)"), exception=BCRYPT_IMPORT_ERROR)
        path = params["path"]
        if os.path.isdir(path):
            raise SSHKeypairError("%s is a directory, not a file" % path)
        if params["comment"] is not None and ("\n" in params["comment"] or "\r" in params["comment"]):
            raise SSHKeypairError("comment cannot contain a line break")
        if params.get("mode") is not None:
            params["mode"] = _fileops.parse_mode(params["mode"], SSHKeypairError)
        _fileops.check_file_args(params)
        _fileops.resolve_owner(params["owner"], params["group"])
        key_type = params["type"]
        size = desired_size(key_type, params["size"])
        state = read_state(path, params["passphrase"])
        actions = plan(state, key_type, size, params["comment"], params["force"], params["passphrase"])
        before = dict(
            private_key=state.private_status,
            type=state.key_type,
            size=state.size,
            fingerprint=_ssh_public_keys.openssh_fingerprint(state.public_line) if state.public_line else None,
            comment=state.pub_comment,
        )
        regenerate = any(a["action"] == "generate" for a in actions)
        if module.check_mode:
            public_line = None if regenerate else state.public_line
        else:
            key = apply(path, actions, state, key_type, size, params["comment"], params["passphrase"], params["owner"], params["group"])
            public_line = public_line_of(key)
        fs_changed, fs_diffs = file_args(module, params, path)
        if fs_changed and not actions:
            actions.append(dict(action="set_attributes", reason="mode, owner, group, SELinux context or attributes differ"))
        comment = params["comment"] if params["comment"] is not None else state.pub_comment
        info = describe(public_line, comment)
        after = dict(
            private_key="ok",
            type=SSH_TYPES[key_type],
            size=size,
            fingerprint=info["fingerprint"] if info["fingerprint"] else "(new key)",
            comment=comment,
        )
        result = dict(
            changed=bool(actions),
            actions=actions,
            filename=path,
            type=SSH_TYPES[key_type],
            size=size,
            **info
        )
        if module._diff:  # pylint: disable=protected-access
            result["diff"] = _fileops.combine_diffs(dict(before=before, after=after), *fs_diffs)
    except (SSHKeypairError, _fileops.FileOpError, _ssh_public_keys.InvalidPublicKey) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)
