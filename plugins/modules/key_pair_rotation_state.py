#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: key_pair_rotation_state
short_description: Track the current, pending and retired keys of an EC2 key pair rotation on the controller
version_added: 0.1.0
author:
  - keyops.aws contributors (@keyops-aws)
description:
  - Reads the key directory of one rotated key pair and decides whether a rotation is due; used by
    the role C(keyops.aws.key_pair_rotation) (run it on the controller, for example with
    C(delegate_to=localhost) and C(run_once=true)).
  - "Files in O(key_dir): C(NAME) and C(NAME.pub), the current key; C(NAME.new) and C(NAME.new.pub), a
    pending key (generated, not yet verified on the hosts); C(NAME.retired/STAMP) and C(STAMP.pub),
    retired keys (their private keys are kept, mode C(0600), so a host that was unreachable during a
    rotation can still be reached and cleaned up by a later run); C(NAME.state.json), the creation
    and retirement dates per fingerprint."
  - The private key files are the truth. Public key files that are missing or do not match their
    private key are rewritten, private key files readable by others are set to C(0600), and keys whose
    dates are not recorded yet are recorded (the creation date of a key found without a record is
    the modification time of its file).
  - With O(state=promoted), the pending key whose fingerprint is O(fingerprint) becomes the current
    key. The steps are ordered so that a run interrupted between any two of them leaves a key
    directory the next run reads correctly; the key hosts accept is never lost (the replaced key is
    copied into C(NAME.retired/) first).
  - Private key material is never returned, logged or put into messages.
options:
  name:
    description:
      - The key pair name (also the file name in O(key_dir)). Letters, digits and C(. _ - @ + = , :),
        not starting with C(.) or C(-).
      - Required unless O(key_pairs) is given.
    type: str
  key_dir:
    description:
      - The directory holding the keys on the machine running the module. Created with mode C(0700)
        when missing.
      - Required with O(name).
    type: path
  key_pairs:
    description:
      - Several key pairs at once (the role passes one entry per key pair name of the play, for
        example one per environment group), instead of O(name) and O(key_dir). Only O(state=present).
      - Every entry is checked (name, O(max_age_days), regions) before the first key directory is
        read or written; an error names the key pair.
      - The result is RV(key_pairs), one result per name with the fields this module returns for O(name).
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      name:
        description: The key pair name, as O(name).
        type: str
        required: true
      key_dir:
        description: Its key directory, as O(key_dir).
        type: path
        required: true
      max_age_days:
        description: As O(max_age_days).
        type: int
        default: 90
      force:
        description: As O(force).
        type: bool
        default: false
      regions:
        description: As O(regions).
        type: list
        elements: str
  state:
    description:
      - V(present) reads the key set, repairs derived files and reports whether a rotation is due.
      - C(promoted) makes the pending key the current one, after it was verified on the hosts.
    type: str
    choices: [present, promoted]
    default: present
  max_age_days:
    description:
      - A rotation is due when the current key is at least this many days old.
    type: int
    default: 90
  force:
    description:
      - Report a rotation as due whatever the age of the current key.
    type: bool
    default: false
  fingerprint:
    description:
      - With O(state=promoted), the C(SHA256:) fingerprint of the pending key that was verified. The
        module refuses to promote another key. When it is already the current key nothing changes.
    type: str
  regions:
    description:
      - The EC2 regions the key pair is meant for (the role passes C(key_pair_rotation_regions)).
      - Checked against the regions botocore knows in every AWS partition before anything is read or
        written; an unknown name (such as V(moon-1)) fails the task naming the region.
    type: list
    elements: str
    version_added: 0.2.0
attributes:
  check_mode:
    support: full
    details:
      - The plan is computed on the real directory; nothing is written.
  diff_mode:
    support: full
    details:
      - Fingerprints before and after, never key material.
  platform:
    support: full
    platforms: posix
seealso:
  - module: keyops.aws.ssh_keypair
  - module: keyops.aws.key_pair_rotation_verify
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
"""

EXAMPLES = r"""
- name: Is a rotation of the deploy key pair due?
  keyops.aws.key_pair_rotation_state:
    name: deploy
    key_dir: ~/.ssh/keyops-aws
    max_age_days: 90
  delegate_to: localhost
  run_once: true
  register: deploy_keys

