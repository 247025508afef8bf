# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to keyops.aws: may change without notice. The credentials audit's findings engine.

Pure functions, standard library only (plus _ssh_public_keys): collected facts + thresholds + now ->
findings. Nothing here reads a file, calls AWS or looks at the clock on its own.

The facts (built by the role ``keyops.aws.credentials_audit`` from the info modules; never a secret):

- ``hosts``: list of ``{host, environment, credentials: [file], authorized_keys: {...} | None}``
  where a file is ``{path, exists, mode, error, managed: [{profile, iam_user}], profiles: [profile]}``
  and a profile is ``{name, access_key_id, has_secret_access_key, verify: {reason, arn, user_name} | None}``;
  ``errors`` (optional) lists problems met while collecting the host's facts;
  ``authorized_keys`` is ``{path, exists, content | keys, error}``.
  ``holders`` (optional) lists the env file entries, Secrets Manager secrets and SSM parameter pairs the
  host lists: ``{type, path, slot, secret_slot, iam_user, exists, access_key_id, mode, error, verify}``.
- ``iam``: ``{environment: {users: [iam_access_key_info user], missing_users: [name], error, delete_after_days}}``.
- ``accounts`` (optional): ``{environment: AWS account id}`` (from STS). Environments of one account
  share their IAM facts: a user held in several of them is one user (one finding, holders compared
  across them).
- ``key_pairs``: ``{environment: {name, regions: {region: {present, public_key, fingerprint}},
  found_elsewhere: [region], error}}``.
- ``controller``: ``{key_dir, name, public_key, public_key_path, private_key: {path, exists, mode},
  retired_public_keys: [{path, public_key}]}``.

Only whitelisted fields are ever copied into a finding, so a secret fed in by mistake never
reaches a finding, the report or its HTML.
"""

import datetime

from ansible_collections.keyops.aws.plugins.module_utils import _authorized_keys, _fileops, _ssh_public_keys
from ansible_collections.keyops.aws.plugins.module_utils._access_key_planner import room_order
from ansible_collections.keyops.aws.plugins.module_utils._dates import as_utc, parse_iso
from ansible_collections.keyops.aws.plugins.module_utils._key_ids import KEY_ID_RE

SEVERITIES = ("low", "medium", "high")
SEVERITY_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}
FAIL_ON_CHOICES = ("none", "low", "medium", "high")

# check id -> (severity, short title); the order is the order of the report's matrix columns.
CHECKS = (
    ("key_not_found", "high", "Key not found in IAM"),
    ("key_inactive", "high", "Key held but Inactive"),
    ("secret_mismatch", "high", "Secret does not match"),
    ("malformed_key_id", "high", "Malformed key id"),
    ("file_mode_open", "high", "Credentials file open"),
    ("private_key_mode_open", "high", "Private key file open"),
    ("retired_key_present", "high", "Retired SSH key accepted"),
    ("holders_disagree", "medium", "Holders disagree"),
    ("key_limit_reached", "medium", "Two keys: limit reached"),
    ("key_too_old", "medium", "Key too old"),
    ("key_pair_missing", "medium", "Key pair missing"),
    ("key_pair_drift", "medium", "Key pair drift"),
    ("authorized_key_missing", "medium", "Current SSH key missing"),
    ("key_unused", "low", "Key unused"),
)
CHECK_IDS = tuple(check[0] for check in CHECKS)
CHECK_SEVERITY = dict((check[0], check[1]) for check in CHECKS)
CHECK_TITLE = dict((check[0], check[2]) for check in CHECKS)

FINDING_FIELDS = ("check", "severity", "environment", "account", "host", "path", "profile", "iam_user", "access_key_id",
                  "region", "key_pair", "message", "fix")

PRIVATE_KEY_MODES = (0o600, 0o400)
DEFAULT_ENVIRONMENT = "ungrouped"
# keyops.aws.access_key_rotation's access_key_rotation_delete_after_days default
DEFAULT_DELETE_AFTER_DAYS = 7

ROTATE_ACCESS_KEYS = "ansible-playbook keyops.aws.rotate_access_keys"
ROTATE_KEY_PAIRS = "ansible-playbook keyops.aws.rotate_key_pairs"


class AuditError(ValueError):
    """Collected facts that cannot be audited (described for a user, never with a secret)."""


# --------------------------------------------------------------------------- small helpers
def _text(value):
    if value is None:
        return None
    return str(value)


def parse_date(value):
    """A timezone-aware UTC datetime from ISO 8601 text or a datetime; None for None/empty (_dates.parse_iso)."""
    if value is None or value == "":
        return None
    try:
        return parse_iso(value if isinstance(value, datetime.datetime) else str(value))
    except ValueError:
        raise AuditError("not an ISO 8601 date: %r" % (str(value)[:40],)) from None


def days_between(start, now):
    """Whole days (floored, never negative) from start to now; None when start is None."""
    if start is None:
        return None
    return max(0, (now - start).days)


def format_mode(mode):
    """``"0644"`` from an int, an octal string (``"644"``, ``"0o644"``, ``"0644"``) or None."""
    value = parse_mode(mode)
    return None if value is None else "%04o" % value


def parse_mode(mode):
    """The permission bits of a mode read from a host (stat's number with its file-type bits, or an
    octal string), by the file modules' rule (``_fileops.parse_mode``); None when unknown (None, "")."""
    if mode is None or mode == "":
        return None
    if isinstance(mode, int) and not isinstance(mode, bool):
        mode &= 0o7777
    return _fileops.parse_mode(mode, AuditError)


