#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_access_key_rotation
short_description: Keep each IAM user at exactly one young Active access key, and retire the old ones
version_added: 0.1.0
description:
  - Declarative and idempotent access key rotation for a list of IAM users, worked concurrently
    (see O(concurrency)), so a fleet of thousands of users is one task.
  - O(state=rotated) makes "the user has one Active key younger than O(max_age_days)" true.
    Per user it decides V(none) (the key in use is young and the holders agree on it),
    V(converge) (no AWS write; an existing Active key whose secret the caller can get becomes the
    target, either an escrowed key from an earlier interrupted run or, when the user has two Active keys
    and the holders disagree, the newest Active key some holder holds), or V(create) (a new key;
    when the user already has two keys, an Inactive one is deleted first - never an Active one).
    A converge target must be younger than O(max_age_days) (an escrowed key is taken regardless of
    its age when O(force) is set).
  - The key in use is the Active key all holders agree on (C(held_key_ids) in O(users)), else the newest
    Active key. Rotation is due when the user has no Active key, the key in use is O(max_age_days)
    days old or older, O(force) is set, or the holders do not all hold one Active key.
  - A user with two Active keys that needs a new key fails (the others go on) with a message naming
    both keys; retire one with O(state=retired).
  - O(state=retired) keeps the C(current_key_id) of each user in O(users) (it must exist and be Active), deactivates the
    user's other Active keys and records the time in the user tag C(keyops:deactivated:<AccessKeyId>)
    (IAM records none), and deletes Inactive keys whose recorded time is at least
    O(delete_after_days) old (V(0) deletes in the same run, right after deactivating), removing
    their tag. An Inactive key without a recorded time is never deleted by this module. Tags of keys
    that no longer exist are removed.
  - CreateAccessKey is called at most once per user and never retried; reads and idempotent writes
    are retried with a jittered backoff.
  - One user failing (unknown user, two Active keys, an AWS error) does not stop the others. Every
    user is reported in RV(users), and the task fails at the end naming the failed users in its
    message, after the other users were applied.
  - Check mode predicts exactly what a real run would do (except the id of a key to be created).
    With C(--diff) the keys before and after are shown for the users that change.
  - A new secret is returned only in RV(users[].new_key.secret_access_key). The action plugin of this
    module hides the displayed result of a task that carries a secret at every verbosity; the registered
    variable still holds it, so a task using it must set C(no_log=true).
author:
  - keyops.aws contributors (@keyops-aws)
