#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin of the same name
# (plugins/action/access_key_rotation_plan.py); this file holds its documentation.

DOCUMENTATION = r"""
---
module: access_key_rotation_plan
short_description: Bookkeeping steps of the keyops.aws.access_key_rotation role
version_added: 0.1.0
description:
  - The controller-side decisions of the role P(keyops.aws.access_key_rotation#role), one O(step) per
    task; its tasks call it in order and hand each step's result to the next. It changes nothing
    and talks to no host and no AWS API.
  - Its options and results are internal to the role and may change without notice; use the role.
  - V(holders) finds the holders of every IAM user in the variables of every inventory host
    (C(access_key_rotation_credentials), C(access_key_rotation_aws)), including hosts no longer in
    the play, and groups users by AWS settings.
  - V(users) turns what the holders hold into the O(plan) of M(keyops.aws.iam_access_key_rotation)
    per AWS settings; V(targets) decides where the secret of each target key comes from;
    V(distribute) plans the writes and the verifications; V(reloads) names the C(reload_command) of each
    holder that changed; V(retire) finds the users whose every
    holder holds the verified key (and which holders the distribute phase acknowledges); V(report) builds the summary.
  - With O(holders_plan), V(retire) follows the role's phase - V(prepare) ends with the keys created and stored
    and no holder written; V(retire) (the phase) decides from the holders' acknowledgements read with
    M(keyops.aws.access_key_rotation_state), contacting no host.
  - "A result holding a secret is hidden from display; tasks using it must set C(no_log: true)."
author:
  - keyops.aws contributors (@keyops-aws)
options:
  step:
    description: The step to run.
    type: str
    required: true
    choices: [holders, users, targets, distribute, reloads, retire, report]
  credentials_var:
    description: With O(step=holders), the host variable listing the credentials a host holds.
    type: str
    default: access_key_rotation_credentials
  aws_var:
    description: With O(step=holders), the host variable holding a host's AWS connection options.
    type: str
    default: access_key_rotation_aws
  max_age_days:
    description: With O(step=holders), the play's maximum key age (hosts may set a shorter one).
    type: raw
    default: 90
  delete_after_days:
    description: With O(step=holders), the play's grace before deleting a deactivated key (hosts may set a longer one).
    type: raw
    default: 7
  force:
    description: With O(step=holders), rotate whatever the age.
    type: raw
    default: false
  plan:
    description: The result of the previous V(holders) (for V(users)) or V(users) step.
    type: dict
  reload_results_var:
    description: With O(step=retire), the variable registered by the role's reload task (a failed reload keeps its holder pending).
    type: str
    version_added: 0.2.0
  holders_plan:
    description: With O(step=retire), the result of the V(holders) step (its C(settings) name the role's phase).
    type: dict
    version_added: 0.2.0
  previous:
    description: The result of the previous step (V(targets), V(distribute), V(retire)).
    type: dict
  results:
    description: A registered task result the step reads (rotation, verification, retirement).
    type: raw
  escrowed_key_ids:
    description: With O(step=users), the access key ids in escrow.
    type: list
    elements: str
    default: []
  escrow_query:
    description: With O(step=distribute), the registered result of M(keyops.aws.access_key_escrow) O(keyops.aws.access_key_escrow#module:state=query).
    type: raw
  host_results_var:
    description:
      - The names of variables registered on the holder hosts that the step reads through C(hostvars)
        (one per holder type, the reads or writes of credentials files, env files, Secrets Manager and SSM).
      - A single name is accepted as before.
    type: list
    elements: str
  verify_successes:
    description: With O(step=holders), the role's C(access_key_rotation_verify_successes), validated (1 to 100).
    type: raw
    version_added: 0.2.0
  verify_timeout:
    description: With O(step=holders), the role's C(access_key_rotation_verify_timeout), validated (0 to 86400 seconds).
    type: raw
    version_added: 0.2.0
  batch_size:
    description: With O(step=holders), users per loop item of the rotate and retire tasks (1 to 100000).
    type: raw
    version_added: 0.2.0
  concurrency:
    description: With O(step=holders), the role's C(access_key_rotation_concurrency), validated (1 to 256).
    type: raw
    version_added: 0.2.0
  phase:
    description: With O(step=holders), the role's C(access_key_rotation_phase), validated (V(all), V(prepare), V(distribute), V(retire)).
    type: raw
    default: all
    version_added: 0.2.0
  escrow_backend:
    description: With O(step=holders), the role's C(access_key_rotation_escrow_backend), validated (V(local) or V(secretsmanager)).
    type: raw
    default: local
    version_added: 0.2.0
  escrow_prefix:
    description: With O(step=holders), the role's C(access_key_rotation_escrow_prefix), validated.
    type: raw
    version_added: 0.2.0
  escrow_kms_key_id:
    description: With O(step=holders), the role's C(access_key_rotation_escrow_kms_key_id), validated.
    type: raw
    version_added: 0.2.0
  claim_ttl_minutes:
    description: With O(step=holders), the role's C(access_key_rotation_claim_ttl_minutes), validated (0 to 10080).
    type: raw
    version_added: 0.2.0
attributes:
  check_mode:
    support: full
    details:
      - The bookkeeping steps run in check mode too and predict the role's run.
notes:
  - Runs on the controller.
seealso:
  - module: keyops.aws.iam_access_key_rotation
  - module: keyops.aws.access_key_escrow
  - module: keyops.aws.access_key_rotation_state
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.action
  - keyops.aws.attributes.controller_action
"""

EXAMPLES = r"""
- name: Find the holders of every IAM user in the inventory
  keyops.aws.access_key_rotation_plan:
    step: holders
  run_once: true
  register: holders
"""

RETURN = r"""
step:
  description: The step that ran.
  returned: always
  type: str
  sample: holders
holders:
  description: With O(step=holders) and O(step=users), one entry per credentials profile of every inventory host.
  returned: when step is holders or users
  type: list
  elements: dict
aws_groups:
  description: The users grouped by AWS settings.
  returned: when step is holders or users
  type: list
  elements: dict
summary:
  description: With O(step=report), per IAM user the old and new key ids, the holders updated and pending, the status.
  returned: when step is report
  type: dict
lines:
  description:
    - With O(step=report), for people - a totals line (rotated, up to date, converged, retired old keys
      only, pending, failed), then one line per user that changed or needs attention.
  returned: when step is report
  type: list
  elements: str
  version_added: 0.2.0
totals:
  description: With O(step=report), the number of users per status.
  returned: when step is report
  type: dict
  version_added: 0.2.0
rotate_groups:
  description: With O(step=users), the loop items of the rotation task (batches of users per AWS settings, with a label).
  returned: when step is users
  type: list
  elements: dict
  version_added: 0.2.0
retire_groups:
  description: With O(step=retire), the loop items of the retire task (batches, each user with the keys the rotate step saw).
  returned: when step is retire
  type: list
  elements: dict
  version_added: 0.2.0
errors:
  description: With O(step=report), the users that failed.
  returned: when step is report
  type: list
  elements: str
pending:
  description: With O(step=report), the holders that do not hold their user's key yet.
  returned: when step is report
  type: list
  elements: str
"""
