#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin of the same name
# (plugins/action/credentials_audit_plan.py); this file holds its documentation.

DOCUMENTATION = r"""
---
module: credentials_audit_plan
short_description: Bookkeeping steps of the keyops.aws.credentials_audit role
version_added: 0.2.0
description:
  - The controller-side shaping of the role P(keyops.aws.credentials_audit#role), one O(step) per task; its
    tasks call it in order and hand each step's result to the next. It changes nothing and talks to no host
    and no AWS API.
  - Its options and results are internal to the role and may change without notice; use the role.
  - V(scope) settles every play host's environment (C(keyops_environment), else its first inventory group),
    what to read on it and the AWS settings of every environment; V(accounts) turns the STS identities of
    those settings into the AWS account of every environment, one IAM read per account and one EC2 key pair
    read per environment; V(verify) lists the key pairs found in credentials files to verify with STS;
    V(owners) lists the IAM users owning the verified keys that are not read yet; V(facts) turns every raw
    result into the facts of M(keyops.aws.credentials_audit_report).
  - "A result holding a secret (V(verify)) is hidden from display; tasks using it must set C(no_log: true)."
author:
  - keyops.aws contributors (@keyops-aws)
options:
  step:
    description: The step to run.
    type: str
    required: true
    choices: [scope, accounts, verify, owners, facts]
  authorized_keys_all_hosts:
    description: With O(step=scope), also check the authorized_keys of hosts that name no key pair user or path.
    type: raw
    default: false
  plan:
    description: The result of the V(scope) step (every later step).
    type: dict
  accounts:
    description: The result of the V(accounts) step (V(owners), V(facts)).
    type: dict
  results:
    description:
      - The raw registered results of the role's controller tasks the step reads, by role-internal names
        (for example C(identity), C(iam_first), C(verify), C(ec2)).
    type: dict
    default: {}
  host_results_var:
    description: The names of the host variables registered by the role's host tasks, by role-internal names.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    details:
      - The bookkeeping steps run in check mode too.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details:
      - Runs on the controller, whatever the task's host.
  action:
    support: full
    details:
      - Runs entirely in the action plugin on the controller.
notes:
  - Runs on the controller.
seealso:
  - module: keyops.aws.credentials_audit_report
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.action
"""

EXAMPLES = r"""
- name: Settle every host's environment and what to read
  keyops.aws.credentials_audit_plan:
    step: scope
  run_once: true
  register: audit_scope
"""

RETURN = r"""
step:
  description: The step that ran.
  returned: always
  type: str
  sample: scope
hosts:
  description: With O(step=scope), per play host its environment and what to read on it.
  returned: when step is scope
  type: dict
environments:
  description: With O(step=scope), per environment its hosts, AWS settings and key pair.
  returned: when step is scope
  type: list
  elements: dict
identity_reads:
  description: With O(step=scope), the distinct AWS settings to identify with STS (loop items).
  returned: when step is scope
  type: list
  elements: dict
sm_reads:
  description: With O(step=scope), the Secrets Manager holders per AWS settings (loop items).
  returned: when step is scope
  type: list
  elements: dict
ssm_reads:
  description: With O(step=scope), the SSM parameter holders per AWS settings (loop items).
  returned: when step is scope
  type: list
  elements: dict
controller:
  description: With O(step=scope), the controller's key paths (null without C(key_pair_rotation_name)).
  returned: when step is scope
  type: dict
accounts:
  description: With O(step=accounts), the AWS account of every environment (null when it could not be identified).
  returned: when step is accounts
  type: dict
iam_reads:
  description: With O(step=accounts) and O(step=owners), the IAM reads, one per account (loop items).
  returned: when step is accounts or owners
  type: list
  elements: dict
ec2_reads:
  description: With O(step=accounts), the EC2 key pair reads, one per environment (loop items).
  returned: when step is accounts
  type: list
  elements: dict
verify_groups:
  description: With O(step=verify), the key pairs to verify per AWS settings (holds secrets).
  returned: when step is verify
  type: list
  elements: dict
facts:
  description: With O(step=facts), the options of M(keyops.aws.credentials_audit_report) (no secret).
  returned: when step is facts
  type: dict
"""