options:
  users:
    description:
      - The IAM users, each a user name or a dict with the keys below. A user may be listed once.
      - C(name) (str, required) the IAM user name.
      - C(held_key_ids) (list of str) the key id each holder of the user's key (a credentials file,
        a secret store) holds now, one entry per holder; an empty string or null entry is a holder
        that holds no key. Omitted or an empty list means no holder information.
      - C(escrowed_key_ids) (list of str) keys whose secret the caller kept from an earlier,
        interrupted run (V(state=rotated) converges on the newest such Active key instead of creating one).
      - C(current_key_id) (str) the key to keep with O(state=retired) (required then).
      - C(force) (bool) per-user O(force).
      - C(access_keys) (dict) with O(state=retired), the user's keys as RV(users[].access_keys) of an earlier task
        of the same run returned them; the user's keys are then not read again (fewer IAM requests). A key
        changed by someone else in between makes that user's action fail, never another key's. C(keys) is a
        deprecated alias of C(access_keys), to be removed in keyops.aws 1.0.0.
    type: list
    elements: raw
    required: true
  state:
    description:
      - V(rotated) ensures each user has a young Active key (creating one when needed).
      - V(retired) deactivates the keys other than C(current_key_id) and deletes the old Inactive ones.
    type: str
    choices: [rotated, retired]
    default: rotated
  max_age_days:
    description:
      - With O(state=rotated), the key in use is replaced when it is this many days old or older.
    type: int
    default: 90
  force:
    description:
      - With O(state=rotated), rotate even when the key in use is young (a new key is created unless
        an escrowed Active key exists, which is converged on instead). Not idempotent on its own.
    type: bool
    default: false
  delete_after_days:
    description:
      - With O(state=retired), Inactive keys are deleted once this many days have passed since their
        recorded deactivation. V(0) deletes them in the same run (a key deactivated and deleted in the
        same run gets no tag). At most V(36500).
    type: int
    default: 7
  escrowed_key_ids:
    description:
      - Escrowed key ids that apply to every user of O(users) (added to each user's C(escrowed_key_ids));
        a long list is given once, not once per user.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  escrow_dir:
    description:
      - A directory on the controller where each newly created secret is stored (mode 0600, directory
        0700, encrypted with Ansible Vault when a vault secret is configured), in the format of
        M(keyops.aws.access_key_escrow). The action plugin writes it on the controller as soon as the
        module returns, before the task ends, so a run that dies right after CreateAccessKey keeps the
        secret, and the next run converges on that key (pass its id in C(escrowed_key_ids)) instead
        of creating another.
      - The module itself ignores this option; a new secret that cannot be stored fails the task
        (the secret is still in the registered result, hidden from display).
    type: path
    version_added: 0.1.0
  escrow_backend:
    description:
      - Where the durable rotation state is kept (see the role's README and C(docs/architecture.md)).
      - V(local) is O(escrow_dir) on the controller; without O(escrow_dir) no claim is written (as before).
        The task must then run on the controller (C(delegate_to=localhost)).
      - V(secretsmanager) keeps one secret per user, named O(escrow_prefix) + user name, in the account and
        region of the IAM calls (the same AWS options and module_defaults); nothing is kept on the controller
        and O(escrow_dir) is ignored.
      - With either store and O(state=rotated), each user is claimed (create-if-absent) right before its
        CreateAccessKey and the new key pair is recorded right after it, before the next step; a user
        with another run's live claim and no recorded key is reported busy (nothing created for it);
        a recorded Active key is converged on; a claim older than O(claim_ttl_minutes) without a
        recorded key is stale and the Active keys created after it that no holder and no store holds
        (the crash orphans) are deleted before the new key is created. An ambiguous CreateAccessKey
        (no answer or a 5xx) is resolved by listing the user's keys, deleting the Active key that was
        not there before and creating once more (never a blind retry).
      - With O(state=retired), the store entry of each user retired onto the key it recorded is deleted.
    type: str
    choices: [local, secretsmanager]
    default: local
    version_added: 0.2.0
  escrow_prefix:
    description:
      - With O(escrow_backend=secretsmanager), the name prefix of the secrets (the user name is appended).
    type: str
    default: keyops/access-keys/
    version_added: 0.2.0
  escrow_kms_key_id:
    description:
      - With O(escrow_backend=secretsmanager), the KMS key (id, ARN or alias) that encrypts the secrets,
        passed to CreateSecret as given; default the account's C(aws/secretsmanager) key.
    type: str
    version_added: 0.2.0
  claim_ttl_minutes:
    description:
      - A claim without a recorded key is live (the user busy) for this many minutes, then stale.
        V(0) makes every such claim stale at once (for the re-run after a crash, when no other run is going).
    type: int
    default: 60
    version_added: 0.2.0
  create_keys:
    description:
      - With O(state=rotated), whether this task may create, deactivate or delete keys.
      - V(false) (the distribute phase of P(keyops.aws.access_key_rotation#role)) only decides. A user whose
        store holds an Active recorded key is converged on it (its secret is returned in C(users[].stored_key)
        with O(escrow_backend=secretsmanager)); a user due for a new key is reported V(waiting) and nothing
        is changed for it. The orphan of a stale claim is left for a run that may delete keys.
    type: bool
    default: true
    version_added: 0.2.0
attributes:
  check_mode:
    support: full
    details:
      - No API writes; predicts exactly what a real run would do, except the id of a key to be created.
  diff_mode:
    support: full
    details:
      - The keys (ids, status) before and after, for the users that change; never a secret.
  platform:
    support: full
    platforms: posix
    details:
      - Calls the AWS APIs from the task's host (usually localhost), which needs boto3 and botocore.
  action:
    support: full
    details:
      - The action plugin escrows each new secret on the controller (O(escrow_dir)) and hides a displayed result that carries a secret.
notes:
  - Requests per user - C(ListAccessKeys) (and C(ListUserTags) only when the user has an Inactive key, or
    with O(state=retired) without C(keys)), then only the writes of its plan.
  - Needs C(iam:ListAccessKeys), C(iam:ListUserTags), C(iam:CreateAccessKey), C(iam:DeleteAccessKey),
    C(iam:UpdateAccessKey), C(iam:TagUser) and C(iam:UntagUser).
  - With O(escrow_backend=secretsmanager) also C(secretsmanager:CreateSecret), C(GetSecretValue), C(PutSecretValue),
    C(DescribeSecret), C(DeleteSecret) and C(TagResource) on the secrets under O(escrow_prefix), and
    C(kms:GenerateDataKey)/C(kms:Decrypt) on O(escrow_kms_key_id) when set (C(docs/awx.md) has a policy).
seealso:
  - module: keyops.aws.iam_access_key_info
extends_documentation_fragment:
  - keyops.aws.attributes
  - keyops.aws.attributes.action_group_aws
  - keyops.aws.attributes.action
  - keyops.aws.concurrency
  - keyops.aws.aws
"""

EXAMPLES = r"""
- name: Rotate the keys of every service user older than 90 days
  keyops.aws.iam_access_key_rotation:
    users: "{{ service_users }}"
    max_age_days: 90
  register: rotation

- name: Store new secrets (never printed)
  ansible.builtin.copy:
    dest: "/srv/secrets/{{ item.user_name }}.json"
    content: "{{ item.new_key | to_json }}"
    mode: "0600"
  loop: "{{ rotation.users | selectattr('new_key') | list }}"
  loop_control:
    label: "{{ item.user_name }}"
  no_log: true

- name: Rotate with holder information, resuming an interrupted run
  keyops.aws.iam_access_key_rotation:
    users:
      - name: deploy-bot
        held_key_ids: [AKIAOLDKEY0000000001, AKIANEWKEY0000000002]
        escrowed_key_ids: [AKIANEWKEY0000000002]

- name: Once every holder uses the new key, retire the old ones (delete them a week later)
  keyops.aws.iam_access_key_rotation:
    state: retired
    delete_after_days: 7
    users:
      - name: deploy-bot
        current_key_id: AKIANEWKEY0000000002
"""

RETURN = r"""
escrowed_key_ids:
  description: The ids of the new keys whose secrets were stored in O(escrow_dir) or the Secrets Manager store by this task.
  returned: when a store is used and keys were created
  type: list
  elements: str
  sample: [AKIAIOSFODNN7EXAMPLE]
busy_users:
  description: The users another run holds a live claim on (nothing was created for them; not a failure).
  returned: when a store is used
  type: list
  elements: str
  sample: []
  version_added: 0.2.0
waiting_users:
  description: With O(create_keys=false), the users due for a new key that this task did not create (nothing changed for them).
  returned: when O(create_keys=false)
  type: list
  elements: str
  sample: []
  version_added: 0.2.0
escrow_backend:
  description: The store used (V(local) or V(secretsmanager)).
  returned: when a store is used
  type: str
  sample: secretsmanager
  version_added: 0.2.0
users:
  description: One result per user, in the order of O(users).
  returned: always
  type: list
  elements: dict
  contains:
    user_name:
      description: The IAM user name.
      type: str
      returned: always
      sample: deploy-bot
    decision:
      description:
        - V(none), V(converge) or V(create) with O(state=rotated); V(none) or V(retire) with O(state=retired).
        - V(busy) when another run's live claim stopped the create (see O(escrow_backend)).
        - V(waiting) when a new key is due but O(create_keys=false).
        - Null when the user failed before a decision.
      type: str
      returned: always
      sample: create
    target_key_id:
      description:
        - The key the holders should hold, that is the key in use, the converge target, the created key
          (null in check mode, when its id is not known yet), or C(current_key_id).
      type: str
      returned: always
      sample: AKIAIOSFODNN7EXAMPLE
    previous_key_ids:
      description: The user's other keys (with O(state=rotated) the other Active keys, to retire later).
      type: list
      elements: str
      returned: always
      sample: [AKIAOLDKEY0000000001]
    actions:
      description: The actions applied (in check mode, planned), in order.
      type: list
      elements: dict
      returned: always
      contains:
        action:
          description: V(create), V(delete), V(deactivate) (also records the time tag) or V(untag).
          type: str
          returned: always
          sample: delete
        access_key_id:
          description: The key acted on (for V(create), the new key; null in check mode).
          type: str
          returned: always
          sample: AKIAOLDKEY0000000001
        reason:
          description: Why.
          type: str
          returned: always
          sample: Inactive key deleted to make room for a new key (two keys per user)
    new_key:
      description: The key created by this run, else null.
      type: dict
      returned: always
      contains:
        access_key_id:
          description: The new key id.
          type: str
          returned: always
          sample: AKIAIOSFODNN7EXAMPLE
        secret_access_key:
          description:
            - The new secret access key. B(This is a secret). The displayed result is hidden; use
              C(no_log=true) on any task that reads it. IAM never returns it again.
          type: str
          returned: always
        create_date:
          description: When the key was created (ISO 8601, UTC).
          type: str
          returned: always
          sample: "2026-01-02T03:04:05Z"
    claim:
      description:
        - With a store and O(state=rotated), the claim found before this run's work (never a secret).
        - C(decision) is V(free), V(resume), V(leftover), V(busy) or V(stale); C(claimed_by), C(claimed_at),
          C(recorded_key_id) and C(orphan_key_ids) (the keys deleted as crash orphans) describe it.
      type: dict
      returned: when a store is used with O(state=rotated)
      version_added: 0.2.0
    stored_key:
      description:
        - With O(escrow_backend=secretsmanager), the key pair the store recorded when this task converges
          on it (an earlier run, maybe on another controller, created it). B(The secret is a secret);
          the displayed result is hidden; use C(no_log=true).
      type: dict
      returned: when converging on a key recorded in the Secrets Manager store
      version_added: 0.2.0
      contains:
        access_key_id:
          description: The recorded key's id.
          type: str
          returned: always
        secret_access_key:
          description: Its secret access key. B(This is a secret).
          type: str
          returned: always
    waiting:
      description: Whether the user is due for a new key that O(create_keys=false) did not let this task create.
      type: bool
      returned: when the user waits
      version_added: 0.2.0
    busy:
      description: Whether the user was busy (another run's live claim).
      type: bool
      returned: when the user was busy
      version_added: 0.2.0
    access_keys:
      description:
        - The user's keys after this task (ids, status, dates, whether a deactivation record is known),
          for a later task of the same run (C(access_keys) in O(users)); no secret. Not returned for a user
          whose read failed, nor in check mode for a user with actions.
        - The same dict is also returned as C(keys), a deprecated alias (it shadows the dict method C(keys) in Jinja)
          to be removed in keyops.aws 1.0.0.
      type: dict
      returned: success
      version_added: 0.2.0
      sample: {"keys": [{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "status": "Active", "create_date": "2026-01-02T03:04:05Z",
                         "deactivated_date": null, "tagged": false}], "tagged_key_ids": []}
    changed:
      description: Whether this user changed (in check mode, would change).
      type: bool
      returned: always
      sample: true
    failed:
      description: Whether this user failed.
      type: bool
      returned: always
      sample: false
    msg:
      description: Why the user failed, or a note on the decision; else null.
      type: str
      returned: always
      sample: "rotation due: key AKIAOLDKEY0000000001 is 91 days old (max_age_days 90)"
failed_users:
  description: The users that failed (the task then fails after applying the others).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.keyops.aws.plugins.module_utils._aws_common import CONCURRENCY_ARGSPEC
from ansible_collections.keyops.aws.plugins.module_utils._iam import run_rotation


def main():
    argument_spec = dict(
        users=dict(type="list", elements="raw", required=True),
        state=dict(type="str", choices=["rotated", "retired"], default="rotated"),
        max_age_days=dict(type="int", default=90),
        force=dict(type="bool", default=False),
        delete_after_days=dict(type="int", default=7),
        escrow_dir=dict(type="path"),
        escrow_backend=dict(type="str", choices=["local", "secretsmanager"], default="local"),
        escrow_prefix=dict(type="str", default="keyops/access-keys/"),
        escrow_kms_key_id=dict(type="str", no_log=False),
        claim_ttl_minutes=dict(type="int", default=60),
        create_keys=dict(type="bool", default=True),
        escrowed_key_ids=dict(type="list", elements="str", default=[], no_log=False),
        **CONCURRENCY_ARGSPEC
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_rotation(module)


if __name__ == "__main__":
    main()
