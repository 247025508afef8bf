#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssm_parameter_credentials
short_description: Set AWS access key pairs in SSM Parameter Store parameter pairs, many pairs per call
version_added: 0.2.0
description:
  - Sets an access key pair in two SSM parameters, O(holders[].id_parameter) (keeps its type;
    C(String) when created) and O(holders[].secret_parameter) (always a C(SecureString)). Many pairs
    of one account and region are handled in one call, concurrently.
  - A parameter that already holds its value gets no new version; a changing parameter gets exactly one.
  - O(holders[].kms_key_id) is applied on every write of the secret parameter; without it a created
    parameter uses the account's default key (C(alias/aws/ssm)) and an existing one keeps its key.
  - A holder without O(holders[].access_key_id) is only read (the key id it holds is returned).
  - One holder failing never stops the others; the task fails at the end naming each failed parameter.
  - No secret appears in a message or a diff, nor in the result unless O(return_secrets=true).
author:
  - keyops.aws contributors (@keyops-aws)
options:
  holders:
    description:
      - The parameter pairs to write or read.
    type: list
    elements: dict
    required: true
    suboptions:
      id_parameter:
        description: The parameter holding the access key id (a name such as C(/app/aws/access_key_id)).
        type: str
        required: true
      secret_parameter:
        description: The SecureString parameter holding the secret access key.
        type: str
        required: true
      kms_key_id:
        description: The KMS key (id, ARN or alias) of the secret parameter, applied on every write.
        type: str
      access_key_id:
        description: The access key id to set; omitted = only read this pair.
        type: str
      secret_access_key:
        description: The secret access key of O(holders[].access_key_id).
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
      - The key id of each changing pair before and after; the secret masked.
notes:
  - Written from the controller with the task's AWS settings; the parameters' region is the task's region.
  - The secret parameter is written before the id parameter.
seealso:
  - module: keyops.aws.secretsmanager_credentials
"""

EXAMPLES = r"""
- name: Put the new key in the app's parameters
  keyops.aws.ssm_parameter_credentials:
    holders:
      - id_parameter: /billing/aws/access_key_id
        secret_parameter: /billing/aws/secret_access_key
        kms_key_id: alias/billing
        access_key_id: "{{ new_key.access_key_id }}"
        secret_access_key: "{{ new_key.secret_access_key }}"
  no_log: true

- name: Read the key pair a parameter pair holds (the result is hidden from output; use it only in no_log tasks)
  keyops.aws.ssm_parameter_credentials:
    holders:
      - id_parameter: /billing/aws/access_key_id
        secret_parameter: /billing/aws/secret_access_key
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
    id_parameter:
      description: The id parameter.
      type: str
    secret_parameter:
      description: The secret parameter.
      type: str
    access_key_id:
      description: The key id the pair holds after the task (null when none or failed).
      type: str
    written:
      description: The parameters that were (in check mode, would be) written.
      type: list
      elements: str
    changed:
      description: Whether a parameter was (would be) written.
      type: bool
    failed:
      description: Whether this holder failed.
      type: bool
    msg:
      description: Why it failed (names the parameter; never a secret value).
      type: str
    secret_access_key:
      description:
        - The secret access key the parameter pair holds (null when none). Hidden from every display (the
          whole result is C(no_log)); never in a diff or a message.
      returned: with O(return_secrets=true), for each holder that did not fail
      type: str
failed_holders:
  description: The secret_parameter of each failed holder.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.keyops.aws.plugins.module_utils._secret_stores import SSM, holders_argument_spec, run_store


def main():
    argument_spec = holders_argument_spec(dict(
        id_parameter=dict(type="str", required=True),
        secret_parameter=dict(type="str", required=True, no_log=False),
        kms_key_id=dict(type="str", no_log=False),
        access_key_id=dict(type="str", no_log=False),
        secret_access_key=dict(type="str", no_log=True),
    ))
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_store(module, SSM)


if __name__ == "__main__":
    main()
