#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: authorized_keys
short_description: Add, update and remove SSH keys in an authorized_keys file, for key rotation
version_added: 0.1.0
author:
  - keyops.aws contributors (@keyops-aws)
description:
  - Ensures a list of public keys is present in a user's C(authorized_keys) file (each with its own
    options and comment), removes keys given by public key or by C(SHA256:) fingerprint, and can
    remove every key of a I(managed set) that is no longer wanted (O(exclusive)).
  - A key is identified by its key data only. The same key with other options or another comment is
    B(one) key, updated in place (never added twice). Duplicate lines of a listed key are removed.
  - Lines the task does not manage (other keys, their options and comments, C(#) comments, blank
    lines, lines sshd would not use) stay byte for byte, CRLF line endings included.
  - The file is read, changed and written under an advisory lock on its directory, so parallel tasks
    on one host do not lose each other's edits. It is written atomically (temporary file in the same
    directory, then rename) with mode C(0600); an existing file keeps its owner; a new file, and the
    directories created for it (mode C(0700)), belong to O(owner) or O(user).
  - With C(--diff), keys are shown by fingerprint and comment, never as key data; values of
    C(environment) options are masked.
  - Every option is validated before the file is read. A malformed or truncated key, an unsupported
    key type, an unknown key option or a path that is a directory is an error and nothing changes.
options:
  path:
    description:
      - The authorized_keys file, for example a path set by sshd's C(AuthorizedKeysFile).
      - Required unless O(user) is set.
    type: path
  user:
    description:
      - The user whose C(~/.ssh/authorized_keys) is managed when O(path) is not set.
      - Owner of the file and of created directories when the file is created (unless O(owner) is set).
    type: str
  keys:
    description:
      - Keys to ensure present (O(state=present)) or absent (O(state=absent)).
      - Each item is a line as in authorized_keys (C([options] type base64 [comment])) or a dict.
      - The options of a key are exactly those given (none given means none); a key found with other
        options is updated in place.
      - The comment of a key is the one given; when none is given, an existing comment is kept.
      - Supported key types are C(ssh-ed25519), C(ssh-rsa), C(ecdsa-sha2-nistp256/384/521),
        C(sk-ssh-ed25519@openssh.com) and C(sk-ecdsa-sha2-nistp256@openssh.com).
      - "A dict has the fields C(key) (the public key line, required), C(options) (a string such as
        C(from=\"10.0.0.0/8\",no-pty) or a list of options; it overrides options in C(key)) and
        C(comment)."
    type: list
    elements: raw
    default: []
  remove:
    description:
      - Keys to remove, each a public key line or a C(SHA256:) fingerprint as C(ssh-keygen -l) prints it.
      - A key both in O(keys) (with O(state=present)) and in O(remove) is an error.
    type: list
    elements: str
    default: []
  state:
    description:
      - Whether the keys in O(keys) must be present or absent.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - Remove every line of the managed set whose key is not in O(keys).
      - The managed set is the keys listed in O(managed) plus the keys whose comment starts with
        O(managed_comment). One of them is required with O(exclusive=true).
      - Lines outside the managed set are never touched, whatever this option says.
    type: bool
    default: false
  managed:
    description:
      - The keys this task owns (public key lines or C(SHA256:) fingerprints), for example every key
        a rotation ever distributed. Used by O(exclusive).
    type: list
    elements: str
    default: []
  managed_comment:
    description:
      - Keys whose comment starts with this prefix belong to the managed set (see O(exclusive)).
    type: str
  owner:
    description:
      - Owner (name or uid) to set on the file. Without it, an existing file keeps its owner and a
        new one belongs to O(user) (or to the user running the module).
    type: str
  follow:
    description:
      - Follow a symlink at O(path) and edit its target. Without it, a symlink is refused.
    type: bool
    default: false
  mode:
    description:
      - The permissions of the file, as an octal string such as V('0600'), set after every write and
        on an unchanged file. Without it a file the task writes is mode C(0600) and an unchanged file
        keeps its mode.
    type: raw
    version_added: 0.2.0
  group:
    description:
      - Group (name or gid) to set on the file, after every write and on an unchanged file. Without
        it an existing file keeps its group.
    type: str
    version_added: 0.2.0
attributes:
  check_mode:
    support: full
    details:
      - The plan is computed on the real file; nothing is written.
  diff_mode:
    support: full
    details:
      - Keys are shown by fingerprint and comment, never as key data.
      - A change of O(mode), O(owner), O(group), O(attributes) or the SELinux context is shown as their
        values before and after.
notes:
  - O(owner), O(group), O(mode), O(attributes), O(seuser), O(serole), O(setype) and O(selevel) are
    applied after every write and to an unchanged file (a difference alone makes the task changed).
  - Keys are validated with the Python library C(cryptography) where the host has it; without it only the format of
    each line and the key type inside the key data are checked (a key sshd cannot use then fails the proof login of
    the rotation role).
seealso:
  - module: keyops.aws.ssh_keypair
extends_documentation_fragment:
  - keyops.aws.atomic_writes
  - ansible.builtin.files
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.platform_posix
"""

EXAMPLES = r"""
- name: Add the new key and drop the old one (by fingerprint), keeping everything else
  keyops.aws.authorized_keys:
    user: deploy
    keys:
      - "{{ lookup('ansible.builtin.file', 'keys/deploy-2026.pub') }}"
    remove:
      - SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s

- name: A restricted key, in a file set by sshd's AuthorizedKeysFile
  keyops.aws.authorized_keys:
    path: /etc/ssh/authorized_keys/backup
    owner: root
    keys:
      - key: "{{ backup_public_key }}"
        options: 'restrict,command="/usr/local/bin/backup",from="10.0.0.0/8"'
        comment: backup@vault

- name: Only the current rotation key among the keys the rotation manages
  keyops.aws.authorized_keys:
    user: ec2-user
    keys:
      - "{{ current_public_key }} keyops-rotation:2026-11"
    exclusive: true
    managed_comment: "keyops-rotation:"
"""

RETURN = r"""
path:
  description: The file managed (a followed symlink resolved).
  returned: always
  type: str
added:
  description: Keys added.
  returned: always
  type: list
  elements: dict
  contains:
    fingerprint:
      description: C(SHA256:) fingerprint as C(ssh-keygen -l) prints it.
      type: str
    comment:
      description: The key's comment.
      type: str
  sample: [{"fingerprint": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s", "comment": "deploy@2026"}]
removed:
  description: Keys removed (one item per line removed), same fields as RV(added).
  returned: always
  type: list
  elements: dict
updated:
  description: Keys whose options or comment were updated in place, same fields as RV(added).
  returned: always
  type: list
  elements: dict
fingerprints:
  description:
    - Fingerprints of every key line in the file afterwards, in file order.
    - The same list is also returned as C(keys), a deprecated alias (it shadows the dict method C(keys) in Jinja)
      to be removed in keyops.aws 1.0.0.
  returned: always
  type: list
  elements: str
actions:
  description: The plan; each item has C(action) (add, update, remove), C(fingerprint), C(comment) and C(reason).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keyops.aws.plugins.module_utils._authorized_keys_module import (
    ARGUMENT_SPEC,
    MODULE_KWARGS,
    run_module,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, **MODULE_KWARGS)
    run_module(module)


if __name__ == "__main__":
    main()
