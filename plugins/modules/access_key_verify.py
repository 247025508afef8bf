#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: access_key_verify
short_description: Prove that AWS access key pairs work, and say why one does not
version_added: 0.1.0
description:
  - Calls STS C(GetCallerIdentity) signed with the key pair under test until it succeeds
    O(required_successes) times in a row (a failure after a success restarts the count), within
    O(timeout) seconds, waiting O(delay) seconds between calls and backing off after failures.
    IAM is eventually consistent, so a new key can be refused for a few seconds; one success is
    not proof that the next call will work.
  - Only the errors a fresh key shows (C(InvalidClientTokenId), C(SignatureDoesNotMatch)) are
    retried. Other refusals are final at once.
  - The key pair comes from O(access_key_id) and O(secret_access_key), from a profile of a
    credentials file on the host running the module (O(path) and O(profile_name)), or from a list
    O(keys) verified concurrently.
  - A failure is named in RV(reason) -- V(key_not_found) (unknown or deleted key),
    V(key_inactive), V(secret_mismatch) (the secret is not the key's), V(malformed_key_id)
    (detected locally, without any AWS call), V(token_expired), V(wrong_identity) (another
    account or user than O(expected_account)/O(expected_arn)) -- and explained in RV(message).
  - AWS answers an inactive key like a deleted one. When the task's own AWS credentials (the
    connection options or environment) can read IAM (C(iam:GetAccessKeyLastUsed),
    C(iam:ListAccessKeys)), the module tells them apart, and answers at once for an inactive key
    or a key IAM has listed for more than 5 minutes; otherwise it reports V(key_not_found) and
    says that the key may also be inactive.
  - No secret appears in any result or message.
author:
  - keyops.aws contributors (@keyops-aws)
options:
  access_key_id:
    description:
      - The access key id to verify. Requires O(secret_access_key).
      - Exactly one of O(access_key_id), O(path) and O(keys) is required.
    type: str
  secret_access_key:
    description:
      - The secret access key of O(access_key_id).
    type: str
  key_session_token:
    description:
      - The session token of a temporary (C(ASIA)) O(access_key_id).
      - Named so because O(session_token) is the token of the task's own AWS connection.
    type: str
  path:
    description:
      - A credentials file on the host running the module, whose profile O(profile_name) holds the key pair to verify.
    type: path
  profile_name:
    description:
      - The profile of O(path) to verify (O(profile) is the task's own AWS connection profile).
    type: str
    default: default
  keys:
    description:
      - Key pairs to verify concurrently; the result is in RV(results), one entry per key.
      - All of them go through one STS client (one pool of at most O(concurrency) connections), each call signed with its own key.
    type: list
    elements: dict
    suboptions:
      access_key_id:
        description: The access key id.
        type: str
        required: true
      secret_access_key:
        description: Its secret access key.
        type: str
        required: true
      session_token:
        description: Its session token, for a temporary key.
        type: str
      name:
        description: A label returned with the result (a holder, a file, a host).
        type: str
  required_successes:
    description:
      - How many successful calls in a row prove the key works.
    type: int
    default: 3
  timeout:
    description:
      - Seconds to keep retrying a key AWS refuses as unknown or mismatched, before reporting it invalid.
    type: float
    default: 60
  delay:
    description:
      - Seconds between two calls; doubled after each failure (up to 8 seconds).
    type: float
    default: 1
  expected_account:
    description:
      - The AWS account id the key must belong to; another one gives RV(reason=wrong_identity).
    type: str
  expected_arn:
    description:
      - The ARN (for example C(arn:aws:iam::123456789012:user/deploy)) the key must authenticate as.
    type: str
  fail_on_invalid:
    description:
      - Fail the task when a key is not valid. With V(false) the task succeeds and reports
        RV(valid) and RV(reason) (for audits).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details:
      - It changes nothing, so it verifies in check mode too.
notes:
  - Never changes anything.
  - Each call uses the region and endpoint of the task's connection options.
seealso:
  - module: keyops.aws.credentials_profile
  - module: keyops.aws.iam_access_key_rotation
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_aws
  - keyops.aws.attributes.read_only
  - keyops.aws.attributes.platform_aws
  - keyops.aws.concurrency
  - keyops.aws.aws
"""

EXAMPLES = r"""
- name: The new key works (3 successes in a row, up to a minute)
  keyops.aws.access_key_verify:
    access_key_id: "{{ rotation.users[0].new_key.access_key_id }}"
    secret_access_key: "{{ rotation.users[0].new_key.secret_access_key }}"
    expected_arn: arn:aws:iam::123456789012:user/deploy
  no_log: true

- name: The key in the deploy profile of a host's credentials file works
  keyops.aws.access_key_verify:
    path: /home/app/.aws/credentials
    profile_name: deploy

- name: Audit several keys without failing
  keyops.aws.access_key_verify:
    keys: "{{ keys_to_check }}"
    required_successes: 1
    timeout: 5
    fail_on_invalid: false
  register: audit
  no_log: true

- name: Report them
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.reason }}"
  loop: "{{ audit.results }}"
