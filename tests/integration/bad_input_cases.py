# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bad-input table (issue 9): every case must fail naming the option or variable, with no Python
exception text, and change nothing.

One table drives both tests/integration/test_bad_input.py (against the test bed: one playbook run
for every case expected to pass, then one for the open ``xfail`` cases) and docs/bad-input.md (``python
tests/integration/bad_input_cases.py --write-docs``; tests/unit/test_bad_input_docs.py checks that
the two agree).

A case:

- ``id``: unique, ``<module or role>: <what is wrong>``;
- ``module`` (with ``args``) or ``role`` (with ``vars``, role variables, and ``facts``, variables of
  the host set before the role runs, e.g. its holder list);
- ``host``: where the task runs (``localhost`` or the bed host ``host1``);
- ``expect``: texts the failure message must all contain (the option or variable, the problem);
- ``unchanged``: what the test compares before and after through boto3 and the filesystem
  (``iam``: users, keys, statuses, tags; ``ec2``: key pairs in three regions; ``secrets``: Secrets
  Manager names and versions; ``parameters``: SSM names and versions; ``files``: every file under the
  controller's case directory, bytes and mode; ``host``: host1's authorized_keys and home, bytes and mode);
- ``xfail``: ``owner: <module or role>`` when the owner has not fixed it yet.

