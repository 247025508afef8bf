#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: ec2_key_pair
short_description: Distribute one public key as an EC2 key pair across regions
version_added: 0.1.0
description:
  - Ensures that an EC2 key pair of a given name holds a given public key in every listed region,
    or in every region enabled for the account, in one task. Regions are worked concurrently.
  - An EC2 key pair is regional, AWS never keeps the private key, and an instance reads the public
    key only once, at first boot. Distributing a key pair therefore means importing the same public
    key in every region the fleet uses; instances already running are not changed (rotate their
    C(authorized_keys) with M(keyops.aws.authorized_keys)).
  - The public key material itself is compared (C(type base64), comments ignored), read with
    DescribeKeyPairs. No temporary key pair is ever imported to compare.
  - A region holding a different public key under the name is B(drift). Without O(force) nothing is
    changed there and the task fails naming the region; with O(force=true) the key pair is deleted
    and imported again (EC2 cannot update a key pair), keeping its tags.
  - One failing region (not enabled for the account, AuthFailure, throttled out) does not stop or
    hide the others; the task fails at the end naming every failed region.
  - ImportKeyPair is never retried. If it answers C(InvalidKeyPair.Duplicate) someone imported the
    name meanwhile, so the region is read and compared again.
  - Bad input (a malformed or truncated public key, a key type EC2 cannot import, an unknown region
    name, a missing or unreadable O(public_key_path)) fails before any change.
author:
  - keyops.aws contributors (@keyops-aws)
options:
  name:
    description:
      - Name of the key pair (1 to 255 printable ASCII characters).
    type: str
    required: true
  public_key:
    description:
      - The OpenSSH public key line (C(ssh-ed25519 AAAA... comment) or C(ssh-rsa AAAA... comment)).
      - EC2 imports only RSA (at least 1024 bits) and ed25519 keys.
      - Mutually exclusive with O(public_key_path). One of them is required with O(state=present);
        ignored with O(state=absent).
    type: str
  public_key_path:
    description:
      - Path of a public key file (the C(.pub) file) on the machine running the module.
      - A file holding a private key is refused.
    type: path
  regions:
    description:
      - The regions that must hold the key pair.
      - Names are checked against DescribeRegions first; an unknown name fails the task before any change.
        A region that exists but is not enabled for the account fails that region only.
      - When neither O(regions) nor O(all_regions) is given, the region of the connection
        (O(region), E(AWS_REGION)) is used.
    type: list
    elements: str
  all_regions:
    description:
      - Work every region enabled for the account (DescribeRegions, opt-in status
        C(opt-in-not-required) or C(opted-in)).
      - Mutually exclusive with O(regions).
    type: bool
    default: false
  state:
    description:
      - V(present) imports the public key where the key pair is missing.
      - V(absent) deletes the key pair of that name in every region (missing is fine).
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Replace a key pair holding a different public key (delete, then import; tags kept).
      - Without it such a region is reported as drift and the task fails.
    type: bool
    default: false
  tags:
    description:
      - Tags the key pair must have (added or updated). When not set, tags are not managed
        (but they are always kept across a replacement).
      - Keys starting with C(aws:) are reserved by AWS and refused.
    type: dict
  purge_tags:
    description:
      - With O(tags) set, remove tags not in O(tags) (tags starting with C(aws:) are never removed).
    type: bool
    default: false
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_aws
  - keyops.aws.concurrency
  - keyops.aws.aws
attributes:
  check_mode:
    support: full
    details:
      - No API writes; the result is predicted exactly (fingerprints are computed locally).
  diff_mode:
    support: full
    details:
      - The presence, fingerprint and tags of the key pair before and after, per region.
  platform:
    support: full
    platforms: posix
    details:
      - Calls the AWS APIs from the task's host (usually localhost), which needs boto3 and botocore.
