#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: env_file_credentials
short_description: Set an AWS access key pair in a KEY=VALUE environment file, keeping the rest byte for byte
version_added: 0.2.0
description:
  - Sets the access key id and secret access key variables in an environment file as systemd
    C(EnvironmentFile=) and C(docker run --env-file) read it (one C(NAME=VALUE) per line).
  - Comments, blank lines, other variables (also look-alikes such as C(AWS_ACCESS_KEY_ID_OLD)), an
    C(export) prefix, spacing, line endings and quoting are kept byte for byte; only the two values
    change. A quoted value stays quoted with the same quote character; a missing final newline stays
    missing. A variable that is missing is appended at the end.
  - Several key pairs in one file (different variable names) are written in one call with O(entries).
  - The file is written atomically (a temporary file in the same directory, mode C(0600) from its
    first byte, flushed, renamed over the file); no temporary file is left. Missing parent
    directories are created C(0700).
  - A managed variable that is set twice in the file is refused with the line numbers, and the file
    is left as it is.
  - No secret appears in the result, a message or a diff; C(--diff) masks the value of every
    secret-looking variable of the file (such as C(DB_PASSWORD), C(API_TOKEN), C(*_KEY)).
  - Entries without O(entries[].access_key_id) only read the key id the file holds (nothing is written).
author:
  - keyops.aws contributors (@keyops-aws)
options:
  path:
    description:
      - The environment file, on the host the task runs on.
    type: path
    required: true
  id_var:
    description:
      - The variable that holds the access key id (single-entry form).
    type: str
    default: AWS_ACCESS_KEY_ID
  secret_var:
    description:
      - The variable that holds the secret access key (single-entry form).
    type: str
    default: AWS_SECRET_ACCESS_KEY
  access_key_id:
    description:
      - The access key id to set (single-entry form). Requires O(secret_access_key).
      - Without it the task only reads the key id the file holds.
    type: str
  secret_access_key:
    description:
      - The secret access key of O(access_key_id).
    type: str
  entries:
    description:
      - Several key pairs of this file, written in one call (instead of O(id_var), O(secret_var),
        O(access_key_id), O(secret_access_key)).
    type: list
    elements: dict
    suboptions:
      id_var:
        description: The variable holding the access key id.
        type: str
        default: AWS_ACCESS_KEY_ID
      secret_var:
        description: The variable holding the secret access key.
        type: str
        default: AWS_SECRET_ACCESS_KEY
      access_key_id:
        description: The access key id to set; omitted = only read this entry.
        type: str
      secret_access_key:
        description: The secret access key of RV(entries[].access_key_id).
        type: str
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
      - The permissions of the file, as an octal string. Enforced on every run that writes.
    type: raw
    default: '0600'
  follow:
    description:
      - When O(path) is a symlink, write to the file it points to (by default a symlink is refused).
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
      - The file before and after, with the value of every secret-looking variable masked.
      - A change of O(mode), O(owner), O(group), O(attributes) or the SELinux context of a file whose
        content stays is shown as their values before and after.
notes:
  - Values are written unquoted unless the existing line quotes them (AWS key ids and secrets need
    no quoting), so both systemd and docker read the same value.
  - Concurrent runs on one host are serialised with an advisory lock on the directory.
  - O(mode), O(owner), O(group), O(attributes), O(seuser), O(serole), O(setype) and O(selevel) are
    applied on every run that writes (also to a file whose content stays); a task that only reads
    changes none of them.
seealso:
  - module: keyops.aws.credentials_profile
extends_documentation_fragment:
  - keyops.aws.atomic_writes
  - ansible.builtin.files
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.platform_posix
"""

EXAMPLES = r"""
- name: Put the new key pair in the app's systemd EnvironmentFile
  keyops.aws.env_file_credentials:
    path: /etc/app/app.env
    access_key_id: "{{ new_key.access_key_id }}"
    secret_access_key: "{{ new_key.secret_access_key }}"
    owner: app
  no_log: true

- name: Two key pairs of one docker env file in one call
  keyops.aws.env_file_credentials:
    path: /srv/worker/worker.env
    entries:
      - access_key_id: "{{ app_key.access_key_id }}"
        secret_access_key: "{{ app_key.secret_access_key }}"
      - id_var: BACKUP_AWS_ACCESS_KEY_ID
        secret_var: BACKUP_AWS_SECRET_ACCESS_KEY
        access_key_id: "{{ backup_key.access_key_id }}"
        secret_access_key: "{{ backup_key.secret_access_key }}"
  no_log: true

- name: Read the key id the file holds
  keyops.aws.env_file_credentials:
    path: /etc/app/app.env
  register: held
"""

RETURN = r"""
path:
  description: The file managed (the symlink's target when O(follow=true)).
  returned: always
  type: str
  sample: /etc/app/app.env
exists:
  description: Whether the file exists after the task (in check mode, would exist).
  returned: always
  type: bool
mode:
  description: The file's permissions as they are after the task (octal; in check mode, as they are now).
  returned: when the file exists
  type: str
  sample: "0600"
  version_added: 0.2.0
access_key_id:
  description: The access key id the file holds after the task (null when none), with the single-entry form.
  returned: when one entry is managed
  type: str
  sample: AKIAIOSFODNN7EXAMPLE
entries:
  description: One item per entry, in order (never a secret).
  returned: always
  type: list
  elements: dict
  contains:
    id_var:
      description: The key id variable.
      type: str
    secret_var:
      description: The secret variable.
      type: str
    access_key_id:
      description: The key id held after the task (null when the variable is missing).
      type: str
    has_secret:
      description: Whether the secret variable has a value.
      type: bool
    changed:
      description: Whether this entry was (or in check mode would be) written.
      type: bool
actions:
  description: What was (or in check mode would be) done.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "update_entry", "id_var": "AWS_ACCESS_KEY_ID", "reason": "the key differs"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keyops.aws.plugins.module_utils._env_file import run_module


def main():
    argument_spec = dict(
        path=dict(type="path", required=True),
        id_var=dict(type="str", default="AWS_ACCESS_KEY_ID"),
        secret_var=dict(type="str", default="AWS_SECRET_ACCESS_KEY", no_log=False),
        access_key_id=dict(type="str", no_log=False),
        secret_access_key=dict(type="str", no_log=True),
        entries=dict(
            type="list", elements="dict",
            options=dict(
                id_var=dict(type="str", default="AWS_ACCESS_KEY_ID"),
                secret_var=dict(type="str", default="AWS_SECRET_ACCESS_KEY", no_log=False),
                access_key_id=dict(type="str", no_log=False),
                secret_access_key=dict(type="str", no_log=True),
            ),
        ),
        owner=dict(type="str"),
        group=dict(type="str"),
        mode=dict(type="raw", default="0600"),
        follow=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        add_file_common_args=True,
        required_together=[("access_key_id", "secret_access_key")],
        mutually_exclusive=[("entries", "access_key_id"), ("entries", "secret_access_key")],
    )
    run_module(module)


if __name__ == "__main__":
    main()
