#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: ec2_key_pair_info
short_description: Where an EC2 key pair exists across regions, with which public key
version_added: 0.1.0
description:
  - Reads one key pair name (or every key pair) in a list of regions, or in every region enabled for
    the account, concurrently, with the public key material (DescribeKeyPairs C(IncludePublicKey)).
  - Tells which regions hold the name (RV(present_in)), which miss it (RV(missing_in)) and which hold
    a different public key (RV(drift)), different from O(public_key) when given, else from the
    material most regions hold.
  - A key pair "not found" is almost always a region mistake. When a name is missing from listed
    regions, the other enabled regions are searched and RV(hint) says where the name does exist.
  - Fingerprints are computed locally from the public key, as EC2 shows them for imported keys.
  - A region failing (not enabled for the account, AuthFailure) does not hide the others' results;
    the task fails at the end naming it. An unknown region name fails before any call.
author:
  - keyops.aws contributors (@keyops-aws)
options:
  name:
    description:
      - The key pair name. When not set, every key pair of the regions is reported.
    type: str
  regions:
    description:
      - The regions to read. When neither O(regions) nor O(all_regions) is given, the region of the
        connection (O(region), E(AWS_REGION)) is used.
    type: list
    elements: str
  all_regions:
    description:
      - Read every region enabled for the account. Mutually exclusive with O(regions).
    type: bool
    default: false
  public_key:
    description:
      - The reference public key (OpenSSH line). Regions holding O(name) with other material are
        RV(drift); RV(matches) lists every key pair holding this key.
      - Mutually exclusive with O(public_key_path).
    type: str
  public_key_path:
    description:
      - Path of the reference public key file on the machine running the module.
    type: path
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.info_module
  - keyops.aws.attributes.action_group_aws
  - keyops.aws.concurrency
  - keyops.aws.aws
attributes:
  platform:
    support: full
    platforms: posix
    details:
      - Calls the AWS APIs from the task's host (usually localhost), which needs boto3 and botocore.
notes:
  - RV(key_pairs[].reported_fingerprint) is what EC2 itself returns. It differs from RV(key_pairs[].fingerprint) for RSA
    key pairs created by AWS (SHA1 of the private key, which cannot be computed from the public key)
    and, on moto, for ed25519 keys.
"""

EXAMPLES = r"""
- name: Where does the deploy key pair exist, and does it match our key?
  keyops.aws.ec2_key_pair_info:
    name: deploy-2026
    regions: [us-east-1, eu-west-1, ap-southeast-2]
    public_key_path: /etc/keyops/deploy-2026.pub
  register: deploy_key

- name: Fail on drift
  ansible.builtin.assert:
    that:
      - deploy_key.drift | length == 0
      - deploy_key.missing_in | length == 0
    fail_msg: "{{ deploy_key.hint | default('drift in ' ~ deploy_key.drift | join(', ')) }}"

- name: Every key pair of every enabled region
  keyops.aws.ec2_key_pair_info:
    all_regions: true
  register: all_key_pairs
"""

RETURN = r"""
key_pairs:
  description: One entry per key pair and region, sorted by name then region.
  returned: always
  type: list
  elements: dict
  contains:
    region:
      description: The region.
      type: str
    key_name:
      description: The key pair name.
      type: str
    key_pair_id:
      description: The key pair id.
      type: str
    key_type:
      description: C(rsa) or C(ed25519), as EC2 reports it.
      type: str
    public_key:
      description: The public key as C(type base64) (no comment); null when EC2 returned none or it cannot be read.
      type: str
    fingerprint:
      description: The EC2 fingerprint of the public key, computed locally (imported-key format).
      type: str
    reported_fingerprint:
      description: The fingerprint EC2 returned.
      type: str
    create_time:
      description: Creation time, ISO 8601 UTC.
      type: str
    tags:
      description: The key pair's tags.
      type: dict
    problem:
      description: Why the public key could not be read, else null.
      type: str
present_in:
  description: Regions holding O(name) (empty without O(name)).
  returned: always
  type: list
  elements: str
  sample: [eu-west-1, us-east-1]
missing_in:
  description: Regions read successfully that do not hold O(name) (empty without O(name)).
  returned: always
  type: list
  elements: str
  sample: [ap-southeast-2]
drift:
  description:
    - Regions holding O(name) with a public key different from O(public_key), or, without it, from the
      material most regions hold. When regions disagree with no majority, every holder is listed.
  returned: always
  type: list
  elements: str
  sample: []
reference:
  description: What RV(drift) compares with, V(public_key), V(majority), V(tie) (no majority) or V(none).
  returned: always
  type: str
  sample: majority
fingerprint:
  description: The EC2 fingerprint of the reference material (O(public_key), or the majority's); null if none.
  returned: always
  type: str
  sample: rsTeSFS0dnMwYr6XkmkBUB6ozjIFb6TlOvkyBEFMFKE=
key_names:
  description: Per key pair name, the same summary (present_in, missing_in, drift, reference, fingerprint).
  returned: always
  type: dict
  sample:
    deploy-2026:
      present_in: [us-east-1]
      missing_in: [eu-west-1]
      drift: []
      reference: majority
      fingerprint: rsTeSFS0dnMwYr6XkmkBUB6ozjIFb6TlOvkyBEFMFKE=
matches:
  description: Key pairs (any name) holding O(public_key).
  returned: when public_key or public_key_path is given
  type: list
  elements: dict
  sample: [{region: us-east-1, key_name: deploy-2026}]
found_elsewhere:
  description: Enabled regions outside O(regions) that hold O(name) (searched when O(name) is missing somewhere).
  returned: always
  type: list
  elements: str
  sample: [us-west-2]
hint:
  description: When O(name) is missing, where it does exist (usually a region mistake); else null.
  returned: always
  type: str
  sample: key pair deploy-2026 is not in us-west-1 but exists in us-west-2; check the region list
failed_regions:
  description: Regions that could not be read (the task fails when not empty).
  returned: always
  type: list
  elements: str
  sample: []
errors:
  description: Why each failed region failed.
  returned: always
  type: dict
  sample: {}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import CONCURRENCY_ARGSPEC
from ansible_collections.keyops.aws.plugins.module_utils._ec2_key_pairs import run_info_module


def main():
    argument_spec = dict(
        name=dict(type="str"),
        regions=dict(type="list", elements="str"),
        all_regions=dict(type="bool", default=False),
        public_key=dict(type="str"),
        public_key_path=dict(type="path"),
    )
    argument_spec.update(CONCURRENCY_ARGSPEC)
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[["public_key", "public_key_path"]],
        supports_check_mode=True,
    )
    run_info_module(module)


if __name__ == "__main__":
    main()