Args are Jinja in the playbook; these variables are defined by the test:
``bi_dir`` (controller case directory), ``bi_user`` (an IAM user with one key, ``bi_key_id``),
``bi_pub`` (an ed25519 public key line), ``bi_secret_name`` (an existing secret), ``bi_param``
(an existing parameter prefix), ``bi_host_home`` (host1's home), ``bi_tag`` (unique per run). The
good key's secret is read with ``lookup('ansible.builtin.env', 'BI_SECRET')`` (never on argv).
"""

import re

SECRET = "{{ lookup('ansible.builtin.env', 'BI_SECRET') }}"
ALL_AWS = ("iam", "ec2", "secrets", "parameters")
EVERYTHING = ALL_AWS + ("files", "host")


def case(case_id, where, args, expect, unchanged=EVERYTHING, host="localhost", xfail=None, facts=None):
    kind = "role" if where.startswith("role:") else "module"
    entry = {"id": case_id, "host": host, "expect": list(expect), "unchanged": tuple(unchanged), "xfail": xfail}
    if kind == "role":
        entry.update(role=where[len("role:"):], vars=args, facts=facts or {})
    else:
        entry.update(module=where, args=args)
    return entry


def creds(**extra):
    args = {"path": "{{ bi_dir }}/credentials", "profile": "default",
            "access_key_id": "{{ bi_key_id }}", "secret_access_key": SECRET}
    args.update(extra)
    return args


def envf(**extra):
    args = {"path": "{{ bi_dir }}/app.env", "access_key_id": "{{ bi_key_id }}", "secret_access_key": SECRET}
    args.update(extra)
    return args


def sm(**extra):
    holder = {"secret_id": "{{ bi_secret_name }}", "access_key_id": "{{ bi_key_id }}", "secret_access_key": SECRET}
    holder.update(extra)
    return {"holders": [holder]}


def ssm(**extra):
    holder = {"id_parameter": "{{ bi_param }}/id", "secret_parameter": "{{ bi_param }}/secret",
              "access_key_id": "{{ bi_key_id }}", "secret_access_key": SECRET}
    holder.update(extra)
    return {"holders": [holder]}


def kp(**extra):
    args = {"name": "bi-{{ bi_tag }}", "public_key": "{{ bi_pub }}", "regions": ["us-east-1"]}
    args.update(extra)
    return args


def ak(line, **extra):
    args = {"path": "{{ bi_host_home }}/../authorized_keys", "keys": [line]}
    args.update(extra)
    return args


def rot(**extra):
    args = {"users": ["{{ bi_user }}"], "force": True, "escrow_dir": "{{ bi_dir }}/escrow"}
    args.update(extra)
    return args


def verify(**extra):
    args = {"access_key_id": "{{ bi_key_id }}", "secret_access_key": SECRET, "required_successes": 1, "timeout": 5}
    args.update(extra)
    return args


def holder(**extra):
    entry = {"iam_user": "{{ bi_user }}", "path": "{{ bi_host_home }}/credentials"}
    entry.update(extra)
    return {"access_key_rotation_credentials": [entry]}


AKR = "role:keyops.aws.access_key_rotation"
KPR = "role:keyops.aws.key_pair_rotation"
AUDIT = "role:keyops.aws.credentials_audit"
AKR_BASE = {"access_key_rotation_force": True, "access_key_rotation_escrow_dir": "{{ bi_dir }}/escrow"}
KPR_BASE = {"key_pair_rotation_name": "bi-kpr-{{ bi_tag }}", "key_pair_rotation_regions": ["us-east-1"],
            "key_pair_rotation_key_dir": "{{ bi_dir }}/kpr", "key_pair_rotation_force": True,
            "key_pair_rotation_authorized_keys_path": "{{ bi_host_home }}/../authorized_keys"}


def akr(**extra):
    return dict(AKR_BASE, **extra)


def kpr(**extra):
    return dict(KPR_BASE, **extra)


CASES = [
    # ------------------------------------------------------------------ iam_access_key_rotation
    case("iam_access_key_rotation: delete_after_days 10000000000", "keyops.aws.iam_access_key_rotation",
         rot(delete_after_days=10000000000), ["delete_after_days", "10000000000"]),
    case("iam_access_key_rotation: max_age_days -1", "keyops.aws.iam_access_key_rotation",
         rot(max_age_days=-1), ["max_age_days", "-1"]),
    case("iam_access_key_rotation: claim_ttl_minutes -5", "keyops.aws.iam_access_key_rotation",
         rot(claim_ttl_minutes=-5), ["claim_ttl_minutes", "-5"]),
    case("iam_access_key_rotation: concurrency 0", "keyops.aws.iam_access_key_rotation",
         rot(concurrency=0), ["concurrency", "0"]),
    case("iam_access_key_rotation: user name with a space", "keyops.aws.iam_access_key_rotation",
         rot(users=["bad user"]), ["users", "bad user"]),
    case("iam_access_key_rotation: user entry without name", "keyops.aws.iam_access_key_rotation",
         rot(users=[{"force": True}]), ["users", "name"]),
    case("iam_access_key_rotation: user listed twice", "keyops.aws.iam_access_key_rotation",
         rot(users=["{{ bi_user }}", "{{ bi_user }}"]), ["users[1]", "more than once"]),
    case("iam_access_key_rotation: malformed escrowed key id", "keyops.aws.iam_access_key_rotation",
         rot(escrowed_key_ids=["not-a-key-id"]), ["escrowed_key_ids[0]", "not an access key id"]),
    case("iam_access_key_rotation: escrow_prefix with a space", "keyops.aws.iam_access_key_rotation",
         rot(escrow_backend="secretsmanager", escrow_prefix="bad prefix/"), ["escrow_prefix"]),
    case("iam_access_key_rotation: max_age_days not a number", "keyops.aws.iam_access_key_rotation",
         rot(max_age_days="ninety"), ["max_age_days"]),
    # ------------------------------------------------------------------ iam_access_key_info
    case("iam_access_key_info: user name with a space", "keyops.aws.iam_access_key_info",
         {"user_names": ["bad user"]}, ["user_names", "bad user"]),
    case("iam_access_key_info: concurrency 1000", "keyops.aws.iam_access_key_info",
         {"user_names": ["{{ bi_user }}"], "concurrency": 1000}, ["concurrency", "1000"]),
    case("iam_access_key_info: user_names and all_users", "keyops.aws.iam_access_key_info",
         {"user_names": ["{{ bi_user }}"], "all_users": True}, ["user_names", "all_users"]),
    # ------------------------------------------------------------------ access_key_verify
    case("access_key_verify: required_successes 0", "keyops.aws.access_key_verify",
         verify(required_successes=0), ["required_successes", "0"]),
    case("access_key_verify: timeout -1", "keyops.aws.access_key_verify",
         verify(timeout=-1), ["timeout", "-1"]),
    case("access_key_verify: delay -1", "keyops.aws.access_key_verify",
         verify(delay=-1), ["delay", "-1"]),
    case("access_key_verify: malformed access_key_id", "keyops.aws.access_key_verify",
         verify(access_key_id="AKIA123"), ["access_key_id", "malformed"]),
    case("access_key_verify: expected_account of 5 digits", "keyops.aws.access_key_verify",
         verify(expected_account="12345"), ["expected_account", "12345"]),
    case("access_key_verify: expected_arn not an ARN", "keyops.aws.access_key_verify",
         verify(expected_arn="not-an-arn"), ["expected_arn", "not-an-arn"]),
    case("access_key_verify: profile_name with ]", "keyops.aws.access_key_verify",
         {"path": "{{ bi_dir }}/credentials", "profile_name": "a]b", "required_successes": 1, "timeout": 5},
         ["profile_name", "a]b"]),
    case("access_key_verify: malformed key id in keys", "keyops.aws.access_key_verify",
         {"keys": [{"access_key_id": "bad", "secret_access_key": SECRET}], "required_successes": 1, "timeout": 5},
         ["keys[0].access_key_id", "malformed"]),
    # ------------------------------------------------------------------ credentials_profile (holder module)
    case("credentials_profile: profile with ]", "keyops.aws.credentials_profile",
         creds(profile="a]b"), ["profile", "a]b"]),
    case("credentials_profile: profile with a newline", "keyops.aws.credentials_profile",
         creds(profile="a\nb"), ["profile"]),
    case("credentials_profile: malformed access_key_id", "keyops.aws.credentials_profile",
         creds(access_key_id="AKIA123"), ["access key id", "malformed"]),
    case("credentials_profile: mode 0999", "keyops.aws.credentials_profile",
         creds(mode="0999"), ["mode", "0999"]),
    case("credentials_profile: unknown owner", "keyops.aws.credentials_profile",
         creds(owner="no-such-user-bi"), ["owner", "no-such-user-bi"]),
    case("credentials_profile: profiles entry with ]", "keyops.aws.credentials_profile",
         {"path": "{{ bi_dir }}/credentials",
          "profiles": [{"profile": "x]", "access_key_id": "{{ bi_key_id }}", "secret_access_key": SECRET}]},
         ["profile", "x]"]),
    case("credentials_profile: setting with a newline in its value", "keyops.aws.credentials_profile",
         creds(settings={"region": "eu-west-1\n[evil]"}), ["region"]),
    case("credentials_profile: path is a directory", "keyops.aws.credentials_profile",
         creds(path="{{ bi_dir }}/adir"), ["is a directory"]),
    # ------------------------------------------------------------------ credentials_profile_info
    case("credentials_profile_info: profile with ]", "keyops.aws.credentials_profile_info",
         {"path": "{{ bi_dir }}/credentials", "profiles": ["a]b"]}, ["profiles", "a]b"]),
    case("credentials_profile_info: profile with a newline", "keyops.aws.credentials_profile_info",
         {"path": "{{ bi_dir }}/credentials", "profiles": ["a\nb"]}, ["profiles"]),
    case("credentials_profile_info: setting before the first section", "keyops.aws.credentials_profile_info",
         {"path": "{{ bi_dir }}/orphan_setting"}, ["line 1"]),
    # ------------------------------------------------------------------ env_file_credentials (holder module)
    case("env_file_credentials: id_var starting with a digit", "keyops.aws.env_file_credentials",
         envf(id_var="1BAD"), ["id_var", "1BAD"]),
    case("env_file_credentials: secret_var with a space", "keyops.aws.env_file_credentials",
         envf(secret_var="A B"), ["secret_var", "A B"]),
    case("env_file_credentials: malformed access_key_id", "keyops.aws.env_file_credentials",
         envf(access_key_id="AKIA123"), ["access_key_id"]),
    case("env_file_credentials: mode 0999", "keyops.aws.env_file_credentials",
         envf(mode="0999"), ["mode", "0999"]),
    case("env_file_credentials: id_var equal to secret_var", "keyops.aws.env_file_credentials",
         envf(id_var="AWS_X", secret_var="AWS_X"), ["id_var", "secret_var"]),
    # ------------------------------------------------------------------ secretsmanager_credentials (holder module)
    case("secretsmanager_credentials: secret_id with a space", "keyops.aws.secretsmanager_credentials",
         sm(secret_id="bad name {{ bi_tag }}", create=True), ["secret_id", "bad name"]),
    case("secretsmanager_credentials: empty secret_id", "keyops.aws.secretsmanager_credentials",
         sm(secret_id="", create=True), ["secret_id"]),
    case("secretsmanager_credentials: malformed access_key_id", "keyops.aws.secretsmanager_credentials",
         sm(access_key_id="AKIA123"), ["access_key_id"]),
    case("secretsmanager_credentials: id_key equal to secret_key", "keyops.aws.secretsmanager_credentials",
         sm(id_key="k", secret_key="k"), ["id_key", "secret_key"]),
    # ------------------------------------------------------------------ ssm_parameter_credentials (holder module)
    case("ssm_parameter_credentials: id_parameter with a space", "keyops.aws.ssm_parameter_credentials",
         ssm(id_parameter="bad name"), ["id_parameter", "bad name"]),
    case("ssm_parameter_credentials: empty secret_parameter", "keyops.aws.ssm_parameter_credentials",
         ssm(secret_parameter=""), ["secret_parameter"]),
    case("ssm_parameter_credentials: same parameter twice", "keyops.aws.ssm_parameter_credentials",
         ssm(id_parameter="{{ bi_param }}/same", secret_parameter="{{ bi_param }}/same"),
         ["id_parameter", "secret_parameter"]),
    case("ssm_parameter_credentials: malformed access_key_id", "keyops.aws.ssm_parameter_credentials",
         ssm(access_key_id="AKIA123"), ["access_key_id"]),
    # ------------------------------------------------------------------ ec2_key_pair
    case("ec2_key_pair: region moon-1", "keyops.aws.ec2_key_pair", kp(regions=["moon-1"]), ["regions", "moon-1"]),
    case("ec2_key_pair: region moon-east-1 (looks like a region)", "keyops.aws.ec2_key_pair",
         kp(regions=["us-east-1", "moon-east-1"]), ["regions", "moon-east-1"]),
    case("ec2_key_pair: connection region moon-east-1", "keyops.aws.ec2_key_pair",
         dict(kp(), regions=None, region="moon-east-1"), ["region", "moon-east-1"]),
    case("ec2_key_pair: empty regions", "keyops.aws.ec2_key_pair", kp(regions=[]), ["regions"]),
    case("ec2_key_pair: name with a newline", "keyops.aws.ec2_key_pair", kp(name="bi\nname"), ["name"]),
    case("ec2_key_pair: name of 256 characters", "keyops.aws.ec2_key_pair", kp(name="n" * 256), ["name", "256"]),
    case("ec2_key_pair: truncated public key", "keyops.aws.ec2_key_pair",
         kp(public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"), ["public_key"]),
    case("ec2_key_pair: DSA public key", "keyops.aws.ec2_key_pair",
         kp(public_key="ssh-dss AAAAB3NzaC1kc3MAAAABAQAAAAEBAAAAAQEAAAABAQ=="), ["public_key"]),
    case("ec2_key_pair: tag key aws:x", "keyops.aws.ec2_key_pair", kp(tags={"aws:x": "y"}), ["tag", "aws:x"]),
    case("ec2_key_pair: missing public_key_path", "keyops.aws.ec2_key_pair",
         dict(kp(), public_key=None, public_key_path="{{ bi_dir }}/no-such.pub"), ["public_key_path"]),
    case("ec2_key_pair: concurrency 0", "keyops.aws.ec2_key_pair", kp(concurrency=0), ["concurrency", "0"]),
    # ------------------------------------------------------------------ ec2_key_pair_info
    case("ec2_key_pair_info: region moon-1", "keyops.aws.ec2_key_pair_info",
         {"name": "bi-{{ bi_tag }}", "regions": ["moon-1"]}, ["regions", "moon-1"], unchanged=ALL_AWS),
    case("ec2_key_pair_info: region moon-east-1", "keyops.aws.ec2_key_pair_info",
         {"name": "bi-{{ bi_tag }}", "regions": ["moon-east-1"]}, ["regions", "moon-east-1"], unchanged=ALL_AWS),
    case("ec2_key_pair_info: concurrency -1", "keyops.aws.ec2_key_pair_info",
         {"name": "bi-{{ bi_tag }}", "regions": ["us-east-1"], "concurrency": -1}, ["concurrency", "-1"],
         unchanged=ALL_AWS),
    case("ec2_key_pair_info: malformed public_key", "keyops.aws.ec2_key_pair_info",
         {"regions": ["us-east-1"], "public_key": "ssh-ed25519 !!!"}, ["public_key"], unchanged=ALL_AWS),
    # ------------------------------------------------------------------ authorized_keys (on host1)
    case("authorized_keys: not a key", "keyops.aws.authorized_keys", ak("not a key"), ["keys[0]"], host="host1"),
    case("authorized_keys: expiry-time=\"INVALID\"", "keyops.aws.authorized_keys",
         ak('expiry-time="INVALID" {{ bi_pub }}'), ["keys[0]", "expiry-time"], host="host1"),
    case("authorized_keys: expiry-time in the past", "keyops.aws.authorized_keys",
         ak('expiry-time="19990101" {{ bi_pub }}'), ["keys[0]", "expiry-time"], host="host1"),
    case("authorized_keys: tunnel=\"blah\"", "keyops.aws.authorized_keys",
         ak('tunnel="blah" {{ bi_pub }}'), ["keys[0]", "tunnel"], host="host1"),
    case("authorized_keys: environment=\",=bah\"", "keyops.aws.authorized_keys",
         ak('environment=",=bah" {{ bi_pub }}'), ["keys[0]", "environment"], host="host1"),
    case("authorized_keys: permitopen without a port", "keyops.aws.authorized_keys",
         ak('permitopen="host" {{ bi_pub }}'), ["keys[0]", "permitopen"], host="host1"),
    case("authorized_keys: unterminated command quote", "keyops.aws.authorized_keys",
         ak('command="echo {{ bi_pub }}'), ["keys[0]"], host="host1"),
    case("authorized_keys: command given twice", "keyops.aws.authorized_keys",
         ak('command="a",command="b" {{ bi_pub }}'), ["keys[0]", "command"], host="host1"),
    case("authorized_keys: unknown option", "keyops.aws.authorized_keys",
         ak('no-such-option {{ bi_pub }}'), ["keys[0]", "no-such-option"], host="host1"),
    case("authorized_keys: from with a bad CIDR", "keyops.aws.authorized_keys",
         ak('from="10.0.0.0/99" {{ bi_pub }}'), ["keys[0]", "from"], host="host1"),
    case("authorized_keys: options not a string or list", "keyops.aws.authorized_keys",
         ak({"key": "{{ bi_pub }}", "options": {"a": 1}}), ["keys[0]", "options"], host="host1"),
    case("authorized_keys: malformed fingerprint to remove", "keyops.aws.authorized_keys",
         ak("{{ bi_pub }}", remove=["SHA256:bad"]), ["remove[0]"], host="host1"),
    case("authorized_keys: malformed managed entry", "keyops.aws.authorized_keys",
         ak("{{ bi_pub }}", managed=["garbage"]), ["managed[0]"], host="host1"),
    case("authorized_keys: unknown user", "keyops.aws.authorized_keys",
         {"user": "no-such-user-bi", "keys": ["{{ bi_pub }}"]}, ["no-such-user-bi"], host="host1"),
    case("authorized_keys: path is a directory", "keyops.aws.authorized_keys",
         ak("{{ bi_pub }}", path="{{ bi_host_home }}"), ["directory"], host="host1"),
    # ------------------------------------------------------------------ ssh_keypair
    case("ssh_keypair: ed25519 with size 1024", "keyops.aws.ssh_keypair",
         {"path": "{{ bi_dir }}/id_bi", "type": "ed25519", "size": 1024}, ["size"]),
    case("ssh_keypair: rsa size 1000", "keyops.aws.ssh_keypair",
         {"path": "{{ bi_dir }}/id_bi", "type": "rsa", "size": 1000}, ["size"]),
    case("ssh_keypair: unknown owner", "keyops.aws.ssh_keypair",
         {"path": "{{ bi_dir }}/id_bi", "owner": "no-such-user-bi"}, ["owner", "no-such-user-bi"]),
    case("ssh_keypair: path is a directory", "keyops.aws.ssh_keypair",
         {"path": "{{ bi_dir }}/adir"}, ["directory"]),
    # ------------------------------------------------------------------ key_pair_rotation_state / _verify
    case("key_pair_rotation_state: region moon-1", "keyops.aws.key_pair_rotation_state",
         {"name": "bi", "key_dir": "{{ bi_dir }}/kps", "regions": ["moon-1"]}, ["regions", "moon-1"]),
    case("key_pair_rotation_state: max_age_days -1", "keyops.aws.key_pair_rotation_state",
         {"name": "bi", "key_dir": "{{ bi_dir }}/kps", "max_age_days": -1}, ["max_age_days", "-1"]),
    case("key_pair_rotation_state: name with a slash", "keyops.aws.key_pair_rotation_state",
         {"name": "../bi", "key_dir": "{{ bi_dir }}/kps"}, ["name"]),
    case("key_pair_rotation_verify: port 70000", "keyops.aws.key_pair_rotation_verify",
         {"host": "127.0.0.1", "port": 70000, "private_key_path": "{{ bi_dir }}/../bi_key"}, ["port", "70000"]),
    case("key_pair_rotation_verify: timeout -1", "keyops.aws.key_pair_rotation_verify",
         {"host": "127.0.0.1", "timeout": -1, "private_key_path": "{{ bi_dir }}/../bi_key"}, ["timeout", "-1"]),
    # ------------------------------------------------------------------ access_key_escrow / credentials_audit_report
    case("access_key_escrow: malformed key id", "keyops.aws.access_key_escrow",
         {"path": "{{ bi_dir }}/escrow", "state": "present",
          "keys": [{"access_key_id": "bad", "secret_access_key": SECRET, "iam_user": "{{ bi_user }}"}]},
         ["keys[0].access_key_id"]),
    case("credentials_audit_report: max_age_days -1", "keyops.aws.credentials_audit_report",
         {"report_dir": "{{ bi_dir }}/report", "max_age_days": -1}, ["max_age_days", "-1"]),
    case("credentials_audit_report: fail_on bogus", "keyops.aws.credentials_audit_report",
         {"report_dir": "{{ bi_dir }}/report", "fail_on": "bogus"}, ["fail_on", "bogus"]),
    # ------------------------------------------------------------------ role access_key_rotation
    case("access_key_rotation: verify_successes 0", AKR, akr(access_key_rotation_verify_successes=0),
         ["access_key_rotation_verify_successes", "0"], host="host1", facts=holder()),
    case("access_key_rotation: verify_timeout -1", AKR, akr(access_key_rotation_verify_timeout=-1),
         ["access_key_rotation_verify_timeout", "-1"], host="host1", facts=holder()),
    case("access_key_rotation: delete_after_days 10000000000", AKR,
         akr(access_key_rotation_delete_after_days=10000000000),
         ["access_key_rotation_delete_after_days", "10000000000"], host="host1", facts=holder()),
    case("access_key_rotation: max_age_days -1", AKR, akr(access_key_rotation_max_age_days=-1),
         ["access_key_rotation_max_age_days", "-1"], host="host1", facts=holder()),
    case("access_key_rotation: batch_size 0", AKR, akr(access_key_rotation_batch_size=0),
         ["access_key_rotation_batch_size", "0"], host="host1", facts=holder()),
    case("access_key_rotation: concurrency 0", AKR, akr(access_key_rotation_concurrency=0),
         ["access_key_rotation_concurrency", "0"], host="host1", facts=holder()),
    case("access_key_rotation: profile with ]", AKR, akr(),
         ["access_key_rotation_credentials[0].profile"], host="host1", facts=holder(profile="app]x")),
    case("access_key_rotation: profile with a newline", AKR, akr(),
         ["access_key_rotation_credentials[0].profile"], host="host1", facts=holder(profile="app\nx")),
    case("access_key_rotation: unknown holder type", AKR, akr(),
         ["type", "vault"], host="host1", facts=holder(type="vault")),
    case("access_key_rotation: secretsmanager holder without secret_id", AKR, akr(),
         ["secret_id"], host="host1", facts={"access_key_rotation_credentials": [
             {"iam_user": "{{ bi_user }}", "type": "secretsmanager"}]}),
    case("access_key_rotation: reload_command not a list", AKR, akr(),
         ["reload_command"], host="host1", facts=holder(reload_command="systemctl restart app")),
    case("access_key_rotation: holder without iam_user", AKR, akr(),
         ["iam_user"], host="host1", facts={"access_key_rotation_credentials": [
             {"path": "{{ bi_host_home }}/credentials"}]}),
    # ------------------------------------------------------------------ role key_pair_rotation
    case("key_pair_rotation: regions moon-1", KPR, kpr(key_pair_rotation_regions=["moon-1"]),
         ["key_pair_rotation_regions", "moon-1"], host="host1"),
    case("key_pair_rotation: type dsa", KPR, kpr(key_pair_rotation_type="dsa"),
         ["key_pair_rotation_type", "dsa"], host="host1"),
    case("key_pair_rotation: max_age_days -1", KPR, kpr(key_pair_rotation_max_age_days=-1),
         ["key_pair_rotation_max_age_days", "-1"], host="host1"),
    case("key_pair_rotation: verify_timeout -1", KPR, kpr(key_pair_rotation_verify_timeout=-1),
         ["key_pair_rotation_verify_timeout", "-1"], host="host1"),
    case("key_pair_rotation: name with a newline", KPR, kpr(key_pair_rotation_name="bi\nname"),
         ["key_pair_rotation_name"], host="host1"),
    case("key_pair_rotation: size 1000", KPR, kpr(key_pair_rotation_type="rsa", key_pair_rotation_size=1000),
         ["key_pair_rotation_size", "1000"], host="host1"),
    # ------------------------------------------------------------------ role credentials_audit
    case("credentials_audit: fail_on bogus", AUDIT,
         {"credentials_audit_report_dir": "{{ bi_dir }}/audit", "credentials_audit_fail_on": "bogus"},
         ["credentials_audit_fail_on", "bogus"], host="host1"),
    case("credentials_audit: max_age_days -1", AUDIT,
         {"credentials_audit_report_dir": "{{ bi_dir }}/audit", "credentials_audit_max_age_days": -1},
         ["credentials_audit_max_age_days", "-1"], host="host1"),
    case("credentials_audit: concurrency 0", AUDIT,
         {"credentials_audit_report_dir": "{{ bi_dir }}/audit", "credentials_audit_concurrency": 0},
         ["credentials_audit_concurrency", "0"], host="host1"),
]

# Texts that must never be the message of a refusal: Python exception text, tracebacks.
FORBIDDEN = ("Traceback", "int too large", "object has no attribute", "NoneType", "KeyError", "TypeError",
             "ValueError", "AttributeError", "IndexError", "Errno", "exception:", "object is not")

UNCHANGED_WORDS = {
    "iam": "IAM",
    "ec2": "EC2",
    "secrets": "Secrets Manager",
    "parameters": "SSM",
    "files": "files",
    "host": "host",
}
UNCHANGED_LEGEND = [
    "- *IAM*: every user's access keys (ids, statuses) and tags;",
    "- *EC2*: the key pairs (names, fingerprints) of us-east-1, us-west-2 and eu-west-1;",
    "- *Secrets Manager*: every secret and its version ids; *SSM*: every parameter and its version;",
    "- *files*: every file and directory under the controller's case directory (bytes and mode; no new file);",
    "- *host*: the host's authorized_keys and its home directory (bytes and mode; no new file).",
]


def _show(value):
    text = repr(value) if not isinstance(value, str) else value
    text = re.sub(r"\{\{ lookup\('ansible.builtin.env', 'BI_SECRET'\) \}\}", "<secret>", text)
    text = re.sub(r"\{\{ bi_(\w+) \}\}", r"<\1>", text)
    return text.replace("\n", "\\n").replace("|", "\\|").replace("`", "'")


def render_markdown(cases=None):
    """docs/bad-input.md from the table (kept byte-identical; see tests/unit/test_bad_input_docs.py)."""
    cases = CASES if cases is None else cases
    lines = [
        "# Bad input: what is refused, and what stays unchanged",
        "",
        "<!-- Generated from tests/integration/bad_input_cases.py:"
        " python tests/integration/bad_input_cases.py --write-docs -->",
        "",
        "Every module and role of keyops.aws checks all of its input before its first write. Each row below",
        "is a case of the integration test `tests/integration/test_bad_input.py`: the task fails, the",
        "message contains every text of the *Message names* column (the option or variable and the value's",
        "problem) and no Python exception text, and the state in *Unchanged* is compared before and after",
        "through boto3 and the filesystem.",
        "",
        "Rows marked *open* are known gaps in the named module or role (the test expects them to fail).",
        "Values in angle brackets are set up by the test (`<user>`: an IAM user with one key, `<dir>`: a",
        "directory of files on the controller, `<pub>`: an ed25519 public key...). *Unchanged*:",
        "",
    ] + UNCHANGED_LEGEND + [
        "",
        "| # | Where | Bad input | Message names | Unchanged |",
        "|---|---|---|---|---|",
    ]
    for number, entry in enumerate(cases, 1):
        where = entry.get("module") or ("role " + entry["role"])
        _name, _sep, what = entry["id"].partition(": ")
        given = entry.get("args") if "module" in entry else dict(entry.get("vars") or {}, **(entry.get("facts") or {}))
        keys = sorted(k for k in (given or {}) if k in what or k in _salient(entry))
        detail = ", ".join("`%s=%s`" % (k, _show(given[k])) for k in keys)
        bad = what + ((" (" + detail + ")") if detail else "")
        if entry.get("xfail"):
            bad += " *open, %s*" % entry["xfail"]
        lines.append("| %d | `%s` | %s | %s | %s |" % (
            number, where, bad.replace("|", "\\|"), ", ".join("`%s`" % _show(e) for e in entry["expect"]),
            ", ".join(UNCHANGED_WORDS[u] for u in entry["unchanged"])))
    return "\n".join(lines) + "\n" + SSHD_NOTES + REAL_INPUTS_NOTE


SSHD_NOTES = """
## authorized_keys options, as sshd reads them

`keyops.aws.authorized_keys` refuses a key whose options sshd would reject (sshd then skips the whole
line: the key cannot log in, and a task that also removes the old key locks the user out), and a key
whose line sshd reads but whose login it always refuses. The checks follow OpenSSH's
`auth-options.c` (`sshauthopt_parse`, `opt_flag`, `opt_match`, `opt_dequote`, `handle_permit`) and
`auth.c` (`auth_authorise_keyopts`), read against the source:

- flags are matched by prefix and case-insensitively, in sshd's order (`restrict`, `cert-authority`,
  then `port-forwarding`, `agent-forwarding`, `x11-forwarding`, `touch-required`, `verify-required`,
  `pty`, `user-rc`, each negatable with `no-`); anything else, a trailing comma or a blank inside an
  unquoted value is an unknown option (sshd: "unknown key option", "unexpected end-of-options");