def is_malformed_key_id(key_id):
    """True when key_id is not 20 characters of AKIA/ASIA followed by 16 upper-case letters/digits."""
    return not KEY_ID_RE.match(key_id or "")


def severity_at_least(severity, level):
    """True when severity ranks at or above level (level ``none`` never matches)."""
    if level in (None, "none"):
        return False
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[level]


def resolve_environment(host, explicit=None, groups=None):
    """The environment of a host: ``explicit`` (``keyops_environment``) when set, else the first of
    ``groups`` (inventory groups in inventory order) other than all/ungrouped, else ``ungrouped``.

    ``groups`` may be a list of group names holding the host, or the ``groups`` magic variable
    (a mapping group -> host names, in inventory order).
    """
    if explicit not in (None, ""):
        return str(explicit)
    if isinstance(groups, dict):
        names = [name for name, members in groups.items() if host in (members or [])]
    else:
        names = list(groups or [])
    for name in names:
        if name not in ("all", "ungrouped"):
            return str(name)
    return DEFAULT_ENVIRONMENT


def user_from_arn(arn):
    """``name`` of ``arn:aws:iam::123:user/path/name``; None for other ARNs."""
    if not arn or ":user/" not in str(arn):
        return None
    return str(arn).rsplit("/", 1)[-1] or None


def canonical_key(text):
    """``type base64`` of a public key line (no options/comment); None when it is not a key."""
    if not text:
        return None
    try:
        return _ssh_public_keys.canonical_public_key(str(text).strip())
    except ValueError:
        return None


def fingerprint(canonical):
    try:
        return _ssh_public_keys.openssh_fingerprint(canonical)
    except ValueError:
        return None


def authorized_keys_of(content):
    """Canonical keys (``type base64``) accepted by an authorized_keys text, in order, unique.

    Parsed as keyops.aws.authorized_keys parses it: comments, blank lines, lines sshd would skip and
    ``@``-marker lines are left out; options in front of a key are allowed.
    """
    keys = []
    for line in _authorized_keys.parse(content or ""):
        # an "@revoked"/"@cert-authority" marker belongs to known_hosts: sshd skips such a line
        if line.kind != "key" or (line.options and str(line.options[0]).startswith("@")):
            continue
        key = _ssh_public_keys.canonical_public_key(line.blob)
        if key not in keys:
            keys.append(key)
    return keys


# --------------------------------------------------------------------------- findings
def finding(check, message, fix, **fields):
    """One finding with every field of FINDING_FIELDS (missing ones are null)."""
    if check not in CHECK_SEVERITY:
        raise AuditError("unknown check %r" % check)
    result = dict((name, None) for name in FINDING_FIELDS)
    result["check"] = check
    result["severity"] = CHECK_SEVERITY[check]
    for name, value in fields.items():
        if name not in result:
            raise AuditError("unknown finding field %r" % name)
        result[name] = _text(value)
    result["message"] = message
    result["fix"] = fix
    return result


def _sort_key(item):
    return (
        -SEVERITY_RANK[item["severity"]],
        CHECK_IDS.index(item["check"]),
        item["environment"] or "",
        item["host"] or "",
        item["path"] or "",
        item["profile"] or "",
        item["iam_user"] or "",
        item["access_key_id"] or "",
        item["region"] or "",
    )


class _Context:
    """Indexes built once from the facts.

    IAM facts are indexed by *IAM scope*: the AWS account of the environment (``facts["accounts"]``,
    from STS) when known, else the environment itself. Environments of one account share one scope,
    so a user held in several of them is one user.
    """

    def __init__(self, facts, max_age_days, unused_days, now):
        self.facts = facts
        self.max_age_days = max_age_days
        self.unused_days = unused_days
        self.now = now
        self.findings = []
        self.errors = []
        self.scheduled = []
        self.accounts = dict((str(env), str(acct)) for env, acct in (facts.get("accounts") or {}).items() if acct)
        # scope -> key id -> (user name, key dict)
        self.iam_keys = {}
        # scope -> user name -> user dict
        self.iam_users = {}
        # scope -> set of user names reported missing
        self.missing_users = {}
        # scope -> user name -> environments whose IAM facts list the user
        self.iam_envs = {}
        # scope -> grace in days before the rotation deletes a deactivated key
        self.delete_after = {}
        for env, data in sorted((facts.get("iam") or {}).items()):
            data = data or {}
            scope = self.scope_of(env)
            self.iam_keys.setdefault(scope, {})
            self.iam_users.setdefault(scope, {})
            self.missing_users.setdefault(scope, set()).update(data.get("missing_users") or [])
            if data.get("delete_after_days") is not None:
                self.delete_after[scope] = max(self.delete_after.get(scope, 0), int(data["delete_after_days"]))
            if data.get("error"):
                self.error(env, None, None, "IAM: %s" % data["error"])
            for user in data.get("users") or []:
                name = user.get("user_name")
                self.iam_envs.setdefault(scope, {}).setdefault(name, set()).add(env)
                known = self.iam_users[scope].get(name)
                if known is not None:  # read twice (two environments of one account): one user
                    seen = set(key.get("access_key_id") for key in known.get("access_keys") or [])
                    extra = [key for key in user.get("access_keys") or [] if key.get("access_key_id") not in seen]
                    user = dict(known, access_keys=list(known.get("access_keys") or []) + extra)
                self.iam_users[scope][name] = user
                for key in user.get("access_keys") or []:
                    self.iam_keys[scope][key.get("access_key_id")] = (name, key)
        self.missing_users = dict((scope, names - set(self.iam_users.get(scope, {}))) for scope, names in self.missing_users.items())
        # scope -> iam user -> [(host, path, profile, key id, environment)]
        self.holders = {}
        # scope -> iam user -> environments holding a key of the user
        self.user_envs = {}

    def scope_of(self, env):
        account = self.accounts.get(env)
        return ("account", account) if account else ("environment", env)

    def account_of(self, env):
        return self.accounts.get(env)

    def envs_of_user(self, scope, user):
        """The environments a user-level finding names: those holding the user's keys, else those whose IAM facts list it."""
        envs = self.user_envs.get(scope, {}).get(user) or self.iam_envs.get(scope, {}).get(user) or set()
        if not envs:
            envs = {scope[1]} if scope[0] == "environment" else set()
        return ",".join(sorted(envs)) or None

    def add(self, check, message, fix, **fields):
        self.findings.append(finding(check, message, fix, **fields))

    def error(self, environment, host, path, message):
        self.errors.append({"environment": environment, "host": host, "path": path, "message": str(message)})


