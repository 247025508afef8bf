# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The standard module attributes (the form of ansible-core's action_common_attributes fragment).

DOCUMENTATION gives the shared descriptions, so that ansible-doc and the docs site show them the same
way everywhere; the other fragments give the C(support) (and C(details), C(platforms), C(membership))
that several modules share. A module's own C(attributes) entries take precedence over a fragment's.
Kept in this collection (not taken from ansible.builtin) so that a module's docs render with the
same wording on every supported ansible-core.
"""


class ModuleDocFragment:
    # check_mode, diff_mode and platform: on every module.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying the target.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
"""

    # For modules that only read: check mode supported, diff mode not applicable.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
"""

    # Modules that take the common AWS connection options are members of group/keyops.aws.aws
    # (meta/runtime.yml), which extends group/amazon.aws.aws.
    ACTION_GROUP_AWS = r"""
options: {}
attributes:
  action_group:
    description: Action is part of action_group(s), for convenient setting of module_defaults.
    support: full
    membership:
      - keyops.aws.aws
    details:
      - Use C(group/keyops.aws.aws) in C(module_defaults); it also reaches every module of C(group/amazon.aws.aws).
        C(group/amazon.aws.aws) alone does not reach this module.
"""

    # Modules that are in no action group.
    ACTION_GROUP_NONE = r"""
options: {}
attributes:
  action_group:
    description: Action is part of action_group(s), for convenient setting of module_defaults.
    support: none
    membership: []
    details:
      - Not a member of any action group; set its options on the task or in C(module_defaults) by its own name.
"""

    # Modules with an action plugin of the same name.
    ACTION = r"""
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
"""

    # A POSIX host.
    PLATFORM_POSIX = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: posix
"""

    # Modules that call the AWS APIs from the task's host.
    PLATFORM_AWS = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: posix
    details:
      - Calls the AWS APIs from the task's host (usually localhost), which needs boto3 and botocore.
"""

    # Modules that only verify (nothing to change, so nothing to diff).
    READ_ONLY = r"""
options: {}
attributes:
  diff_mode:
    support: N/A
    details:
      - It changes nothing.
"""

    # Modules that write to AWS: they read, then write only what differs.
    AWS_WRITES = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - Reads and predicts exactly; nothing is written.
"""

    # Bookkeeping modules that run entirely in their action plugin on the controller (with ACTION).
    CONTROLLER_ACTION = r"""
options: {}
attributes:
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details:
      - Runs on the controller, whatever the task's host.
  action:
    details:
      - Runs entirely in the action plugin on the controller.
"""