- valued options need a double-quoted value, where `\\"` is a quote; `command`, `principals` and `from`
  may appear once ("multiple ... clauses"); `expiry-time` is `YYYYMMDD[HHMM[SS]]` with an optional `Z`
  or `UTC` (sshd's `parse_absolute_time`), several are allowed; `environment` is `NAME=value` with
  `NAME` of letters, digits and `_`; `permitopen`/`permitlisten` are `host:port` (`port` a number, a
  service name or `*`; `permitlisten` may be a bare port); `tunnel` is `any` or a number up to
  2147483645;
- refused although sshd parses them, because sshd then refuses every login with the key
  (`auth_authorise_keyopts`): an `expiry-time` already past, `principals=` on a key without
  `cert-authority` ("principals on non-CA key"), a `from=` list with an empty pattern or a CIDR sshd
  calls invalid (`match_host_and_ip` returns -1);
- stricter than sshd: `environment="=value"` (an empty name, which sshd's loop lets through) and
  `principals=""` (sshd parses it; no certificate can match it).

`tests/integration/test_authorized_keys_options.py` writes one key per accepted form through the
module into a bed host and logs in with real ssh: `from="127.0.0.1"` and `from="127.0.0.0/8,!10.1.*"`
log in, `from="10.0.0.1"` and `from="!127.0.0.1,*"` are refused; forced commands run (their output is
checked, `\\"` included); `environment=`, a future `expiry-time` (also with `Z`), `permitopen`,
`permitlisten`, `tunnel`, `restrict`, `restrict,pty`, the `no-*` flags and mixed case log in;
`cert-authority,principals="alice"` lets a certificate for `alice` in and refuses one for `bob`;
`no-pty` gets no terminal. Lines written by hand with an `expiry-time` in the past or `principals=`
without `cert-authority` are refused by sshd, as the module predicts.
"""


REAL_INPUTS_NOTE = """
## Real-world inputs

`tests/unit/plugins/module_utils/fixtures/real_inputs.json` holds files nobody on this project wrote,
from the test suites and manuals of the tools whose behaviour the modules must match (each file's
repository, path, commit and licence are listed in the `_comment`'s source, SOURCES.md of
shared/reference/real-inputs): credentials and config files from boto/botocore, aws/aws-cli,
aws/aws-sdk-go, aws/aws-sdk-go-v2 and smithy-lang/smithy-rs (Apache-2.0); authorized_keys files from
ansible-collections/ansible.posix (GPL-3.0-or-later), puppetlabs/puppetlabs-sshkeys_core (Apache-2.0),
hercules-team/augeas (LGPL-2.1-or-later), golang/crypto (BSD-3-Clause) and openssh/openssh-portable
(sshd.8, regress/key-options.sh, regress/unittests/authopt; the OpenSSH licence). Credentials files:
`test_credentials_file_real_inputs.py` (refused exactly when botocore refuses; editing one profile
changes only its key lines). authorized_keys files: `test_authorized_keys.py` (a key line is refused
only where sshd refuses it too: `env=` is no sshd option, `expiry-time="INVALID"`, an expiry-time in
the past, `principals=` without `cert-authority`).
"""


def _salient(entry):
    """Options worth showing in the docs: those the case names in its expected message."""
    return [word.split("[")[0] for word in entry["expect"]]


def check_table(cases=None):
    cases = CASES if cases is None else cases
    ids = [entry["id"] for entry in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    for entry in cases:
        assert entry["expect"], entry["id"]
        assert set(entry["unchanged"]) <= set(UNCHANGED_WORDS), entry["id"]
        assert entry["xfail"] is None or entry["xfail"].startswith("owner: "), entry["id"]
    return len(cases)


if __name__ == "__main__":
    import os
    import sys

    if sys.argv[1:] == ["--write-docs"]:
        target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "bad-input.md")
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(render_markdown())
        print("wrote %s (%d cases)" % (os.path.normpath(target), check_table()))
    else:
        print("usage: python tests/integration/bad_input_cases.py --write-docs", file=sys.stderr)
        sys.exit(2)
