#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin of the same name
# (plugins/action/access_key_escrow.py); this file holds its documentation.

DOCUMENTATION = r"""
---
module: access_key_escrow
short_description: Keep new secret access keys on the controller until every holder has them
version_added: 0.1.0
description:
  - Stores, reads, lists and removes escrow entries on the B(controller), one file per access key
    named C(<path>/<AccessKeyId>), so that a key rotation interrupted after the new key was created
    (a host down, a write error) can finish on a later run with the same key instead of creating
    another one.
  - The directory is created mode C(0700) (a wider mode is tightened), each file is written
    C(0600) atomically. With O(encrypt=auto) the content is encrypted with Ansible Vault when a vault
    secret is configured (C(--vault-id), C(--vault-password-file), C(--ask-vault-pass)); entries are
    decrypted with the same secrets.
  - "The secret is returned only by O(state=query), in RV(entries[].secret_access_key); the displayed
    result of such a task is hidden, and the task reading it must set C(no_log: true)."
  - Used by the role P(keyops.aws.access_key_rotation#role); usable on its own.
author:
  - keyops.aws contributors (@keyops-aws)
options:
  path:
    description:
      - The escrow directory on the controller (C(~) is the controller user's home).
      - Keep it outside any repository.
    type: path
    required: true
  state:
    description:
      - V(present) stores O(keys) (dicts with C(access_key_id), C(secret_access_key), optional C(iam_user)).
      - V(query) returns the entries of O(keys) (access key ids) in RV(entries), and the ids without an entry in RV(missing).
      - V(absent) removes the entries of O(keys) (access key ids).
      - V(list) returns the ids that have an entry (no secret) and checks the directory is usable.
    type: str
    choices: [present, absent, query, list]
    default: list
  keys:
    description:
      - With O(state=present), a list of dicts C({access_key_id, secret_access_key, iam_user}).
      - With O(state=query) or O(state=absent), a list of access key ids (or dicts with C(access_key_id)).
    type: list
    elements: raw
    default: []
  encrypt:
    description:
      - V(auto) encrypts new entries with Ansible Vault when a vault secret is configured.
      - V(always) fails when no vault secret is configured; V(never) writes plain JSON (still C(0600)).
    type: str
    choices: [auto, always, never]
    default: auto
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written or removed; the result predicts what would be.
notes:
  - Runs on the controller whatever the task's host.
  - An entry already stored with the same secret is left as is.
seealso:
  - module: keyops.aws.iam_access_key_rotation
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.action
  - keyops.aws.attributes.controller_action
"""

EXAMPLES = r"""
- name: Keep a new secret until every holder has it
  keyops.aws.access_key_escrow:
    path: ~/.local/share/keyops-aws/escrow
    state: present
    keys:
      - access_key_id: "{{ rotation.users[0].new_key.access_key_id }}"
        secret_access_key: "{{ rotation.users[0].new_key.secret_access_key }}"
        iam_user: deploy-bot
  no_log: true

- name: Read it back on a later run
  keyops.aws.access_key_escrow:
    path: ~/.local/share/keyops-aws/escrow
    state: query
    keys: [AKIAIOSFODNN7EXAMPLE]
  register: escrowed
  no_log: true

- name: Forget it once every holder has it
  keyops.aws.access_key_escrow:
    path: ~/.local/share/keyops-aws/escrow
    state: absent
    keys: [AKIAIOSFODNN7EXAMPLE]
"""

RETURN = r"""
path:
  description: The escrow directory (absolute, on the controller).
  returned: always
  type: str
  sample: /home/ops/.local/share/keyops-aws/escrow
encrypted:
  description: Whether new entries are vault-encrypted.
  returned: success
  type: bool
  sample: true
access_key_ids:
  description: The ids with an entry.
  returned: state is list
  type: list
  elements: str
  sample: [AKIAIOSFODNN7EXAMPLE]
stored:
  description: The ids stored (in check mode, that would be stored).
  returned: state is present
  type: list
  elements: str
  sample: [AKIAIOSFODNN7EXAMPLE]
removed:
  description: The ids removed (in check mode, that would be removed).
  returned: state is absent
  type: list
  elements: str
  sample: [AKIAIOSFODNN7EXAMPLE]
entries:
  description: The entries found.
  returned: state is query
  type: list
  elements: dict
  contains:
    access_key_id:
      description: The access key id.
      type: str
      returned: always
      sample: AKIAIOSFODNN7EXAMPLE
    secret_access_key:
      description: The secret access key. B(This is a secret); the displayed result is hidden.
      type: str
      returned: always
    iam_user:
      description: The IAM user recorded with the entry.
      type: str
      returned: always
      sample: deploy-bot
missing:
  description: The ids asked for that have no entry.
  returned: state is query
  type: list
  elements: str
  sample: []
"""