notes:
  - The fingerprint returned is the one EC2 shows for an imported key, computed locally from the public key
    (RSA, MD5 of the DER SubjectPublicKeyInfo; ed25519, base64 SHA256 of the key blob with padding).
  - Replacing is a delete followed by an import; if the import fails after the delete, that region holds no
    key pair of the name until the next run (the region's RV(regions.msg) says so).
"""

EXAMPLES = r"""
- name: Distribute the deploy key to the fleet's regions
  keyops.aws.ec2_key_pair:
    name: deploy-2026
    public_key_path: /etc/keyops/deploy-2026.pub
    regions: [us-east-1, eu-west-1, ap-southeast-2]
    tags:
      owner: platform
  delegate_to: localhost

- name: Same key in every enabled region, replacing a different key of that name
  keyops.aws.ec2_key_pair:
    name: deploy-2026
    public_key: "{{ lookup('ansible.builtin.file', 'deploy-2026.pub') }}"
    all_regions: true
    force: true

- name: Retire the old key pair everywhere
  keyops.aws.ec2_key_pair:
    name: deploy-2025
    all_regions: true
    state: absent
"""

RETURN = r"""
name:
  description: The key pair name.
  returned: always
  type: str
  sample: deploy-2026
fingerprint:
  description: The fingerprint EC2 shows for the public key once imported, computed locally.
  returned: always
  type: str
  sample: 1f:51:ae:28:bf:89:e9:d8:1f:25:5d:37:2d:7d:b8:ca
openssh_fingerprint:
  description: The fingerprint C(ssh-keygen -l) prints for the public key (null with O(state=absent)).
  returned: always
  type: str
  sample: SHA256:rsTeSFS0dnMwYr6XkmkBUB6ozjIFb6TlOvkyBEFMFKE
key_type:
  description: C(ssh-ed25519) or C(ssh-rsa) (null with O(state=absent)).
  returned: always
  type: str
  sample: ssh-ed25519
regions:
  description: One result per region worked.
  returned: always
  type: dict
  sample:
    us-east-1:
      action: import
      changed: true
      failed: false
      fingerprint: rsTeSFS0dnMwYr6XkmkBUB6ozjIFb6TlOvkyBEFMFKE=
      key_pair_id: key-0123456789abcdef0
      msg: public key imported
      tags: {owner: platform}
      error_code: null
  contains:
    action:
      description:
        - V(none) (nothing to do), V(tag) (tags updated), V(import), V(replace) (deleted and imported
          again), V(delete), V(drift) (holds a different public key, nothing changed, the region failed).
      type: str
    changed:
      description: Whether something changed in the region (or would, in check mode).
      type: bool
    failed:
      description: Whether the region failed (drift, an AWS error, a region not enabled).
      type: bool
    fingerprint:
      description: EC2 fingerprint (computed locally) of the public key the region holds after the run; null when absent.
      type: str
    key_pair_id:
      description: The key pair id after the run (null when absent, and for an import predicted in check mode).
      type: str
    tags:
      description: The key pair's tags after the run.
      type: dict
    msg:
      description: What happened, or why the region failed.
      type: str
    error_code:
      description: The AWS error code when the region failed on an AWS error (only in failed regions).
      type: str
failed_regions:
  description: Regions that failed (drift, AWS errors, regions not enabled). The task fails when not empty.
  returned: always
  type: list
  elements: str
  sample: [eu-west-1]
drift:
  description: Regions holding a different public key that were not replaced (O(force=false)).
  returned: always
  type: list
  elements: str
  sample: []
hint:
  description: With O(state=absent) when no listed region held the name, where the name does exist (usually a region mistake).
  returned: when state=absent and nothing was found
  type: str
  sample: key pair deploy-2025 is not in us-east-1 but exists in eu-west-1, us-west-2
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import CONCURRENCY_ARGSPEC
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pairs import run_key_pair_module


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        public_key=dict(type="str"),
        public_key_path=dict(type="path"),
        regions=dict(type="list", elements="str"),
        all_regions=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        force=dict(type="bool", default=False),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=False),
    )
    argument_spec.update(CONCURRENCY_ARGSPEC)
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[["public_key", "public_key_path"]],
        supports_check_mode=True,
    )
    run_key_pair_module(module)


if __name__ == "__main__":
    main()