def _check_profile(ctx, env, host, path, profile, iam_user, where=None, slot=None, id_name="aws_access_key_id"):
    """The key-level checks of one holder: a credentials-file profile, or (``where``/``slot`` given) an
    env file entry, a Secrets Manager secret or an SSM parameter pair."""
    key_id = profile.get("access_key_id")
    name = profile.get("name")
    where = where or "%s [%s] on %s" % (path, name, host)
    slot = slot or "[%s] of %s" % (name, path)
    scope = ctx.scope_of(env)
    fields = dict(environment=env, account=ctx.account_of(env), host=host, path=path, profile=name, iam_user=iam_user,
                  access_key_id=key_id)
    if is_malformed_key_id(key_id):
        ctx.add(
            "malformed_key_id",
            "%s holds %s %r, which is not an access key id (20 characters starting with AKIA or ASIA); "
            "AWS answers InvalidClientTokenId/InvalidAccessKeyId" % (where, id_name, key_id),
            "Correct %s in %s (a typo or a truncated paste); when the holder is listed in "
            "access_key_rotation_credentials, %s rewrites it with the user's current key" % (id_name, slot, ROTATE_ACCESS_KEYS),
            **fields)
        return
    verify = profile.get("verify") or {}
    reason = verify.get("reason")
    listed = ctx.iam_keys.get(scope, {}).get(key_id)
    status = listed[1].get("status") if listed else None
    user_known = iam_user is not None and (
        iam_user in ctx.iam_users.get(scope, {}) or iam_user in ctx.missing_users.get(scope, set()))
    owner = listed[0] if listed else None
    if status == "Inactive" or (listed is None and reason == "key_inactive"):
        ctx.add(
            "key_inactive",
            "%s holds %s, which exists in IAM%s but is Inactive: every call with it fails with InvalidClientTokenId"
            % (where, key_id, " (user %s)" % owner if owner else ""),
            "Give this holder the user's Active key: %s --limit %s (the holder must be listed in access_key_rotation_credentials); "
            "or, if the key was deactivated by mistake, aws iam update-access-key --access-key-id %s --status Active%s"
            % (ROTATE_ACCESS_KEYS, host, key_id, " --user-name %s" % owner if owner else ""),
            **fields)
        return
    if listed is None and (reason == "key_not_found" or (reason is None and key_id.startswith("AKIA") and user_known)):
        if iam_user in ctx.missing_users.get(scope, set()):
            detail = "IAM user %s does not exist in this account" % iam_user
        elif iam_user:
            detail = "it is not a key of IAM user %s and AWS does not know it (deleted, or from another account)" % iam_user
        else:
            detail = "AWS does not know it (deleted, or from another account)"
        ctx.add(
            "key_not_found",
            "%s holds %s: %s; calls fail with InvalidClientTokenId/InvalidAccessKeyId" % (where, key_id, detail),
            "Put a current key of the right user in %s: %s --limit %s with the holder listed in "
            "access_key_rotation_credentials (iam_user, type and where); check that the environment's AWS account is the "
            "key's account" % (slot, ROTATE_ACCESS_KEYS, host),
            **fields)
        return
    if reason == "secret_mismatch":
        ctx.add(
            "secret_mismatch",
            "%s holds %s with a secret access key that does not belong to it: AWS answers SignatureDoesNotMatch "
            "(key id and secret from two different keys, or a damaged secret)" % (where, key_id),
            "Rewrite the key pair of %s: %s --limit %s (writes the id and secret of one key together), or restore "
            "the matching secret from where the key was issued" % (slot, ROTATE_ACCESS_KEYS, host),
            **fields)


def _hold(ctx, env, user, host, where, key_id):
    """Record that ``where`` on ``host`` (a listed holder) holds ``key_id`` of ``user``."""
    scope = ctx.scope_of(env)
    ctx.holders.setdefault(scope, {}).setdefault(user, []).append((host, where, key_id, env))
    ctx.user_envs.setdefault(scope, {}).setdefault(user, set()).add(env)


