#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: credentials_audit_report
short_description: Turn collected credential facts into audit findings, report.json and report.html
version_added: 0.1.0
description:
  - Runs the credentials audit's findings engine over facts collected by the role C(keyops.aws.credentials_audit)
    (credentials files, IAM access keys, EC2 key pairs, authorized_keys, the controller's key files) and writes
    C(report.json) and a self-contained C(report.html) in O(report_dir), atomically, mode C(0600).
  - Makes no AWS call and reads no fleet file; everything it judges is in its options.
  - The facts never hold a secret; the engine copies only whitelisted fields into findings, so a secret passed
    by mistake never reaches a finding or a report.
  - Checks of severity high are V(key_not_found), V(key_inactive), V(secret_mismatch), V(malformed_key_id),
    V(file_mode_open), V(private_key_mode_open) and V(retired_key_present); of severity medium V(holders_disagree),
    V(key_limit_reached), V(key_too_old), V(key_pair_missing), V(key_pair_drift) and V(authorized_key_missing);
    of severity low V(key_unused).
  - RV(ignore:changed) is true when the report's content apart from its generation time differs from the previous
    C(report.json) in O(report_dir) (or a report file is missing). Check mode predicts it without writing.
author:
  - keyops.aws contributors (@keyops-aws)
options:
  report_dir:
    description: Directory on the machine running the module for C(report.json) and C(report.html); created C(0700) if missing.
    type: path
    required: true
  hosts:
    description:
      - One entry per audited host, C({host, environment, credentials, authorized_keys}).
      - C(credentials) is a list of files C({path, exists, mode, error, managed, profiles}); C(managed) lists
        C({profile, iam_user}) from C(access_key_rotation_credentials); each profile is C({name, access_key_id,
        has_secret_access_key, verify}) where C(verify) is C({reason, arn}) from M(keyops.aws.access_key_verify) or null.
      - C(authorized_keys) is C({path, exists, content, error}) (or C(keys), a list of public key lines) or null.
      - C(holders) (optional) lists the env file entries, Secrets Manager secrets and SSM parameter pairs the host lists,
        each C({type, path, slot, secret_slot, iam_user, exists, access_key_id, mode, error}).
    type: list
    elements: dict
    default: []
  iam:
    description:
      - Per environment, C({users, missing_users, error, delete_after_days}); C(users) as returned by
        M(keyops.aws.iam_access_key_info); C(delete_after_days) is the rotation's grace before it deletes a key it
        deactivated (default V(7)).
    type: dict
    default: {}
  accounts:
    description:
      - Per environment, its AWS account id (from STS GetCallerIdentity). Environments of one account share their
        IAM facts - a user held in several of them is one user, with one finding and its holders compared across
        the environments. An environment not listed is its own scope.
    type: dict
    default: {}
    version_added: 0.2.0
  key_pairs:
    description:
      - Per environment, C({name, regions, found_elsewhere, error}) with C(regions) a dict
        keyed by region, each C({present, public_key, fingerprint}), and C(found_elsewhere) the other regions holding the name.
    type: dict
    default: {}
  controller:
    description:
      - The controller's key files, C({key_dir, name, public_key, public_key_path, private_key, retired_public_keys}),
        C(private_key) being C({path, exists, mode}) and C(retired_public_keys) a list of C({path, public_key}).
      - The current public key is the reference for drift and for the hosts' authorized_keys.
    type: dict
    default: {}
  not_audited:
    description: Inventory hosts whose facts could not be collected (listed in the report as problems).
    type: list
    elements: str
    default: []
  max_age_days:
    description: An Active key at least this many days old is V(key_too_old) (inclusive; V(0) flags every Active key).
    type: int
    default: 90
  unused_days:
    description: An Active key unused (or never used since creation) for at least this many days is V(key_unused).
    type: int
    default: 90
  fail_on:
    description:
      - Severity from which RV(summary.failed) is true and RV(fail_message) names the worst finding. The module itself
        never fails because of findings; the role fails the play with RV(fail_message).
    type: str
    choices: [none, low, medium, high]
    default: none
attributes:
  check_mode:
    support: full
    details:
      - Predicts RV(ignore:changed); writes nothing.
  diff_mode:
    support: full
    details:
      - The findings before and after.
  platform:
    support: full
    platforms: posix
notes:
  - Runs on the controller (delegated to localhost, once per play) in the role P(keyops.aws.credentials_audit#role).
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_none
"""

EXAMPLES = r"""
- name: Write the audit report from facts collected earlier
  keyops.aws.credentials_audit_report:
    report_dir: /var/lib/keyops/audit
    hosts: "{{ collected_hosts }}"
    iam: "{{ collected_iam }}"
    key_pairs: "{{ collected_key_pairs }}"
    controller: "{{ collected_controller }}"
    max_age_days: 90
    fail_on: high
  delegate_to: localhost
  run_once: true
  register: audit

- name: Fail when the audit found something at least as bad as fail_on
  ansible.builtin.fail:
    msg: "{{ audit.fail_message }}"
  when: audit.summary.failed
  run_once: true
"""

RETURN = r"""
report_dir:
  description: The report directory.
  type: str
  returned: always
json_path:
  description: Path of C(report.json).
  type: str
  returned: success
html_path:
  description: Path of C(report.html).
  type: str
  returned: success
generated_at:
  description: ISO 8601 UTC time of this report.
  type: str
  returned: success
summary:
  description: Counts and the worst finding.
  type: dict
  returned: success
  contains:
    findings:
      description: Number of findings.
      type: int
    by_severity:
      description: Number of findings per severity (V(high), V(medium), V(low)).
      type: dict
    by_check:
      description: Number of findings per check id.
      type: dict
    by_environment:
      description: Number of findings per environment (V((controller)) for the controller's key file).
      type: dict
    worst:
      description: The most severe finding (same fields as RV(findings)), or null.
      type: dict
    fail_on:
      description: The O(fail_on) severity.
      type: str
    failed:
      description: True when a finding of at least O(fail_on) exists.
      type: bool
    blocking:
      description: Number of findings at or above O(fail_on).
      type: int
findings:
  description: Every finding, most severe first. Fields that do not apply are null.
  type: list
  elements: dict
  returned: success
  contains:
    check:
      description: The check id, e.g. V(key_not_found).
      type: str
    severity:
      description: V(high), V(medium) or V(low).
      type: str
    environment:
      description:
        - The host's C(keyops_environment), else its first inventory group. A finding about an IAM user names every
          environment of the account holding the user, comma-separated.
      type: str
    account:
      description: The AWS account of the finding's IAM facts, when known.
      type: str
      version_added: 0.2.0
    host:
      description: Inventory hostname.
      type: str
    path:
      description: Credentials file, authorized_keys file or private key file.
      type: str
    profile:
      description: Profile in the credentials file.
      type: str
    iam_user:
      description: IAM user.
      type: str
    access_key_id:
      description: Access key id (never a secret).
      type: str
    region:
      description: AWS region.
      type: str
    key_pair:
      description: EC2 key pair name.
      type: str
    message:
      description: What is wrong and what users see because of it.
      type: str
    fix:
      description: The command or role variable that resolves it.
      type: str
scheduled_deletions:
  description:
    - The keys a rotation deactivated and scheduled for deletion (user tag C(keyops:deactivated:<id>)) - expected
      state, not a finding - each with C(environment), C(account), C(iam_user), C(access_key_id), C(deactivated_date),
      C(delete_after_days), C(deletion_date) (the first rotation run after it deletes the key) and C(due).
  type: list
  elements: dict
  returned: success
  version_added: 0.2.0
errors:
  description: Problems that prevented a check (unreadable file, missing IAM user, host not audited).
  type: list
  elements: dict
  returned: success
lines:
  description: A short text summary for the play output.
  type: list
  elements: str
  returned: success
fail_message:
  description: When RV(summary.failed), a message naming the worst finding; else null.
  type: str
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keyops.aws.plugins.module_utils._credentials_audit_report import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            report_dir=dict(type="path", required=True),
            hosts=dict(type="list", elements="dict", default=[]),
            iam=dict(type="dict", default={}),
            key_pairs=dict(type="dict", default={}, no_log=False),
            accounts=dict(type="dict", default={}),
            controller=dict(type="dict", default={}),
            not_audited=dict(type="list", elements="str", default=[]),
            max_age_days=dict(type="int", default=90),
            unused_days=dict(type="int", default=90),
            fail_on=dict(type="str", choices=["none", "low", "medium", "high"], default="none"),
        ),
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
