#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_access_key_info
short_description: Report the access keys of IAM users, with age, last use and deactivation time
version_added: 0.1.0
description:
  - Reports every access key of one IAM user, a list of users, or all users of the account
    (paginated), with each key's id, status, creation date, age in days, when and where it was last used,
    and when it was deactivated.
  - IAM records no deactivation time; M(keyops.aws.iam_access_key_rotation) records it in the
    user tag C(keyops:deactivated:<AccessKeyId>), which this module reads.
  - Users are read concurrently (see O(concurrency)), so a fleet of thousands of users is one task.
  - A user that does not exist fails the task, naming the user; it is never reported as a user without keys.
  - Never returns a secret access key (IAM cannot return it after creation).
author:
  - keyops.aws contributors (@keyops-aws)
options:
  user_names:
    description:
      - The IAM users to report, by name.
      - Exactly one of O(user_names) and O(all_users) is required.
    type: list
    elements: str
    aliases: [users]
  all_users:
    description:
      - Report every IAM user of the account.
      - Exactly one of O(user_names) and O(all_users=true) is required.
    type: bool
    default: false
attributes:
  platform:
    support: full
    platforms: posix
    details:
      - Calls the AWS APIs from the task's host (usually localhost), which needs boto3 and botocore.
notes:
  - Needs C(iam:ListAccessKeys), C(iam:ListUserTags), C(iam:GetAccessKeyLastUsed), and with
    O(all_users=true) C(iam:ListUsers).
seealso:
  - module: keyops.aws.iam_access_key_rotation
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.info_module
  - keyops.aws.attributes.action_group_aws
  - keyops.aws.concurrency
  - keyops.aws.aws
"""

EXAMPLES = r"""
- name: Keys of two users
  keyops.aws.iam_access_key_info:
    user_names:
      - deploy-bot
      - backup-bot
  register: keys

- name: Every key of the account older than 90 days
  keyops.aws.iam_access_key_info:
    all_users: true
    concurrency: 32
  register: all_keys

- name: Show the old keys
  ansible.builtin.debug:
    msg: "{{ item.0.user_name }} {{ item.1.access_key_id }} {{ item.1.age_days }} days"
  loop: "{{ all_keys.users | subelements('access_keys') }}"
  when: item.1.age_days >= 90
"""

RETURN = r"""
users:
  description: One entry per user, in the order given (or the order IAM lists them).
  returned: success
  type: list
  elements: dict
  contains:
    user_name:
      description: The IAM user name.
      type: str
      returned: always
      sample: deploy-bot
    access_keys:
      description: The user's access keys, newest first.
      type: list
      elements: dict
      returned: always
      contains:
        access_key_id:
          description: The access key id.
          type: str
          returned: always
          sample: AKIAIOSFODNN7EXAMPLE
        status:
          description: V(Active) or V(Inactive).
          type: str
          returned: always
          sample: Active
        create_date:
          description: When the key was created (ISO 8601, UTC).
          type: str
          returned: always
          sample: "2026-01-02T03:04:05Z"
        age_days:
          description: Whole days since the key was created.
          type: int
          returned: always
          sample: 12
        last_used_date:
          description: When the key was last used (ISO 8601, UTC); null when never used.
          type: str
          returned: always
          sample: "2026-01-10T08:00:00Z"
        last_used_service:
          description: The AWS service the key last called; null when never used.
          type: str
          returned: always
          sample: s3
        last_used_region:
          description: The region of that last call; null when never used.
          type: str
          returned: always
          sample: eu-west-1
        deactivated_date:
          description:
            - When the key was deactivated (ISO 8601, UTC), from the user tag
              C(keyops:deactivated:<AccessKeyId>); null for Active keys and for Inactive keys
              with no such tag (or an unreadable one, with a warning).
          type: str
          returned: always
          sample: "2026-01-05T00:00:00Z"
unknown_users:
  description: The requested users that do not exist.
  returned: failure
  type: list
  elements: str
  sample: [no-such-user]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import CONCURRENCY_ARGSPEC
from ansible_collections.keyops.aws.plugins.module_utils._iam import run_info


def main():
    argument_spec = dict(
        user_names=dict(type="list", elements="str", aliases=["users"]),
        all_users=dict(type="bool", default=False),
        **CONCURRENCY_ARGSPEC
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_info(module)


if __name__ == "__main__":
    main()