def _seen_user(ctx, env, user):
    if user:
        ctx.user_envs.setdefault(ctx.scope_of(env), {}).setdefault(user, set()).add(env)


def _check_credentials(ctx, host_facts):
    host = host_facts.get("host")
    env = host_facts.get("environment") or DEFAULT_ENVIRONMENT
    for message in host_facts.get("errors") or []:
        ctx.error(env, host, None, message)
    for cred in host_facts.get("credentials") or []:
        path = cred.get("path")
        if cred.get("error"):
            ctx.error(env, host, path, cred["error"])
            continue
        managed = dict((item.get("profile") or "default", item.get("iam_user")) for item in cred.get("managed") or [])
        if not cred.get("exists", True):
            ctx.error(env, host, path, "the credentials file does not exist (named by access_key_rotation_credentials for %s)"
                      % ", ".join(sorted("%s [%s]" % (user, prof) for prof, user in managed.items())))
            continue
        _check_file_mode(ctx, env, host, path, cred.get("mode"), "credentials file", "keyops.aws.credentials_profile")
        seen_profiles = set()
        for profile in cred.get("profiles") or []:
            name = profile.get("name")
            seen_profiles.add(name)
            if not profile.get("access_key_id"):
                continue
            iam_user = managed.get(name)
            if iam_user is None:
                verify = profile.get("verify") or {}
                iam_user = verify.get("user_name") or user_from_arn(verify.get("arn"))
                _seen_user(ctx, env, iam_user)
            elif name in managed:
                _hold(ctx, env, iam_user, host, "%s [%s]" % (path, name), profile.get("access_key_id"))
            _check_profile(ctx, env, host, path, profile, iam_user)
        for prof, user in sorted(managed.items()):
            if prof not in seen_profiles:
                ctx.error(env, host, path, "profile [%s] (IAM user %s) named by access_key_rotation_credentials is not in the file"
                          % (prof, user))
    for holder in host_facts.get("holders") or []:
        _check_store_holder(ctx, env, host, holder)


def _check_file_mode(ctx, env, host, path, mode, what, module):
    mode = parse_mode(mode)
    if mode is not None and mode & 0o077:
        ctx.add(
            "file_mode_open",
            "%s on %s has mode %04o: the group or others can read the secret keys in it (it must be 0600)" % (path, host, mode),
            "chmod 0600 %s on %s (%s and %s write %ss 0600)" % (path, host, module, ROTATE_ACCESS_KEYS, what),
            environment=env, host=host, path=path)


HOLDER_TEXT = {
    # holder type -> (where on the host, the slot in a fix)
    "env_file": ("env file %(path)s (%(slot)s) on %(host)s", "%(slot)s of the env file %(path)s"),
    "secretsmanager": ("Secrets Manager secret %(path)s (key %(slot)s, listed by %(host)s)",
                       "the JSON key %(slot)s of the secret %(path)s"),
    "ssm_parameter": ("SSM parameter %(path)s (listed by %(host)s)", "the parameter pair %(path)s / %(secret)s"),
}


def _check_store_holder(ctx, env, host, holder):
    """An env file entry, a Secrets Manager secret or an SSM parameter pair listed in access_key_rotation_credentials:
    ``{type, path, slot, secret_slot, iam_user, exists, access_key_id, mode, error}`` (``path``: the file, the secret_id
    or the id parameter; ``slot``: the id variable or JSON key)."""
    kind = holder.get("type")
    if kind not in HOLDER_TEXT:
        ctx.error(env, host, holder.get("path"), "unknown holder type %r" % (kind,))
        return
    path = holder.get("path")
    user = holder.get("iam_user")
    values = {"path": path, "slot": holder.get("slot") or "", "secret": holder.get("secret_slot") or "", "host": host}
    where, slot = HOLDER_TEXT[kind][0] % values, HOLDER_TEXT[kind][1] % values
    if holder.get("error"):
        ctx.error(env, host, path, holder["error"])
        return
    if not holder.get("exists", True) or not holder.get("access_key_id"):
        ctx.error(env, host, path, "%s holds no access key id (named by access_key_rotation_credentials for %s)" % (where, user))
        return
    if kind == "env_file":
        _check_file_mode(ctx, env, host, path, holder.get("mode"), "env file", "keyops.aws.env_file_credentials")
    _hold(ctx, env, user, host, where, holder["access_key_id"])
    profile = {"name": holder.get("slot"), "access_key_id": holder["access_key_id"], "verify": holder.get("verify")}
    _check_profile(ctx, env, host, path, profile, user, where=where, slot=slot, id_name=holder.get("slot") or "the key id")


def _envs_text(envs):
    return ",".join(sorted(set(envs))) or None


def _check_holders(ctx):
    for scope in sorted(ctx.holders):
        for user in sorted(ctx.holders[scope]):
            holders = ctx.holders[scope][user]
            key_ids = sorted(set(entry[2] for entry in holders))
            if len(key_ids) < 2:
                continue
            newest = _newest_active(ctx.iam_users.get(scope, {}).get(user))
            envs = set(entry[3] for entry in holders)
            held = "; ".join("%s holds %s in %s" % (host, key, where) for host, where, key, _env in sorted(holders))
            ctx.add(
                "holders_disagree",
                "the holders of IAM user %s%s hold %d different keys (%s): a rotation cannot retire any of them safely%s"
                % (user, " (account %s, environments %s)" % (scope[1], ", ".join(sorted(envs))) if len(envs) > 1 else "",
                   len(key_ids), held, "; the user's newest Active key is %s" % newest if newest else ""),
                "%s --limit %s (converges every holder of %s on one verified key, then retires the others)"
                % (ROTATE_ACCESS_KEYS, ",".join(sorted(set(entry[0] for entry in holders))), user),
                environment=_envs_text(envs), account=scope[1] if scope[0] == "account" else None, iam_user=user)