- name: Read the key sets of two environments' key pairs at once
  keyops.aws.key_pair_rotation_state:
    key_pairs:
      - name: deploy-dev
        key_dir: ~/.ssh/keyops-aws
        regions: [eu-west-1]
      - name: deploy-prod
        key_dir: ~/.ssh/keyops-aws
        regions: [us-east-1, us-west-2]
        max_age_days: 30
  delegate_to: localhost
  run_once: true
  register: fleet_keys

- name: Promote the pending key once every host accepted it
  keyops.aws.key_pair_rotation_state:
    name: deploy
    key_dir: ~/.ssh/keyops-aws
    state: promoted
    fingerprint: "{{ deploy_keys.pending.fingerprint }}"
  delegate_to: localhost
  run_once: true
  when: deploy_keys.pending is not none
"""

RETURN = r"""
due:
  description: Whether a rotation is due (a pending key exists, no current key, O(force), or the current key is too old).
  returned: always
  type: bool
reason:
  description: Why; one of V(pending), V(no_key), V(force), V(max_age), V(promoted), V(none).
  returned: always
  type: str
current:
  description: The current key (after the promotion with O(state=promoted)), or null.
  returned: always
  type: dict
  contains:
    role:
      description: V(current), V(pending) or V(retired).
      type: str
    path:
      description: The private key file.
      type: str
    public_key_path:
      description: The public key file.
      type: str
    public_key:
      description: The public key line (C(type base64 [comment])).
      type: str
    fingerprint:
      description: C(SHA256:) fingerprint as C(ssh-keygen -l) prints it.
      type: str
    ec2_fingerprint:
      description: The fingerprint EC2 shows once the key is imported (null for types EC2 does not import).
      type: str
    type:
      description: The key type, for example C(ssh-ed25519).
      type: str
    created:
      description: Creation date (ISO 8601 UTC).
      type: str
    age_days:
      description: Whole days since creation.
      type: int
pending:
  description: The pending key (same fields as RV(current)), or null.
  returned: always
  type: dict
retired:
  description: Retired keys (same fields as RV(current) plus C(retired), the retirement date).
  returned: always
  type: list
  elements: dict
target:
  description: The key hosts and regions must converge to (the pending key when there is one, else the current key), or null.
  returned: always
  type: dict
old_fingerprints:
  description: Fingerprints to remove from a host once RV(target) is verified there (the current key when a key is pending, and every retired key).
  returned: always
  type: list
  elements: str
actions:
  description: File actions done (or planned in check mode); each has C(action), C(reason) and C(fingerprint) or C(path).
  returned: always
  type: list
  elements: dict
key_dir:
  description: The key directory (absolute).
  returned: always
  type: str
name:
  description: The key pair name.
  returned: always
  type: str
paths:
  description: The file names used, C(current), C(pending), C(retired_dir) and C(state_file).
  returned: always
  type: dict
current_realpath:
  description: C(paths.current) with symbolic links resolved (to compare with the key file Ansible logs in with).
  returned: always
  type: str
  version_added: 0.2.0
generate:
  description: Whether a new key must be generated as C(paths.pending) (a rotation is due and no key is pending).
  returned: always
  type: bool
  version_added: 0.2.0
distribute:
  description: Whether RV(target) exists and is the key to converge to now (false while a due key is not generated yet).
  returned: always
  type: bool
  version_added: 0.2.0
fallback_private_key_paths:
  description: The retired private keys, newest first, to log in with on a host that missed a rotation (empty without a current key).
  returned: always
  type: list
  elements: str
  version_added: 0.2.0
key_pairs:
  description: With O(key_pairs), the result for each key pair name (the fields above, per name).
  returned: with O(key_pairs)
  type: dict
  version_added: 0.2.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keyops.aws.plugins.module_utils._key_pair_rotation_state import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            key_dir=dict(type="path"),
            key_pairs=dict(
                type="list",
                elements="dict",
                no_log=False,
                options=dict(
                    name=dict(type="str", required=True),
                    key_dir=dict(type="path", required=True),
                    max_age_days=dict(type="int", default=90),
                    force=dict(type="bool", default=False),
                    regions=dict(type="list", elements="str"),
                ),
            ),
            state=dict(type="str", choices=["present", "promoted"], default="present"),
            max_age_days=dict(type="int", default=90),
            force=dict(type="bool", default=False),
            fingerprint=dict(type="str"),
            regions=dict(type="list", elements="str"),
        ),
        required_if=[("state", "promoted", ("fingerprint",))],
        required_one_of=[("name", "key_pairs")],
        mutually_exclusive=[("name", "key_pairs"), ("key_pairs", "fingerprint"), ("key_pairs", "regions")],
        required_together=[("name", "key_dir")],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
