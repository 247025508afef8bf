#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: credentials_profile_info
short_description: Report the profiles of an AWS shared credentials or config file, and the file's mode and owner
version_added: 0.1.0
description:
  - Lists the profiles of an AWS credentials (or config) file with their access key ids and other
    settings, plus whether the file exists, its mode and its owner and group.
  - Secrets are never returned unless O(return_secrets=true); settings whose names look secret
    (C(*secret*), C(*token*), C(*password*), C(credential_process)) are shown as C(********).
  - The file is read as botocore reads it. A file botocore refuses (a setting before the first
    section, a nested block line without C(=), a profile or option that appears twice, ...) fails the
    task naming the line; a missing file is reported with RV(exists=false) and no profiles.
  - When the result holds a secret, the action plugin hides the displayed result at every
    verbosity; a registered variable still holds it, so tasks using it need C(no_log).
  - The action plugin also censors the connection's raw output of this task at C(-vvv); setting
    C(no_log=true) on a task with O(return_secrets=true) is still good practice.
author:
  - keyops.aws contributors (@keyops-aws)
options:
  path:
    description:
      - The credentials or config file, on the host the task runs on.
    type: path
    required: true
  profiles:
    description:
      - Only report these profiles (those missing from the file are left out). All when not set.
      - A name no section header can hold (empty, surrounding spaces, V([), V(]) or a line break) fails the task.
    type: list
    elements: str
  file_type:
    description:
      - V(credentials) reads C([NAME]) sections as profiles; V(config) reads C([profile NAME]) and C([default]).
    type: str
    choices: [credentials, config]
    default: credentials
  return_secrets:
    description:
      - Also return RV(profiles[].secret_access_key) and RV(profiles[].session_token).
    type: bool
    default: false
  follow:
    description:
      - Read through a symlink (and report the mode and owner of its target). When V(false) a symlink fails the task.
    type: bool
    default: true
attributes:
  platform:
    support: full
    platforms: posix
  action:
    support: full
    details:
      - The action plugin hides a displayed result that carries a secret.
seealso:
  - module: keyops.aws.credentials_profile
  - module: keyops.aws.access_key_verify
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.info_module
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.action
"""

EXAMPLES = r"""
- name: Which key does each profile hold
  keyops.aws.credentials_profile_info:
    path: ~/.aws/credentials
  register: creds

- name: The file must be private
  ansible.builtin.assert:
    that: not creds.exists or creds.mode == "0600"

- name: Read the deploy profile's secret for a verification
  keyops.aws.credentials_profile_info:
    path: ~/.aws/credentials
    profiles: [deploy]
    return_secrets: true
  register: deploy_creds
  no_log: true
"""

RETURN = r"""
path:
  description: The file read.
  returned: always
  type: str
  sample: /home/app/.aws/credentials
exists:
  description: Whether the file exists.
  returned: always
  type: bool
  sample: true
mode:
  description: The file's permissions as four octal digits; null when it does not exist.
  returned: always
  type: str
  sample: "0600"
owner:
  description: The file's owner (name, or uid when the uid has no name); null when it does not exist.
  returned: always
  type: str
  sample: app
group:
  description: The file's group (name, or gid); null when it does not exist.
  returned: always
  type: str
  sample: app
profiles:
  description: The profiles in file order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The profile name (without C(profile ) in a config file).
      type: str
      returned: always
      sample: deploy
    aws_access_key_id:
      description: The access key id, null when none.
      type: str
      returned: always
      sample: AKIAIOSFODNN7EXAMPLE
    has_secret_access_key:
      description: Whether the profile holds a non-empty secret access key.
      type: bool
      returned: always
    has_session_token:
      description: Whether the profile holds a session token.
      type: bool
      returned: always
    settings:
      description: The other options (names in lowercase; nested blocks as dicts; secret-looking values masked).
      type: dict
      returned: always
      sample: {"region": "eu-west-1"}
    secret_access_key:
      description: The secret access key (a secret), only with O(return_secrets=true).
      type: str
      returned: when return_secrets is true
    session_token:
      description: The session token (a secret), only with O(return_secrets=true).
      type: str
      returned: when return_secrets is true
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keyops.aws.plugins.module_utils._credentials_profile import run_info


def main():
    argument_spec = dict(
        path=dict(type="path", required=True),
        profiles=dict(type="list", elements="str"),
        file_type=dict(type="str", choices=["credentials", "config"], default="credentials"),
        return_secrets=dict(type="bool", default=False, no_log=False),
        follow=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_info(module)


if __name__ == "__main__":
    main()