def _newest_active(user):
    if not user:
        return None
    active = [key for key in user.get("access_keys") or [] if key.get("status") == "Active"]
    active.sort(key=lambda key: (parse_date(key.get("create_date")) or datetime.datetime.min.replace(tzinfo=datetime.timezone.utc),
                                 key.get("access_key_id") or ""))
    return active[-1].get("access_key_id") if active else None


def _retire_candidate(keys, held):
    """The key the next rotation retires first: an Inactive key (oldest), else an Active key no holder
    uses (oldest), else the oldest key. Returns (key, why)."""
    def created(key):
        return (parse_date(key.get("create_date")) or datetime.datetime.max.replace(tzinfo=datetime.timezone.utc),
                key.get("access_key_id") or "")

    # the order keyops.aws.iam_access_key_rotation deletes Inactive keys in to make room
    order = room_order([dict(key, create_date=parse_date(key.get("create_date")),
                             deactivated_date=parse_date(key.get("deactivated_date"))) for key in keys])
    if order:
        first = order[0]["access_key_id"]
        return next(key for key in keys if key.get("access_key_id") == first), "Inactive"
    unheld = sorted((key for key in keys if key.get("access_key_id") not in held), key=created)
    if unheld:
        return unheld[0], "Active, held by no listed holder"
    return sorted(keys, key=created)[0], "Active and held: move its holders first"


def _scheduled(ctx, scope, env, user_name, key):
    """A key the rotation deactivated and recorded (user tag keyops:deactivated:<id>): it is deleted by the first
    rotation run once delete_after_days have passed. Expected state, not a finding."""
    deactivated = parse_date(key.get("deactivated_date"))
    days = ctx.delete_after.get(scope, DEFAULT_DELETE_AFTER_DAYS)
    deletion = deactivated + datetime.timedelta(days=days)
    ctx.scheduled.append({
        "environment": env,
        "account": scope[1] if scope[0] == "account" else None,
        "iam_user": _text(user_name),
        "access_key_id": _text(key.get("access_key_id")),
        "deactivated_date": deactivated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "delete_after_days": days,
        "deletion_date": deletion.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "due": deletion <= ctx.now,
    })


def _room_is_scheduled(keys):
    """True when the keys a rotation deletes to make room for a new key are all keys it deactivated and
    scheduled for deletion itself (the normal state during a rotation's grace period)."""
    order = room_order([dict(key, create_date=parse_date(key.get("create_date")),
                             deactivated_date=parse_date(key.get("deactivated_date"))) for key in keys])
    needed = len(keys) - 1
    return len(order) >= needed and all(key.get("deactivated_date") for key in order[:needed])


def _check_iam_users(ctx):
    for scope in sorted(ctx.iam_users):
        held = set(entry[2] for entries in ctx.holders.get(scope, {}).values() for entry in entries)
        for user_name in sorted(ctx.iam_users[scope]):
            user = ctx.iam_users[scope][user_name]
            keys = list(user.get("access_keys") or [])
            env = ctx.envs_of_user(scope, user_name)
            account = scope[1] if scope[0] == "account" else None
            for key in keys:
                if key.get("status") != "Active" and key.get("deactivated_date"):
                    _scheduled(ctx, scope, env, user_name, key)
            for key in keys:
                key_id = key.get("access_key_id")
                if key.get("status") != "Active":
                    continue
                created = parse_date(key.get("create_date"))
                age = days_between(created, ctx.now)
                if age is not None and age >= ctx.max_age_days:
                    ctx.add(
                        "key_too_old",
                        "Active key %s of IAM user %s is %d days old (maximum %d)" % (key_id, user_name, age, ctx.max_age_days),
                        "%s (rotates keys older than access_key_rotation_max_age_days and pushes the new one to every holder)"
                        % ROTATE_ACCESS_KEYS,
                        environment=env, account=account, iam_user=user_name, access_key_id=key_id)
                last_used = parse_date(key.get("last_used_date"))
                unused = days_between(last_used or created, ctx.now)
                if unused is not None and unused >= ctx.unused_days:
                    detail = ("was last used %d days ago" % unused) if last_used else ("has never been used in the %d days since its creation" % unused)
                    ctx.add(
                        "key_unused",
                        "Active key %s of IAM user %s %s (threshold %d days)%s"
                        % (key_id, user_name, detail, ctx.unused_days, "; a credentials file still holds it" if key_id in held else ""),
                        "If nothing needs it, deactivate it (aws iam update-access-key --user-name %s --access-key-id %s --status Inactive) "
                        "and remove it from its holders; otherwise ignore this low finding" % (user_name, key_id),
                        environment=env, account=account, iam_user=user_name, access_key_id=key_id)
            if len(keys) >= 2 and not _room_is_scheduled(keys):
                candidate, why = _retire_candidate(keys, held)
                cand_id = candidate.get("access_key_id")
                if why == "Inactive":
                    fix = ("The next rotation deletes Inactive key %s first (it has no deactivation record, so nothing scheduled "
                           "its deletion: check that nobody needs it); to free the slot now: "
                           "aws iam delete-access-key --user-name %s --access-key-id %s" % (cand_id, user_name, cand_id))
                else:
                    kept = [key.get("access_key_id") for key in keys if key.get("access_key_id") != cand_id]
                    fix = ("Retire %s before the next rotation (with two Active keys it refuses to create one): "
                           "keyops.aws.iam_access_key_rotation with state: retired and users: [{name: %s, current_key_id: %s}] "
                           "once every holder uses %s, or aws iam update-access-key --user-name %s --access-key-id %s --status Inactive"
                           % (cand_id, user_name, kept[0] if kept else "<the key the holders use>", kept[0] if kept else "that key",
                              user_name, cand_id))
                ctx.add(
                    "key_limit_reached",
                    "IAM user %s has %d access keys (%s), the AWS maximum: the next rotation must retire %s (%s) before it can create "
                    "a key, else CreateAccessKey fails with LimitExceeded"
                    % (user_name, len(keys), ", ".join("%s %s" % (key.get("access_key_id"), key.get("status")) for key in keys),
                       cand_id, why),
                    fix,
                    environment=env, account=account, iam_user=user_name, access_key_id=cand_id)
    for scope in sorted(ctx.missing_users):
        for user_name in sorted(ctx.missing_users[scope]):
            ctx.error(ctx.envs_of_user(scope, user_name), None, None,
                      "IAM user %s named by access_key_rotation_credentials does not exist" % user_name)


