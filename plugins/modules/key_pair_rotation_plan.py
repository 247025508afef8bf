#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin of the same name
# (plugins/action/key_pair_rotation_plan.py); this file holds its documentation.

DOCUMENTATION = r"""
---
module: key_pair_rotation_plan
short_description: Shaping steps of the keyops.aws.key_pair_rotation role
version_added: 0.2.0
description:
  - The controller-side shaping of the role P(keyops.aws.key_pair_rotation#role), one O(step) per
    task; the role's tasks call it in order and hand its results to the next tasks. It changes
    nothing and talks to no host and no AWS API.
  - Its options and results are internal to the role and may change without notice; use the role.
  - V(host) (on every host) turns the host's role variables and connection variables
    (C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_ssh_common_args),
    C(ansible_ssh_extra_args), C(ansible_ssh_executable), C(ansible_ssh_private_key_file)) into its
    key pair settings, the ssh options of its proof logins and its C(authorized_keys) target.
  - V(key_pairs) (once) groups the play's hosts by key pair name (for example one per environment
    group), fails when hosts sharing a name ask for different settings or when a key pair's regions
    are not EC2 regions, and returns the O(keyops.aws.key_pair_rotation_state#module:key_pairs) of
    M(keyops.aws.key_pair_rotation_state).
  - V(proven) (once, after the proof logins) lists the key pairs to import and to promote, those
    with a key to converge to and a host still in the play.
  - V(report) (on every host) builds the host's report from its registered results; V(summary)
    (once) builds the summary per key pair and over the play.
  - "A result holding AWS secrets (C(secret_key), C(session_token)) is hidden from display."
author:
  - keyops.aws contributors (@keyops-aws)
options:
  step:
    description: The step to run.
    type: str
    required: true
    choices: [host, key_pairs, proven, report, summary]
  name:
    description: With O(step=host), C(key_pair_rotation_name).
    type: raw
  regions:
    description: With O(step=host), C(key_pair_rotation_regions).
    type: raw
  key_dir:
    description: With O(step=host), C(key_pair_rotation_key_dir).
    type: raw
  type:
    description: With O(step=host), C(key_pair_rotation_type).
    type: raw
  size:
    description: With O(step=host), C(key_pair_rotation_size).
    type: raw
  comment:
    description: With O(step=host), C(key_pair_rotation_comment).
    type: raw
  max_age_days:
    description: With O(step=host), C(key_pair_rotation_max_age_days).
    type: raw
  force:
    description: With O(step=host), C(key_pair_rotation_force).
    type: raw
  tags:
    description: With O(step=host), C(key_pair_rotation_tags).
    type: raw
  aws:
    description: With O(step=host), C(key_pair_rotation_aws).
    type: raw
  user:
    description: With O(step=host), C(key_pair_rotation_user).
    type: raw
  authorized_keys_path:
    description: With O(step=host), C(key_pair_rotation_authorized_keys_path).
    type: raw
  verify_timeout:
    description: With O(step=host), C(key_pair_rotation_verify_timeout).
    type: raw
  host_var:
    description: With O(step=key_pairs), the variable every host registered the V(host) step in.
    type: str
    default: key_pair_rotation__host
  host_result_var:
    description: With O(step=summary), the variable every host registered the V(report) step in.
    type: str
    default: key_pair_rotation_host_result
  key_pairs:
    description: With O(step=proven) and O(step=summary), the registered result of the V(key_pairs) step.
    type: dict
  plan:
    description: With O(step=summary), the registered first read of M(keyops.aws.key_pair_rotation_state).
    type: dict
  keys:
    description:
      - With O(step=proven) and O(step=summary), the registered read of M(keyops.aws.key_pair_rotation_state)
        the hosts converge to.
    type: dict
  key_pair:
    description: With O(step=report), this host's key pair in O(keys).
    type: dict
  added:
    description: With O(step=report), the registered result of adding the key to C(authorized_keys).
    type: raw
  verify:
    description: With O(step=report), the registered result of the proof login.
    type: raw
  removed:
    description: With O(step=report), the registered result of removing the old keys.
    type: raw
  switched:
    description: With O(step=report), the registered result of switching Ansible's connection key.
    type: raw
  imported:
    description: With O(step=summary), the registered loop of M(keyops.aws.ec2_key_pair).
    type: raw
  promoted:
    description: With O(step=summary), the registered loop of the promotions.
    type: raw
attributes:
  check_mode:
    support: full
    details:
      - The steps run in check mode too and predict the role's run.
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
  - module: keyops.aws.key_pair_rotation_state
  - module: keyops.aws.key_pair_rotation_verify
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.action
"""

EXAMPLES = r"""
- name: Note this host's key pair
  keyops.aws.key_pair_rotation_plan:
    step: host
    name: "{{ key_pair_rotation_name }}"
    regions: "{{ key_pair_rotation_regions }}"
    key_dir: ~/.ssh/keyops-aws
  register: key_pair_rotation__host

- name: Group the play's hosts by key pair
  keyops.aws.key_pair_rotation_plan:
    step: key_pairs
  run_once: true
  register: key_pair_rotation__key_pairs
"""

RETURN = r"""
key_pair:
  description: With O(step=host), the settings that make the host's key pair (C(name), C(key_dir), C(regions), C(type), ...).
  returned: when step is host
  type: dict
ssh:
  description: With O(step=host), the options every proof login of the host shares (module defaults of M(keyops.aws.key_pair_rotation_verify)).
  returned: when step is host
  type: dict
authorized_keys:
  description: With O(step=host) the C(path) or C(user) of the host's authorized_keys; with O(step=report) the file written.
  returned: when step is host or report
  type: raw
names:
  description: With O(step=key_pairs), the key pair names of the play, in play order.
  returned: when step is key_pairs
  type: list
  elements: str
key_pairs:
  description:
    - With O(step=key_pairs), the O(keyops.aws.key_pair_rotation_state#module:key_pairs) option.
    - With O(step=summary), the summary of each key pair, by name.
  returned: when step is key_pairs or summary
  type: raw
settings:
  description: With O(step=key_pairs), each key pair's settings and C(hosts), by name.
  returned: when step is key_pairs
  type: dict
imports:
  description: With O(step=proven), the key pairs to import (C(name), C(public_key), C(regions), C(tags)).
  returned: when step is proven
  type: list
  elements: dict
promotions:
  description: With O(step=proven), the pending keys to promote (C(name), C(key_dir), C(fingerprint), C(max_age_days)).
  returned: when step is proven
  type: list
  elements: dict
status:
  description: With O(step=report), the host's status.
  returned: when step is report
  type: str
pending:
  description: With O(step=report), whether the host does not hold the proven key yet.
  returned: when step is report
  type: bool
hosts:
  description: With O(step=summary), every host's report.
  returned: when step is summary
  type: dict
pending_hosts:
  description: With O(step=summary), the hosts that do not hold their key pair's proven key.
  returned: when step is summary
  type: list
  elements: str
"""
