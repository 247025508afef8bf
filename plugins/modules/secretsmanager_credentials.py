#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: secretsmanager_credentials
short_description: Set AWS access key pairs in Secrets Manager JSON secrets, many secrets per call
version_added: 0.2.0
description:
  - Sets two keys of a JSON secret (O(holders[].id_key) and O(holders[].secret_key)) to an access key
    pair, keeping every other key of the JSON object. Many secrets of one account and region are
    handled in one call, concurrently.
  - A secret that changes gets exactly one new version (C(PutSecretValue)); a secret that already
    holds the pair gets none.
  - A missing secret is created only with O(holders[].create=true); a secret named by its ARN is never
    created. A secret that does not hold a JSON object is refused and left as it is.
  - A holder without O(holders[].access_key_id) is only read (the key id it holds is returned).
  - One holder failing never stops the others; the task fails at the end naming each failed secret.
  - No secret appears in a message or a diff, nor in the result unless O(return_secrets=true) (C(--diff) shows the JSON keys with
    every value but the key id masked).
author:
  - keyops.aws contributors (@keyops-aws)
options:
  holders:
    description:
      - The secrets to write or read.
    type: list
    elements: dict
    required: true
    suboptions:
      secret_id:
        description: The secret's name or ARN.
        type: str
        required: true
      id_key:
        description: The JSON key that holds the access key id.
        type: str
        default: aws_access_key_id
      secret_key:
        description: The JSON key that holds the secret access key.
        type: str
        default: aws_secret_access_key
      access_key_id:
        description: The access key id to set; omitted = only read this secret.
        type: str
      secret_access_key:
        description: The secret access key of O(holders[].access_key_id).
        type: str
      create:
        description: Create the secret when it does not exist (never for an ARN).
        type: bool
        default: false
      kms_key_id:
        description: The KMS key of a secret this task creates (else the account's default key).
        type: str
  return_secrets:
    description:
      - Also return the secret access key each holder holds now (RV(holders[].secret_access_key)), for a
        read-only call (no holder may set O(holders[].access_key_id)).
      - The action plugin marks a result holding a secret C(no_log), so no callback shows it at any
        verbosity; the registered variable holds it (a task using it must itself use C(no_log)).
    type: bool
    default: false
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_aws
  - keyops.aws.attributes.action
  - keyops.aws.attributes.aws_writes
  - keyops.aws.attributes.platform_aws
  - keyops.aws.concurrency
  - keyops.aws.aws
attributes:
  diff_mode:
    support: full
    details:
      - The JSON keys of each changing secret before and after, every value but the key id masked.
notes:
  - Written from the controller with the task's AWS settings; the secret's region is the task's region.
seealso:
  - module: keyops.aws.ssm_parameter_credentials
"""

EXAMPLES = r"""
- name: Put the new key in two application secrets
  keyops.aws.secretsmanager_credentials:
    region: eu-west-1
    holders:
      - secret_id: prod/billing/aws
        access_key_id: "{{ new_key.access_key_id }}"
        secret_access_key: "{{ new_key.secret_access_key }}"
      - secret_id: prod/reports/aws
        id_key: AccessKeyId
        secret_key: SecretAccessKey
        create: true
        access_key_id: "{{ new_key.access_key_id }}"
        secret_access_key: "{{ new_key.secret_access_key }}"
  no_log: true

- name: Read the key pair a secret holds (the result is hidden from output; use it only in no_log tasks)
  keyops.aws.secretsmanager_credentials:
    region: eu-west-1
    holders:
      - secret_id: prod/billing/aws
    return_secrets: true
  register: billing_key
"""

RETURN = r"""
holders:
  description: One item per holder, in order (a secret only with O(return_secrets)).
  returned: always
  type: list
  elements: dict
  contains:
    secret_id:
      description: The secret.
      type: str
    access_key_id:
      description: The key id the secret holds after the task (null when none or failed).
      type: str
    action:
      description: V(put) (a new version), V(create) or null (nothing written).
      type: str
    changed:
      description: Whether the secret was (in check mode, would be) written.
      type: bool
    failed:
      description: Whether this holder failed.
      type: bool
    msg:
      description: Why it failed (names the secret; never a secret value).
      type: str
    secret_access_key:
      description:
        - The secret access key the secret holds (null when none). Hidden from every display (the
          whole result is C(no_log)); never in a diff or a message.
      returned: with O(return_secrets=true), for each holder that did not fail
      type: str
failed_holders:
  description: The secret_id of each failed holder.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.keyops.aws.plugins.module_utils._secret_stores import SECRETSMANAGER, holders_argument_spec, run_store


def main():
    argument_spec = holders_argument_spec(dict(
        secret_id=dict(type="str", required=True),
        id_key=dict(type="str", default="aws_access_key_id", no_log=False),
        secret_key=dict(type="str", default="aws_secret_access_key", no_log=False),
        access_key_id=dict(type="str", no_log=False),
        secret_access_key=dict(type="str", no_log=True),
        create=dict(type="bool", default=False),
        kms_key_id=dict(type="str", no_log=False),
    ))
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_store(module, SECRETSMANAGER)


if __name__ == "__main__":
    main()