def _region_material(info):
    key = canonical_key(info.get("public_key"))
    if key:
        return "key:" + key
    if info.get("fingerprint"):
        return "fp:" + str(info["fingerprint"])
    return None


def _reference_material(ref_key, regions):
    """(material, description) every region should hold."""
    if ref_key:
        try:
            ec2 = _ssh_public_keys.ec2_fingerprint(ref_key)
        except ValueError:
            ec2 = None
        return ("key:" + ref_key, ec2), "the controller's current public key"
    counts = {}
    order = []
    for region in regions:
        info = regions[region] or {}
        if not info.get("present"):
            continue
        material = _region_material(info)
        if material is None:
            continue
        if material not in counts:
            order.append(material)
        counts[material] = counts.get(material, 0) + 1
    if not counts:
        return None, None
    best = max(order, key=lambda material: (counts[material], -order.index(material)))
    return (best, None), "the material most regions hold"


def _same_material(region_info, reference):
    material, ec2 = reference
    mine = _region_material(region_info)
    if mine is None:
        return True
    if mine == material:
        return True
    if mine.startswith("fp:") and ec2 and mine[3:] == ec2:
        return True
    return False


def _check_key_pairs(ctx, ref_key, ref_path):
    for env in sorted(ctx.facts.get("key_pairs") or {}):
        data = ctx.facts["key_pairs"][env] or {}
        name = data.get("name")
        if data.get("error"):
            ctx.error(env, None, None, "EC2 key pairs: %s" % data["error"])
            continue
        regions = data.get("regions") or {}
        reference, described = _reference_material(ref_key, regions)
        missing = sorted(region for region in regions if not (regions[region] or {}).get("present"))
        present = sorted(region for region in regions if (regions[region] or {}).get("present"))
        elsewhere = sorted(set(str(region) for region in data.get("found_elsewhere") or []) - set(regions))
        for region in missing:
            hints = []
            if present:
                hints.append("it exists in %s" % ", ".join(present))
            if elsewhere:
                hints.append("outside the listed regions it exists in %s" % ", ".join(elsewhere))
            ctx.add(
                "key_pair_missing",
                "EC2 key pair %s does not exist in %s: launching there with it fails with \"key pair not found\" "
                "(InvalidKeyPair.NotFound)%s" % (name, region, "; %s: check the region" % "; ".join(hints) if hints else ""),
                "%s (imports %s into every region of key_pair_rotation_regions) or keyops.aws.ec2_key_pair with regions: [%s]"
                % (ROTATE_KEY_PAIRS, name, region),
                environment=env, region=region, key_pair=name)
        if reference is None:
            continue
        differ = sorted(region for region in regions
                        if (regions[region] or {}).get("present") and not _same_material(regions[region], reference))
        for region in differ:
            ctx.add(
                "key_pair_drift",
                "EC2 key pair %s in %s holds a different public key than %s%s (regions that differ: %s): instances launched "
                "there will not accept the current private key" % (name, region, described,
                                                                   " (%s)" % ref_path if ref_key and ref_path else "", ", ".join(differ)),
                "%s with key_pair_rotation_regions including %s (keyops.aws.ec2_key_pair force: true replaces mismatched material)"
                % (ROTATE_KEY_PAIRS, region),
                environment=env, region=region, key_pair=name)


