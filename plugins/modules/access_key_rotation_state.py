#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: access_key_rotation_state
short_description: Record and read which holders acknowledged a new access key, in the rotation's durable store
version_added: 0.2.0
description:
  - The bookkeeping between the phases of P(keyops.aws.access_key_rotation#role) (V(prepare), then one or
    more V(distribute) jobs, then V(retire)), which may run on different controllers at different times.
  - O(state=acknowledged) records, per holder, that it holds a verified new key; O(state=query) returns the
    acknowledgements of users (and, with the Secrets Manager store, the key the store recorded for each).
    It runs where the store is (usually C(delegate_to=localhost)).
  - With O(escrow_backend=secretsmanager) an acknowledgement is a tag on the user's secret
    (O(escrow_prefix) + user name, as M(keyops.aws.iam_access_key_rotation) writes it), one tag per holder,
    and it is only recorded for the key that secret holds. With O(escrow_backend=local) it is a file
    C(acks/<user>/<holder hash>) in O(escrow_dir) (0600, directories 0700).
  - One record per holder, never a read-modify-write of a shared document, so several distribute jobs at
    once never overwrite each other's acknowledgements. Recording an acknowledgement that is already there
    changes nothing.
  - No secret is read into the result or written by this module.
author:
  - keyops.aws contributors (@keyops-aws)
options:
  state:
    description:
      - V(query) returns RV(users); V(acknowledged) records O(acknowledgements).
    type: str
    choices: [query, acknowledged]
    default: query
  users:
    description: With O(state=query), the IAM user names to read.
    type: list
    elements: str
    default: []
  acknowledgements:
    description: With O(state=acknowledged), what to record.
    type: list
    elements: dict
    default: []
    suboptions:
      iam_user:
        description: The IAM user.
        type: str
        required: true
      access_key_id:
        description: The key the holders hold (verified).
        type: str
        required: true
      holders:
        description: The holder ids (as P(keyops.aws.access_key_rotation#role) names them, e.g. C(host:/path[profile])).
        type: list
        elements: str
        required: true
  escrow_backend:
    description: Where the rotation's durable state is (as for M(keyops.aws.iam_access_key_rotation)).
    type: str
    choices: [local, secretsmanager]
    default: local
  escrow_dir:
    description: With O(escrow_backend=local), the escrow directory on the host running the module.
    type: path
  escrow_prefix:
    description: With O(escrow_backend=secretsmanager), the name prefix of the users' secrets.
    type: str
    default: keyops/access-keys/
  escrow_kms_key_id:
    description: Accepted for symmetry with M(keyops.aws.iam_access_key_rotation) (validated, not used; tags are not encrypted).
    type: str
extends_documentation_fragment:
  - keyops.aws.concurrency
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_aws
  - keyops.aws.aws
attributes:
  check_mode:
    support: full
    details:
      - Reads and predicts which acknowledgements would be recorded; writes nothing.
  diff_mode:
    support: full
    details:
      - The holders recorded per user (holder hashes); never a secret.
  platform:
    support: full
    platforms: posix
notes:
  - IAM permissions with the Secrets Manager store - C(secretsmanager:GetSecretValue), C(DescribeSecret) and
    C(TagResource) on the secrets under O(escrow_prefix) (C(docs/awx.md) has a policy).
seealso:
  - module: keyops.aws.iam_access_key_rotation
"""

EXAMPLES = r"""
- name: Record that two holders hold the new key of deploy-bot
  keyops.aws.access_key_rotation_state:
    state: acknowledged
    escrow_backend: secretsmanager
    acknowledgements:
      - iam_user: deploy-bot
        access_key_id: AKIAIOSFODNN7EXAMPLE
        holders: ["web1:/etc/app/credentials[default]", "web2:/etc/app/credentials[default]"]
  delegate_to: localhost

- name: Read the acknowledgements of deploy-bot
  keyops.aws.access_key_rotation_state:
    users: [deploy-bot]
    escrow_backend: secretsmanager
  delegate_to: localhost
  register: acks
"""

RETURN = r"""
users:
  description: With O(state=query), one entry per user.
  returned: when O(state=query)
  type: list
  elements: dict
  contains:
    iam_user:
      description: The user.
      type: str
    recorded_key_id:
      description: With the Secrets Manager store, the new key the store recorded (null when none).
      type: str
    claimed_by:
      description: With the Secrets Manager store, who claimed the rotation.
      type: str
    claimed_at:
      description: With the Secrets Manager store, when (ISO 8601).
      type: str
    in_store:
      description: With the Secrets Manager store, whether the user has a secret (null with the local store).
      type: bool
    acknowledgements:
      description: C({holder hash - key id}) of the recorded acknowledgements.
      type: dict
acknowledged:
  description: With O(state=acknowledged), one entry per user of O(acknowledgements).
  returned: when O(state=acknowledged)
  type: list
  elements: dict
  contains:
    iam_user:
      description: The user.
      type: str
    access_key_id:
      description: The key acknowledged.
      type: str
    holders_recorded:
      description: The holders recorded by this task (already recorded ones are left out).
      type: list
      elements: str
    skipped:
      description: Why nothing was recorded for this user (null when recorded).
      type: str
escrow_backend:
  description: The store used.
  returned: always
  type: str
  sample: secretsmanager
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import CONCURRENCY_ARGSPEC
from ansible_collections.keyops.aws.plugins.module_utils._rotation_state import run_state


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["query", "acknowledged"], default="query"),
        users=dict(type="list", elements="str", default=[]),
        acknowledgements=dict(type="list", elements="dict", default=[], options=dict(
            iam_user=dict(type="str", required=True),
            access_key_id=dict(type="str", required=True, no_log=False),
            holders=dict(type="list", elements="str", required=True),
        )),
        escrow_backend=dict(type="str", choices=["local", "secretsmanager"], default="local"),
        escrow_dir=dict(type="path"),
        escrow_prefix=dict(type="str", default="keyops/access-keys/"),
        escrow_kms_key_id=dict(type="str", no_log=False),
        **CONCURRENCY_ARGSPEC
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_state(module)


if __name__ == "__main__":
    main()