"""

RETURN = r"""
valid:
  description: Whether the key works (with O(keys), whether every key works).
  returned: always
  type: bool
  sample: true
reason:
  description:
    - V(ok), V(key_not_found), V(key_inactive), V(secret_mismatch), V(malformed_key_id),
      V(token_expired) or V(wrong_identity). With O(keys), the reason of the first invalid key.
  returned: always
  type: str
  sample: ok
message:
  description: The outcome in words (never a secret).
  returned: always
  type: str
  sample: access key AKIAIOSFODNN7EXAMPLE works as arn:aws:iam::123456789012:user/deploy (3 consecutive successes)
arn:
  description: The ARN the key authenticated as (also set for RV(reason=wrong_identity)).
  returned: when a single key authenticated
  type: str
  sample: arn:aws:iam::123456789012:user/deploy
account:
  description: The account of that ARN.
  returned: when a single key authenticated
  type: str
  sample: "123456789012"
user_name:
  description: The IAM user of the key, when known.
  returned: with a single key
  type: str
  sample: deploy
access_key_id:
  description: The key verified (only its first 4 characters when malformed).
  returned: with a single key
  type: str
  sample: AKIAIOSFODNN7EXAMPLE
name:
  description: The profile name with O(path); null otherwise.
  returned: with a single key
  type: str
attempts:
  description: How many calls were made.
  returned: with a single key
  type: int
  sample: 3
results:
  description: With O(keys), one entry per key in the given order, each with RV(access_key_id),
    RV(name), RV(valid), RV(reason), RV(message), RV(arn), RV(account), RV(user_name), RV(attempts).
  returned: with keys
  type: list
  elements: dict
invalid_keys:
  description: With O(keys), the ids of the keys that are not valid.
  returned: with keys
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import CONCURRENCY_ARGSPEC
from ansible_collections.keyops.aws.plugins.module_utils._access_key_verify import run_module


def main():
    argument_spec = dict(
        access_key_id=dict(type="str", no_log=False),
        secret_access_key=dict(type="str", no_log=True),
        key_session_token=dict(type="str", no_log=True),
        path=dict(type="path"),
        profile_name=dict(type="str", default="default"),
        keys=dict(
            type="list",
            elements="dict",
            no_log=False,
            options=dict(
                access_key_id=dict(type="str", required=True, no_log=False),
                secret_access_key=dict(type="str", required=True, no_log=True),
                session_token=dict(type="str", no_log=True),
                name=dict(type="str"),
            ),
        ),
        required_successes=dict(type="int", default=3),
        timeout=dict(type="float", default=60),
        delay=dict(type="float", default=1),
        expected_account=dict(type="str"),
        expected_arn=dict(type="str"),
        fail_on_invalid=dict(type="bool", default=True),
        **CONCURRENCY_ARGSPEC
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("access_key_id", "path", "keys")],
        required_one_of=[("access_key_id", "path", "keys")],
        required_together=[("access_key_id", "secret_access_key")],
    )
    run_module(module)


if __name__ == "__main__":
    main()