def _check_authorized_keys(ctx, ref_key, ref_path, retired):
    name = (ctx.facts.get("controller") or {}).get("name")
    for host_facts in ctx.facts.get("hosts") or []:
        ak = host_facts.get("authorized_keys")
        if not ak:
            continue
        host = host_facts.get("host")
        env = host_facts.get("environment") or DEFAULT_ENVIRONMENT
        path = ak.get("path")
        if ak.get("error"):
            ctx.error(env, host, path, ak["error"])
            continue
        if "keys" in ak and ak.get("keys") is not None:
            present = [key for key in (canonical_key(item) for item in ak["keys"]) if key]
        else:
            present = authorized_keys_of(ak.get("content") or "")
        if ref_key and ref_key not in present:
            ctx.add(
                "authorized_key_missing",
                "%s on %s %s the current public key of %s (%s, %s): logins with the current private key get \"Permission denied (publickey)\""
                % (path, host, "lacks" if ak.get("exists", True) else "does not exist, so it lacks", name, fingerprint(ref_key), ref_path),
                "%s --limit %s (adds the current key to key_pair_rotation_authorized_keys_path)" % (ROTATE_KEY_PAIRS, host),
                environment=env, host=host, path=path, key_pair=name)
        for retired_key, retired_path in retired:
            if retired_key in present and retired_key != ref_key:
                ctx.add(
                    "retired_key_present",
                    "%s on %s still accepts the retired key %s (%s): whoever kept its private key can still log in"
                    % (path, host, fingerprint(retired_key), retired_path),
                    "%s --limit %s (removes retired keys), or keyops.aws.authorized_keys with path: %s and remove: ['%s']"
                    % (ROTATE_KEY_PAIRS, host, path, fingerprint(retired_key)),
                    environment=env, host=host, path=path, key_pair=name)


def _check_controller(ctx):
    controller = ctx.facts.get("controller") or {}
    private = controller.get("private_key") or {}
    if private.get("exists"):
        mode = parse_mode(private.get("mode"))
        if mode is not None and mode not in PRIVATE_KEY_MODES:
            ctx.add(
                "private_key_mode_open",
                "the private key %s on the controller has mode %04o (must be 0600 or 0400): ssh refuses it with "
                "\"UNPROTECTED PRIVATE KEY FILE\" and other users may read it" % (private.get("path"), mode),
                "chmod 0600 %s" % private.get("path"),
                path=private.get("path"), key_pair=controller.get("name"))


def evaluate(facts, max_age_days=90, unused_days=90, now=None):
    """Findings and collection errors for the collected facts: ``(findings, errors)``.

    Thresholds are inclusive: an Active key whose age (or time unused) in whole days is at least
    the threshold is flagged. ``now`` is a datetime (default: the current time).
    """
    ctx = _evaluate(facts, max_age_days, unused_days, now)
    return ctx.findings, ctx.errors


