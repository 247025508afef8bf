#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: credentials_profile
short_description: Manage one profile in an AWS shared credentials or config file, keeping the rest intact
version_added: 0.1.0
description:
  - Sets the access key pair (and optional session token and other settings) of one profile in an
    AWS shared credentials file (C(~/.aws/credentials)), or the settings of one profile in an AWS
    config file (C(~/.aws/config), where the section is C([profile NAME]) and C([default]) for the
    default profile).
  - Every other profile, comment, blank line, line ending (LF or CRLF) and the order of lines are
    kept byte for byte; only the lines of the changed options are rewritten, in their own format.
  - The file is written atomically (a temporary file in the same directory, created with the final
    mode from its first byte, flushed to disk, then renamed over the file), so a reader never sees
    a half-written file and other users never see the secret. Missing parent directories are
    created with mode C(0700).
  - The file is read as botocore reads it (a section header ends at its last C(]), so
    C([profile foo] ; a comment) is profile C(foo)). A file botocore refuses (a profile or an option that
    appears twice, a setting before the first section, a nested block line without C(=), a line that
    is not a section, an option, a comment or blank) is refused with the line number, and left as it
    is. C([default]) and C([profile default]) in one config file are refused too (SDKs disagree on
    which one they use).
  - O(secret_access_key) and O(session_token) never appear in the result, a diff or a message;
    C(--diff) shows the file with every secret (of every profile) masked.
author:
  - keyops.aws contributors (@keyops-aws)
options:
  path:
    description:
      - The credentials or config file, on the host the task runs on.
    type: path
    required: true
  profile:
    description:
      - The profile to manage. V(default) when neither O(profile) nor O(profiles) is given.
      - Mutually exclusive with O(profiles).
    type: str
  profiles:
    description:
      - Several profiles of the same file at once - one read, one lock, one atomic write and one
        masked diff for the whole file, however many profiles change (a fleet rotation writes each
        credentials file once).
      - Mutually exclusive with O(profile), O(access_key_id), O(secret_access_key),
        O(session_token) and O(settings).
      - Every entry is validated before anything is written; one bad entry fails the task and
        changes nothing.
      - The result has one entry per profile in RV(profiles), with the key id read back from the
        file after the write.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      profile:
        description: The profile.
        type: str
        required: true
      access_key_id:
        description: The access key id (required with O(profiles[].state=present)).
        type: str
      secret_access_key:
        description: Its secret access key (required with O(profiles[].access_key_id)).
        type: str
      session_token:
        description:
          - The session token of a temporary (C(ASIA)) key; a token left in the profile is removed when not given.
        type: str
      state:
        description: V(present) sets the key pair; V(absent) removes the profile. Defaults to O(state).
        type: str
        choices: [present, absent]
  file_type:
    description:
      - V(credentials) names the section C([PROFILE]); V(config) names it C([profile PROFILE])
        (C([default]) for the default profile; an existing C([profile default]) is used as is).
    type: str
    choices: [credentials, config]
    default: credentials
  access_key_id:
    description:
      - The access key id (20 characters, C(AKIA) or C(ASIA) then uppercase letters and digits).
      - Requires O(secret_access_key). A malformed id fails the task without changing anything.
    type: str
  secret_access_key:
    description:
      - The secret access key of O(access_key_id).
    type: str
  session_token:
    description:
      - The session token of a temporary (C(ASIA)) key.
      - When O(access_key_id) is given without O(session_token), a session token left in the
        profile (C(aws_session_token) or C(aws_security_token)) is removed, since it would not
        match the new key.
    type: str
  settings:
    description:
      - Other options of the profile, such as C(region) or C(output). Options not named are kept.
      - A value of V(null) removes the option. A dict value is written as a nested block
        (C(s3 =) followed by indented C(key = value) lines).
      - Numbers and booleans are written as AWS tools read them (V(3), V(true)).
    type: dict
  state:
    description:
      - V(present) sets the options; V(absent) removes the whole profile (and the comment lines
        directly above its header) and nothing else.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - The owner of the file (name or uid). An existing file keeps its owner when not set.
    type: str
  group:
    description:
      - The group of the file (name or gid). An existing file keeps its group when not set.
    type: str
  mode:
    description:
      - The permissions of the file, as an octal string. Enforced on every run.
    type: raw
    default: '0600'
  backup:
    description:
      - Before changing the file, copy it beside itself as C(<path>.<time>.<pid>.bak) with the same private mode.
    type: bool
    default: false
  follow:
    description:
      - When O(path) is a symlink, write to the file it points to. By default a symlink is refused,
        so that a link pointing somewhere unexpected is never written through.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - Predicts the change exactly; nothing is written.
  diff_mode:
    support: full
    details:
      - The file before and after, with every secret of every profile masked.
      - A change of O(mode), O(owner), O(group), O(attributes) or the SELinux context of a file whose
        content stays is shown as their values before and after.
