#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssh_keypair
short_description: Generate an OpenSSH key pair (for EC2 key pairs and authorized_keys rotation)
version_added: 0.1.0
author:
  - keyops.aws contributors (@keyops-aws)
description:
  - "Generates an OpenSSH private key (OpenSSH format) and its public key at C(<path>.pub), usually on
    the controller (C(delegate_to: localhost))."
  - The private key file is mode C(0600) from its first byte (written atomically through a temporary
    file in the same directory); a directory created for it is mode C(0700). The public key file is C(0644).
  - Idempotent. An existing valid key of the asked type and size is kept; the public key file is
    rewritten when it is missing, does not match the private key, or has another comment (the
    comment lives in the public key file only). A key is generated anew only with O(force=true), when
    the private key file is not a key, or holds a key of another type or size.
  - A private key protected by a passphrase that is not given, or given wrong, is an error and nothing
    changes (unless O(force=true), which replaces the key). An unprotected key is protected (same
    key, no regeneration) when O(passphrase) is given.
  - Returns the public key, its OpenSSH C(SHA256:) fingerprint and the fingerprint EC2 shows once the
    key is imported.
options:
  path:
    description:
      - The private key file. The public key is written to C(<path>.pub).
    type: path
    required: true
  type:
    description:
      - Key type. EC2 imports only C(ed25519) and C(rsa) keys.
    type: str
    choices: [ed25519, rsa]
    default: ed25519
  size:
    description:
      - RSA key size in bits (2048, 3072 or 4096); 3072 when not set. Not used for ed25519 (256 only).
    type: int
  passphrase:
    description:
      - Passphrase protecting the private key. Needs the Python C(bcrypt) library.
    type: str
  comment:
    description:
      - Comment of the public key. When not set, the comment of an existing public key file is kept
        (also when the key is generated anew); a first key gets none.
    type: str
  force:
    description:
      - Generate a new key even when a valid one of the asked type and size exists.
    type: bool
    default: false
  owner:
    description:
      - Owner (name or uid) of the files written, and of existing files. Without it, existing files keep their owner.
    type: str
  group:
    description:
      - Group (name or gid) of the files written, and of existing files.
    type: str
  mode:
    description:
      - The permissions of the private key file, as an octal string such as V('0400'), set after every
        write and on an unchanged key. Without it a private key is written C(0600) and an unchanged one
        keeps its mode. The public key file is always written C(0644).
    type: raw
    version_added: 0.2.0
requirements:
  - cryptography >= 3.4
  - bcrypt (only with O(passphrase))
attributes:
  check_mode:
    support: full
    details:
      - Nothing is generated; the fingerprints of a key still to be generated are returned as V(null).
  diff_mode:
    support: full
    details:
      - Type, size, fingerprint and comment before and after, never key material.
      - A change of O(mode), O(owner), O(group), O(attributes) or the SELinux context is shown per file
        as their values before and after.
notes:
  - O(owner), O(group), O(attributes), O(seuser), O(serole), O(setype) and O(selevel) apply to both
    files, O(mode) to the private key only; they are set after every write and on unchanged files (a
    difference alone makes the task changed, with the action C(set_attributes)).
seealso:
  - module: keyops.aws.authorized_keys
extends_documentation_fragment:
  - keyops.aws.atomic_writes
  - ansible.builtin.files
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.platform_posix
"""

EXAMPLES = r"""
- name: An ed25519 key pair on the controller
  keyops.aws.ssh_keypair:
    path: "{{ playbook_dir }}/keys/deploy-2026"
    comment: deploy@2026
  delegate_to: localhost
  register: deploy_key

- name: An RSA 4096 key protected by a passphrase
  keyops.aws.ssh_keypair:
    path: /srv/keys/legacy
    type: rsa
    size: 4096
    passphrase: "{{ vault_legacy_key_passphrase }}"
  delegate_to: localhost

- name: Show what EC2 will display once imported
  ansible.builtin.debug:
    msg: "{{ deploy_key.fingerprint }} / EC2: {{ deploy_key.ec2_fingerprint }}"
"""

RETURN = r"""
filename:
  description: The private key file.
  returned: always
  type: str
public_key:
  description: The public key line (C(type base64 [comment])); V(null) in check mode when a key would be generated.
  returned: always
  type: str
  sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHjZ4x5Ve3rC0Z5d1CkqJmCXSqzq3x1sJ1yJfN1wJZ2v deploy@2026
comment:
  description: The public key's comment.
  returned: always
  type: str
type:
  description: The key type as OpenSSH names it (C(ssh-ed25519) or C(ssh-rsa)).
  returned: always
  type: str
size:
  description: Key size in bits.
  returned: always
  type: int
fingerprint:
  description: OpenSSH fingerprint, as C(ssh-keygen -l) prints it; V(null) in check mode when a key would be generated.
  returned: always
  type: str
  sample: SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s
ec2_fingerprint:
  description:
    - The fingerprint EC2 shows once the public key is imported (RSA - MD5 of the DER public key,
      colon-separated; ed25519 - base64 SHA256 with padding).
    - V(null) in check mode when a key would be generated.
  returned: always
  type: str
actions:
  description:
    - What was (or, in check mode, would be) done; each item has C(action) (generate, protect,
      write_public, set_attributes) and C(reason).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keyops.aws.plugins.module_utils._ssh_keypair import (
    ARGUMENT_SPEC,
    MODULE_KWARGS,
    run_module,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, **MODULE_KWARGS)
    run_module(module)


if __name__ == "__main__":
    main()