def _evaluate(facts, max_age_days, unused_days, now):
    if not isinstance(facts, dict):
        raise AuditError("the audit facts must be a dict")
    for label, value in (("max_age_days", max_age_days), ("unused_days", unused_days)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise AuditError("%s must be a whole number of days >= 0, got %r" % (label, value))
    now = as_utc(now) if now is not None else datetime.datetime.now(datetime.timezone.utc)
    ctx = _Context(facts, max_age_days, unused_days, now)
    controller = facts.get("controller") or {}
    ref_key = canonical_key(controller.get("public_key"))
    ref_path = controller.get("public_key_path")
    if controller.get("public_key") and not ref_key:
        ctx.error(None, None, ref_path, "the controller's public key is not a valid OpenSSH public key")
    retired = []
    for item in controller.get("retired_public_keys") or []:
        key = canonical_key(item.get("public_key"))
        if key:
            retired.append((key, item.get("path")))
    for host_facts in facts.get("hosts") or []:
        _check_credentials(ctx, host_facts)
    _check_holders(ctx)
    _check_iam_users(ctx)
    _check_key_pairs(ctx, ref_key, ref_path)
    _check_authorized_keys(ctx, ref_key, ref_path, retired)
    _check_controller(ctx)
    for host in facts.get("not_audited") or []:
        ctx.error(None, host, None, "host not audited (unreachable or failed before its facts were collected)")
    ctx.findings = sorted(ctx.findings, key=_sort_key)
    ctx.scheduled.sort(key=lambda item: (item["deletion_date"], item["iam_user"] or "", item["access_key_id"] or ""))
    return ctx


def key_ages(facts, max_age_days=90, unused_days=90, now=None):
    """Every key of the audited IAM users with its age and days unused (whole days, so a report is stable
    within a day): data for the report's chart. A key read in several environments of one account is one row."""
    now = as_utc(now) if now is not None else datetime.datetime.now(datetime.timezone.utc)
    accounts = dict((str(env), str(acct)) for env, acct in (facts.get("accounts") or {}).items() if acct)
    rows = {}
    for env in sorted(facts.get("iam") or {}):
        account = accounts.get(env)
        for user in (facts["iam"][env] or {}).get("users") or []:
            for key in user.get("access_keys") or []:
                ident = (account or "env:" + env, user.get("user_name"), key.get("access_key_id"))
                if ident in rows:
                    rows[ident]["environments"].add(env)
                    continue
                created = parse_date(key.get("create_date"))
                last_used = parse_date(key.get("last_used_date"))
                rows[ident] = {
                    "environments": {env},
                    "account": account,
                    "iam_user": _text(user.get("user_name")),
                    "access_key_id": _text(key.get("access_key_id")),
                    "status": _text(key.get("status")),
                    "age_days": days_between(created, now),
                    "unused_days": days_between(last_used or created, now),
                    "create_date": created.strftime("%Y-%m-%dT%H:%M:%SZ") if created else None,
                }
    out = []
    for row in rows.values():
        row["environment"] = ",".join(sorted(row.pop("environments")))
        out.append(row)
    out.sort(key=lambda row: (row["environment"], row["iam_user"] or "", row["access_key_id"] or ""))
    return out


def summarize(findings, fail_on="none"):
    """Counts by severity, check and environment, the worst finding and whether fail_on is reached."""
    if fail_on not in FAIL_ON_CHOICES:
        raise AuditError("fail_on must be one of %s, got %r" % (", ".join(FAIL_ON_CHOICES), fail_on))
    by_severity = dict((severity, 0) for severity in reversed(SEVERITIES))
    by_check = {}
    by_environment = {}
    for item in findings:
        by_severity[item["severity"]] += 1
        by_check[item["check"]] = by_check.get(item["check"], 0) + 1
        env = item["environment"] or "(controller)"
        by_environment[env] = by_environment.get(env, 0) + 1
    worst = sorted(findings, key=_sort_key)[0] if findings else None
    blocking = [item for item in findings if severity_at_least(item["severity"], fail_on)]
    return {
        "findings": len(findings),
        "by_severity": by_severity,
        "by_check": dict(sorted(by_check.items())),
        "by_environment": dict(sorted(by_environment.items())),
        "worst": worst,
        "fail_on": fail_on,
        "failed": bool(blocking),
        "blocking": len(blocking),
    }


def describe(item):
    """One line naming a finding (no message/fix): ``high key_not_found prod/host1 /path [profile] AKIA...``."""
    where = "/".join(part for part in (item.get("environment"), item.get("host")) if part) or "controller"
    parts = [item["severity"], item["check"], where]
    for name in ("path", "profile", "iam_user", "access_key_id", "region", "key_pair"):
        if item.get(name):
            parts.append("[%s]" % item[name] if name == "profile" else item[name])
    return " ".join(parts)


def text_summary(report):
    """Short lines for the play output (no secrets: findings hold none)."""
    summary = report["summary"]
    sev = summary["by_severity"]
    lines = ["credentials audit: %d finding(s): %d high, %d medium, %d low; report %s"
             % (summary["findings"], sev.get("high", 0), sev.get("medium", 0), sev.get("low", 0), report.get("report_dir") or "")]
    for check, count in sorted(summary["by_check"].items(), key=lambda item: (CHECK_IDS.index(item[0]), item[0])):
        lines.append("  %-24s %-6s %d" % (check, CHECK_SEVERITY[check], count))
    for item in report["findings"][:20]:
        lines.append("  - " + describe(item))
    if len(report["findings"]) > 20:
        lines.append("  ... %d more in report.json" % (len(report["findings"]) - 20))
    scheduled = report.get("scheduled_deletions") or []
    if scheduled:
        shown = ", ".join(
            "%s of %s on %s%s" % (item["access_key_id"], item["iam_user"], item["deletion_date"][:10], " (due)" if item["due"] else "")
            for item in scheduled[:5])
        lines.append("  %d key(s) deactivated by a rotation and scheduled for deletion (expected): %s%s"
                     % (len(scheduled), shown, ", ..." if len(scheduled) > 5 else ""))
    if report.get("errors"):
        lines.append("  %d collection problem(s): see errors in report.json" % len(report["errors"]))
    return lines


def build_report(facts, max_age_days=90, unused_days=90, fail_on="none", now=None):
    """The whole report (what report.json holds), from the facts."""
    now = as_utc(now) if now is not None else datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    ctx = _evaluate(facts, max_age_days, unused_days, now)
    findings, errors = ctx.findings, ctx.errors
    environments = sorted(set(
        [host.get("environment") or DEFAULT_ENVIRONMENT for host in facts.get("hosts") or []]
        + list((facts.get("iam") or {}).keys()) + list((facts.get("key_pairs") or {}).keys())))
    controller = facts.get("controller") or {}
    scope = {
        "environments": environments,
        "hosts": sorted(set(_text(host.get("host")) for host in facts.get("hosts") or [])),
        "credentials_files": sum(len(host.get("credentials") or []) for host in facts.get("hosts") or []),
        "profiles": sum(len(cred.get("profiles") or []) for host in facts.get("hosts") or [] for cred in host.get("credentials") or []),
        "other_holders": sum(len(host.get("holders") or []) for host in facts.get("hosts") or []),
        "iam_users": sum(len(users) for users in ctx.iam_users.values()),
        "accounts": sorted(set(ctx.accounts.values())),
        "key_pair": controller.get("name"),
        "regions": sorted(set(region for data in (facts.get("key_pairs") or {}).values() for region in ((data or {}).get("regions") or {}))),
        "authorized_keys_files": sum(1 for host in facts.get("hosts") or [] if host.get("authorized_keys")),
        "not_audited": sorted(_text(host) for host in facts.get("not_audited") or []),
    }
    return {
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "thresholds": {"max_age_days": max_age_days, "unused_days": unused_days, "fail_on": fail_on},
        "summary": summarize(findings, fail_on),
        "scope": scope,
        "checks": [{"check": check, "severity": severity, "title": title} for check, severity, title in CHECKS],
        "findings": findings,
        "keys": key_ages(facts, max_age_days, unused_days, now),
        "scheduled_deletions": ctx.scheduled,
        "errors": errors,
    }


def fail_message(report):
    """The message of a play failed by fail_on: names the worst finding."""
    summary = report["summary"]
    worst = summary["worst"]
    return ("credentials audit: %d finding(s) at or above severity %s (fail_on); worst: %s: %s"
            % (summary["blocking"], summary["fail_on"], describe(worst), worst["message"]))
