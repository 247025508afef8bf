#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: key_pair_rotation_verify
short_description: Prove with a real ssh login that a host accepts a given private key
version_added: 0.1.0
author:
  - keyops.aws contributors (@keyops-aws)
description:
  - Logs in to a host with C(ssh) using only the given private key and reports whether the host
    accepted B(that) key. Run it on the controller (C(delegate_to=localhost)) with the host's
    connection settings; used by the role C(keyops.aws.key_pair_rotation) before an old key is removed.
  - Connection sharing is switched off for the login (C(ControlMaster=no), C(ControlPath=none)); a
    multiplexed connection authenticated with another key would otherwise make any key look accepted.
    Only the given key is offered (C(IdentitiesOnly=yes), C(IdentityAgent=none), public key
    authentication only, C(BatchMode=yes)).
  - The login counts only when ssh's own log shows that the server accepted a key with the expected
    fingerprint and the user authenticated with it; a login that succeeded with another key (for
    example an C(IdentityFile) from an ssh config file) is reported as C(wrong_key).
  - The module never changes anything.
options:
  host:
    description: The address to connect to (the host's C(ansible_host)).
    type: str
    required: true
  port:
    description: The ssh port; ssh's default (or its config) when not set.
    type: int
  user:
    description: The remote user; ssh's default (or its config) when not set.
    type: str
  private_key_path:
    description: The private key to log in with (unencrypted, mode C(0600)).
    type: path
    required: true
  fingerprint:
    description:
      - The C(SHA256:) fingerprint O(private_key_path) must have; a mismatch is an error before any login.
    type: str
  ssh_args:
    description:
      - More ssh arguments as one string, split like a shell would (for example the host's
        C(ansible_ssh_common_args) and C(ansible_ssh_extra_args)), for the known hosts file, a proxy, and so on.
      - They come after the module's own options, which therefore win (ssh keeps the first value).
    type: str
    default: ""
  ssh_executable:
    description: The ssh client to run.
    type: str
    default: ssh
  timeout:
    description: Connection timeout in seconds.
    type: int
    default: 10
  connection_private_key_path:
    description:
      - The private key Ansible connects to the host with (the host's C(ansible_ssh_private_key_file)).
        Its fingerprint is returned as RV(connection_key_fingerprint), so a caller can tell whether
        Ansible itself logs in with a key being rotated. An unreadable file gives null, never an error.
    type: path
  fallback_private_key_paths:
    description:
      - Private keys to try in turn when the host refuses O(private_key_path) (for example the keys a
        rotation retired, to reach a host that missed a rotation). The first one accepted wins and is
        returned as RV(accepted_private_key_path); RV(reason) is then C(fallback).
      - Unreadable files are skipped. Not tried when the host is unreachable.
    type: list
    elements: path
    default: []
  fail_on_error:
    description: Fail the task when the host did not accept the key. Otherwise RV(verified) tells.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details:
      - The login is read-only and runs in check mode too.
seealso:
  - module: keyops.aws.key_pair_rotation_state
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
  - keyops.aws.attributes.read_only
  - keyops.aws.attributes.platform_posix
"""

EXAMPLES = r"""
- name: The host accepts the new key (real login, no multiplexing)
  keyops.aws.key_pair_rotation_verify:
    host: "{{ hostvars[inventory_hostname].ansible_host | default(inventory_hostname) }}"
    port: "{{ hostvars[inventory_hostname].ansible_port | default(omit) }}"
    user: ec2-user
    private_key_path: ~/.ssh/keyops-aws/deploy.new
    ssh_args: "{{ hostvars[inventory_hostname].ansible_ssh_common_args | default('') }}"
  delegate_to: localhost
"""

RETURN = r"""
verified:
  description: Whether the host accepted O(private_key_path) (or, with RV(reason=fallback), one of O(fallback_private_key_paths)).
  returned: always
  type: bool
reason:
  description:
    - C(ok), C(fallback) (a fallback key was accepted), C(rejected) (the host refused the key), C(wrong_key)
      (the login used another key), C(unreachable) or C(error).
  returned: always
  type: str
fingerprint:
  description: The C(SHA256:) fingerprint of O(private_key_path).
  returned: success
  type: str
accepted_fingerprint:
  description: The fingerprint of the key the server accepted, or null.
  returned: success
  type: str
accepted_private_key_path:
  description: The private key file the host accepted (O(private_key_path) or a fallback), or null.
  returned: success
  type: str
connection_key_fingerprint:
  description: The fingerprint of O(connection_private_key_path), or null.
  returned: success
  type: str
msg:
  description: What happened, with ssh's last error lines when the login failed.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keyops.aws.plugins.module_utils._key_pair_rotation_verify import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int"),
            user=dict(type="str"),
            private_key_path=dict(type="path", required=True),
            fingerprint=dict(type="str"),
            ssh_args=dict(type="str", default=""),
            ssh_executable=dict(type="str", default="ssh"),
            timeout=dict(type="int", default=10),
            connection_private_key_path=dict(type="path"),
            fallback_private_key_paths=dict(type="list", elements="path", default=[], no_log=False),
            fail_on_error=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