notes:
  - Concurrent runs on one host are serialised with an advisory lock on the directory.
  - O(attributes), O(seuser), O(serole), O(setype) and O(selevel) are applied after every write (the
    new file is a new inode) and on an unchanged file, where a difference alone makes the task changed.
seealso:
  - module: keyops.aws.credentials_profile_info
  - module: keyops.aws.access_key_verify
extends_documentation_fragment:
  - keyops.aws.atomic_writes
  - ansible.builtin.files
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.platform_posix
"""

EXAMPLES = r"""
- name: Put the new key pair in the deploy profile
  keyops.aws.credentials_profile:
    path: ~/.aws/credentials
    profile: deploy
    access_key_id: "{{ new_key.access_key_id }}"
    secret_access_key: "{{ new_key.secret_access_key }}"
    backup: true
  no_log: true

- name: Write the keys of several profiles of one file at once (one read, one write)
  keyops.aws.credentials_profile:
    path: ~/.aws/credentials
    profiles:
      - profile: deploy
        access_key_id: "{{ deploy_key.access_key_id }}"
        secret_access_key: "{{ deploy_key.secret_access_key }}"
      - profile: backup
        access_key_id: "{{ backup_key.access_key_id }}"
        secret_access_key: "{{ backup_key.secret_access_key }}"
      - profile: legacy
        state: absent
  no_log: true
  register: written

- name: Region and nested s3 settings of the deploy profile in the config file
  keyops.aws.credentials_profile:
    path: ~/.aws/config
    file_type: config
    profile: deploy
    settings:
      region: eu-west-1
      output: json
      s3:
        max_concurrent_requests: 20

- name: Remove the old profile
  keyops.aws.credentials_profile:
    path: /home/app/.aws/credentials
    profile: legacy
    state: absent
    owner: app
    group: app
"""

RETURN = r"""
path:
  description: The file managed (the symlink's target when O(follow=true)).
  returned: always
  type: str
  sample: /home/app/.aws/credentials
profile:
  description: The profile managed (null with O(profiles)).
  returned: always
  type: str
  sample: deploy
profiles:
  description:
    - With O(profiles), one entry per profile in input order. C(access_key_id) is the key id the file
      holds for that profile after the task, read back from the file after the write (predicted in
      check mode). Never a secret.
  returned: when O(profiles) is given
  type: list
  elements: dict
  version_added: 0.2.0
  sample: [{"profile": "deploy", "state": "present", "changed": true, "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "actions": [{"action": "update_profile", "profile": "deploy", "reason": "the profile differs"}]}]
access_key_id:
  description: The access key id in the profile after the task (null when none or removed).
  returned: always
  type: str
  sample: AKIAIOSFODNN7EXAMPLE
backup_file:
  description: The backup made before the change, when O(backup=true) and the file changed.
  returned: always
  type: str
  sample: /home/app/.aws/credentials.20260101T000000.1234.bak
actions:
  description: What was (or in check mode would be) done.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "update_profile", "profile": "deploy", "reason": "the profile differs"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keyops.aws.plugins.module_utils._credentials_profile import run_module


def main():
    argument_spec = dict(
        path=dict(type="path", required=True),
        profile=dict(type="str"),
        profiles=dict(
            type="list",
            elements="dict",
            options=dict(
                profile=dict(type="str", required=True),
                access_key_id=dict(type="str", no_log=False),
                secret_access_key=dict(type="str", no_log=True),
                session_token=dict(type="str", no_log=True),
                state=dict(type="str", choices=["present", "absent"]),
            ),
        ),
        file_type=dict(type="str", choices=["credentials", "config"], default="credentials"),
        access_key_id=dict(type="str", no_log=False),
        secret_access_key=dict(type="str", no_log=True),
        session_token=dict(type="str", no_log=True),
        settings=dict(type="dict"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        owner=dict(type="str"),
        group=dict(type="str"),
        mode=dict(type="raw", default="0600"),
        backup=dict(type="bool", default=False),
        follow=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        add_file_common_args=True,
        required_together=[("access_key_id", "secret_access_key")],
        mutually_exclusive=[("profile", "profiles"), ("profiles", "access_key_id"), ("profiles", "secret_access_key"),
                            ("profiles", "session_token"), ("profiles", "settings")],
    )
    run_module(module)


if __name__ == "__main__":
    main()
